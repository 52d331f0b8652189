//! `amishare explain` end to end: exit codes, rendered text and JSON (insta snapshots), errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use assert_cmd::Command;

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const EXT_SESSION: &str = "arn:aws:sts::444455556666:assumed-role/Launcher/alice";
const FIX: &str = "tests/fixtures/policies/";

fn explain(args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::cargo_bin("amishare").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .env_remove("AWS_REGION")
        .arg("explain");
    for a in args {
        if let Some(name) = a.strip_prefix('@') {
            cmd.arg(format!("{FIX}{name}"));
        } else {
            cmd.arg(a);
        }
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn cross_account_default_key_policy_is_denied_text() {
    let (code, out, err) = explain(&[
        "--key-policy",
        "@default-key-policy.json",
        "--principal",
        EXT_SESSION,
        "--key-arn",
        KEY,
        "--no-color",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(!out.contains('\u{1b}'));
    insta::assert_snapshot!("cross_account_default_text", out);
}

#[test]
fn cross_account_default_key_policy_is_denied_json() {
    let (code, out, err) = explain(&[
        "--key-policy",
        "@default-key-policy.json",
        "--principal",
        EXT_SESSION,
        "--key-arn",
        KEY,
        "--output",
        "json",
    ]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "deny");
    assert_eq!(v["operation"], "launch");
    assert_eq!(v["principal"], EXT_SESSION);
    assert_eq!(v["findings"][0]["code"], "key-policy-no-access");
    assert!(v["findings"][0]["fix"]["key_policy_statements"].is_array());
    insta::assert_snapshot!("cross_account_default_json", out);
}

#[test]
fn console_policy_with_usage_policy_is_allowed() {
    let (code, out, err) = explain(&[
        "--key-policy",
        "@console-default-external-account.json",
        "--principal",
        EXT_SESSION,
        "--key-arn",
        KEY,
        "--identity-policy",
        "@kms-key-usage-policy.json",
    ]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("console_allowed_text", out);
}

#[test]
fn ip_deny_without_exception_text() {
    let (code, out, err) = explain(&[
        "--key-policy",
        "@key-policy-sourceip-deny.json",
        "--principal",
        "arn:aws:sts::111122223333:assumed-role/Launcher/bob",
        "--key-arn",
        KEY,
        "--source-ip",
        "192.0.2.10",
    ]);
    assert_eq!(code, 1, "{err}");
    insta::assert_snapshot!("sourceip_deny_text", out);
}

#[test]
fn autoscaling_cross_account_needs_grant_json_and_grants_file() {
    let asg = "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";
    let base = [
        "--key-policy",
        "@autoscaling-cross-account-key-policy.json",
        "--principal",
        asg,
        "--key-arn",
        KEY,
        "--output",
        "json",
    ];
    let (code, out, err) = explain(&base);
    assert_eq!(code, 1, "{err}");
    insta::assert_snapshot!("autoscaling_needs_grant_json", out);
    let mut with_grants = base.to_vec();
    with_grants.extend(["--grants", "@autoscaling-grants.json"]);
    let (code, out, _) = explain(&with_grants);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "allow");
    assert_eq!(v["checks"][0]["grants"]["outcome"], "allow");
}

#[test]
fn aws_managed_key_and_copy_operation() {
    let (code, out, _) = explain(&[
        "--key-policy",
        "@aws-managed-ebs-key-policy.json",
        "--principal",
        EXT_SESSION,
        "--key-arn",
        KEY,
        "--key-manager",
        "AWS",
        "--operation",
        "copy",
        "--identity-policy",
        "@kms-key-usage-policy.json",
        "--output",
        "json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["operation"], "copy");
    assert_eq!(v["checks"].as_array().unwrap().len(), 3);
    assert_eq!(v["findings"][0]["code"], "aws-managed-key");
}

#[test]
fn org_id_and_tags_reach_the_request_context() {
    let args = |org: &'static str| {
        vec![
            "--key-policy",
            "@org-scoped-key-policy.json",
            "--principal",
            EXT_SESSION,
            "--key-arn",
            KEY,
            "--identity-policy",
            "@kms-key-usage-policy.json",
            "--org-id",
            org,
            "--principal-tag",
            "team=build",
            "--org-path",
            "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/",
        ]
    };
    assert_eq!(explain(&args("o-a1b2c3d4e5")).0, 0);
    assert_eq!(explain(&args("o-zzzzzzzzzz")).0, 1);
}

#[test]
fn malformed_json_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.json");
    std::fs::write(
        &bad,
        "{\n  \"Statement\": [\n    {\"Effect\": \"Allow\",}\n  ]\n}\n",
    )
    .unwrap();
    let (code, out, err) = explain(&[
        "--key-policy",
        bad.to_str().unwrap(),
        "--principal",
        EXT_SESSION,
        "--key-arn",
        KEY,
    ]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("broken.json: invalid JSON at line 3, column"),
        "{err}"
    );
    assert!(err.contains("help:"), "{err}");
}

#[test]
fn unknown_operator_names_the_element() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("typo.json");
    std::fs::write(
        &bad,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
        {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
        {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"aws:PrincipalOrgID":"o-1"}}}]}"#,
    )
    .unwrap();
    let (code, _, err) = explain(&[
        "--key-policy",
        bad.to_str().unwrap(),
        "--principal",
        EXT_SESSION,
        "--key-arn",
        KEY,
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "`Statement[2].Condition.StringEqualz`: unknown condition operator `StringEqualz`"
        ),
        "{err}"
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["--principal", "nobody", "--key-arn", KEY],
            "--principal: `nobody`",
        ),
        (
            &["--principal", EXT_SESSION, "--key-arn", "alias/aws/ebs"],
            "--key-arn: `alias/aws/ebs`",
        ),
        (
            &[
                "--principal",
                EXT_SESSION,
                "--key-arn",
                KEY,
                "--source-ip",
                "1.2.3",
            ],
            "--source-ip: `1.2.3`",
        ),
        (
            &[
                "--principal",
                EXT_SESSION,
                "--key-arn",
                KEY,
                "--principal-tag",
                "novalue",
            ],
            "--principal-tag: `novalue`",
        ),
        (
            &[
                "--principal",
                EXT_SESSION,
                "--key-arn",
                KEY,
                "--org-id",
                "acme",
            ],
            "--org-id: `acme`",
        ),
        (
            &[
                "--principal",
                EXT_SESSION,
                "--key-arn",
                KEY,
                "--operation",
                "delete",
            ],
            "delete",
        ),
    ];
    for (extra, expect) in cases {
        let mut args = vec!["--key-policy", "@default-key-policy.json"];
        args.extend_from_slice(extra);
        let (code, _, err) = explain(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    let (code, _, err) = explain(&[
        "--key-policy",
        "@does-not-exist.json",
        "--principal",
        EXT_SESSION,
        "--key-arn",
        KEY,
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read `tests/fixtures/policies/does-not-exist.json`"),
        "{err}"
    );
}

/// Regression: `NO_COLOR=1` (any non-empty value, per no-color.org) was rejected as an invalid
/// value for `--no-color` and made every command a usage error.
#[test]
fn no_color_env_accepts_any_value() {
    for value in ["1", "yes", "true", ""] {
        let out = Command::cargo_bin("amishare")
            .unwrap()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", value)
            .args(["explain", "--key-policy"])
            .arg(format!("{FIX}default-key-policy.json"))
            .args(["--principal", EXT_SESSION, "--key-arn", KEY])
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "NO_COLOR={value:?}: {stderr}");
        assert!(!String::from_utf8(out.stdout).unwrap().contains('\u{1b}'));
    }
}

/// Launching a shared AMI encrypts the new volumes with the launcher's EBS default key, so a key
/// policy that lets the other account only decrypt (no GenerateDataKey*) does not block it
/// (EC2 user guide, "Use encryption with EBS-backed AMIs", instance-launching scenarios).
#[test]
fn shared_ami_launch_with_a_decrypt_only_key_policy_is_allowed() {
    let (code, out, err) = explain(&[
        "--key-policy",
        "@decrypt-only-external-key-policy.json",
        "--principal",
        EXT_SESSION,
        "--key-arn",
        KEY,
        "--identity-policy",
        "@decrypt-only-identity-policy.json",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "allow");
    let actions: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "kms:CreateGrant",
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:ReEncryptFrom"
        ]
    );
    assert!(!v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["severity"] == "error"));
}

/// `explain` with the guardrail flags: a fixture under tests/fixtures/guardrails/.
fn explain_guarded(extra: &[&str]) -> (i32, serde_json::Value, String) {
    let mut args = vec![
        "--key-policy",
        "@console-default-external-account.json",
        "--principal",
        EXT_SESSION,
        "--key-arn",
        KEY,
        "--identity-policy",
        "@kms-key-usage-policy.json",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = explain(&args);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, v, err)
}

const G: &str = "tests/fixtures/guardrails/";

fn g(name: &str) -> String {
    format!("{G}{name}")
}

#[test]
fn scp_deny_on_the_ou_names_layer_policy_level_and_statement() {
    let (full, ou) = (g("scp-full-access.json"), g("scp-ou-deny-creategrant.json"));
    let path = "o-target5678/r-ab12/ou-ab12-prod/";
    let (code, v, err) = explain_guarded(&[
        "--org-path",
        path,
        "--scp",
        &full,
        "--scp",
        &ou,
        "--scp",
        &full,
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["verdict"], "deny");
    let f = &v["findings"][0];
    assert_eq!(f["code"], "scp-explicit-deny");
    assert_eq!(f["layer"], "scp");
    assert_eq!(f["policy"], "p-denygrant1");
    assert_eq!(f["statement"]["sid"], "DenyKmsGrants");
    assert!(f["message"].as_str().unwrap().contains("`ou-ab12-prod`"));
    let exception =
        &f["fix"]["policy_statements"][0]["Condition"]["ArnNotLike"]["aws:PrincipalArn"];
    assert_eq!(exception, "arn:aws:iam::444455556666:role/Launcher");
    // Every level allowing: allowed, and the checks say so.
    let (code, v, err) = explain_guarded(&["--scp", &full, "--scp", &full]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["checks"][0]["guardrails"][0]["layer"], "scp");
    assert_eq!(v["checks"][0]["guardrails"][0]["outcome"], "allow");
}

#[test]
fn scp_level_without_allow_is_denied_text() {
    let (code, out, err) = explain(&[
        "--key-policy",
        "@console-default-external-account.json",
        "--principal",
        EXT_SESSION,
        "--key-arn",
        KEY,
        "--identity-policy",
        "@kms-key-usage-policy.json",
        "--scp",
        &g("scp-full-access.json"),
        "--scp",
        &g("s3-only.json"),
        "--no-color",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("error[scp-no-allow]"), "{out}");
    assert!(out.contains("layer: scp"), "{out}");
    assert!(out.contains("scp: no allow"), "{out}");
    assert!(
        out.contains("attach-policy --policy-id p-FullAWSAccess"),
        "{out}"
    );
}

#[test]
fn rcp_perimeter_decides_by_the_callers_organization() {
    let rcp = g("rcp-kms-perimeter.json");
    let (code, v, err) = explain_guarded(&["--rcp", &rcp, "--org-id", "o-target5678"]);
    assert_eq!(code, 1, "{err}");
    let f = &v["findings"][0];
    assert_eq!(f["code"], "rcp-explicit-deny");
    assert_eq!(f["layer"], "rcp");
    assert_eq!(f["policy"], "p-perimeter1");
    assert_eq!(
        f["fix"]["policy_statements"][0]["Condition"]["StringNotEqualsIfExists"]
            ["aws:PrincipalAccount"],
        "444455556666"
    );
    let (code, _, err) = explain_guarded(&["--rcp", &rcp, "--org-id", "o-source1234"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn permissions_boundary_and_session_policy_name_their_layer() {
    let (code, v, err) = explain_guarded(&["--permissions-boundary", &g("boundary-s3-only.json")]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["findings"][0]["code"], "permissions-boundary-no-allow");
    assert_eq!(v["findings"][0]["layer"], "permissions-boundary");
    let (code, v, err) = explain_guarded(&["--session-policy", &g("s3-only.json")]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["findings"][0]["code"], "session-policy-no-allow");
    assert_eq!(v["findings"][0]["layer"], "session-policy");
    // A second session policy that allows KMS: session policies allow as a union.
    let (code, _, err) = explain_guarded(&[
        "--session-policy",
        &g("s3-only.json"),
        "--session-policy",
        &g("scp-full-access.json"),
    ]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn bad_guardrail_files_are_usage_errors() {
    let (code, _, err) = explain(&[
        "--key-policy",
        "@console-default-external-account.json",
        "--principal",
        EXT_SESSION,
        "--key-arn",
        KEY,
        "--scp",
        "tests/fixtures/guardrails/missing.json",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.json"), "{err}");
    let (code, _, err) = explain(&[
        "--key-policy",
        "@console-default-external-account.json",
        "--principal",
        EXT_SESSION,
        "--key-arn",
        KEY,
        "--permissions-boundary",
        &g("scp-ou-deny-creategrant.json"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--permissions-boundary"), "{err}");
}
