//! Launchers (`--grant`, issue 11), the plan side, end to end against the emulator: each launcher
//! gets the key it launches with (the copy's, on a target customer managed key), nothing on the
//! source key of a copy; Auto Scaling's service-linked role is added to the target key policy
//! (copy) or gets a grant on the source key (`--share-only`). Every test checks that no test
//! instance is left running. (That the launch AS the launcher then succeeds is the test-launch
//! side's test.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::{
    copy_cmd, stdout_json, Emulator, REGION, SOURCE_ACCOUNT, TARGET_ACCOUNT, TARGET_ROLE,
};
use serde_json::{json, Value};

const SLR: &str = "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";

fn assert_no_live_instances(emu: &Emulator) {
    let live = emu.live_instances(&[SOURCE_ACCOUNT, TARGET_ACCOUNT], &[REGION]);
    assert!(live.is_empty(), "test instances left running: {live:?}");
}

fn run_ok(cmd: &mut assert_cmd::Command) -> Value {
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(&out)
}

fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

/// The managed policies attached to a role of the target, by name -> default document.
fn attached_documents(emu: &Emulator, role_arn: &str) -> Vec<(String, String)> {
    let attached = emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "iam",
        "list_attached_role_policies",
        json!({"RoleName": role_name(role_arn)}),
    );
    attached["AttachedPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let arn = p["PolicyArn"].as_str().unwrap();
            let meta = emu.aws(
                TARGET_ACCOUNT,
                REGION,
                "iam",
                "get_policy",
                json!({"PolicyArn": arn}),
            );
            let version = emu.aws(
                TARGET_ACCOUNT,
                REGION,
                "iam",
                "get_policy_version",
                json!({"PolicyArn": arn, "VersionId": meta["Policy"]["DefaultVersionId"]}),
            );
            let doc = &version["PolicyVersion"]["Document"];
            let text = doc.as_str().map_or_else(|| doc.to_string(), str::to_string);
            (p["PolicyName"].as_str().unwrap().to_string(), text)
        })
        .collect()
}

fn check<'a>(doc: &'a Value, principal: &str, key: &str) -> &'a Value {
    doc["plan"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["principal"] == principal && c["key_arn"] == key)
        .unwrap_or_else(|| {
            panic!(
                "no check of {principal} on {key}: {:#}",
                doc["plan"]["checks"]
            )
        })
}

/// The report row of `principal`'s test launch: it passed, launched `how`.
fn assert_launched_as(doc: &Value, principal: &str, how: &str) {
    let rows = doc["report"]["targets"][0]["launchers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let row = rows
        .iter()
        .find(|r| r["principal"] == principal)
        .unwrap_or_else(|| panic!("no launcher row for {principal}: {rows:#?}"));
    assert_eq!(row["how"], how, "{row:#}");
    assert_eq!(row["result"], "passed", "{row:#}");
}

fn step_kinds(doc: &Value) -> Vec<String> {
    doc["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["action"]["action"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// Seeds 000/002/003 inside the target: the copy is on a target customer managed key and the
/// launcher role has only EC2 permissions. The plan names the missing kms:CreateGrant on the
/// target key, the run attaches `KmsKeyUsagePolicy-<key id>` (read back), a second run plans
/// nothing.
#[test]
fn an_ec2_only_launcher_gets_the_target_key_and_a_second_run_plans_nothing() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key", "--launcher-role"]);
    let ami = seed["ami_id"].as_str().unwrap();
    let tkey = seed["target_key_arn"].as_str().unwrap();
    let tkey_id = seed["target_key_id"].as_str().unwrap();
    let launcher = seed["launcher_role_arn"].as_str().unwrap();
    let args = ["--grant", launcher, "--target-key", tkey];

    let dry = run_ok(copy_cmd(&emu, &seed, ami).args(args).arg("--dry-run"));
    let c = check(&dry, launcher, tkey);
    assert_eq!(c["now"], "deny", "{c:#}");
    assert_eq!(c["after_plan"], "allow", "{c:#}");
    let missing: Vec<&str> = c["missing_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(missing.contains(&"kms:CreateGrant"), "{missing:?}");
    let text = copy_cmd(&emu, &seed, ami)
        .args(args)
        .args(["--dry-run", "--output", "text"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("kms:CreateGrant"), "{text}");

    let doc = run_ok(copy_cmd(&emu, &seed, ami).args(args).arg("--yes"));
    assert_eq!(doc["report"]["status"], "ok", "{:#}", doc["report"]);
    // The fix works for the launcher itself: amishare assumed it and launched the copy as it.
    assert_launched_as(&doc, launcher, "assume-role");
    let name = format!("KmsKeyUsagePolicy-{tkey_id}");
    let docs = attached_documents(&emu, launcher);
    let (_, usage) = docs
        .iter()
        .find(|(n, _)| n == &name)
        .unwrap_or_else(|| panic!("{name} not attached to the launcher: {docs:?}"));
    assert!(usage.contains(tkey), "{usage}");
    assert!(usage.contains("kms:CreateGrant"), "{usage}");

    emu.clear_requests();
    let again = run_ok(copy_cmd(&emu, &seed, ami).args(args).arg("--yes"));
    assert!(
        again["plan"]["steps"].as_array().unwrap().is_empty(),
        "{:#}",
        again["plan"]["steps"]
    );
    assert_eq!(check(&again, launcher, tkey)["now"], "allow");
    assert_eq!(emu.mutating_actions(), Vec::<String>::new());
    assert_no_live_instances(&emu);
    super::launch_as::assert_nothing_left(&emu);
}

/// Launchers of a copy get no source-key access: not in the source key policy, no IAM policy
/// naming the source key (read back from AWS), and the plan says so.
#[test]
fn launchers_of_a_copy_get_no_source_key_access() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key", "--launcher-role"]);
    let ami = seed["ami_id"].as_str().unwrap();
    let key = seed["source_key_arn"].as_str().unwrap();
    let tkey = seed["target_key_arn"].as_str().unwrap();
    let launcher = seed["launcher_role_arn"].as_str().unwrap();
    let doc = run_ok(copy_cmd(&emu, &seed, ami).args([
        "--grant",
        launcher,
        "--target-key",
        tkey,
        "--yes",
    ]));
    assert_eq!(doc["report"]["status"], "ok", "{:#}", doc["report"]);
    let notes = doc["plan"]["notes"].to_string();
    assert!(
        notes.contains("launchers get no access to the source key") && notes.contains(tkey),
        "{notes}"
    );
    let policy = emu.key_policy(SOURCE_ACCOUNT, key).to_string();
    assert!(!policy.contains(launcher), "{policy}");
    assert!(
        policy.contains(&format!("arn:aws:iam::{TARGET_ACCOUNT}:root")),
        "{policy}"
    );
    for (name, document) in attached_documents(&emu, launcher) {
        assert!(
            !document.contains(key),
            "{name} names the source key: {document}"
        );
    }
    let inline = emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "iam",
        "list_role_policies",
        json!({"RoleName": role_name(launcher)}),
    );
    assert_eq!(inline["PolicyNames"], json!(["AmazonEC2FullAccess"]));
    // The copier still reads the source key: the copy exists.
    assert!(doc["report"]["targets"][0]["image_id"].is_string());
    assert_no_live_instances(&emu);
    super::launch_as::assert_nothing_left(&emu);
}

/// `--grant autoscaling` with a copy on a target customer managed key: the plan adds Auto
/// Scaling's role to the target key policy (use + CreateGrant with GrantIsForAWSResource);
/// rollback restores the key policy. Before the role exists, the plan creates it first.
#[test]
fn grant_autoscaling_adds_the_service_linked_role_to_the_target_key_policy() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key"]);
    let ami = seed["ami_id"].as_str().unwrap();
    let tkey = seed["target_key_arn"].as_str().unwrap();
    let args = ["--grant", "autoscaling", "--target-key", tkey];

    // The role does not exist yet: the plan creates it before the key policy names it.
    let dry = run_ok(copy_cmd(&emu, &seed, ami).args(args).arg("--dry-run"));
    let kinds = step_kinds(&dry);
    let pos = |k: &str| kinds.iter().position(|x| x == k);
    assert!(
        pos("create-service-linked-role").is_some()
            && pos("create-service-linked-role") < pos("put-target-key-policy"),
        "{kinds:?}"
    );

    emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "iam",
        "create_service_linked_role",
        json!({"AWSServiceName": "autoscaling.amazonaws.com"}),
    );
    let before = emu.key_policy(TARGET_ACCOUNT, tkey);
    let dry = run_ok(copy_cmd(&emu, &seed, ami).args(args).arg("--dry-run"));
    assert!(
        step_kinds(&dry).contains(&"put-target-key-policy".to_string()),
        "{:?}",
        step_kinds(&dry)
    );
    assert_eq!(check(&dry, SLR, tkey)["after_plan"], "allow");

    let doc = run_ok(copy_cmd(&emu, &seed, ami).args(args).arg("--yes"));
    assert_eq!(doc["report"]["status"], "ok", "{:#}", doc["report"]);
    // With the statement, a temporary Auto Scaling group of the copy reached InService.
    assert_launched_as(&doc, SLR, "auto-scaling-group");
    let after = emu.key_policy(TARGET_ACCOUNT, tkey);
    let statement = |sid: &str| -> Value {
        after["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
            .unwrap_or_else(|| panic!("no {sid} in {after}"))
    };
    assert!(statement("Allow use of the key").to_string().contains(SLR));
    let attach = statement("Allow attachment of persistent resources");
    assert!(attach.to_string().contains(SLR));
    assert_eq!(
        attach["Condition"]["Bool"]["kms:GrantIsForAWSResource"],
        "true"
    );

    let run_id = doc["report"]["run_id"].as_str().unwrap();
    emu.rollback_ok(&seed, run_id, &[]);
    assert_eq!(emu.key_policy(TARGET_ACCOUNT, tkey), before);
    assert_no_live_instances(&emu);
    super::launch_as::assert_nothing_left(&emu);
}

fn source_key_grants(emu: &Emulator, key: &str) -> Vec<Value> {
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
}

/// `--grant autoscaling --share-only`: the role launches the shared original, on the source
/// key of another account: the plan adds a grant, created by the target identity (which the
/// source key policy lets create it, without GrantIsForAWSResource); rollback retires it.
#[test]
fn grant_autoscaling_share_only_creates_a_grant_on_the_source_key_and_rollback_removes_it() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let key = seed["source_key_arn"].as_str().unwrap();
    emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "iam",
        "create_service_linked_role",
        json!({"AWSServiceName": "autoscaling.amazonaws.com"}),
    );
    let policy_before = emu.key_policy(SOURCE_ACCOUNT, key);
    let args = ["--share-only", "--grant", "autoscaling"];

    let dry = run_ok(copy_cmd(&emu, &seed, ami).args(args).arg("--dry-run"));
    let kinds = step_kinds(&dry);
    assert!(kinds.contains(&"create-grant".to_string()), "{kinds:?}");
    let c = check(&dry, SLR, key);
    assert_eq!(
        (c["now"].as_str(), c["after_plan"].as_str()),
        (Some("deny"), Some("allow")),
        "{c:#}"
    );
    assert!(source_key_grants(&emu, key).is_empty());

    let doc = run_ok(copy_cmd(&emu, &seed, ami).args(args).arg("--yes"));
    assert_eq!(doc["report"]["status"], "ok", "{:#}", doc["report"]);
    // With the grant, a temporary Auto Scaling group of the shared AMI reached InService.
    assert_launched_as(&doc, SLR, "auto-scaling-group");
    let grants = source_key_grants(&emu, key);
    let grant = grants
        .iter()
        .find(|g| g["GranteePrincipal"] == SLR)
        .unwrap_or_else(|| panic!("no grant for the role: {grants:#?}"));
    assert_eq!(
        grant["RetiringPrincipal"],
        format!("arn:aws:iam::{TARGET_ACCOUNT}:role/{TARGET_ROLE}")
    );
    let ops: Vec<&str> = grant["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    for op in ["Decrypt", "ReEncryptFrom", "CreateGrant", "DescribeKey"] {
        assert!(ops.contains(&op), "{op} not in {ops:?}");
    }
    let policy = emu.key_policy(SOURCE_ACCOUNT, key).to_string();
    assert!(policy.contains("kms:GranteePrincipal"), "{policy}");
    // The target role is an administrator: its IAM already allows the direct CreateGrant, so
    // amishare gives it no IAM policy for it.
    let target_role = format!("arn:aws:iam::{TARGET_ACCOUNT}:role/{TARGET_ROLE}");
    assert!(
        !attached_documents(&emu, &target_role)
            .iter()
            .any(|(n, _)| n.contains("autoscaling")),
        "an IAM policy the role did not need"
    );

    // A second run plans no second grant.
    let again = run_ok(copy_cmd(&emu, &seed, ami).args(args).arg("--dry-run"));
    assert!(!step_kinds(&again).contains(&"create-grant".to_string()));

    let run_id = doc["report"]["run_id"].as_str().unwrap();
    emu.rollback_ok(&seed, run_id, &[]);
    assert!(
        !source_key_grants(&emu, key)
            .iter()
            .any(|g| g["GranteePrincipal"] == SLR),
        "the grant is still there"
    );
    assert_eq!(emu.key_policy(SOURCE_ACCOUNT, key), policy_before);
    assert_no_live_instances(&emu);
    super::launch_as::assert_nothing_left(&emu);
}

/// The key policy of `key`, read as `role_arn` (boto3 assuming the role): a key policy that does
/// not delegate to IAM is readable by no one else, not even the account's administrator.
fn key_policy_as(emu: &Emulator, role_arn: &str, key: &str) -> Value {
    let script = r#"
import json, sys, boto3
endpoint, role, key = sys.argv[1:4]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
          aws_secret_access_key="testing")
c = boto3.client("sts", **kw).assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                   aws_session_token=c["SessionToken"])
print(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &emu.endpoint, role_arn, key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A target key whose policy does not delegate to IAM: IAM cannot help the launcher, so the plan
/// adds it to the target key policy (no IAM policy); the edit is read back; a second run plans
/// nothing; rollback restores the key policy.
#[test]
fn a_target_key_that_does_not_delegate_to_iam_gets_the_launcher_in_its_policy() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--target-key-no-iam", "--launcher-role"]);
    let ami = seed["ami_id"].as_str().unwrap();
    let tkey = seed["target_key_arn"].as_str().unwrap();
    let launcher = seed["launcher_role_arn"].as_str().unwrap();
    let target_role = seed["target_role_arn"].as_str().unwrap();
    let args = ["--grant", launcher, "--target-key", tkey];
    let before = key_policy_as(&emu, target_role, tkey);

    let doc = run_ok(copy_cmd(&emu, &seed, ami).args(args).arg("--yes"));
    assert_eq!(doc["report"]["status"], "ok", "{:#}", doc["report"]);
    let kinds = step_kinds(&doc);
    assert!(
        kinds.contains(&"put-target-key-policy".to_string()),
        "{kinds:?}"
    );
    assert!(!kinds.contains(&"attach-policy".to_string()), "{kinds:?}");
    let c = check(&doc, launcher, tkey);
    assert_eq!(
        (c["now"].as_str(), c["after_plan"].as_str()),
        (Some("deny"), Some("allow")),
        "{c:#}"
    );
    let after = key_policy_as(&emu, target_role, tkey);
    let users = after["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "Allow use of the key")
        .unwrap_or_else(|| panic!("no key-user statement: {after}"));
    assert!(users.to_string().contains(launcher), "{users}");
    assert!(attached_documents(&emu, launcher).is_empty());

    emu.clear_requests();
    let again = run_ok(copy_cmd(&emu, &seed, ami).args(args).arg("--yes"));
    assert!(again["plan"]["steps"].as_array().unwrap().is_empty());
    assert_eq!(emu.mutating_actions(), Vec::<String>::new());

    let run_id = doc["report"]["run_id"].as_str().unwrap();
    emu.rollback_ok(&seed, run_id, &[]);
    assert_eq!(key_policy_as(&emu, target_role, tkey), before);
    assert_no_live_instances(&emu);
    super::launch_as::assert_nothing_left(&emu);
}
