//! Unit tests of key policy editing.

use super::document::*;
use super::lockout::*;
use super::*;
use crate::policy::template::KEY_ATTACHMENT_SID;
use serde_json::json;

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn editor(arn: &str) -> Editor<'_> {
    Editor::parse(arn, KEY).unwrap()
}

#[test]
fn glob_is_case_insensitive_with_wildcards() {
    for (p, t, m) in [
        ("kms:*", "kms:PutKeyPolicy", true),
        ("KMS:put*", "kms:PutKeyPolicy", true),
        ("kms:Put?eyPolicy", "kms:PutKeyPolicy", true),
        ("*", "kms:PutKeyPolicy", true),
        ("kms:Put", "kms:PutKeyPolicy", false),
        ("kms:ReEncrypt*", "kms:ReEncrypt*", true),
        ("kms:ReEncrypt", "kms:ReEncrypt*", false),
        ("kms:*Policy", "kms:GetKeyPolicy", true),
        ("", "kms:Decrypt", false),
    ] {
        assert_eq!(glob_ignore_case(p, t), m, "{p} {t}");
    }
}

/// The evaluator path and the structural fallback agree on these policies.
#[test]
fn lock_out_checks_agree() {
    let root = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
                                       "Action": "kms:*", "Resource": "*"}]});
    let admin = json!({"Statement": [{"Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::111122223333:role/ops/Admin"]},
        "Action": ["kms:Describe*", "kms:Put*"], "Resource": "*"}]});
    let not_action = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"},
        "NotAction": "kms:Decrypt", "Resource": "*"}});
    let conditioned = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
        "Action": "kms:*", "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]});
    let denied = json!({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:role/ops/Admin"},
         "Action": "kms:PutKeyPolicy", "Resource": "*"}]});
    let no_resource = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
                                             "Action": "kms:*"}]});
    let session = "arn:aws:sts::111122223333:assumed-role/Admin/s";
    let user = "arn:aws:iam::111122223333:user/bob";
    let cases = [
        (&root, session, true),
        (&root, user, true),
        (&admin, session, true),
        (&admin, user, false),
        (&admin, "arn:aws:iam::111122223333:role/ops/Admin", true),
        (&not_action, user, true),
        (&conditioned, user, false),
        (&denied, user, false),
        (&no_resource, user, false),
    ];
    for (i, (policy, who, expected)) in cases.into_iter().enumerate() {
        let e = editor(who);
        assert_eq!(
            structural_lock_out_check(policy, &e),
            expected,
            "structural case {i}"
        );
        assert_eq!(
            editor_keeps_put_key_policy(policy, &e),
            expected,
            "evaluator case {i}"
        );
    }
    // A NotPrincipal deny that lists only the role does not exempt the role's sessions (AWS),
    // nor the role itself (its account is not listed).
    for who in [session, "arn:aws:iam::111122223333:role/ops/Admin"] {
        let e = editor(who);
        assert!(!structural_lock_out_check(&denied, &e), "{who}");
        assert!(!editor_keeps_put_key_policy(&denied, &e), "{who}");
    }
}

/// A `NotPrincipal` Deny exempts the editor only when it lists every identity of the request
/// (account, role, exact ARN): the evaluator and the structural fallback agree, whether called
/// directly or reached because the evaluator cannot parse the edited policy.
#[test]
fn not_principal_deny_fallback_agrees_with_evaluator() {
    const ROLE: &str = "arn:aws:iam::111122223333:role/ops/Admin";
    const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/Admin/s";
    const ROOT: &str = "arn:aws:iam::111122223333:root";
    const USER: &str = "arn:aws:iam::111122223333:user/bob";
    let policy = |not_principal: Value| {
        json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "NotPrincipal": not_principal, "Action": "kms:PutKeyPolicy", "Resource": "*"}]})
    };
    let cases = [
        (json!({"AWS": ROLE}), SESSION, false),
        (json!({"AWS": ROLE}), ROLE, false),
        (json!({"AWS": [SESSION]}), SESSION, false),
        (json!({"AWS": [ROLE, SESSION]}), SESSION, false),
        (json!({"AWS": [ROLE, ROOT]}), SESSION, false),
        (json!({"AWS": [ROLE, SESSION, ROOT]}), SESSION, true),
        (json!({"AWS": [ROLE, ROOT]}), ROLE, true),
        (json!({"AWS": USER}), USER, false),
        (json!({"AWS": [USER, "111122223333"]}), USER, true),
        (json!({"AWS": [SESSION, ROOT]}), USER, false),
        (json!("*"), USER, true),
    ];
    for (i, (not_principal, who, expected)) in cases.into_iter().enumerate() {
        let e = editor(who);
        let policy = policy(not_principal);
        assert_eq!(
            structural_lock_out_check(&policy, &e),
            expected,
            "structural case {i}"
        );
        assert_eq!(
            editor_keeps_put_key_policy(&policy, &e),
            expected,
            "evaluator case {i}"
        );
        // The same policy plus a statement the evaluator refuses: the fallback decides.
        let mut unparsable = policy.clone();
        unparsable["Statement"].as_array_mut().unwrap().push(json!(
            {"Effect": "Allow", "Principal": {"Unknown": "x"}, "Action": "kms:Decrypt", "Resource": "*"}));
        assert!(parse_policy_value(&unparsable, "test").is_err());
        assert_eq!(
            editor_keeps_put_key_policy(&unparsable, &e),
            expected,
            "fallback case {i}"
        );
    }
}

#[test]
fn equivalent_conditions_raise_no_warning() {
    let template = json!({"Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}});
    let base = json!({"Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*"});
    let with = |condition: Value| {
        let mut st = base.clone();
        st["Condition"] = condition;
        compatibility_warnings(&st, KEY_ATTACHMENT_SID, 3, &template)
    };
    assert!(with(json!({"Bool": {"kms:GrantIsForAWSResource": true}})).is_empty());
    assert!(with(json!({"bool": {"kms:grantisforawsresource": ["true"]}})).is_empty());
    let warnings = with(json!({"Bool": {"kms:GrantIsForAWSResource": "false"}}));
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("different `Condition`"));
    let warnings = compatibility_warnings(&base, KEY_ATTACHMENT_SID, 3, &template);
    assert_eq!(warnings.len(), 1, "no condition at all");
}

#[test]
fn editor_must_be_an_iam_or_sts_arn() {
    for bad in [
        "Deployer",
        "arn:aws:iam::111122223333:",
        "arn:aws:iam::111122223333:role/*",
        "arn:aws:s3:::bucket",
        "arn:aws:iam:us-east-1:111122223333:user/x",
    ] {
        let err = Editor::parse(bad, KEY).unwrap_err();
        assert!(
            matches!(err, PolicyEditError::InvalidEditor { .. }),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("`{bad}`")));
    }
}
