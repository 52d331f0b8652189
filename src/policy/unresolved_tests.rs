//! A statement whose condition uses a policy variable without a value: the evaluator says which
//! variable and whether the statement applied, and `explain` shows it in the deciding-statement
//! detail (IAM user guide, "Policy variables" > "Policy variables with no value": positive
//! operators do not match the effectively null value, inverted ones do).

use super::*;
use crate::cli::render_explain::{render_json, render_text};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/Launcher/bob";

/// Allow the launcher, and Deny callers whose account differs from their `account` tag.
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
  {"Sid":"Launcher","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Launcher"},"Action":"kms:*","Resource":"*"},
  {"Sid":"DenyOtherTeams","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
   "Condition":{"StringNotEquals":{"aws:PrincipalAccount":"${aws:PrincipalTag/account}"}}}]}"#;

fn analysis(tags: &[(&str, &str)]) -> Analysis {
    let key = KeyInfo {
        arn: KEY.to_string(),
        manager: KeyManager::Customer,
        policy: Some(parse_policy(POLICY, "key policy").unwrap()),
        grants: Vec::new(),
    };
    let ctx = CallerContext {
        principal_tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        ..CallerContext::default()
    };
    analyze(&AnalysisRequest {
        key: &key,
        principal: SESSION,
        identity_policies: &[],
        operation: Operation::Launch,
        context: &ctx,
    })
    .unwrap()
}

#[test]
fn deny_with_an_unresolved_variable_applies_and_says_why() {
    let a = analysis(&[]);
    assert_eq!(a.verdict, Verdict::Deny);
    let check = &a.checks[0];
    assert_eq!(check.key_policy.outcome, Outcome::ExplicitDeny);
    let u = &check.unresolved_variables;
    assert_eq!(u.len(), 1, "{u:#?}");
    assert_eq!(u[0].variable, "${aws:PrincipalTag/account}");
    assert_eq!(u[0].statement.sid.as_deref(), Some("DenyOtherTeams"));
    assert_eq!(u[0].effect, Effect::Deny);
    assert!(u[0].applied);
    assert_eq!(u[0].operator, "StringNotEquals");

    let text = render_text(&a, false);
    assert!(
        text.contains("variable `${aws:PrincipalTag/account}` not resolved (no value in the request) in StringNotEquals `aws:PrincipalAccount` of `DenyOtherTeams` (key policy, Deny): the statement applies"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&render_json(&a)).unwrap();
    let v = &json["checks"][0]["unresolved_variables"][0];
    assert_eq!(v["variable"], "${aws:PrincipalTag/account}");
    assert_eq!(v["applied"], true);
    assert_eq!(v["statement"]["sid"], "DenyOtherTeams");
    assert_eq!(v["source"], "key-policy");
}

#[test]
fn resolved_variable_leaves_no_detail() {
    let a = analysis(&[("account", "111122223333")]);
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    assert!(a.checks.iter().all(|c| c.unresolved_variables.is_empty()));
    let text = render_text(&a, false);
    assert!(!text.contains("not resolved"), "{text}");
    let json = render_json(&a);
    assert!(!json.contains("unresolved_variables"), "{json}");
}
