//! Scenario tests with real-world policies (seeds, AWS documentation): every finding code, every
//! lint, and "applying the fix makes the access allowed".

use super::*;
use crate::policy::context::RequestContext;
use crate::policy::matching::Caller;
use serde_json::Value;

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const EXT_SESSION: &str = "arn:aws:sts::444455556666:assumed-role/Launcher/alice";
const EXT_ROLE: &str = "arn:aws:iam::444455556666:role/Launcher";
const SAME_ROLE: &str = "arn:aws:iam::111122223333:role/Launcher";
const SAME_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/Launcher/bob";
const ASG_SAME: &str =
    "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";
const ASG_EXT: &str =
    "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../tests/fixtures/policies/", $name))
    };
}

fn key(policy: &str) -> KeyInfo {
    KeyInfo {
        arn: KEY.to_string(),
        manager: KeyManager::Customer,
        policy: Some(parse_policy(policy, "key policy").unwrap()),
        grants: Vec::new(),
    }
}

fn ids(texts: &[&str]) -> Vec<PolicyDocument> {
    texts
        .iter()
        .enumerate()
        .flat_map(|(i, t)| parse_policies(t, &format!("identity{i}.json")).unwrap())
        .collect()
}

fn run_with(
    key: &KeyInfo,
    principal: &str,
    identity: &[PolicyDocument],
    op: Operation,
    ctx: &CallerContext,
) -> Analysis {
    analyze(&AnalysisRequest {
        key,
        principal,
        identity_policies: identity,
        operation: op,
        context: ctx,
    })
    .unwrap()
}

fn run(key: &KeyInfo, principal: &str, identity: &[PolicyDocument]) -> Analysis {
    run_with(
        key,
        principal,
        identity,
        Operation::Launch,
        &CallerContext::default(),
    )
}

fn codes(a: &Analysis) -> Vec<&'static str> {
    a.findings.iter().map(|f| f.code.as_str()).collect()
}

fn error_codes(a: &Analysis) -> Vec<&'static str> {
    a.errors().map(|f| f.code.as_str()).collect()
}

fn finding(a: &Analysis, code: FindingCode) -> &Finding {
    a.findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} in {:#?}", a.findings))
}

/// Apply every error finding's fix: statements named by `remove` are replaced, others appended.
fn apply_fixes(
    a: &Analysis,
    key: &KeyInfo,
    identity: &[PolicyDocument],
) -> (KeyInfo, Vec<PolicyDocument>) {
    let mut kp = key.policy.as_ref().unwrap().original.clone();
    let mut idv: Vec<Value> = identity.iter().map(|d| d.original.clone()).collect();
    let mut extra_identity: Vec<Value> = Vec::new();
    fn statements(v: &mut Value) -> &mut Vec<Value> {
        if v["Statement"].is_object() {
            let one = v["Statement"].take();
            v["Statement"] = Value::Array(vec![one]);
        }
        v["Statement"].as_array_mut().unwrap()
    }
    for f in a.errors() {
        let Some(fix) = &f.fix else { continue };
        let replace = !fix.remove.is_empty() && fix.remove[0].starts_with("replace");
        match (&f.statement, replace) {
            (Some(s), true) if !fix.key_policy_statements.is_empty() => {
                statements(&mut kp)[s.index] = fix.key_policy_statements[0].clone();
            }
            (Some(s), true) => {
                let i = identity.iter().position(|d| d.origin == s.policy).unwrap();
                statements(&mut idv[i])[s.index] = fix.identity_policy_statements[0].clone();
            }
            _ => {
                statements(&mut kp).extend(fix.key_policy_statements.iter().cloned());
                extra_identity.extend(fix.identity_policy_statements.iter().cloned());
            }
        }
    }
    let mut new_key = key.clone();
    new_key.policy = Some(parse_policy_value(&kp, "key policy").unwrap());
    let mut docs: Vec<PolicyDocument> = idv
        .iter()
        .zip(identity)
        .map(|(v, d)| parse_policy_value(v, &d.origin).unwrap())
        .collect();
    if !extra_identity.is_empty() {
        let v = serde_json::json!({"Version": "2012-10-17", "Statement": extra_identity});
        docs.push(parse_policy_value(&v, "KmsKeyUsagePolicy").unwrap());
    }
    (new_key, docs)
}

fn assert_fix_allows(
    a: &Analysis,
    key: &KeyInfo,
    identity: &[PolicyDocument],
    principal: &str,
    ctx: &CallerContext,
) {
    let (k, i) = apply_fixes(a, key, identity);
    let after = run_with(&k, principal, &i, a.operation, ctx);
    assert_eq!(
        after.verdict,
        Verdict::Allow,
        "after fixes: {:#?}",
        after.findings
    );
}

#[test]
fn default_key_policy_same_account_delegates_to_iam() {
    let k = key(fixture!("default-key-policy.json"));
    let a = run(&k, SAME_SESSION, &[]);
    assert_eq!(a.verdict, Verdict::Deny);
    assert_eq!(error_codes(&a), vec!["identity-policy-missing-action"]);
    assert!(a
        .checks
        .iter()
        .all(|c| c.key_policy.outcome == Outcome::DelegatesToIam));
    assert_eq!(
        a.checks[0].key_policy.statements[0].sid.as_deref(),
        Some("Enable IAM User Permissions")
    );
    assert_fix_allows(&a, &k, &[], SAME_SESSION, &CallerContext::default());
    // seed 001's IAM policy is enough.
    let a = run(
        &k,
        SAME_SESSION,
        &ids(&[fixture!("seed001-iam-kms-policy.json")]),
    );
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    assert_eq!(
        a.checks[1].identity_policies.statements[0].sid.as_deref(),
        Some("VisualEditor0")
    );
}

#[test]
fn default_key_policy_cross_account_reports_both_sides() {
    let k = key(fixture!("default-key-policy.json"));
    let a = run(&k, EXT_SESSION, &[]);
    assert_eq!(a.verdict, Verdict::Deny);
    assert!(a.cross_account);
    assert_eq!(
        error_codes(&a),
        vec!["key-policy-no-access", "identity-policy-missing-action"]
    );
    let f = finding(&a, FindingCode::KeyPolicyNoAccess);
    let fix = f.fix.as_ref().unwrap();
    assert_eq!(fix.key_policy_statements.len(), 2);
    assert_eq!(fix.key_policy_statements[0]["Sid"], "Allow use of the key");
    assert_eq!(
        fix.key_policy_statements[0]["Principal"]["AWS"],
        serde_json::json!([EXT_ROLE])
    );
    assert_eq!(
        fix.key_policy_statements[1]["Sid"],
        "Allow attachment of persistent resources"
    );
    let id_fix = finding(&a, FindingCode::IdentityPolicyMissingAction)
        .fix
        .as_ref()
        .unwrap();
    assert_eq!(
        id_fix.identity_policy_statements[0]["Resource"],
        serde_json::json!([KEY])
    );
    assert_fix_allows(&a, &k, &[], EXT_SESSION, &CallerContext::default());
}

#[test]
fn console_default_with_external_account() {
    let k = key(fixture!("console-default-external-account.json"));
    // Key policy names account 444455556666: the role's IAM decides.
    let a = run(&k, EXT_SESSION, &[]);
    assert_eq!(error_codes(&a), vec!["identity-policy-missing-action"]);
    let a = run(
        &k,
        EXT_SESSION,
        &ids(&[fixture!("kms-key-usage-policy.json")]),
    );
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    assert!(a.findings.is_empty(), "{:#?}", a.findings);
    // A role of the key's account named directly needs no IAM policy.
    let a = run(
        &k,
        "arn:aws:sts::111122223333:assumed-role/SessionRole/s1",
        &[],
    );
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    assert!(a.checks.iter().all(|c| !c.identity_required));
    // Copy needs fewer actions.
    let a = run_with(
        &k,
        EXT_ROLE,
        &ids(&[fixture!("kms-key-usage-policy.json")]),
        Operation::Copy,
        &CallerContext::default(),
    );
    assert_eq!(a.checks.len(), 3);
    assert_eq!(a.verdict, Verdict::Allow);
}

#[test]
fn ip_deny_identity_policy_without_and_with_via_aws_service() {
    let k = key(fixture!("console-default-external-account.json"));
    let identity = ids(&[
        fixture!("kms-key-usage-policy.json"),
        fixture!("ip-deny-identity.json"),
    ]);
    let ctx = CallerContext {
        source_ip: Some("192.0.2.10".parse().unwrap()),
        ..CallerContext::default()
    };
    let a = run_with(&k, EXT_SESSION, &identity, Operation::Launch, &ctx);
    assert_eq!(a.verdict, Verdict::Deny);
    // The user's own IP is inside the range, but EC2's on-behalf calls come from elsewhere.
    assert_eq!(error_codes(&a), vec!["identity-policy-explicit-deny"]);
    let f = finding(&a, FindingCode::IdentityPolicyExplicitDeny);
    assert!(
        f.message.contains("NotIpAddress `aws:SourceIp`"),
        "{}",
        f.message
    );
    let fixed = &f.fix.as_ref().unwrap().identity_policy_statements[0];
    assert_eq!(fixed["Condition"]["Bool"]["aws:ViaAWSService"], "false");
    assert!(!codes(&a).contains(&"sourceip-blocks-aws-services"));
    assert_fix_allows(&a, &k, &identity, EXT_SESSION, &ctx);

    let identity = ids(&[
        fixture!("kms-key-usage-policy.json"),
        fixture!("ip-deny-identity-via-aws-service.json"),
    ]);
    let a = run_with(&k, EXT_SESSION, &identity, Operation::Launch, &ctx);
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    assert!(!codes(&a).contains(&"sourceip-blocks-aws-services"));
}

#[test]
fn key_policy_sourceip_allow_condition_fails() {
    let k = key(fixture!("key-policy-sourceip-allow.json"));
    let a = run(&k, SAME_SESSION, &[]);
    assert_eq!(a.verdict, Verdict::Deny);
    // Independent reasons: the IP condition, and the admin statement's `kms:Create*` and
    // `kms:Describe*` delegate CreateGrant and DescribeKey to an IAM policy the role lacks.
    assert_eq!(
        error_codes(&a),
        vec![
            "key-policy-condition-fails",
            "identity-policy-missing-action"
        ]
    );
    assert_eq!(
        finding(&a, FindingCode::IdentityPolicyMissingAction).actions,
        vec!["kms:CreateGrant", "kms:DescribeKey"]
    );
    let f = finding(&a, FindingCode::KeyPolicyConditionFails);
    assert!(
        f.message.contains("`Allow use of the key from the office`"),
        "{}",
        f.message
    );
    assert!(f.message.contains("aws:SourceIp"), "{}", f.message);
    assert!(f.message.contains(EC2_INFRASTRUCTURE_IP), "{}", f.message);
    assert_eq!(f.actions.len(), 5);
    let st = &f.fix.as_ref().unwrap().key_policy_statements[0];
    assert_eq!(
        st["Condition"]["StringEquals"]["kms:ViaService"],
        "ec2.us-east-1.amazonaws.com"
    );
    assert!(st["Condition"].get("IpAddress").is_none());
    assert!(codes(&a).contains(&"sourceip-blocks-aws-services"));
    assert_fix_allows(&a, &k, &[], SAME_SESSION, &CallerContext::default());
}

#[test]
fn key_policy_sourceip_deny_is_explicit_deny() {
    let k = key(fixture!("key-policy-sourceip-deny.json"));
    let a = run(&k, SAME_SESSION, &[]);
    assert_eq!(a.verdict, Verdict::Deny);
    assert_eq!(error_codes(&a), vec!["key-policy-explicit-deny"]);
    let f = finding(&a, FindingCode::KeyPolicyExplicitDeny);
    assert_eq!(
        f.statement.as_ref().unwrap().sid.as_deref(),
        Some("DenyOutsideCorporateNetwork")
    );
    assert_eq!(f.actions.len(), 5);
    // The lint with the same fix is folded into the error finding.
    assert!(!codes(&a).contains(&"sourceip-blocks-aws-services"));
    assert_fix_allows(&a, &k, &[], SAME_SESSION, &CallerContext::default());
    // Same-account role named directly: allowed once the Deny is repaired, without IAM.
}

#[test]
fn org_scoped_sharing() {
    let k = key(fixture!("org-scoped-key-policy.json"));
    let usage = ids(&[fixture!("kms-key-usage-policy.json")]);
    let a = run(&k, EXT_SESSION, &usage);
    assert_eq!(a.verdict, Verdict::Deny);
    assert_eq!(
        error_codes(&a),
        vec!["key-policy-condition-fails", "key-policy-condition-fails"]
    );
    assert!(a.findings[0].message.contains("aws:PrincipalOrgID"));
    assert!(a.findings[0].message.contains("--org-id"));
    let in_org = CallerContext {
        org_id: Some("o-a1b2c3d4e5".into()),
        ..CallerContext::default()
    };
    let a = run_with(&k, EXT_SESSION, &usage, Operation::Launch, &in_org);
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    assert!(!codes(&a).contains(&"wildcard-principal-unconditioned"));
    let other_org = CallerContext {
        org_id: Some("o-zzzzzzzzzz".into()),
        ..CallerContext::default()
    };
    let a = run_with(&k, EXT_SESSION, &usage, Operation::Launch, &other_org);
    assert!(
        a.findings[0].message.contains("not in that organization"),
        "{}",
        a.findings[0].message
    );
    assert_fix_allows(&a, &k, &usage, EXT_SESSION, &other_org);
}

#[test]
fn autoscaling_same_account() {
    let k = key(fixture!("autoscaling-same-account-key-policy.json"));
    let a = run(&k, ASG_SAME, &[]);
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    // With only the default key policy the role's (uneditable) IAM cannot help: name it in the key policy.
    let k = key(fixture!("default-key-policy.json"));
    let a = run(&k, ASG_SAME, &[]);
    assert_eq!(error_codes(&a), vec!["identity-policy-missing-action"]);
    let fix = finding(&a, FindingCode::IdentityPolicyMissingAction)
        .fix
        .as_ref()
        .unwrap();
    assert!(fix.identity_policy_statements.is_empty());
    assert_eq!(
        fix.key_policy_statements[0]["Principal"]["AWS"],
        serde_json::json!([ASG_SAME])
    );
    assert_fix_allows(&a, &k, &[], ASG_SAME, &CallerContext::default());
}

#[test]
fn autoscaling_cross_account_needs_grant() {
    let mut k = key(fixture!("autoscaling-cross-account-key-policy.json"));
    let a = run(&k, ASG_EXT, &[]);
    assert_eq!(a.verdict, Verdict::Deny);
    assert_eq!(error_codes(&a), vec!["needs-grant"]);
    let fix = finding(&a, FindingCode::NeedsGrant).fix.as_ref().unwrap();
    // The key policy already lets account 444455556666 call CreateGrant directly.
    assert!(fix.key_policy_statements.is_empty(), "{fix:#?}");
    assert!(fix.commands[0].starts_with("aws kms create-grant"));
    assert!(fix.commands[0].contains(ASG_EXT));
    // The only-GrantIsForAWSResource policy does not let the account create the grant.
    let k2 = key(fixture!("console-default-external-account.json"));
    let a2 = run(&k2, ASG_EXT, &[]);
    let fix2 = finding(&a2, FindingCode::NeedsGrant).fix.as_ref().unwrap();
    assert_eq!(fix2.key_policy_statements.len(), 1);
    assert_eq!(fix2.key_policy_statements[0]["Action"], "kms:CreateGrant");
    assert!(fix2.key_policy_statements[0]["Condition"]
        .get("Bool")
        .is_none());
    // With the grant, allowed.
    k.grants = parse_grants(fixture!("autoscaling-grants.json"), "grants.json").unwrap();
    let a = run(&k, ASG_EXT, &[]);
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    assert_eq!(a.checks[0].grants.outcome, Outcome::Allow);
    assert!(codes(&a).contains(&"creategrant-unconstrained"));
}

#[test]
fn aws_managed_key() {
    let mut k = key(fixture!("aws-managed-ebs-key-policy.json"));
    k.manager = KeyManager::Aws;
    let a = run(
        &k,
        EXT_SESSION,
        &ids(&[fixture!("kms-key-usage-policy.json")]),
    );
    assert_eq!(a.verdict, Verdict::Deny);
    assert_eq!(error_codes(&a), vec!["aws-managed-key"]);
    assert!(finding(&a, FindingCode::AwsManagedKey)
        .fix
        .as_ref()
        .unwrap()
        .commands[0]
        .contains("copy-image"));
    // In its own account, through EC2, anyone authorized may use it.
    let a = run(&k, SAME_SESSION, &[]);
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    // kms:ViaService of another region does not match.
    let k_west = KeyInfo {
        arn: KEY.replace("us-east-1", "us-west-2"),
        ..k.clone()
    };
    let a = run(&k_west, SAME_SESSION, &[]);
    assert_eq!(error_codes(&a)[0], "key-policy-condition-fails");
}

#[test]
fn key_policy_missing_action() {
    let k = key(fixture!("missing-creategrant-key-policy.json"));
    let a = run(&k, "arn:aws:iam::111122223333:user/test", &[]);
    assert_eq!(a.verdict, Verdict::Deny);
    assert_eq!(error_codes(&a), vec!["key-policy-missing-action"]);
    let f = finding(&a, FindingCode::KeyPolicyMissingAction);
    assert_eq!(f.actions, vec!["kms:CreateGrant"]);
    let fix = f.fix.as_ref().unwrap();
    assert_eq!(fix.key_policy_statements.len(), 1);
    assert_eq!(
        fix.key_policy_statements[0]["Sid"],
        "Allow attachment of persistent resources"
    );
    assert_fix_allows(
        &a,
        &k,
        &[],
        "arn:aws:iam::111122223333:user/test",
        &CallerContext::default(),
    );
    // An unrelated principal gets nothing at all.
    let a = run(&k, SAME_ROLE, &[]);
    assert_eq!(error_codes(&a), vec!["key-policy-no-access"]);
}

#[test]
fn identity_policy_explicit_deny() {
    let k = key(fixture!("console-default-external-account.json"));
    let identity = ids(&[fixture!("identity-deny-creategrant.json")]);
    assert_eq!(identity.len(), 2);
    let a = run(&k, EXT_SESSION, &identity);
    assert_eq!(a.verdict, Verdict::Deny);
    assert_eq!(error_codes(&a), vec!["identity-policy-explicit-deny"]);
    let f = finding(&a, FindingCode::IdentityPolicyExplicitDeny);
    assert_eq!(f.actions, vec!["kms:CreateGrant"]);
    assert!(f.fix.as_ref().unwrap().remove[0].contains("`NoGrantsEver`"));
    assert_eq!(a.checks[0].identity_policies.outcome, Outcome::ExplicitDeny);
}

#[test]
fn notprincipal_deny_misses_the_session() {
    let k = key(fixture!("notprincipal-deny-key-policy.json"));
    let usage = ids(&[fixture!("seed001-iam-kms-policy.json")]);
    // The session is not listed, so the Deny applies to it.
    let a = run(&k, SAME_SESSION, &usage);
    assert_eq!(error_codes(&a), vec!["key-policy-explicit-deny"]);
    assert!(codes(&a).contains(&"notprincipal-misses-session"));
    // The role itself (and the account root) is exempt.
    let a = run(&k, SAME_ROLE, &usage);
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
}

#[test]
fn every_lint() {
    let k = key(fixture!("lint-key-policy.json"));
    let a = run(&k, SAME_SESSION, &[]);
    let c = codes(&a);
    for code in [
        "ineffective-statement",
        "invalid-principal",
        "wildcard-principal-unconditioned",
        "overbroad-kms-star",
        "grant-condition-on-non-grant-action",
        "notprincipal-misses-session",
        "creategrant-unconstrained",
    ] {
        assert!(c.contains(&code), "{code} missing from {c:?}");
    }
    let ineffective: Vec<&str> = a
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::IneffectiveStatement)
        .map(|f| f.statement.as_ref().unwrap().sid.as_deref().unwrap())
        .collect();
    assert_eq!(
        ineffective,
        vec![
            "NoResource",
            "Ec2ServicePrincipal",
            "GrantConditionOnDecrypt"
        ]
    );
    let overbroad = finding(&a, FindingCode::OverbroadKmsStar);
    assert_eq!(
        overbroad.statement.as_ref().unwrap().sid.as_deref(),
        Some("PartnerAdmin")
    );
    // The key's own account root with kms:* is not over-broad.
    assert_eq!(c.iter().filter(|x| **x == "overbroad-kms-star").count(), 1);
    let invalid = finding(&a, FindingCode::InvalidPrincipal);
    assert_eq!(invalid.severity, Severity::Error);
    // The lints stand on their own too.
    let lints = lint_key_policy(k.policy.as_ref().unwrap(), "111122223333");
    assert!(lints.len() >= 9, "{lints:#?}");
    // A partial wildcard never matches, but the NoResource statement does not apply either.
    assert_eq!(a.checks[1].key_policy.outcome, Outcome::DelegatesToIam);
    // `sourcevpc-blocks-aws-services`:
    let vpc = key(
        r#"{"Statement":[{"Sid":"Vpc","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Launcher"},"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}]}"#,
    );
    let a = run(&vpc, SAME_SESSION, &[]);
    assert!(codes(&a).contains(&"sourcevpc-blocks-aws-services"));
    assert_eq!(error_codes(&a), vec!["key-policy-condition-fails"]);
}

#[test]
fn grants_with_constraints() {
    let mut k = key(fixture!("default-key-policy.json"));
    let grant = |constraints: &str| {
        format!(
            r#"[{{"GrantId":"g","GranteePrincipal":"{EXT_ROLE}","Operations":["Decrypt","CreateGrant","DescribeKey","GenerateDataKeyWithoutPlaintext","ReEncryptFrom"]{constraints}}}]"#
        )
    };
    k.grants = parse_grants(&grant(""), "g").unwrap();
    assert_eq!(run(&k, EXT_SESSION, &[]).verdict, Verdict::Allow);
    k.grants = parse_grants(
        &grant(r#","Constraints":{"EncryptionContextSubset":{"aws:ebs:id":"vol-1"}}"#),
        "g",
    )
    .unwrap();
    let a = run(&k, EXT_SESSION, &[]);
    let decrypt = a.checks.iter().find(|c| c.action == "kms:Decrypt").unwrap();
    assert_eq!(decrypt.grants.outcome, Outcome::Allow);
    let describe = a
        .checks
        .iter()
        .find(|c| c.action == "kms:DescribeKey")
        .unwrap();
    assert_eq!(describe.grants.outcome, Outcome::NoMatch);
    k.grants = parse_grants(
        &grant(r#","Constraints":{"EncryptionContextEquals":{"department":"x"}}"#),
        "g",
    )
    .unwrap();
    let a = run(&k, EXT_SESSION, &[]);
    let decrypt = a.checks.iter().find(|c| c.action == "kms:Decrypt").unwrap();
    assert_eq!(decrypt.grants.outcome, Outcome::NoMatch);
    // A grant to the account still needs that account's IAM.
    k.grants = parse_grants(
        r#"[{"GranteePrincipal":"arn:aws:iam::444455556666:root","Operations":["Decrypt"]}]"#,
        "g",
    )
    .unwrap();
    let a = run(&k, EXT_SESSION, &[]);
    let decrypt = a.checks.iter().find(|c| c.action == "kms:Decrypt").unwrap();
    assert_eq!(decrypt.grants.outcome, Outcome::DelegatesToIam);
    assert_eq!(decrypt.verdict, Verdict::Deny);
}

#[test]
fn unreadable_key_policy_is_undecided() {
    let k = KeyInfo {
        arn: KEY.into(),
        manager: KeyManager::Customer,
        policy: None,
        grants: Vec::new(),
    };
    let a = run(
        &k,
        SAME_SESSION,
        &ids(&[fixture!("seed001-iam-kms-policy.json")]),
    );
    assert_eq!(a.verdict, Verdict::Undecided);
    assert!(a
        .checks
        .iter()
        .all(|c| c.key_policy.outcome == Outcome::Unknown));
}

#[test]
fn case_insensitive_actions_and_keys_and_wildcards() {
    let k = key(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/team/Launcher"},
        "Action":["KMS:decrypt","kms:describe*","kms:GenerateDataKey*","kms:ReEncrypt*","kms:Create?rant"],"Resource":"*",
        "Condition":{"stringequals":{"KMS:VIASERVICE":"ec2.us-east-1.amazonaws.com"}}}]}"#,
    );
    let a = run(&k, SAME_SESSION, &[]);
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    // `kms:ReEncrypt` alone matches nothing.
    let k = key(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Launcher"},"Action":["kms:ReEncrypt"],"Resource":"*"}]}"#,
    );
    assert_eq!(run(&k, SAME_SESSION, &[]).verdict, Verdict::Deny);
}

#[test]
fn policy_variables_in_conditions() {
    let k = key(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*",
        "Condition":{"StringEquals":{"kms:CallerAccount":"${aws:PrincipalAccount}","aws:PrincipalTag/team":"build"}}}]}"#,
    );
    let ctx = CallerContext {
        principal_tags: [("team".to_string(), "build".to_string())]
            .into_iter()
            .collect(),
        ..CallerContext::default()
    };
    assert_eq!(
        run_with(&k, SAME_SESSION, &[], Operation::Launch, &ctx).verdict,
        Verdict::Allow
    );
    assert_eq!(run(&k, SAME_SESSION, &[]).verdict, Verdict::Deny);
}

#[test]
fn single_request_evaluator_for_lock_out_check() {
    let k = key(fixture!("console-default-external-account.json"));
    let admin = Caller::parse("arn:aws:sts::111122223333:assumed-role/KMSAdminRole/ops").unwrap();
    let ctx = RequestContext::direct(
        &admin,
        &CallerContext::default(),
        "kms:PutKeyPolicy",
        "us-east-1",
    );
    let d = evaluate_key_request(&k, &admin.arn, &[], "kms:PutKeyPolicy", &ctx).unwrap();
    assert_eq!(d.key_policy.outcome, Outcome::Allow);
    assert_eq!(
        d.key_policy.statements[0].sid.as_deref(),
        Some("Allow access for Key Administrators")
    );
    let user = Caller::parse(EXT_ROLE).unwrap();
    let ctx = RequestContext::direct(
        &user,
        &CallerContext::default(),
        "kms:PutKeyPolicy",
        "us-east-1",
    );
    let d = evaluate_key_request(&k, EXT_ROLE, &[], "kms:PutKeyPolicy", &ctx).unwrap();
    assert_eq!(d.key_policy.outcome, Outcome::NoMatch);
    assert!(evaluate_key_request(&k, "bogus", &[], "kms:Decrypt", &ctx).is_err());
}

#[test]
fn analysis_serialises_with_stable_codes() {
    let k = key(fixture!("default-key-policy.json"));
    let a = run(&k, EXT_SESSION, &[]);
    let v = serde_json::to_value(&a).unwrap();
    assert_eq!(v["verdict"], "deny");
    assert_eq!(v["operation"], "launch");
    assert_eq!(v["findings"][0]["code"], "key-policy-no-access");
    assert_eq!(v["findings"][0]["severity"], "error");
    assert_eq!(v["checks"][0]["key_policy"]["outcome"], "no-match");
    for code in FindingCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
    }
}

/// A key policy that lets the other account decrypt (no GenerateDataKey*), as a key owner who
/// shares an AMI for launch only might write it.
fn decrypt_only_policy(principal: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"Decrypt only","Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":["kms:Decrypt","kms:ReEncryptFrom","kms:DescribeKey"],"Resource":"*"}},
        {{"Sid":"Attach","Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"kms:CreateGrant","Resource":"*","Condition":{{"Bool":{{"kms:GrantIsForAWSResource":"true"}}}}}}]}}"#
    )
}

const DECRYPT_ONLY_IAM: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":["kms:Decrypt","kms:ReEncryptFrom","kms:DescribeKey"],"Resource":"*"},
    {"Effect":"Allow","Action":"kms:CreateGrant","Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}"#;

/// Launching a shared AMI (the key is another account's) encrypts the new volumes with the
/// caller's EBS default key: the source key is only decrypted from, so a key policy without
/// GenerateDataKey* does not block it.
#[test]
fn shared_ami_launch_needs_no_generate_data_key_on_the_source_key() {
    let k = key(&decrypt_only_policy(EXT_ROLE));
    let a = run(&k, EXT_SESSION, &ids(&[DECRYPT_ONLY_IAM]));
    assert!(a.cross_account);
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    let actions: Vec<&str> = a.checks.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "kms:CreateGrant",
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:ReEncryptFrom"
        ]
    );
    assert!(a.errors().next().is_none(), "{:#?}", a.findings);
}

/// A same-account launch keeps the snapshot's key for the new volumes, so it needs
/// GenerateDataKeyWithoutPlaintext on it too; the finding names exactly that action.
#[test]
fn same_account_launch_needs_generate_data_key_on_the_snapshot_key() {
    let k = key(&decrypt_only_policy(SAME_ROLE));
    let a = run(&k, SAME_SESSION, &[]);
    assert!(!a.cross_account);
    assert_eq!(a.verdict, Verdict::Deny, "{:#?}", a.findings);
    let denied: Vec<&str> = a
        .checks
        .iter()
        .filter(|c| !c.allowed())
        .map(|c| c.action.as_str())
        .collect();
    assert_eq!(denied, vec!["kms:GenerateDataKeyWithoutPlaintext"]);
    assert_fix_allows(&a, &k, &[], SAME_SESSION, &CallerContext::default());
}

#[test]
fn where_new_volumes_are_encrypted() {
    use crate::policy::scenario::VolumeKey;
    assert_eq!(
        Operation::Launch.volume_key(true),
        VolumeKey::CallerDefaultKey
    );
    assert_eq!(Operation::Launch.volume_key(false), VolumeKey::SnapshotKey);
    for cross in [true, false] {
        assert!(!Operation::Copy
            .required_actions_on(cross)
            .iter()
            .any(|a| a.starts_with("kms:GenerateDataKey")));
    }
    assert!(!Operation::Launch
        .required_actions_on(true)
        .iter()
        .any(|a| a.starts_with("kms:GenerateDataKey")));
    assert!(Operation::Launch
        .required_actions_on(false)
        .contains(&"kms:GenerateDataKeyWithoutPlaintext"));
}
