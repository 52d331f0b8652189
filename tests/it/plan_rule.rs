//! Issue 18 end to end: the plan never runs a step it predicts will fail. Through the real
//! binary against the emulator: a copier (amishare's target role) with EC2 rights but no KMS
//! right gets `KmsKeyUsagePolicy` attached when it may change its IAM, else the run is blocked
//! before any change (the source key policy byte for byte as it was, nothing shared); a target
//! account that never had an Auto Scaling group gets Auto Scaling's service-linked role created
//! before the grant that names it, and rollback retires the grant and keeps the role.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use crate::common::{
    copy_cmd, stdout_json, Emulator, REGION, SOURCE_ACCOUNT, TARGET_ACCOUNT, TARGET_ROLE,
};

const SLR: &str = "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";

fn target_role() -> String {
    format!("arn:aws:iam::{TARGET_ACCOUNT}:role/{TARGET_ROLE}")
}

/// The source key policy exactly as KMS returns it.
fn raw_key_policy(emu: &Emulator, key: &str) -> String {
    emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "kms",
        "get_key_policy",
        json!({"KeyId": key, "PolicyName": "default"}),
    )["Policy"]
        .as_str()
        .unwrap()
        .to_string()
}

fn run(cmd: &mut assert_cmd::Command) -> (Option<i32>, Value, String) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code(), stdout_json(&out), stderr)
}

/// The images of the target account (copies amishare made, failed ones included).
fn target_images(emu: &Emulator) -> Vec<Value> {
    emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "ec2",
        "describe_images",
        json!({"Owners": ["self"]}),
    )["Images"]
        .as_array()
        .unwrap()
        .clone()
}

fn attached_policy_arns(emu: &Emulator) -> Vec<String> {
    emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "iam",
        "list_attached_role_policies",
        json!({"RoleName": TARGET_ROLE}),
    )["AttachedPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["PolicyArn"].as_str().unwrap().to_string())
        .collect()
}

/// (1) The copier has EC2 rights and may change its IAM, but no KMS right: the plan attaches
/// `KmsKeyUsagePolicy` to its role, the copy is available, rollback detaches and deletes it.
#[test]
fn a_copier_without_kms_rights_gets_the_key_usage_policy_and_the_copy_succeeds() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--target-role-no-kms"]);
    let ami = seed["ami_id"].as_str().unwrap();
    let usage = format!("arn:aws:iam::{TARGET_ACCOUNT}:policy/KmsKeyUsagePolicy");

    let (code, dry, stderr) = run(copy_cmd(&emu, &seed, ami).arg("--dry-run"));
    assert_eq!(code, Some(0), "{stderr}\n{dry:#}");
    let copier = dry["plan"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["operation"] == "copy")
        .cloned()
        .unwrap();
    assert_eq!(
        (copier["now"].as_str(), copier["after_plan"].as_str()),
        (Some("deny"), Some("allow")),
        "{copier:#}"
    );
    assert!(
        dry["plan"]["steps"].as_array().unwrap().iter().any(|s| {
            s["action"]["action"] == "attach-policy"
                && s["action"]["principal_arn"] == target_role()
                && s["action"]["policy_arn"] == usage
        }),
        "{:#}",
        dry["plan"]["steps"]
    );

    let (code, doc, stderr) = run(copy_cmd(&emu, &seed, ami).arg("--yes"));
    assert_eq!(code, Some(0), "{stderr}\n{doc:#}");
    let t = &doc["report"]["targets"][0];
    assert_eq!(t["copy_state"], "available", "{t:#}");
    assert!(attached_policy_arns(&emu).contains(&usage));
    assert!(target_images(&emu)
        .iter()
        .all(|i| i["State"] == "available"));

    let run_id = doc["report"]["run_id"].as_str().unwrap();
    emu.rollback_ok(&seed, run_id, &["--delete-copies"]);
    assert!(!attached_policy_arns(&emu).contains(&usage));
}

/// (1) and (3): the copier has EC2 rights only, so amishare may not attach the policy: the run
/// is blocked before its first change, exit 1, with the principal, key and fix named; the source
/// key policy is byte for byte what it was and nothing is shared or copied.
#[test]
fn a_copier_that_may_not_change_its_iam_is_blocked_before_any_change() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--target-role-ec2-only"]);
    let ami = seed["ami_id"].as_str().unwrap();
    let key = seed["source_key_arn"].as_str().unwrap();
    let before = raw_key_policy(&emu, key);
    emu.clear_requests();

    let (code, doc, stderr) = run(copy_cmd(&emu, &seed, ami).arg("--yes"));
    assert_eq!(code, Some(1), "{stderr}\n{doc:#}");
    assert_eq!(doc["report"]["status"], "blocked", "{:#}", doc["report"]);
    let b = doc["plan"]["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["code"] == "access-after-plan")
        .cloned()
        .unwrap_or_else(|| panic!("{:#}", doc["plan"]["blockers"]));
    let message = b["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("assumed-role/{TARGET_ROLE}/")),
        "{b:#}"
    );
    assert!(message.contains(key), "{b:#}");
    assert!(message.contains("kms:"), "the missing actions: {b:#}");
    assert_eq!(b["account"], TARGET_ACCOUNT, "{b:#}");
    assert!(
        b["fix"].as_str().unwrap().contains("KmsKeyUsagePolicy"),
        "{b:#}"
    );
    assert!(doc["plan"]["steps"].as_array().unwrap().is_empty());

    assert_eq!(emu.mutating_actions(), Vec::<String>::new());
    assert_eq!(raw_key_policy(&emu, key), before);
    let perms = emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "ec2",
        "describe_image_attribute",
        json!({"ImageId": ami, "Attribute": "launchPermission"}),
    );
    assert_eq!(perms["LaunchPermissions"], json!([]), "{perms}");
    assert!(target_images(&emu).is_empty(), "no copy, failed or not");

    // The text names the blocker and its fix too.
    let out = copy_cmd(&emu, &seed, ami)
        .args(["--output", "text", "--yes"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("BLOCKED [access-after-plan]"), "{text}");
}

/// (1b) Two targets, one whose copier may not change its IAM: that account is left out (layer
/// `access`, the blocker's text and fix), nothing is shared with it and the key policy does not
/// name it; the other account is copied; exit 1.
#[test]
fn with_two_targets_the_blocked_account_is_left_out_and_the_other_copied() {
    let emu = Emulator::start();
    let seed = emu.seed(&[
        "--target-role-ec2-only",
        "--org-ou-accounts",
        "2",
        "--org-nested",
    ]);
    let other = seed["org_account_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .find(|a| a != TARGET_ACCOUNT)
        .unwrap();
    let ami = seed["ami_id"].as_str().unwrap();
    let key = seed["source_key_arn"].as_str().unwrap();

    let (code, doc, stderr) = run(copy_cmd(&emu, &seed, ami).args(["--to", &other, "--yes"]));
    assert_eq!(code, Some(1), "{stderr}\n{doc:#}");
    assert_eq!(doc["plan"]["blockers"], json!([]), "{:#}", doc["plan"]);
    let excluded = doc["report"]["excluded"].as_array().unwrap();
    assert_eq!(excluded.len(), 1, "{excluded:#?}");
    assert_eq!(excluded[0]["account"], TARGET_ACCOUNT);
    let cause = &excluded[0]["causes"][0];
    assert_eq!(cause["layer"], "access", "{cause:#}");
    assert!(
        cause["fix"].as_str().unwrap().contains("KmsKeyUsagePolicy"),
        "{cause:#}"
    );
    let targets = doc["report"]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{targets:#?}");
    assert_eq!(targets[0]["account"], other.as_str());
    assert_eq!(targets[0]["copy_state"], "available", "{:#}", targets[0]);

    let policy = raw_key_policy(&emu, key);
    assert!(!policy.contains(TARGET_ACCOUNT), "{policy}");
    assert!(policy.contains(&other), "{policy}");
    let perms = emu
        .aws(
            SOURCE_ACCOUNT,
            REGION,
            "ec2",
            "describe_image_attribute",
            json!({"ImageId": ami, "Attribute": "launchPermission"}),
        )
        .to_string();
    assert!(
        !perms.contains(TARGET_ACCOUNT) && perms.contains(&other),
        "{perms}"
    );
    assert!(
        target_images(&emu).is_empty(),
        "no copy in the blocked account"
    );
}

/// (2) A target account that never had an Auto Scaling group: `--share-only --grant
/// autoscaling` creates the service-linked role, then the grant naming it; the temporary
/// group's instance runs; rollback retires the grant and keeps the role (and says so).
#[test]
fn a_fresh_account_gets_the_autoscaling_role_and_its_grant_rollback_keeps_the_role() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let key = seed["source_key_arn"].as_str().unwrap();
    let args = ["--share-only", "--grant", "autoscaling"];

    let (code, dry, stderr) = run(copy_cmd(&emu, &seed, ami).args(args).arg("--dry-run"));
    assert_eq!(code, Some(0), "{stderr}\n{dry:#}");
    let kinds: Vec<&str> = dry["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"]["action"].as_str().unwrap())
        .collect();
    let role = kinds
        .iter()
        .position(|k| *k == "create-service-linked-role");
    let grant = kinds.iter().position(|k| *k == "create-grant");
    assert!(
        role.is_some() && grant.is_some() && role < grant,
        "{kinds:?}"
    );

    let (code, doc, stderr) = run(copy_cmd(&emu, &seed, ami).args(args).arg("--yes"));
    assert_eq!(code, Some(0), "{stderr}\n{doc:#}");
    let rows = doc["report"]["targets"][0]["launchers"].as_array().unwrap();
    let row = rows.iter().find(|r| r["principal"] == SLR).unwrap();
    assert_eq!(
        (row["how"].as_str(), row["result"].as_str()),
        (Some("auto-scaling-group"), Some("passed")),
        "{row:#}"
    );
    let grants = |emu: &Emulator| {
        emu.aws(
            SOURCE_ACCOUNT,
            REGION,
            "kms",
            "list_grants",
            json!({"KeyId": key}),
        )["Grants"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(grants(&emu).iter().any(|g| g["GranteePrincipal"] == SLR));

    let run_id = doc["report"]["run_id"].as_str().unwrap();
    let rb = emu.rollback_ok(&seed, run_id, &[]);
    assert!(!grants(&emu).iter().any(|g| g["GranteePrincipal"] == SLR));
    let role = emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "iam",
        "get_role",
        json!({"RoleName": "AWSServiceRoleForAutoScaling"}),
    );
    assert_eq!(role["Role"]["Arn"], SLR, "the role is kept");
    let kept = rb["undone"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["result"] == "kept" && u["detail"].as_str().unwrap_or("").contains(SLR))
        .cloned();
    assert!(kept.is_some(), "the report says the role is kept: {rb:#}");
    super::launch_as::assert_nothing_left(&emu);
}
