//! Lint rules for every statement (key policy and identity policies).

use super::Subject;
use crate::policy::condition::{Base, Condition};
use crate::policy::context::is_grant_action;
use crate::policy::findings::{list_words, Finding, FindingCode, Fix, Severity};
use crate::policy::matching::glob_match;
use crate::policy::model::Effect;
use crate::policy::statement::{
    covers_ebs, has_via_aws_service_exception, replacement_fix, statement_json,
    with_via_aws_service_exception,
};
use serde_json::{json, Value};

/// Every rule for every statement, in report order.
pub(super) fn lint(s: &Subject<'_>, out: &mut Vec<Finding>) {
    no_resource(s, out);
    grant_condition_on_non_grant_actions(s, out);
    network_condition_blocks_ebs(s, out);
}

/// `ineffective-statement`: no `Resource`, so the statement never applies.
fn no_resource(s: &Subject<'_>, out: &mut Vec<Finding>) {
    if s.st.resource.is_some() {
        return;
    }
    let (where_, label) = (s.where_, &s.label);
    let mut fixed = statement_json(s.doc, s.st);
    if let Value::Object(m) = &mut fixed {
        m.insert("Resource".to_string(), json!("*"));
    }
    out.push(
        Finding::new(
            FindingCode::IneffectiveStatement,
            Severity::Warning,
            format!("{where_} statement {label} has no `Resource`, so it never applies"),
        )
        .with_statement(s.r.clone())
        .with_fix(replacement_fix(
            where_,
            label,
            format!("add `\"Resource\": \"*\"` (in a key policy: this key) to {label}"),
            fixed,
        )),
    );
}

/// A condition that requires `kms:GrantIsForAWSResource` to be present and true.
fn requires_grant_key(c: &Condition) -> bool {
    c.key_lc == "kms:grantisforawsresource"
        && !c.operator.if_exists
        && match c.operator.base {
            Base::Null => c.values.iter().any(|v| v.raw.eq_ignore_ascii_case("false")),
            _ => !c.operator.negated,
        }
}

/// `grant-condition-on-non-grant-action` (grant and non-grant actions mixed) or
/// `ineffective-statement` (non-grant actions only): `kms:GrantIsForAWSResource` on actions
/// that never carry it.
fn grant_condition_on_non_grant_actions(s: &Subject<'_>, out: &mut Vec<Finding>) {
    let st = s.st;
    if !(st.conditions.iter().any(requires_grant_key)
        && st.effect == Effect::Allow
        && !st.action.negated)
    {
        return;
    }
    let other: Vec<String> = st
        .action
        .written
        .iter()
        .zip(&st.action.items)
        .filter(|(_, lc)| !is_grant_action(lc))
        .map(|(w, _)| w.clone())
        .collect();
    if other.is_empty() {
        return;
    }
    let grant_any = st.action.items.iter().any(|p| {
        ["kms:creategrant", "kms:listgrants", "kms:revokegrant"]
            .iter()
            .any(|a| glob_match(p, a))
    });
    let (where_, label) = (s.where_, &s.label);
    let (code, msg) = if grant_any {
        (
            FindingCode::GrantConditionOnNonGrantAction,
            format!(
                "{where_} statement {label} puts `kms:GrantIsForAWSResource` on {}, which never carry that key, so it never allows them",
                list_words(&other)
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
            .with_statement(s.r.clone())
            .with_actions(other)
            .with_fix(Fix {
                summary: format!(
                    "keep `kms:GrantIsForAWSResource` only on kms:CreateGrant/ListGrants/RevokeGrant; move the other actions of {label} into a statement without it"
                ),
                ..Fix::default()
            }),
    );
}

/// `sourceip-blocks-aws-services` / `sourcevpc-blocks-aws-services`: the first network
/// condition of a statement that matters to EBS (an Allow EC2's on-behalf calls cannot meet, or
/// a Deny without the `aws:ViaAWSService` exception).
fn network_condition_blocks_ebs(s: &Subject<'_>, out: &mut Vec<Finding>) {
    let st = s.st;
    if !covers_ebs(st) {
        return;
    }
    let network = st.conditions.iter().find_map(|c| {
        let ip = c.key_lc == "aws:sourceip" || c.key_lc == "aws:vpcsourceip";
        let vpc = c.key_lc == "aws:sourcevpc" || c.key_lc == "aws:sourcevpce";
        match (ip, vpc) {
            (true, _) => Some((c, FindingCode::SourceipBlocksAwsServices)),
            (_, true) => Some((c, FindingCode::SourcevpcBlocksAwsServices)),
            _ => None,
        }
    });
    let Some((c, code)) = network else {
        return;
    };
    let (where_, label) = (s.where_, &s.label);
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
                .with_statement(s.r.clone())
                .with_fix(Fix {
                    summary: "restrict with `kms:ViaService` (e.g. `ec2.REGION.amazonaws.com`) instead of network conditions".to_string(),
                    ..Fix::default()
                }),
            );
        }
        Effect::Deny if !has_via_aws_service_exception(st) => {
            let fixed = with_via_aws_service_exception(&statement_json(s.doc, st));
            out.push(
                Finding::new(
                    code,
                    Severity::Warning,
                    format!(
                        "{where_} Deny {label} with {} also denies EC2's on-behalf calls for EBS (no `aws:ViaAWSService` exception)",
                        c.describe()
                    ),
                )
                .with_statement(s.r.clone())
                .with_fix(replacement_fix(
                    where_,
                    label,
                    format!("add `\"Bool\": {{\"aws:ViaAWSService\": \"false\"}}` to {label}"),
                    fixed,
                )),
            );
        }
        _ => {}
    }
}
