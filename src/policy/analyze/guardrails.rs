//! Findings for the guardrail layers (SCPs, RCPs, permissions boundary, session policies): which
//! layer, policy and statement decided, and a fix the user can act on: the exception to add to
//! the statement, the Allow a level or boundary lacks, and whom to ask (docs/DOMAIN.md
//! "Guardrails").

use super::{find_statement, group_by_statement, is_network_key, Ctx};
use crate::policy::findings::{
    identity_statements_for, list_words, Finding, FindingCode, Fix, Severity,
};
use crate::policy::layers::{Guardrails, Known, Layer, LayerDecision, LayerOutcome, OrgPath};
use crate::policy::model::{PolicyDocument, StatementRef};
use crate::policy::statement::{has_via_aws_service_exception, with_via_aws_service_exception};
use serde_json::{json, Map, Value};

/// A copy of a statement with `value` added to condition `key` under `operator` (an exception
/// to a Deny: keys under one operator AND, so the Deny no longer matches that value).
pub(crate) fn with_condition_exception(
    original: &Value,
    operator: &str,
    key: &str,
    value: &str,
) -> Value {
    let mut st = original.clone();
    if let Value::Object(m) = &mut st {
        let cond = m
            .entry("Condition")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(c) = cond {
            let op = c
                .entry(operator)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(o) = op {
                let merged = match o.remove(key) {
                    Some(Value::Array(mut a)) => {
                        if !a.iter().any(|v| v == value) {
                            a.push(json!(value));
                        }
                        Value::Array(a)
                    }
                    Some(Value::String(s)) if s != value => json!([s, value]),
                    Some(other @ Value::String(_)) => other,
                    _ => json!(value),
                };
                o.insert(key.to_string(), merged);
            }
        }
    }
    st
}

fn org_docs(k: &Known<OrgPath>) -> Vec<&PolicyDocument> {
    match k {
        Known::Known(p) => p
            .levels
            .iter()
            .flat_map(|l| l.policies.iter().map(|p| &p.document))
            .collect(),
        _ => Vec::new(),
    }
}

/// The documents of one layer, to find a statement's JSON.
fn layer_docs(g: &Guardrails, layer: Layer) -> Vec<&PolicyDocument> {
    match layer {
        Layer::Scp => org_docs(&g.scps),
        Layer::Rcp => org_docs(&g.rcps),
        Layer::PermissionsBoundary => match &g.boundary {
            Known::Known(b) => vec![&b.document],
            _ => Vec::new(),
        },
        Layer::SessionPolicy => match &g.session_policies {
            Known::Known(d) => d.iter().collect(),
            _ => Vec::new(),
        },
    }
}

/// The code of a layer's denial.
fn code_of(layer: Layer, outcome: LayerOutcome) -> FindingCode {
    match (layer, outcome) {
        (_, LayerOutcome::Unseen) => FindingCode::GuardrailUnseen,
        (Layer::Scp, LayerOutcome::ExplicitDeny) => FindingCode::ScpExplicitDeny,
        (Layer::Scp, _) => FindingCode::ScpNoAllow,
        (Layer::Rcp, _) => FindingCode::RcpExplicitDeny,
        (Layer::PermissionsBoundary, LayerOutcome::ExplicitDeny) => {
            FindingCode::PermissionsBoundaryExplicitDeny
        }
        (Layer::PermissionsBoundary, _) => FindingCode::PermissionsBoundaryNoAllow,
        (Layer::SessionPolicy, LayerOutcome::ExplicitDeny) => {
            FindingCode::SessionPolicyExplicitDeny
        }
        (Layer::SessionPolicy, _) => FindingCode::SessionPolicyNoAllow,
    }
}

/// One layer decision without its statements but the first (the grouping key).
#[derive(PartialEq)]
struct Key {
    layer: Layer,
    outcome: LayerOutcome,
    policy: Option<String>,
    level: Option<String>,
    statement: Option<StatementRef>,
    note: Option<String>,
    /// Who made the request when not the analysed principal (`aws:ec2-infrastructure`).
    principal: Option<String>,
}

impl Ctx<'_> {
    pub(super) fn guardrail_reasons(&self, out: &mut Vec<Finding>) {
        let mut groups: Vec<(Key, Vec<String>)> = Vec::new();
        for c in self.checks {
            for l in c
                .guardrails
                .iter()
                .filter(|l| l.denies() || l.outcome == LayerOutcome::Unseen)
            {
                for statement in statements_or_none(l) {
                    let k = Key {
                        layer: l.layer,
                        outcome: l.outcome,
                        policy: l.policy.clone(),
                        level: l.level.clone(),
                        statement,
                        note: l.note.clone(),
                        // An RCP's fix exempts the account, which covers EC2's role too.
                        principal: if l.layer == Layer::Rcp {
                            None
                        } else {
                            c.principal.clone()
                        },
                    };
                    match groups.iter_mut().find(|(g, _)| *g == k) {
                        Some((_, acts)) if !acts.contains(&c.action) => acts.push(c.action.clone()),
                        Some(_) => {}
                        None => groups.push((k, vec![c.action.clone()])),
                    }
                }
            }
        }
        for (k, actions) in groups {
            out.push(self.guardrail_finding(&k, actions));
        }
    }

    fn guardrail_finding(&self, k: &Key, actions: Vec<String>) -> Finding {
        let code = code_of(k.layer, k.outcome);
        let (message, fix) = match k.outcome {
            LayerOutcome::Unseen => (
                format!(
                    "the {} layer could not be read for {}: {}",
                    k.layer.words(),
                    list_words(&actions),
                    k.note.clone().unwrap_or_default()
                ),
                None,
            ),
            LayerOutcome::ExplicitDeny => {
                let sref = k.statement.clone().unwrap_or_else(|| StatementRef {
                    policy: k.policy.clone().unwrap_or_default(),
                    index: 0,
                    sid: None,
                });
                self.layer_deny(k, &sref, &actions)
            }
            _ => self.layer_no_allow(k, &actions),
        };
        let severity = if code == FindingCode::GuardrailUnseen {
            Severity::Warning
        } else {
            Severity::Error
        };
        let mut f = Finding::new(code, severity, message)
            .with_layer(k.layer, k.policy.clone())
            .with_actions(actions);
        if let Some(s) = &k.statement {
            f = f.with_statement(s.clone());
        }
        if let Some(fix) = fix {
            f = f.with_fix(fix);
        }
        f
    }

    /// Where the layer sits and whom to ask.
    fn owner(&self, k: &Key) -> String {
        let at = k
            .level
            .as_ref()
            .map(|l| format!(" attached to `{l}`"))
            .unwrap_or_default();
        match k.layer {
            Layer::Scp => format!(
                "ask the administrator of account {}'s organization (its management account or a delegated administrator) to change SCP `{}`{at}",
                self.caller.account,
                k.policy.as_deref().unwrap_or("?")
            ),
            Layer::Rcp => format!(
                "ask the administrator of the organization that owns the key (account {}) to change RCP `{}`{at}; account {} can neither see nor change it",
                self.key_arn.account,
                k.policy.as_deref().unwrap_or("?"),
                self.caller.account
            ),
            Layer::PermissionsBoundary => format!(
                "ask whoever administers the permissions boundary `{}` of `{}` in account {} (the principal cannot change its own boundary)",
                k.policy.as_deref().unwrap_or("?"),
                self.fix_principal(),
                self.caller.account
            ),
            Layer::SessionPolicy => format!(
                "the session policies were passed when `{}`'s session was created: create the session again",
                self.caller.arn
            ),
        }
    }

    fn commands(&self, k: &Key) -> Vec<String> {
        let policy = k.policy.as_deref().unwrap_or("POLICY_ID");
        match k.layer {
            Layer::Scp | Layer::Rcp => vec![
                format!("aws organizations describe-policy --policy-id {policy}"),
                format!(
                    "aws organizations update-policy --policy-id {policy} --content file://policy.json"
                ),
            ],
            Layer::PermissionsBoundary => vec![
                format!("aws iam get-policy --policy-arn {policy}"),
                format!(
                    "aws iam create-policy-version --policy-arn {policy} --policy-document file://boundary.json --set-as-default"
                ),
            ],
            Layer::SessionPolicy => Vec::new(),
        }
    }

    fn layer_deny(
        &self,
        k: &Key,
        sref: &StatementRef,
        actions: &[String],
    ) -> (String, Option<Fix>) {
        let docs = layer_docs(&self.req.context.guardrails, k.layer);
        let st = find_statement(docs.into_iter(), sref);
        let at = k
            .level
            .as_ref()
            .map(|l| format!(" (attached to `{l}`)"))
            .unwrap_or_default();
        let infra = k.principal.is_some();
        let mut message = format!(
            "{} `{}`{at} statement {} denies {} to `{}` {}",
            k.layer.words(),
            k.policy.as_deref().unwrap_or(&sref.policy),
            sref.label(),
            list_words(actions),
            k.principal.as_deref().unwrap_or(&self.caller.arn),
            if infra {
                "when EC2 decrypts the volume at attach time"
            } else {
                "on EC2's behalf"
            }
        );
        let mut fix = Fix {
            commands: self.commands(k),
            remove: vec![format!(
                "replace statement {} of {} with the statement below",
                sref.label(),
                sref.policy
            )],
            ..Fix::default()
        };
        let owner = self.owner(k);
        match st {
            Some((s, json)) => {
                let network: Vec<String> = s
                    .conditions
                    .iter()
                    .filter(|c| is_network_key(&c.key))
                    .map(|c| c.describe())
                    .collect();
                if !infra && !network.is_empty() && !has_via_aws_service_exception(s) {
                    message.push_str(&format!(
                        " ({} cannot hold for calls EC2 makes from its own infrastructure)",
                        network.join(", ")
                    ));
                    fix.summary = format!(
                        "{owner}: add the exception `\"Bool\": {{\"aws:ViaAWSService\": \"false\"}}` to statement {}",
                        sref.label()
                    );
                    fix.policy_statements
                        .push(with_via_aws_service_exception(&json));
                } else {
                    let (op, key, value) = self.exception_for(k.layer, infra);
                    fix.summary = format!(
                        "{owner}: exempt `{value}` from statement {} with the condition `{op} {key}`",
                        sref.label()
                    );
                    fix.policy_statements
                        .push(with_condition_exception(&json, op, key, &value));
                }
            }
            None => {
                fix.summary = format!("{owner}: remove or narrow statement {}", sref.label());
                fix.remove.clear();
            }
        }
        (message, Some(fix))
    }

    /// The condition that exempts the caller from a Deny of `layer`: its role (or user) for
    /// principal-side layers, its account for an RCP (the data-perimeter exception list).
    fn exception_for(&self, layer: Layer, infra: bool) -> (&'static str, &'static str, String) {
        if infra {
            // AWS's data-perimeter guidance exempts EC2's role by name, in every account.
            return (
                "ArnNotLike",
                "aws:PrincipalArn",
                format!(
                    "arn:{}:iam::*:role/{}",
                    self.caller.partition,
                    crate::policy::context::EC2_INFRASTRUCTURE_ROLE
                ),
            );
        }
        match layer {
            Layer::Rcp => (
                "StringNotEqualsIfExists",
                "aws:PrincipalAccount",
                self.caller.account.clone(),
            ),
            _ => ("ArnNotLike", "aws:PrincipalArn", self.fix_principal()),
        }
    }

    fn layer_no_allow(&self, k: &Key, actions: &[String]) -> (String, Option<Fix>) {
        let owner = self.owner(k);
        let mut fix = Fix {
            commands: self.commands(k),
            ..Fix::default()
        };
        let message = match k.layer {
            Layer::Scp => {
                let level = k.level.as_deref().unwrap_or("?");
                fix.summary = format!(
                    "{owner}: every level from the root to the account must allow the request; attach a policy allowing {} at `{level}` (such as `FullAWSAccess`)",
                    list_words(actions)
                );
                fix.commands = vec![
                    format!(
                        "aws organizations list-policies-for-target --target-id {level} --filter SERVICE_CONTROL_POLICY"
                    ),
                    format!(
                        "aws organizations attach-policy --policy-id p-FullAWSAccess --target-id {level}"
                    ),
                ];
                fix.policy_statements.push(json!({
                    "Effect": "Allow",
                    "Action": actions,
                    "Resource": "*"
                }));
                format!(
                    "no service control policy attached at `{level}` on account {}'s path allows {}",
                    self.caller.account,
                    list_words(actions)
                )
            }
            layer => {
                fix.summary = format!("{owner}: add the statements below to it");
                fix.policy_statements = identity_statements_for(actions, &self.req.key.arn);
                let which = match (layer, &k.policy) {
                    (Layer::PermissionsBoundary, Some(p)) => {
                        format!("the permissions boundary `{p}`")
                    }
                    (Layer::PermissionsBoundary, None) => "the permissions boundary".to_string(),
                    _ => "no session policy".to_string(),
                };
                if layer == Layer::SessionPolicy {
                    format!(
                        "{which} of `{}`'s session allows {} on the key",
                        self.caller.arn,
                        list_words(actions)
                    )
                } else {
                    format!(
                        "{which} of `{}` does not allow {} on the key",
                        self.fix_principal(),
                        list_words(actions)
                    )
                }
            }
        };
        (message, Some(fix))
    }
}

/// Each deciding statement (or `None` when the layer decided without one).
fn statements_or_none(l: &LayerDecision) -> Vec<Option<StatementRef>> {
    if l.statements.is_empty() || l.outcome != LayerOutcome::ExplicitDeny {
        vec![None]
    } else {
        group_by_statement(l.statements.iter().map(|s| (s.clone(), String::new())))
            .into_iter()
            .map(|(s, _)| Some(s))
            .collect()
    }
}
