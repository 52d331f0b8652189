//! Lint rules for key policy statements only.

use super::Subject;
use crate::policy::findings::{
    key_statements_for, list_words, Finding, FindingCode, Fix, Severity,
};
use crate::policy::matching::{parse_arn, PrincipalPattern};
use crate::policy::model::{Effect, PrincipalElement};
use crate::policy::statement::{covers, statement_json};
use serde_json::{json, Value};

/// Every key policy rule for one statement, in report order.
pub(super) fn lint(s: &Subject<'_>, key_account: &str, out: &mut Vec<Finding>) {
    let Some(p) = &s.st.principal else {
        no_principal(s, out);
        return;
    };
    for pat in &p.patterns {
        invalid_principal(s, pat, out);
        ec2_service_principal(s, pat, out);
    }
    wildcard_principal_unconditioned(s, p, key_account, out);
    let external = external_principals(p, key_account);
    overbroad_kms_star(s, p, &external, out);
    creategrant_unconstrained(s, p, &external, out);
    notprincipal_misses_session(s, p, out);
}

/// `ineffective-statement`: a key policy statement without `Principal` never applies.
fn no_principal(s: &Subject<'_>, out: &mut Vec<Finding>) {
    let label = &s.label;
    out.push(
        Finding::new(
            FindingCode::IneffectiveStatement,
            Severity::Warning,
            format!("key policy statement {label} has no `Principal`, so it never applies"),
        )
        .with_statement(s.r.clone()),
    );
}

/// `invalid-principal`: a partial wildcard inside a principal ARN; KMS rejects the policy.
fn invalid_principal(s: &Subject<'_>, pat: &PrincipalPattern, out: &mut Vec<Finding>) {
    let PrincipalPattern::Invalid(v) = pat else {
        return;
    };
    let label = &s.label;
    let mut fixed = statement_json(s.doc, s.st);
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
        .with_statement(s.r.clone())
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

/// `ineffective-statement`: an Allow to the service principal `ec2.amazonaws.com`, which EC2
/// never uses for EBS.
fn ec2_service_principal(s: &Subject<'_>, pat: &PrincipalPattern, out: &mut Vec<Finding>) {
    let PrincipalPattern::Service(svc) = pat else {
        return;
    };
    if s.st.effect != Effect::Allow || !svc.eq_ignore_ascii_case("ec2.amazonaws.com") {
        return;
    }
    let label = &s.label;
    out.push(
        Finding::new(
            FindingCode::IneffectiveStatement,
            Severity::Warning,
            format!(
                "key policy statement {label} allows the service principal `ec2.amazonaws.com`: EC2 uses the key on behalf of the launching principal, never as itself, so this gives no launch access"
            ),
        )
        .with_statement(s.r.clone())
        .with_fix(Fix {
            summary: "name the launching accounts, roles or users instead (\"Allow use of the key\" / \"Allow attachment of persistent resources\")".to_string(),
            remove: vec![format!("principal `ec2.amazonaws.com` of statement {label}")],
            ..Fix::default()
        }),
    );
}

/// `wildcard-principal-unconditioned`: an Allow to `"*"` without any condition.
fn wildcard_principal_unconditioned(
    s: &Subject<'_>,
    p: &PrincipalElement,
    key_account: &str,
    out: &mut Vec<Finding>,
) {
    let st = s.st;
    if st.effect != Effect::Allow
        || p.negated
        || !p.patterns.contains(&PrincipalPattern::Any)
        || !st.conditions.is_empty()
    {
        return;
    }
    let label = &s.label;
    let mut fixed = statement_json(s.doc, st);
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
        .with_statement(s.r.clone())
        .with_fix(Fix {
            summary: format!(
                "limit {label} with `kms:CallerAccount`, `aws:PrincipalOrgID` or `aws:PrincipalOrgPaths`, or name the principals"
            ),
            key_policy_statements: vec![fixed],
            remove: vec![format!("replace statement {label} of the key policy with the statement below")],
            ..Fix::default()
        }),
    );
}

/// The principals of another account than the key's, as written.
fn external_principals(p: &PrincipalElement, key_account: &str) -> Vec<String> {
    p.patterns
        .iter()
        .filter_map(|pat| match pat {
            PrincipalPattern::Account(a) | PrincipalPattern::Role { account: a, .. }
                if a != key_account =>
            {
                Some(pat.text())
            }
            PrincipalPattern::Exact(arn) => parse_arn(arn)
                .filter(|x| x.account != key_account && !x.account.is_empty())
                .map(|_| arn.clone()),
            _ => None,
        })
        .collect()
}

/// An Allow of `kms:*` (or `*`) to other accounts' principals.
fn allows_star_to(s: &Subject<'_>, p: &PrincipalElement, external: &[String]) -> bool {
    let st = s.st;
    st.effect == Effect::Allow
        && !p.negated
        && !external.is_empty()
        && !st.action.negated
        && st.action.items.iter().any(|a| a == "kms:*" || a == "*")
}

/// `overbroad-kms-star`: `kms:*` given to another account (including key administration).
fn overbroad_kms_star(
    s: &Subject<'_>,
    p: &PrincipalElement,
    external: &[String],
    out: &mut Vec<Finding>,
) {
    if !allows_star_to(s, p, external) {
        return;
    }
    let label = &s.label;
    out.push(
        Finding::new(
            FindingCode::OverbroadKmsStar,
            Severity::Warning,
            format!(
                "key policy statement {label} gives `kms:*` to another account's {} (including key administration)",
                list_words(external)
            ),
        )
        .with_statement(s.r.clone())
        .with_fix(Fix {
            summary: format!(
                "remove the other account's principals from {label} and give them only the usage statements below"
            ),
            key_policy_statements: key_statements_for(
                &["kms:Decrypt".to_string(), "kms:CreateGrant".to_string()],
                external,
            ),
            remove: external.iter().map(|e| format!("principal `{e}` of statement {label}")).collect(),
            ..Fix::default()
        }),
    );
}

/// `creategrant-unconstrained`: CreateGrant (but not `kms:*`, reported above) to another
/// account without `kms:GrantIsForAWSResource` or `kms:GranteePrincipal`.
fn creategrant_unconstrained(
    s: &Subject<'_>,
    p: &PrincipalElement,
    external: &[String],
    out: &mut Vec<Finding>,
) {
    let st = s.st;
    if st.effect != Effect::Allow
        || p.negated
        || external.is_empty()
        || allows_star_to(s, p, external)
        || !covers(st, "kms:creategrant")
        || st
            .conditions
            .iter()
            .any(|c| c.key_lc == "kms:grantisforawsresource" || c.key_lc == "kms:granteeprincipal")
    {
        return;
    }
    let label = &s.label;
    out.push(
        Finding::new(
            FindingCode::CreategrantUnconstrained,
            Severity::Info,
            format!(
                "key policy statement {label} lets {} create grants for any grantee (no `kms:GrantIsForAWSResource` or `kms:GranteePrincipal` condition)",
                list_words(external)
            ),
        )
        .with_statement(s.r.clone())
        .with_fix(Fix {
            summary: "add `\"Bool\": {\"kms:GrantIsForAWSResource\": \"true\"}` unless that account must create grants itself (Auto Scaling)".to_string(),
            ..Fix::default()
        }),
    );
}

/// `notprincipal-misses-session`: a NotPrincipal Deny that exempts a role but not its sessions
/// (or not its account), so the role's sessions are still denied.
fn notprincipal_misses_session(s: &Subject<'_>, p: &PrincipalElement, out: &mut Vec<Finding>) {
    if s.st.effect != Effect::Deny || !p.negated {
        return;
    }
    let label = &s.label;
    let roles = p.patterns.iter().filter_map(|pat| match pat {
        PrincipalPattern::Role { account, name } => Some((account, name)),
        _ => None,
    });
    for (account, name) in roles {
        let session_listed = p.patterns.iter().any(|q| match q {
            PrincipalPattern::Exact(a) => a.contains(&format!(":{account}:assumed-role/{name}/")),
            PrincipalPattern::Any => true,
            _ => false,
        });
        let account_listed = p
            .patterns
            .iter()
            .any(|q| matches!(q, PrincipalPattern::Account(a) if a == account));
        let missing = match (session_listed, account_listed) {
            (true, true) => continue,
            (false, false) => format!("`arn:aws:sts::{account}:assumed-role/{name}/SESSION` or `arn:aws:iam::{account}:root`"),
            (false, true) => format!("`arn:aws:sts::{account}:assumed-role/{name}/SESSION`"),
            (true, false) => format!("`arn:aws:iam::{account}:root`"),
        };
        out.push(
            Finding::new(
                FindingCode::NotprincipalMissesSession,
                Severity::Warning,
                format!(
                    "key policy Deny {label} exempts role `{name}` with NotPrincipal but does not list {missing}: the role's sessions are still denied"
                ),
            )
            .with_statement(s.r.clone())
            .with_fix(Fix {
                summary: format!(
                    "use `\"Principal\": \"*\"` with `ArnNotEquals aws:PrincipalArn = arn:aws:iam::{account}:role/{name}` instead of NotPrincipal"
                ),
                ..Fix::default()
            }),
        );
    }
}
