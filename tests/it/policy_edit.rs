#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Key policy editing (add / remove key users), the KmsKeyUsagePolicy template and the
//! reviewable diff, on the AWS default and console default key policies.

use amishare::policy::diff::{diff_policies, StatementChangeKind};
use amishare::policy::edit::{
    add_key_users, remove_key_users, KeyPolicyEdit, PolicyEditError, KEY_POLICY_MAX_BYTES,
};
use amishare::policy::template::{
    kms_key_usage_policy, TemplateError, KEY_ATTACHMENT_SID, KEY_USE_SID,
};
use serde_json::{json, Value};

const DEFAULT: &str = include_str!("../fixtures/key-policies/default.json");
const CONSOLE: &str = include_str!("../fixtures/key-policies/console-default.json");
/// A role in the key's account; the key policies delegate to the account, so it may edit.
const EDITOR: &str = "arn:aws:sts::111122223333:assumed-role/Deployer/amishare";
const TARGET: &str = "444455556666";
const TARGET_ROOT: &str = "arn:aws:iam::444455556666:root";
const TARGET_ROLE: &str = "arn:aws:iam::444455556666:role/Launcher";
const KEY_A: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_B: &str = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab";

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn statements(policy: &Value) -> Vec<Value> {
    match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        one => vec![one.clone()],
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Serialised form: compares values *and* key order (Value's == ignores object key order).
fn ordered(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

fn add(policy: &str, principals: &[&str]) -> KeyPolicyEdit {
    add_key_users(policy, KEY_A, &s(principals), EDITOR).unwrap()
}

#[test]
fn default_key_policy_gets_both_statements_appended() {
    let edit = add(DEFAULT, &[TARGET, TARGET_ROLE]);
    assert!(edit.changed);
    let st = statements(&edit.policy);
    assert_eq!(st.len(), 3);
    assert_eq!(st[0], statements(&parse(DEFAULT))[0]);
    assert_eq!(
        ordered(&st[1]),
        ordered(&json!({
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": [TARGET_ROOT, TARGET_ROLE]},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*"
        }))
    );
    assert_eq!(
        ordered(&st[2]),
        ordered(&json!({
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": {"AWS": [TARGET_ROOT, TARGET_ROLE]},
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}
        }))
    );
    // Top-level key order is kept.
    let keys: Vec<&String> = edit.policy.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["Version", "Id", "Statement"]);
    let kinds: Vec<(StatementChangeKind, &str, usize)> = edit
        .statement_changes
        .iter()
        .map(|c| (c.kind, c.sid.as_str(), c.index))
        .collect();
    assert_eq!(
        kinds,
        [
            (StatementChangeKind::Added, KEY_USE_SID, 1),
            (StatementChangeKind::Added, KEY_ATTACHMENT_SID, 2)
        ]
    );
    assert_eq!(edit.added.len(), 4);
    assert!(edit
        .added
        .iter()
        .all(|a| a.statement_created && !a.principal_was_string));
    assert!(edit.warnings.is_empty(), "{:?}", edit.warnings);
    // The text is what will be sent: pretty JSON of the policy.
    assert_eq!(
        edit.text,
        serde_json::to_string_pretty(&edit.policy).unwrap()
    );
}

#[test]
fn console_policy_string_principal_becomes_array_in_order() {
    let edit = add(CONSOLE, &[TARGET]);
    assert!(edit.changed);
    let before = statements(&parse(CONSOLE));
    let after = statements(&edit.policy);
    assert_eq!(after.len(), 4, "no statement created");
    for i in [2, 3] {
        assert_eq!(
            after[i]["Principal"]["AWS"],
            json!(["arn:aws:iam::111122223333:role/AppRole", TARGET_ROOT])
        );
        // Everything but the principal is unchanged, keys in the same order.
        let mut expected = before[i].clone();
        expected["Principal"]["AWS"] = after[i]["Principal"]["AWS"].clone();
        assert_eq!(ordered(&after[i]), ordered(&expected));
    }
    assert!(edit
        .statement_changes
        .iter()
        .all(|c| c.kind == StatementChangeKind::Modified));
    assert_eq!(
        edit.statement_changes
            .iter()
            .map(|c| c.index)
            .collect::<Vec<_>>(),
        [2, 3]
    );
    assert!(edit
        .added
        .iter()
        .all(|a| !a.statement_created && a.principal_was_string));
}

#[test]
fn other_statements_stay_byte_identical() {
    for (policy, untouched) in [(DEFAULT, vec![0]), (CONSOLE, vec![0, 1])] {
        let edit = add(policy, &[TARGET, TARGET_ROLE]);
        let before = statements(&parse(policy));
        let after = statements(&edit.policy);
        for i in untouched {
            assert_eq!(ordered(&before[i]), ordered(&after[i]));
        }
    }
}

#[test]
fn applying_twice_changes_nothing() {
    for policy in [DEFAULT, CONSOLE] {
        let first = add(policy, &[TARGET, TARGET_ROLE]);
        let second = add(&first.text, &[TARGET_ROLE, TARGET]);
        assert!(!second.changed);
        assert_eq!(second.text, first.text, "byte-identical");
        assert!(second.added.is_empty() && second.statement_changes.is_empty());
        assert!(second.diff().is_empty());
        // Mixed forms of the same account are still the same principal.
        let third = add(&first.text, &[TARGET_ROOT]);
        assert!(!third.changed);
    }
    // Unchanged input is returned as is (nothing to send).
    let unchanged = add_key_users(
        CONSOLE,
        KEY_A,
        &s(&["arn:aws:iam::111122223333:role/AppRole"]),
        EDITOR,
    )
    .unwrap();
    assert!(!unchanged.changed);
    assert_eq!(unchanged.text, CONSOLE);
}

#[test]
fn bare_account_id_and_root_arn_are_one_principal() {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": ["444455556666"]},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
             "Resource": "*"}
        ]
    })
    .to_string();
    // Input duplicates in both forms, existing bare id: only the attachment statement is created.
    let edit = add(&policy, &[TARGET_ROOT, TARGET]);
    assert_eq!(edit.added.len(), 1);
    assert_eq!(edit.added[0].sid, KEY_ATTACHMENT_SID);
    assert_eq!(edit.added[0].principal, TARGET_ROOT);
    assert_eq!(
        statements(&edit.policy)[1]["Principal"]["AWS"],
        json!(["444455556666"])
    );
    assert_eq!(
        statements(&edit.policy)[2]["Principal"]["AWS"],
        json!([TARGET_ROOT])
    );
}

#[test]
fn first_allow_statement_with_the_sid_is_used() {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "allow use of the key", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/A"},
             "Action": "kms:Decrypt", "Resource": "*"},
            {"Sid": "Allow use of the key", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"},
             "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"},
            {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/B"},
             "Action": "kms:*", "Resource": "*"}
        ]
    })
    .to_string();
    let edit = add(&policy, &[TARGET]);
    let st = statements(&edit.policy);
    // Case-sensitive Sid: statement 1 untouched; statement 2 is a Deny; statement 3 is the first Allow.
    assert_eq!(st[1], statements(&parse(&policy))[1]);
    assert_eq!(st[2], statements(&parse(&policy))[2]);
    assert_eq!(
        ordered(&st[3]["Principal"]),
        ordered(&json!({"Service": "logs.amazonaws.com", "AWS": [TARGET_ROOT]}))
    );
    assert_eq!(st[4], statements(&parse(&policy))[4]);
    // It lacks some template actions: the reviewer is told.
    assert!(
        edit.warnings
            .iter()
            .any(|w| w.contains("`Allow use of the key` (index 3)")
                && w.contains("`kms:ReEncrypt*`")
                && w.contains("`kms:DescribeKey`")),
        "{:?}",
        edit.warnings
    );
    // Removing restores the Service-only principal.
    let back = remove_key_users(&edit.text, KEY_A, &edit.added, EDITOR).unwrap();
    assert_eq!(ordered(&back.policy), ordered(&parse(&policy)));
}

#[test]
fn single_object_statement_becomes_an_array_when_appending() {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                      "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"}
    })
    .to_string();
    let edit = add(&policy, &[TARGET]);
    assert_eq!(statements(&edit.policy).len(), 3);
    assert!(edit.policy["Statement"].is_array());
}

#[test]
fn removal_is_the_exact_inverse() {
    for policy in [DEFAULT, CONSOLE] {
        let added = add(policy, &[TARGET, TARGET_ROLE]);
        let removed = remove_key_users(&added.text, KEY_A, &added.added, EDITOR).unwrap();
        assert!(removed.changed);
        assert_eq!(removed.removed, added.added);
        assert_eq!(removed.policy, parse(policy), "semantically equal");
        assert_eq!(
            ordered(&removed.policy),
            ordered(&parse(policy)),
            "same order and forms"
        );
        // Removing again changes nothing.
        let again = remove_key_users(&removed.text, KEY_A, &added.added, EDITOR).unwrap();
        assert!(!again.changed);
        assert_eq!(again.text, removed.text);
    }
    // Statement changes of a removal from the default policy: the two created statements.
    let added = add(DEFAULT, &[TARGET]);
    let removed = remove_key_users(&added.text, KEY_A, &added.added, EDITOR).unwrap();
    let kinds: Vec<(StatementChangeKind, usize)> = removed
        .statement_changes
        .iter()
        .map(|c| (c.kind, c.index))
        .collect();
    assert_eq!(
        kinds,
        [
            (StatementChangeKind::Removed, 1),
            (StatementChangeKind::Removed, 2)
        ]
    );
}

#[test]
fn removal_leaves_principals_added_by_others() {
    let added = add(DEFAULT, &[TARGET]);
    // Someone else adds a principal to the statement amishare created.
    let other = "arn:aws:iam::777788889999:root";
    let mut policy = added.policy.clone();
    policy["Statement"][1]["Principal"]["AWS"]
        .as_array_mut()
        .unwrap()
        .push(json!(other));
    // ... and writes amishare's principal as a bare account id.
    policy["Statement"][2]["Principal"]["AWS"] = json!([TARGET, other]);
    let removed = remove_key_users(&policy.to_string(), KEY_A, &added.added, EDITOR).unwrap();
    let st = statements(&removed.policy);
    assert_eq!(st.len(), 3, "statements still in use are kept");
    assert_eq!(st[1]["Principal"]["AWS"], json!([other]));
    assert_eq!(st[2]["Principal"]["AWS"], json!([other]));
}

#[test]
fn removal_never_empties_a_statement_it_did_not_create() {
    let added = add(CONSOLE, &[TARGET]);
    // The original principal was removed by someone else in the meantime.
    let mut policy = added.policy.clone();
    policy["Statement"][2]["Principal"]["AWS"] = json!([TARGET_ROOT]);
    let err = remove_key_users(&policy.to_string(), KEY_A, &added.added, EDITOR).unwrap_err();
    assert_eq!(
        err.to_string(),
        "removing `arn:aws:iam::444455556666:root` would leave statement `Allow use of the key` without principals"
    );
    assert!(err.hint().is_some());
}

#[test]
fn group_arn_is_refused_with_a_hint() {
    let err = add_key_users(
        DEFAULT,
        KEY_A,
        &s(&[TARGET, "arn:aws:iam::444455556666:group/Launchers"]),
        EDITOR,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        PolicyEditError::Input(TemplateError::GroupPrincipal { .. })
    ));
    assert_eq!(
        err.to_string(),
        "IAM group `arn:aws:iam::444455556666:group/Launchers` cannot be a principal in a key policy"
    );
    let hint = err.hint().unwrap();
    assert!(
        hint.contains("`444455556666`") && hint.contains("KmsKeyUsagePolicy"),
        "{hint}"
    );
}

#[test]
fn policy_over_32_kib_is_refused() {
    // A policy whose compact form is just under the limit.
    let filler = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("arn:aws:iam::111122223333:role/r{i:05}"))
            .collect()
    };
    let make = |n: usize| {
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                 "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
                {"Sid": "Others", "Effect": "Allow", "Principal": {"AWS": filler(n)},
                 "Action": "kms:Decrypt", "Resource": "*"}
            ]
        })
    };
    let mut n = 0;
    while serde_json::to_string(&make(n + 1)).unwrap().len() <= KEY_POLICY_MAX_BYTES {
        n += 1;
    }
    let big = serde_json::to_string(&make(n)).unwrap();
    assert!(big.len() <= KEY_POLICY_MAX_BYTES);
    let err = add_key_users(&big, KEY_A, &s(&[TARGET]), EDITOR).unwrap_err();
    match &err {
        PolicyEditError::TooLarge { bytes, limit } => {
            assert!(*bytes > KEY_POLICY_MAX_BYTES);
            assert_eq!(*limit, 32_768);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err
        .to_string()
        .ends_with("over the KMS limit of 32768 bytes"));

    // When only the pretty form is too large, the compact form is sent.
    let medium = serde_json::to_string(&make(n - 20)).unwrap();
    let edit = add_key_users(&medium, KEY_A, &s(&[TARGET]), EDITOR).unwrap();
    assert!(serde_json::to_string_pretty(&edit.policy).unwrap().len() > KEY_POLICY_MAX_BYTES);
    assert!(edit.text.len() <= KEY_POLICY_MAX_BYTES);
    assert_eq!(parse(&edit.text), edit.policy);
}

#[test]
fn lock_out_is_refused() {
    let admin_only = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Key admins", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::111122223333:role/admins/KeyAdmin"},
             "Action": ["kms:Put*", "kms:Describe*"], "Resource": "*"},
            {"Sid": "Conditioned", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::111122223333:role/Deployer"},
             "Action": "kms:*", "Resource": "*",
             "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}
        ]
    })
    .to_string();
    // Deployer can only call PutKeyPolicy under a condition: refused (conservative).
    let err = add_key_users(&admin_only, KEY_A, &s(&[TARGET]), EDITOR).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("the edited key policy would lock `{EDITOR}` out of `kms:PutKeyPolicy`")
    );
    assert!(err.hint().unwrap().contains("never bypasses"));
    // A session of the admin role (the role has a path) may edit.
    let admin = "arn:aws:sts::111122223333:assumed-role/KeyAdmin/alice";
    assert!(
        add_key_users(&admin_only, KEY_A, &s(&[TARGET]), admin)
            .unwrap()
            .changed
    );
    // Other principal forms of the editor.
    for editor in [
        "arn:aws:iam::111122223333:role/admins/KeyAdmin",
        "arn:aws:iam::111122223333:root",
    ] {
        let ok = add_key_users(DEFAULT, KEY_A, &s(&[TARGET]), editor);
        assert!(ok.is_ok(), "{editor}: {ok:?}");
    }
    // A user of the account who is neither named nor delegated.
    let eve = "arn:aws:iam::111122223333:user/eve";
    let err = add_key_users(&admin_only, KEY_A, &s(&[TARGET]), eve).unwrap_err();
    assert!(matches!(err, PolicyEditError::LockOut { .. }));
    // PutKeyPolicy only works in the key's account.
    let mallory = "arn:aws:iam::999988887777:user/mallory";
    let err = add_key_users(DEFAULT, KEY_A, &s(&[TARGET]), mallory).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`{mallory}` cannot edit the policy of key `{KEY_A}`: \
             PutKeyPolicy works only in the key's account `111122223333`"
        )
    );

    // An unconditioned Deny of PutKeyPolicy wins over the root delegation.
    let denied = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "No policy changes", "Effect": "Deny", "Principal": "*",
             "Action": "kms:putkeypolicy", "Resource": "*"}
        ]
    })
    .to_string();
    assert!(matches!(
        add_key_users(&denied, KEY_A, &s(&[TARGET]), EDITOR).unwrap_err(),
        PolicyEditError::LockOut { .. }
    ));

    // Removal is checked too: the editor's only PutKeyPolicy access came from amishare's edit.
    let relies = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Key admins", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyAdmin"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Allow use of the key", "Effect": "Allow",
             "Principal": {"AWS": ["arn:aws:iam::111122223333:role/KeyAdmin"]}, "Action": "kms:*", "Resource": "*"}
        ]
    })
    .to_string();
    let deployer_role = "arn:aws:iam::111122223333:role/Deployer";
    let edit = add_key_users(&relies, KEY_A, &s(&[deployer_role]), admin).unwrap();
    assert!(edit.changed);
    let err = remove_key_users(&edit.text, KEY_A, &edit.added, EDITOR).unwrap_err();
    assert!(matches!(err, PolicyEditError::LockOut { .. }), "{err:?}");
    // The admin may remove it.
    assert!(
        remove_key_users(&edit.text, KEY_A, &edit.added, admin)
            .unwrap()
            .changed
    );
}

#[test]
fn malformed_input_is_refused_naming_the_problem() {
    let cases: &[(&str, &str)] = &[
        ("", "key policy is not valid JSON: EOF while parsing a value at line 1, column 0"),
        ("{\"Statement\": [", "key policy is not valid JSON"),
        ("[]", "key policy must be a JSON object, found an array"),
        ("{\"Version\": \"2012-10-17\"}", "key policy has no `Statement`"),
        ("{\"Statement\": \"x\"}", "key policy `Statement` must be an object or an array, found a string"),
        ("{\"Statement\": [{}, 3]}", "statement 1 of the key policy must be an object, found a number"),
        (
            r#"{"Statement": [{"Sid": "Allow use of the key", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}"#,
            "statement `Allow use of the key` allows principal `*`; amishare does not add principals to a wildcard statement",
        ),
        (
            r#"{"Statement": [{"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": ["111122223333", "*"]}, "Action": "kms:*", "Resource": "*"}]}"#,
            "allows principal `*`",
        ),
        (
            r#"{"Statement": [{"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": 5}, "Action": "kms:*", "Resource": "*"}]}"#,
            "statement `Allow use of the key` has an unsupported `Principal`",
        ),
        (
            r#"{"Statement": [{"Sid": "Allow use of the key", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]}"#,
            "statement `Allow use of the key` exists but is not an `Allow` statement with a `Principal`",
        ),
    ];
    for (input, message) in cases {
        let err = add_key_users(input, KEY_A, &s(&[TARGET]), EDITOR).unwrap_err();
        assert!(err.to_string().contains(message), "{input}: {err}");
        assert!(err.hint().is_some(), "{input}");
    }
    let err = add_key_users(DEFAULT, KEY_A, &s(&[TARGET]), "Deployer").unwrap_err();
    assert!(matches!(err, PolicyEditError::InvalidEditor { .. }));
    let err = add_key_users(
        DEFAULT,
        "arn:aws:kms:us-east-1:111122223333:alias/ami",
        &s(&[TARGET]),
        EDITOR,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        PolicyEditError::Input(TemplateError::InvalidKeyArn { .. })
    ));
    let err = add_key_users(DEFAULT, KEY_A, &[], EDITOR).unwrap_err();
    assert_eq!(err, PolicyEditError::Input(TemplateError::NoPrincipals));
}

#[test]
fn never_writes_a_wildcard_principal() {
    for p in [
        "*",
        "arn:aws:iam::*:root",
        "arn:aws:iam::444455556666:role/*",
    ] {
        assert!(
            add_key_users(DEFAULT, KEY_A, &s(&[p]), EDITOR).is_err(),
            "{p}"
        );
    }
}

#[test]
fn key_usage_policy_is_scoped_to_the_keys() {
    let policy = kms_key_usage_policy(&s(&[KEY_B, KEY_A, KEY_B])).unwrap();
    for statement in statements(&policy) {
        // Sorted: eu-west-1 before us-east-1, duplicates removed.
        assert_eq!(statement["Resource"], json!([KEY_B, KEY_A]));
    }
    assert_eq!(
        statements(&policy)[1]["Condition"],
        json!({"Bool": {"kms:GrantIsForAWSResource": "true"}})
    );
    assert!(statements(&policy)[0].get("Condition").is_none());
}

#[test]
fn diff_of_console_policy_edit() {
    let edit = add(CONSOLE, &[TARGET, TARGET_ROLE]);
    insta::assert_snapshot!("console_add_diff", edit.diff().to_string());
    insta::assert_json_snapshot!("console_add_statements", edit.diff().statements);
}

#[test]
fn diff_of_default_policy_edit_and_removal() {
    let edit = add(DEFAULT, &[TARGET]);
    insta::assert_snapshot!("default_add_diff", edit.diff().to_string());
    let removed = remove_key_users(&edit.text, KEY_A, &edit.added, EDITOR).unwrap();
    insta::assert_snapshot!("default_remove_diff", removed.diff().to_string());
}

#[test]
fn diff_of_key_usage_policy() {
    let first = kms_key_usage_policy(&s(&[KEY_A])).unwrap();
    insta::assert_snapshot!(
        "usage_policy_new",
        diff_policies(None, Some(&first)).to_string()
    );
    let second = kms_key_usage_policy(&s(&[KEY_A, KEY_B])).unwrap();
    insta::assert_snapshot!(
        "usage_policy_new_version",
        diff_policies(Some(&first), Some(&second)).to_string()
    );
    assert_eq!(
        diff_policies(Some(&first), Some(&first)).to_string(),
        "no changes\n"
    );
}

#[test]
fn lock_out_check_falls_back_when_the_engine_cannot_parse() {
    // `StringEqualz` is no operator: the engine rejects the document, the structural check decides.
    let with_typo = |first: Value| {
        json!({
            "Version": "2012-10-17",
            "Statement": [
                first,
                {"Sid": "Typo", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/X"},
                 "Action": "kms:Decrypt", "Resource": "*",
                 "Condition": {"StringEqualz": {"kms:CallerAccount": "111122223333"}}}
            ]
        })
        .to_string()
    };
    let delegated = with_typo(
        json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}),
    );
    let admin_only = with_typo(json!({"Sid": "Admins", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyAdmin"}, "Action": "kms:*", "Resource": "*"}));
    for text in [&delegated, &admin_only] {
        assert!(amishare::policy::parse_policy(text, "k.json").is_err());
    }
    assert!(add(&delegated, &[TARGET]).changed);
    let err = add_key_users(&admin_only, KEY_A, &s(&[TARGET]), EDITOR).unwrap_err();
    assert!(matches!(err, PolicyEditError::LockOut { .. }), "{err:?}");
    let admin = "arn:aws:sts::111122223333:assumed-role/KeyAdmin/alice";
    assert!(
        add_key_users(&admin_only, KEY_A, &s(&[TARGET]), admin)
            .unwrap()
            .changed
    );
}
