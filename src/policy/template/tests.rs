//! Unit tests of the policy templates and their input checks.

use super::*;
use serde_json::json;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const KEY_A: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_B: &str = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab";

#[test]
fn templates_parse_and_have_the_seed_004_shape() {
    let use_ = key_use_statement(&strings(&["444455556666"])).unwrap();
    assert_eq!(
        use_,
        json!({
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::444455556666:root"]},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*"
        })
    );
    let attach =
        key_attachment_statement(&strings(&["arn:aws:iam::444455556666:role/Launcher"])).unwrap();
    assert_eq!(
        attach,
        json!({
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::444455556666:role/Launcher"]},
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}
        })
    );
    // Key order follows the template file (preserve_order).
    let keys: Vec<&String> = attach.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "Sid",
            "Effect",
            "Principal",
            "Action",
            "Resource",
            "Condition"
        ]
    );
    assert_eq!(use_["Sid"], KEY_USE_SID);
    assert_eq!(attach["Sid"], KEY_ATTACHMENT_SID);
    assert_eq!(use_["Action"], json!(KEY_USE_ACTIONS));
    assert_eq!(attach["Action"], json!(KEY_ATTACHMENT_ACTIONS));
}

#[test]
fn principals_are_normalised_and_deduplicated_in_order() {
    let st = key_use_statement(&strings(&[
        "444455556666",
        "arn:aws:iam::111122223333:user/UserA",
        "arn:aws:iam::444455556666:root",
        "arn:aws:iam::111122223333:role/path/to/Role+x=y,z.@_-",
        "arn:aws:iam::111122223333:user/UserA",
    ]))
    .unwrap();
    assert_eq!(
        st["Principal"]["AWS"],
        json!([
            "arn:aws:iam::444455556666:root",
            "arn:aws:iam::111122223333:user/UserA",
            "arn:aws:iam::111122223333:role/path/to/Role+x=y,z.@_-"
        ])
    );
    assert_eq!(
        key_policy_principal_in("444455556666", "aws-cn").unwrap(),
        "arn:aws-cn:iam::444455556666:root"
    );
}

#[test]
fn invalid_principals_are_rejected_with_a_reason() {
    let cases: &[(&str, &str)] = &[
        ("", "expected a 12-digit account id or an ARN"),
        ("12345678901", "expected a 12-digit account id or an ARN"),
        ("*", "wildcards"),
        ("arn:aws:iam::444455556666:role/*", "wildcards"),
        ("arn:aws:iam::44445555666:root", "12 digits"),
        ("arn:aws:iam::444455556666:policy/X", "expected `root`"),
        ("arn:aws:iam::444455556666:user/", "not a valid IAM user"),
        (
            "arn:aws:iam::444455556666:role/a//b",
            "not a valid IAM role",
        ),
        (
            "arn:aws:iam::444455556666:user/has space",
            "not a valid IAM user",
        ),
        ("arn:aws:sts::444455556666:assumed-role/R/s", "role session"),
        ("arn:aws:s3:::bucket", "only IAM principals"),
        ("arn:foo:iam::444455556666:root", "unknown partition"),
        ("arn:aws:iam::444455556666", "an ARN has the form"),
        (
            "ec2.amazonaws.com",
            "expected a 12-digit account id or an ARN",
        ),
    ];
    for (input, reason) in cases {
        let err = key_policy_principal(input).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(reason), "{input}: {msg}");
        assert!(msg.contains(&format!("`{input}`")), "{input}: {msg}");
        assert!(err.hint().is_some());
    }
}

#[test]
fn group_arn_is_refused_with_a_hint() {
    let err =
        key_use_statement(&strings(&["arn:aws:iam::444455556666:group/Launchers"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "IAM group `arn:aws:iam::444455556666:group/Launchers` cannot be a principal in a key policy"
    );
    let hint = err.hint().unwrap();
    assert!(
        hint.contains("`444455556666`") && hint.contains("KmsKeyUsagePolicy"),
        "{hint}"
    );
    assert_eq!(
        key_use_statement(&[]).unwrap_err(),
        TemplateError::NoPrincipals
    );
}

#[test]
fn same_principal_treats_account_id_and_root_arn_alike() {
    assert!(same_principal(
        "444455556666",
        "arn:aws:iam::444455556666:root"
    ));
    assert!(same_principal(
        "arn:aws:iam::444455556666:root",
        "444455556666"
    ));
    assert!(!same_principal(
        "444455556666",
        "arn:aws:iam::444455556666:user/root"
    ));
    assert!(!same_principal("444455556666", "111122223333"));
    assert!(same_principal(
        "arn:aws:iam::1:user/a",
        "arn:aws:iam::1:user/a"
    ));
}

#[test]
fn usage_policy_is_scoped_deduplicated_and_sorted() {
    let policy = kms_key_usage_policy(&strings(&[KEY_A, KEY_B, KEY_A])).unwrap();
    let mut expected = vec![KEY_A, KEY_B];
    expected.sort();
    assert_eq!(
        policy,
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowUseOfTheKey",
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                    "Resource": expected
                },
                {
                    "Sid": "AllowAttachmentOfPersistentResources",
                    "Effect": "Allow",
                    "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                    "Resource": expected,
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}
                }
            ]
        })
    );
    // Input order does not matter.
    assert_eq!(
        policy,
        kms_key_usage_policy(&strings(&[KEY_B, KEY_A])).unwrap()
    );
    assert_eq!(
        kms_key_usage_policy(&[]).unwrap_err(),
        TemplateError::NoKeyArns
    );
}

#[test]
fn key_arns_are_validated() {
    let ok = validate_key_arn(KEY_B).unwrap();
    assert_eq!(
        ok,
        KeyArn {
            partition: "aws",
            region: "eu-west-1",
            account: "111122223333",
            key_id: "mrk-1234abcd12ab34cd56ef1234567890ab"
        }
    );
    assert!(validate_key_arn(
        "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    .is_ok());
    let bad: &[(&str, &str)] = &[
        ("1234abcd-12ab-34cd-56ef-1234567890ab", "expected `arn:"),
        ("arn:aws:kms:us-east-1:111122223333:alias/my-key", "alias"),
        ("arn:aws:kms:us-east-1:111122223333:key/*", "not a key id"),
        (
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890a",
            "not a key id",
        ),
        (
            "arn:aws:kms:us-east-1:111122223333:key/mrk-123",
            "not a key id",
        ),
        (
            "arn:aws:kms:useast1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "not a region",
        ),
        (
            "arn:aws:kms::111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "not a region",
        ),
        (
            "arn:aws:kms:us-east-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "12 digits",
        ),
        ("arn:aws:iam::111122223333:root", "not a KMS ARN"),
    ];
    for (input, reason) in bad {
        let msg = validate_key_arn(input).unwrap_err().to_string();
        assert!(
            msg.contains(reason) && msg.contains(&format!("`{input}`")),
            "{input}: {msg}"
        );
    }
    let err = kms_key_usage_policy(&strings(&[
        KEY_A,
        "arn:aws:kms:us-east-1:111122223333:alias/x",
    ]))
    .unwrap_err();
    assert!(matches!(err, TemplateError::InvalidKeyArn { .. }));
}
