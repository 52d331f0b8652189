//! Lints: problems reported even when access is allowed (DESIGN.md's warning codes).
//!
//! | code | severity | what |
//! | --- | --- | --- |
//! | `invalid-principal` | error | partial wildcard in a principal (`role/*`): KMS rejects the policy |
//! | `ineffective-statement` | warning | no Resource; `ec2.amazonaws.com` service principal; `kms:GrantIsForAWSResource` on non-grant actions only |
//! | `grant-condition-on-non-grant-action` | warning | `kms:GrantIsForAWSResource` on a statement mixing grant and non-grant actions |
//! | `sourceip-blocks-aws-services` | warning | Allow conditioned on `aws:SourceIp`; IP Deny without the `aws:ViaAWSService` exception |
//! | `sourcevpc-blocks-aws-services` | warning | the same for `aws:SourceVpc`/`aws:SourceVpce` |
//! | `wildcard-principal-unconditioned` | warning | Allow to `"*"` without a condition |
//! | `overbroad-kms-star` | warning | `kms:*` or `*` allowed to another account |
//! | `notprincipal-misses-session` | warning | NotPrincipal Deny listing a role without its session ARN or account |
//! | `creategrant-unconstrained` | info | CreateGrant to another account without `kms:GrantIsForAWSResource` |

use super::analyze::{has_via_aws_service_exception, with_via_aws_service_exception};
use super::condition::Base;
use super::context::is_grant_action;
use super::eval::{KeyArn, KeyInfo};
use super::findings::{key_statements_for, Finding, FindingCode, Fix, Severity};
use super::matching::{glob_match, PrincipalPattern};
use super::model::{Effect, PolicyDocument, Statement, StatementRef};
use serde_json::{json, Value};

/// The KMS actions EBS needs from a key (for deciding whether a statement matters to EBS).
const EBS_ACTIONS: &[&str] = &[
    "kms:creategrant",
    "kms:decrypt",
    "kms:describekey",
    "kms:generatedatakeywithoutplaintext",
    "kms:reencryptfrom",
];

fn covers(st: &Statement, action_lc: &str) -> bool {
    st.action.items.iter().any(|p| glob_match(p, action_lc)) != st.action.negated
}

fn covers_ebs(st: &Statement) -> bool {
    EBS_ACTIONS.iter().any(|a| covers(st, a))
}

/// Lint the key policy and the identity policies.
pub fn lint(key: &KeyInfo, key_arn: &KeyArn, identity: &[PolicyDocument]) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(doc) = &key.policy {
        out.extend(lint_key_policy(doc, &key_arn.account));
    }
    for doc in identity {
        for st in &doc.statements {
            lint_common(doc, st, "identity policy", &mut out);
        }
    }
    out
}

/// Lint a key policy on its own (`key_account`: the key's account).
pub fn lint_key_policy(doc: &PolicyDocument, key_account: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for st in &doc.statements {
        lint_common(doc, st, "key policy", &mut out);
        lint_key_statement(doc, st, key_account, &mut out);
    }
    out
}

/// A fix that replaces statement `label` of the key policy or an identity policy (`where_`).
pub fn replacement_fix(where_: &str, label: &str, summary: String, statement: Value) -> Fix {
    let (k, i) = if where_ == "key policy" {
        (vec![statement], Vec::new())
    } else {
        (Vec::new(), vec![statement])
    };
    Fix {
        summary,
        key_policy_statements: k,
        identity_policy_statements: i,
        remove: vec![format!(
            "replace statement {label} of the {where_} with the statement below"
        )],
        commands: Vec::new(),
    }
}

/// The statement's own JSON, as read.
fn statement_json(doc: &PolicyDocument, st: &Statement) -> Value {
    doc.statement_value(st.index)
        .cloned()
        .unwrap_or(Value::Null)
}

fn sref(doc: &PolicyDocument, st: &Statement) -> StatementRef {
    StatementRef::new(doc, st)
}

fn lint_common(doc: &PolicyDocument, st: &Statement, where_: &str, out: &mut Vec<Finding>) {
    let r = sref(doc, st);
    let label = r.label();
    if st.resource.is_none() {
        let mut fixed = statement_json(doc, st);
        if let Value::Object(m) = &mut fixed {
            m.insert("Resource".to_string(), json!("*"));
        }
        out.push(
            Finding::new(
                FindingCode::IneffectiveStatement,
                Severity::Warning,
                format!("{where_} statement {label} has no `Resource`, so it never applies"),
            )
            .with_statement(r.clone())
            .with_fix(replacement_fix(
                where_,
                &label,
                format!("add `\"Resource\": \"*\"` (in a key policy: this key) to {label}"),
                fixed,
            )),
        );
    }

    // kms:GrantIsForAWSResource on non-grant actions.
    let requires_grant_key = st.conditions.iter().any(|c| {
        c.key_lc == "kms:grantisforawsresource"
            && !c.operator.if_exists
            && match c.operator.base {
                Base::Null => c.values.iter().any(|v| v.raw.eq_ignore_ascii_case("false")),
                _ => !c.operator.negated,
            }
    });
    if requires_grant_key && st.effect == Effect::Allow && !st.action.negated {
        let other: Vec<String> = st
            .action
            .written
            .iter()
            .zip(&st.action.items)
            .filter(|(_, lc)| !is_grant_action(lc))
            .map(|(w, _)| w.clone())
            .collect();
        let grant_any = st.action.items.iter().any(|p| {
            ["kms:creategrant", "kms:listgrants", "kms:revokegrant"]
                .iter()
                .any(|a| glob_match(p, a))
        });
        if !other.is_empty() {
            let (code, msg) = if grant_any {
                (
                    FindingCode::GrantConditionOnNonGrantAction,
                    format!(
                        "{where_} statement {label} puts `kms:GrantIsForAWSResource` on {}, which never carry that key, so it never allows them",
                        super::findings::list_words(&other)
                    ),
                )
            } else {
                (
                    FindingCode::IneffectiveStatement,
                    format!(
                        "{where_} statement {label} requires `kms:GrantIsForAWSResource` but allows only non-grant actions, so it never applies"
                    ),
                )
            };
            out.push(
                Finding::new(code, Severity::Warning, msg)
                    .with_statement(r.clone())
                    .with_actions(other)
                    .with_fix(Fix {
                        summary: format!(
                            "keep `kms:GrantIsForAWSResource` only on kms:CreateGrant/ListGrants/RevokeGrant; move the other actions of {label} into a statement without it"
                        ),
                        ..Fix::default()
                    }),
            );
        }
    }

    // Network conditions and EBS.
    if covers_ebs(st) {
        for c in &st.conditions {
            let ip = c.key_lc == "aws:sourceip" || c.key_lc == "aws:vpcsourceip";
            let vpc = c.key_lc == "aws:sourcevpc" || c.key_lc == "aws:sourcevpce";
            if !(ip || vpc) {
                continue;
            }
            let code = if ip {
                FindingCode::SourceipBlocksAwsServices
            } else {
                FindingCode::SourcevpcBlocksAwsServices
            };
            match st.effect {
                Effect::Allow if !c.operator.if_exists => {
                    out.push(
                        Finding::new(
                            code,
                            Severity::Warning,
                            format!(
                                "{where_} statement {label} allows KMS only when {}: EC2's on-behalf calls for EBS come from EC2's infrastructure and never meet it",
                                c.describe()
                            ),
                        )
                        .with_statement(r.clone())
                        .with_fix(Fix {
                            summary: "restrict with `kms:ViaService` (e.g. `ec2.REGION.amazonaws.com`) instead of network conditions".to_string(),
                            ..Fix::default()
                        }),
                    );
                }
                Effect::Deny if !has_via_aws_service_exception(st) => {
                    let fixed = with_via_aws_service_exception(&statement_json(doc, st));
                    out.push(
                        Finding::new(
                            code,
                            Severity::Warning,
                            format!(
                                "{where_} Deny {label} with {} also denies EC2's on-behalf calls for EBS (no `aws:ViaAWSService` exception)",
                                c.describe()
                            ),
                        )
                        .with_statement(r.clone())
                        .with_fix(replacement_fix(
                            where_,
                            &label,
                            format!("add `\"Bool\": {{\"aws:ViaAWSService\": \"false\"}}` to {label}"),
                            fixed,
                        )),
                    );
                }
                _ => {}
            }
            break;
        }
    }
}

fn lint_key_statement(
    doc: &PolicyDocument,
    st: &Statement,
    key_account: &str,
    out: &mut Vec<Finding>,
) {
    let r = sref(doc, st);
    let label = r.label();
    let Some(p) = &st.principal else {
        out.push(
            Finding::new(
                FindingCode::IneffectiveStatement,
                Severity::Warning,
                format!("key policy statement {label} has no `Principal`, so it never applies"),
            )
            .with_statement(r),
        );
        return;
    };
    for pat in &p.patterns {
        if let PrincipalPattern::Invalid(v) = pat {
            let mut fixed = statement_json(doc, st);
            if let Value::Object(m) = &mut fixed {
                m.insert("Principal".to_string(), json!({"AWS": "*"}));
                let cond = m.entry("Condition").or_insert_with(|| json!({}));
                if let Value::Object(c) = cond {
                    c.insert("ArnLike".to_string(), json!({ "aws:PrincipalArn": v }));
                }
            }
            out.push(
                Finding::new(
                    FindingCode::InvalidPrincipal,
                    Severity::Error,
                    format!(
                        "key policy statement {label} names principal `{v}`: wildcards are not allowed inside principal ARNs, KMS rejects the policy"
                    ),
                )
                .with_statement(r.clone())
                .with_fix(Fix {
                    summary: format!(
                        "name the principals explicitly, or use `\"Principal\": {{\"AWS\": \"*\"}}` with `ArnLike aws:PrincipalArn = {v}`"
                    ),
                    key_policy_statements: vec![fixed],
                    remove: vec![format!("replace statement {label} of the key policy with the statement below")],
                    ..Fix::default()
                }),
            );
        }
        if let PrincipalPattern::Service(s) = pat {
            if st.effect == Effect::Allow && s.eq_ignore_ascii_case("ec2.amazonaws.com") {
                out.push(
                    Finding::new(
                        FindingCode::IneffectiveStatement,
                        Severity::Warning,
                        format!(
                            "key policy statement {label} allows the service principal `ec2.amazonaws.com`: EC2 uses the key on behalf of the launching principal, never as itself, so this gives no launch access"
                        ),
                    )
                    .with_statement(r.clone())
                    .with_fix(Fix {
                        summary: "name the launching accounts, roles or users instead (\"Allow use of the key\" / \"Allow attachment of persistent resources\")".to_string(),
                        remove: vec![format!("principal `ec2.amazonaws.com` of statement {label}")],
                        ..Fix::default()
                    }),
                );
            }
        }
    }
    if st.effect == Effect::Allow {
        if !p.negated && p.patterns.contains(&PrincipalPattern::Any) && st.conditions.is_empty() {
            let mut fixed = statement_json(doc, st);
            if let Value::Object(m) = &mut fixed {
                m.insert(
                    "Condition".to_string(),
                    json!({ "StringEquals": { "kms:CallerAccount": key_account } }),
                );
            }
            out.push(
                Finding::new(
                    FindingCode::WildcardPrincipalUnconditioned,
                    Severity::Warning,
                    format!("key policy statement {label} allows `\"*\"` (every AWS account) without any condition"),
                )
                .with_statement(r.clone())
                .with_fix(Fix {
                    summary: format!(
                        "limit {label} with `kms:CallerAccount` or `aws:PrincipalOrgID`, or name the principals"
                    ),
                    key_policy_statements: vec![fixed],
                    remove: vec![format!("replace statement {label} of the key policy with the statement below")],
                    ..Fix::default()
                }),
            );
        }
        let external: Vec<String> = p
            .patterns
            .iter()
            .filter_map(|pat| match pat {
                PrincipalPattern::Account(a) | PrincipalPattern::Role { account: a, .. }
                    if a != key_account =>
                {
                    Some(pat.text())
                }
                PrincipalPattern::Exact(arn) => super::matching::parse_arn(arn)
                    .filter(|x| x.account != key_account && !x.account.is_empty())
                    .map(|_| arn.clone()),
                _ => None,
            })
            .collect();
        if !p.negated && !external.is_empty() {
            let star =
                !st.action.negated && st.action.items.iter().any(|a| a == "kms:*" || a == "*");
            if star {
                out.push(
                    Finding::new(
                        FindingCode::OverbroadKmsStar,
                        Severity::Warning,
                        format!(
                            "key policy statement {label} gives `kms:*` to another account's {} (including key administration)",
                            super::findings::list_words(&external)
                        ),
                    )
                    .with_statement(r.clone())
                    .with_fix(Fix {
                        summary: format!(
                            "remove the other account's principals from {label} and give them only the usage statements below"
                        ),
                        key_policy_statements: key_statements_for(
                            &["kms:Decrypt".to_string(), "kms:CreateGrant".to_string()],
                            &external,
                        ),
                        remove: external.iter().map(|e| format!("principal `{e}` of statement {label}")).collect(),
                        ..Fix::default()
                    }),
                );
            } else if covers(st, "kms:creategrant")
                && !st.conditions.iter().any(|c| {
                    c.key_lc == "kms:grantisforawsresource" || c.key_lc == "kms:granteeprincipal"
                })
            {
                out.push(
                    Finding::new(
                        FindingCode::CreategrantUnconstrained,
                        Severity::Info,
                        format!(
                            "key policy statement {label} lets {} create grants for any grantee (no `kms:GrantIsForAWSResource` or `kms:GranteePrincipal` condition)",
                            super::findings::list_words(&external)
                        ),
                    )
                    .with_statement(r.clone())
                    .with_fix(Fix {
                        summary: "add `\"Bool\": {\"kms:GrantIsForAWSResource\": \"true\"}` unless that account must create grants itself (Auto Scaling)".to_string(),
                        ..Fix::default()
                    }),
                );
            }
        }
    }
    if st.effect == Effect::Deny && p.negated {
        let roles: Vec<(String, String)> = p
            .patterns
            .iter()
            .filter_map(|pat| match pat {
                PrincipalPattern::Role { account, name } => Some((account.clone(), name.clone())),
                _ => None,
            })
            .collect();
        for (account, name) in roles {
            let session_listed = p.patterns.iter().any(|q| match q {
                PrincipalPattern::Exact(a) => {
                    a.contains(&format!(":{account}:assumed-role/{name}/"))
                }
                PrincipalPattern::Any => true,
                _ => false,
            });
            let account_listed = p
                .patterns
                .iter()
                .any(|q| matches!(q, PrincipalPattern::Account(a) if *a == account));
            if !session_listed || !account_listed {
                let missing = match (session_listed, account_listed) {
                    (false, false) => format!("`arn:aws:sts::{account}:assumed-role/{name}/SESSION` or `arn:aws:iam::{account}:root`"),
                    (false, true) => format!("`arn:aws:sts::{account}:assumed-role/{name}/SESSION`"),
                    _ => format!("`arn:aws:iam::{account}:root`"),
                };
                out.push(
                    Finding::new(
                        FindingCode::NotprincipalMissesSession,
                        Severity::Warning,
                        format!(
                            "key policy Deny {label} exempts role `{name}` with NotPrincipal but does not list {missing}: the role's sessions are still denied"
                        ),
                    )
                    .with_statement(r.clone())
                    .with_fix(Fix {
                        summary: format!(
                            "use `\"Principal\": \"*\"` with `ArnNotEquals aws:PrincipalArn = arn:aws:iam::{account}:role/{name}` instead of NotPrincipal"
                        ),
                        ..Fix::default()
                    }),
                );
            }
        }
    }
}
