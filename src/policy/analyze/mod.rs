//! `analyze`: run a scenario's requests, decide, and explain every reason with a fix.

use super::context::{CallerContext, RequestContext};
use super::eval::{
    evaluate, ConditionFailure, Decision, KeyArn, KeyInfo, KeyManager, Outcome, PolicyError,
    Source, Verdict,
};
use super::findings::{
    identity_statements_for, key_statements_for, list_words, Finding, FindingCode, Fix, Severity,
};
use super::lint::lint;
use super::matching::Caller;
use super::model::{PolicyDocument, Statement, StatementRef};
use super::scenario::{requests, Operation, AUTOSCALING_GRANT_OPERATIONS};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// What to analyse.
#[derive(Debug, Clone, Copy)]
pub struct AnalysisRequest<'a> {
    pub key: &'a KeyInfo,
    /// User, role, role session, or Auto Scaling's service-linked role ARN.
    pub principal: &'a str,
    /// The principal's identity policies (in its own account).
    pub identity_policies: &'a [PolicyDocument],
    pub operation: Operation,
    pub context: &'a CallerContext,
}

/// One required KMS action and how each source decided it.
pub type ActionCheck = Decision;

/// The result of [`analyze`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub verdict: Verdict,
    pub operation: Operation,
    pub principal: String,
    pub principal_account: String,
    pub key_arn: String,
    pub key_account: String,
    pub key_manager: KeyManager,
    pub cross_account: bool,
    /// Where the launch or copy happens.
    pub region: String,
    /// The `kms:ViaService` of EC2's on-behalf calls.
    pub via_service: String,
    pub checks: Vec<ActionCheck>,
    pub findings: Vec<Finding>,
}

impl Analysis {
    /// Findings of severity error.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }
}

/// Decide whether `req.principal` can launch or copy an AMI encrypted with `req.key`, and
/// explain every reason it cannot with a fix, plus lints. Pure.
pub fn analyze(req: &AnalysisRequest<'_>) -> Result<Analysis, PolicyError> {
    let caller = Caller::parse(req.principal)?;
    let key_arn = KeyArn::parse(&req.key.arn)?;
    let region = req
        .context
        .region
        .clone()
        .unwrap_or_else(|| key_arn.region.clone());
    let cross_account = caller.account != key_arn.account;

    let checks: Vec<Decision> = requests(req.operation, &caller, req.context, &key_arn.region)
        .iter()
        .map(|r| {
            evaluate(
                req.key,
                &key_arn,
                &caller,
                req.identity_policies,
                r.action,
                &r.context,
            )
        })
        .collect();

    let verdict = if checks.iter().all(Decision::allowed) {
        Verdict::Allow
    } else if checks.iter().any(|c| c.verdict == Verdict::Deny) {
        Verdict::Deny
    } else {
        Verdict::Undecided
    };

    let ctx = Ctx {
        req,
        caller: &caller,
        key_arn: &key_arn,
        cross_account,
        checks: &checks,
    };
    let mut findings = Vec::new();
    if verdict != Verdict::Allow {
        ctx.reasons(&mut findings);
    }
    // Lints, minus those that repeat an error finding's statement and fix.
    let errors_len = findings.len();
    for l in lint(req.key, &key_arn, req.identity_policies) {
        let repeats = findings[..errors_len].iter().any(|f| {
            f.statement.is_some()
                && f.statement == l.statement
                && match (&f.fix, &l.fix) {
                    (Some(a), Some(b)) => {
                        !(a.key_policy_statements.is_empty()
                            && a.identity_policy_statements.is_empty())
                            && a.key_policy_statements == b.key_policy_statements
                            && a.identity_policy_statements == b.identity_policy_statements
                    }
                    _ => false,
                }
        });
        if !repeats {
            findings.push(l);
        }
    }
    findings.sort_by_key(|f| f.severity);

    Ok(Analysis {
        verdict,
        operation: req.operation,
        principal: caller.arn.clone(),
        principal_account: caller.account.clone(),
        key_arn: req.key.arn.clone(),
        key_account: key_arn.account.clone(),
        key_manager: req.key.manager,
        cross_account,
        region,
        via_service: format!("ec2.{}.amazonaws.com", key_arn.region),
        checks,
        findings,
    })
}

struct Ctx<'a> {
    req: &'a AnalysisRequest<'a>,
    caller: &'a Caller,
    key_arn: &'a KeyArn,
    cross_account: bool,
    checks: &'a [Decision],
}

/// Group `(statement, action)` pairs by statement, keeping first-seen order.
fn group_by_statement(
    pairs: impl Iterator<Item = (StatementRef, String)>,
) -> Vec<(StatementRef, Vec<String>)> {
    let mut out: Vec<(StatementRef, Vec<String>)> = Vec::new();
    for (s, a) in pairs {
        match out.iter_mut().find(|(x, _)| *x == s) {
            Some((_, acts)) => {
                if !acts.contains(&a) {
                    acts.push(a);
                }
            }
            None => out.push((s, vec![a])),
        }
    }
    out
}

/// The statement `r` names, with its JSON as read.
fn find_statement<'d>(
    docs: impl Iterator<Item = &'d PolicyDocument>,
    r: &StatementRef,
) -> Option<(&'d Statement, Value)> {
    docs.filter(|d| d.origin == r.policy).find_map(|d| {
        let st = d.statements.iter().find(|s| s.index == r.index)?;
        Some((st, d.statement_value(r.index)?.clone()))
    })
}

const NETWORK_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:vpcsourceip",
];

fn is_network_key(k: &str) -> bool {
    NETWORK_KEYS.iter().any(|n| n.eq_ignore_ascii_case(k))
}

/// Does a Deny statement already exempt calls made by AWS services?
pub fn has_via_aws_service_exception(st: &Statement) -> bool {
    st.conditions.iter().any(|c| {
        (c.key_lc == "aws:viaawsservice"
            && c.operator.base == super::condition::Base::Bool
            && c.values.iter().any(|v| v.raw.eq_ignore_ascii_case("false")))
            || (c.key_lc == "kms:viaservice" && c.operator.negated)
            || (c.key_lc == "aws:principalisawsservice"
                && c.values.iter().any(|v| v.raw.eq_ignore_ascii_case("false")))
    })
}

/// A copy of a statement with `"Bool": {"aws:ViaAWSService": "false"}` added to its Condition.
pub fn with_via_aws_service_exception(original: &Value) -> Value {
    let mut st = original.clone();
    if let Value::Object(m) = &mut st {
        let cond = m
            .entry("Condition")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(c) = cond {
            let b = c.entry("Bool").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(b) = b {
                b.insert("aws:ViaAWSService".to_string(), json!("false"));
            }
        }
    }
    st
}

/// A copy of a statement without condition `key` under `operator` (and with `add` merged in).
fn replace_condition(
    original: &Value,
    operator: &str,
    key: &str,
    add: Option<(&str, &str, Value)>,
) -> Value {
    let mut st = original.clone();
    if let Value::Object(m) = &mut st {
        if let Some(Value::Object(c)) = m.get_mut("Condition") {
            if let Some(Value::Object(keys)) = c.get_mut(operator) {
                keys.remove(key);
                if keys.is_empty() {
                    c.remove(operator);
                }
            }
            if let Some((op, k, v)) = add {
                let o = c.entry(op).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(o) = o {
                    o.insert(k.to_string(), v);
                }
            }
            if c.is_empty() {
                m.remove("Condition");
            }
        }
    }
    st
}

impl Ctx<'_> {
    fn key_region(&self) -> &str {
        &self.key_arn.region
    }

    fn via_service(&self) -> String {
        format!("ec2.{}.amazonaws.com", self.key_region())
    }

    /// The ARN a fix names: the role for a role session.
    fn fix_principal(&self) -> String {
        self.caller.policy_arn().to_string()
    }

    fn reasons(&self, out: &mut Vec<Finding>) {
        let key = self.req.key;
        let aws_managed_cross = key.manager == KeyManager::Aws && self.cross_account;
        if aws_managed_cross {
            out.push(self.aws_managed());
        }
        self.explicit_denies(out);
        if aws_managed_cross {
            return;
        }
        let slr = self.caller.is_autoscaling_service_role();
        if slr && self.cross_account {
            if self.checks.iter().any(|c| {
                !c.allowed()
                    && c.key_policy.outcome != Outcome::ExplicitDeny
                    && c.identity_policies.outcome != Outcome::ExplicitDeny
            }) {
                out.push(self.needs_grant());
            }
            return;
        }
        if key.policy.is_some() {
            self.key_policy_reasons(out);
        }
        self.identity_reasons(out, slr);
    }

    fn aws_managed(&self) -> Finding {
        let r = self.key_region();
        Finding::new(
            FindingCode::AwsManagedKey,
            Severity::Error,
            format!(
                "key `{}` is AWS managed (e.g. `aws/ebs`): account {} can never use it, whatever the policies say",
                self.req.key.arn, self.caller.account
            ),
        )
        .with_fix(Fix {
            summary: format!(
                "in account {}, copy the AMI re-encrypted with a customer managed key, give account {} access to that key, and share the copy",
                self.key_arn.account, self.caller.account
            ),
            commands: vec![format!(
                "aws ec2 copy-image --region {r} --source-region {r} --source-image-id AMI_ID --name NAME --encrypted --kms-key-id CUSTOMER_MANAGED_KEY_ARN"
            )],
            ..Fix::default()
        })
    }

    fn explicit_denies(&self, out: &mut Vec<Finding>) {
        for (source, code) in [
            (Source::KeyPolicy, FindingCode::KeyPolicyExplicitDeny),
            (
                Source::IdentityPolicy,
                FindingCode::IdentityPolicyExplicitDeny,
            ),
        ] {
            let pairs = self.checks.iter().flat_map(|c| {
                let sd = match source {
                    Source::KeyPolicy => &c.key_policy,
                    Source::IdentityPolicy => &c.identity_policies,
                };
                let refs = if sd.outcome == Outcome::ExplicitDeny {
                    sd.statements.clone()
                } else {
                    Vec::new()
                };
                refs.into_iter().map(move |s| (s, c.action.clone()))
            });
            for (sref, actions) in group_by_statement(pairs) {
                out.push(self.deny_finding(source, code, sref, actions));
            }
        }
    }

    fn deny_finding(
        &self,
        source: Source,
        code: FindingCode,
        sref: StatementRef,
        actions: Vec<String>,
    ) -> Finding {
        let where_ = match source {
            Source::KeyPolicy => "key policy",
            Source::IdentityPolicy => "identity policy",
        };
        let st = match source {
            Source::KeyPolicy => find_statement(self.req.key.policy.iter(), &sref),
            Source::IdentityPolicy => find_statement(self.req.identity_policies.iter(), &sref),
        };
        let network: Vec<String> = st
            .as_ref()
            .map(|(s, _)| {
                s.conditions
                    .iter()
                    .filter(|c| is_network_key(&c.key))
                    .map(|c| c.describe())
                    .collect()
            })
            .unwrap_or_default();
        let mut message = format!(
            "{where_} statement {} denies {} to `{}` on EC2's behalf",
            sref.label(),
            list_words(&actions),
            self.caller.arn
        );
        let fix = match st {
            Some((s, json)) if !network.is_empty() && !has_via_aws_service_exception(s) => {
                message.push_str(&format!(
                    " ({} cannot hold for calls EC2 makes from its own infrastructure)",
                    network.join(", ")
                ));
                super::lint::replacement_fix(
                    where_,
                    &sref.label(),
                    format!(
                        "add the exception `\"Bool\": {{\"aws:ViaAWSService\": \"false\"}}` to {} so it no longer applies to calls AWS services make on your behalf",
                        sref.label()
                    ),
                    with_via_aws_service_exception(&json),
                )
            }
            _ => Fix {
                summary: format!(
                    "remove or narrow Deny statement {} so it does not cover `{}` for {}",
                    sref.label(),
                    self.caller.arn,
                    list_words(&actions)
                ),
                remove: vec![format!(
                    "statement {} of the {where_} ({})",
                    sref.label(),
                    sref.policy
                )],
                ..Fix::default()
            },
        };
        Finding::new(code, Severity::Error, message)
            .with_statement(sref)
            .with_actions(actions)
            .with_fix(fix)
    }

    fn denied_not_by_deny(&self) -> impl Iterator<Item = &Decision> {
        self.checks.iter().filter(|c| {
            !c.allowed()
                && c.key_policy.outcome != Outcome::ExplicitDeny
                && c.identity_policies.outcome != Outcome::ExplicitDeny
        })
    }

    fn key_policy_reasons(&self, out: &mut Vec<Finding>) {
        let grant_ok = |c: &Decision| c.grants.outcome == Outcome::Allow;
        let covered = self.checks.iter().any(|c| {
            matches!(
                c.key_policy.outcome,
                Outcome::Allow | Outcome::DelegatesToIam
            ) || grant_ok(c)
        });
        let mut missing = Vec::new();
        let mut failures: Vec<(ConditionFailure, Vec<String>)> = Vec::new();
        for c in self.denied_not_by_deny() {
            let delegated = c.key_policy.outcome == Outcome::DelegatesToIam;
            if !(c.key_policy.outcome == Outcome::NoMatch || delegated) || grant_ok(c) {
                continue;
            }
            let fs: Vec<&ConditionFailure> = c
                .condition_failures
                .iter()
                .filter(|f| f.source == Source::KeyPolicy)
                .collect();
            if fs.is_empty() && !delegated {
                missing.push(c.action.clone());
            }
            for f in fs {
                match failures.iter_mut().find(|(g, _)| {
                    g.statement == f.statement && g.key == f.key && g.operator == f.operator
                }) {
                    Some((_, acts)) => acts.push(c.action.clone()),
                    None => failures.push((f.clone(), vec![c.action.clone()])),
                }
            }
        }
        for (f, actions) in &failures {
            out.push(self.condition_finding(f, actions));
        }
        if !missing.is_empty() {
            let principal = self.fix_principal();
            let (code, message) = if !covered && failures.is_empty() {
                (
                    FindingCode::KeyPolicyNoAccess,
                    format!(
                        "the key policy grants `{}` (and account {}) none of {}",
                        self.caller.arn,
                        self.caller.account,
                        list_words(&missing)
                    ),
                )
            } else {
                (
                    FindingCode::KeyPolicyMissingAction,
                    format!(
                        "the key policy does not allow {} for `{}` (nor its account)",
                        list_words(&missing),
                        self.caller.arn
                    ),
                )
            };
            let cross = if self.cross_account {
                format!(
                    " (account {} must also allow it in IAM)",
                    self.caller.account
                )
            } else {
                String::new()
            };
            out.push(
                Finding::new(code, Severity::Error, message)
                    .with_actions(missing.clone())
                    .with_fix(Fix {
                        summary: format!(
                            "add `{principal}` to the key policy statements below (merge into existing statements with these Sids){cross}"
                        ),
                        key_policy_statements: key_statements_for(&missing, &[principal]),
                        ..Fix::default()
                    }),
            );
        }
    }

    fn condition_finding(&self, f: &ConditionFailure, actions: &[String]) -> Finding {
        let key_lc = f.key.to_ascii_lowercase();
        let have = match &f.request_values {
            None => format!("EC2's request has no `{}`", f.key),
            Some(v) => format!("EC2's request has `{}` = {}", f.key, list_words(v)),
        };
        let st = find_statement(self.req.key.policy.iter(), &f.statement);
        let mut fix = Fix::default();
        let why;
        if is_network_key(&key_lc) {
            why = "EC2 calls KMS from its own infrastructure, never from your network".to_string();
            fix.summary = format!(
                "replace {} with `StringEquals kms:ViaService = {}` in statement {}",
                f.describe(),
                self.via_service(),
                f.statement.label()
            );
            if let Some((_, json)) = &st {
                fix.key_policy_statements.push(replace_condition(
                    json,
                    &f.operator,
                    &f.key,
                    Some(("StringEquals", "kms:ViaService", json!(self.via_service()))),
                ));
                fix.remove.push(format!(
                    "replace statement {} of the key policy with the statement below",
                    f.statement.label()
                ));
            }
        } else if key_lc == "kms:viaservice" {
            why = format!(
                "EC2's calls for this key come through `{}`",
                self.via_service()
            );
            fix.summary = format!(
                "allow `{}` in {} of statement {}",
                self.via_service(),
                f.describe(),
                f.statement.label()
            );
            if let Some((_, json)) = &st {
                let mut vals: Vec<Value> = f.values.iter().map(|v| json!(v)).collect();
                vals.push(json!(self.via_service()));
                fix.key_policy_statements.push(replace_condition(
                    json,
                    &f.operator,
                    &f.key,
                    Some((&f.operator, &f.key, Value::Array(vals))),
                ));
                fix.remove.push(format!(
                    "replace statement {} of the key policy with the statement below",
                    f.statement.label()
                ));
            }
        } else if key_lc == "kms:grantisforawsresource" {
            why = "only CreateGrant, ListGrants and RevokeGrant carry this key".to_string();
            fix.summary = format!(
                "allow {} in a statement without `kms:GrantIsForAWSResource`",
                list_words(actions)
            );
            fix.key_policy_statements = key_statements_for(actions, &[self.fix_principal()]);
        } else if key_lc.starts_with("aws:principalorg") {
            why = if f.request_values.is_none() {
                "pass `--org-id`/`--org-path` if the principal's account is in an organization"
                    .to_string()
            } else {
                format!(
                    "account {} is not in that organization",
                    self.caller.account
                )
            };
            fix.summary = format!(
                "move account {} into the organization named by the condition, or name `{}` in the key policy",
                self.caller.account,
                self.fix_principal()
            );
            fix.key_policy_statements = key_statements_for(actions, &[self.fix_principal()]);
        } else {
            why = "the on-behalf request cannot meet it".to_string();
            fix.summary = format!(
                "relax {} in statement {}, or allow the actions in a statement without it",
                f.describe(),
                f.statement.label()
            );
            fix.key_policy_statements = key_statements_for(actions, &[self.fix_principal()]);
        }
        Finding::new(
            FindingCode::KeyPolicyConditionFails,
            Severity::Error,
            format!(
                "key policy statement {} allows {} but its condition {} fails: {have}; {why}",
                f.statement.label(),
                list_words(actions),
                f.describe()
            ),
        )
        .with_statement(f.statement.clone())
        .with_actions(actions.to_vec())
        .with_fix(fix)
    }

    fn identity_reasons(&self, out: &mut Vec<Finding>, slr: bool) {
        let missing: Vec<&Decision> = self
            .denied_not_by_deny()
            .filter(|c| {
                c.identity_required
                    && c.identity_policies.outcome == Outcome::NoMatch
                    && c.grants.outcome != Outcome::Allow
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        let actions: Vec<String> = missing.iter().map(|c| c.action.clone()).collect();
        let failures: Vec<String> = missing
            .iter()
            .flat_map(|c| c.condition_failures.iter())
            .filter(|f| f.source == Source::IdentityPolicy)
            .map(|f| format!("{} ({})", f.statement, f.describe()))
            .fold(Vec::new(), |mut acc, s| {
                if !acc.contains(&s) {
                    acc.push(s);
                }
                acc
            });
        let why = if self.cross_account {
            format!(
                "the key is in account {}, so `{}`'s own IAM policies must allow them too",
                self.key_arn.account, self.caller.arn
            )
        } else {
            "the key policy delegates these actions to IAM".to_string()
        };
        let mut message = if self.req.identity_policies.is_empty() {
            format!(
                "no identity policy of `{}` was given, and none allows {}; {why}",
                self.caller.arn,
                list_words(&actions)
            )
        } else {
            format!(
                "the identity policies of `{}` do not allow {} on the key; {why}",
                self.caller.arn,
                list_words(&actions)
            )
        };
        if !failures.is_empty() {
            message.push_str(&format!("; conditions that fail: {}", failures.join(", ")));
        }
        let fix = if slr {
            Fix {
                summary: format!(
                    "Auto Scaling's service-linked role's policies cannot be edited: name `{}` in the key policy",
                    self.fix_principal()
                ),
                key_policy_statements: key_statements_for(&actions, &[self.fix_principal()]),
                ..Fix::default()
            }
        } else {
            Fix {
                summary: format!(
                    "attach an identity policy (e.g. `KmsKeyUsagePolicy`) with the statements below to `{}`",
                    self.fix_principal()
                ),
                identity_policy_statements: identity_statements_for(&actions, &self.req.key.arn),
                ..Fix::default()
            }
        };
        out.push(
            Finding::new(
                FindingCode::IdentityPolicyMissingAction,
                Severity::Error,
                message,
            )
            .with_actions(actions)
            .with_fix(fix),
        );
    }

    fn needs_grant(&self) -> Finding {
        let role = self.caller.policy_arn().to_string();
        let acct = &self.caller.account;
        let missing: Vec<String> = self
            .denied_not_by_deny()
            .map(|c| c.action.clone())
            .collect();
        // Can a principal of the role's account create the grant (a direct call)?
        let granter = Caller::account(&self.caller.partition, acct);
        let mut ctx = RequestContext::direct(
            &granter,
            self.req.context,
            "kms:CreateGrant",
            self.key_region(),
        );
        ctx.set("kms:GranteePrincipal", role.clone());
        ctx.set_multi(
            "kms:GrantOperations",
            AUTOSCALING_GRANT_OPERATIONS
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
        );
        let probe = evaluate(
            self.req.key,
            self.key_arn,
            &granter,
            &[],
            "kms:CreateGrant",
            &ctx,
        );
        let key_allows = matches!(
            probe.key_policy.outcome,
            Outcome::Allow | Outcome::DelegatesToIam
        );
        let grant_stmt = json!({
            "Sid": format!("Allow account {acct} to create grants for Auto Scaling"),
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:{}:iam::{acct}:root", self.caller.partition) },
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": { "StringEquals": { "kms:GranteePrincipal": role } }
        });
        let identity_stmt = json!({
            "Sid": "AllowCreateGrantForAutoScaling",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": self.req.key.arn,
            "Condition": { "StringEquals": { "kms:GranteePrincipal": role } }
        });
        let summary = if key_allows {
            format!(
                "the key policy already lets account {acct}'s IAM principals call kms:CreateGrant directly: have one of them (with the identity statement below) create the grant"
            )
        } else {
            format!(
                "allow account {acct} to call kms:CreateGrant directly (no `kms:GrantIsForAWSResource` condition: this call is not made by an AWS service), then create the grant from account {acct}"
            )
        };
        Finding::new(
            FindingCode::NeedsGrant,
            Severity::Error,
            format!(
                "`{role}` is Auto Scaling's service-linked role in account {acct}: its policies cannot be edited, so it can use key `{}` (account {}) only through a grant, and no grant covers {}",
                self.req.key.arn,
                self.key_arn.account,
                list_words(&missing)
            ),
        )
        .with_actions(missing)
        .with_fix(Fix {
            summary,
            key_policy_statements: if key_allows { Vec::new() } else { vec![grant_stmt] },
            identity_policy_statements: vec![identity_stmt],
            remove: Vec::new(),
            commands: vec![format!(
                "aws kms create-grant --region {} --key-id {} --grantee-principal {role} --operations {}",
                self.key_region(),
                self.req.key.arn,
                AUTOSCALING_GRANT_OPERATIONS.join(" ")
            )],
        })
    }
}
