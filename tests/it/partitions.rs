//! The aws-cn and aws-us-gov partitions through the real binary against the emulator (which builds
//! ARNs in the partition of the region, keeps IAM per partition and refuses AssumeRole of a role
//! ARN of another partition): a copy in cn-north-1 and in us-gov-west-1 assumes the target role,
//! edits the key policy, creates and attaches `KmsKeyUsagePolicy` and launches the copy, with every
//! ARN amishare builds (role, key policy principals, policy ARN, usage policy resources, hand-off
//! commands) in the right partition and none in `aws`.
//!
//! Not covered: the partitions' real endpoints (`amazonaws.com.cn`): the tests point the SDK at the
//! emulator with `AWS_ENDPOINT_URL`, so endpoint resolution is the SDK's, untested here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use super::common::{stdout_json, Emulator, TARGET_ACCOUNT, TARGET_ROLE};
use super::everyday::stderr;

/// `amishare --region REGION --output json copy AMI --to TARGET ARGS` as the seed's source role.
fn copy(emu: &Emulator, seed: &Value, region: &str, args: &[&str]) -> std::process::Output {
    emu.amishare_as_source(seed)
        .env("AWS_REGION", region)
        .args(["--region", region, "--output", "json", "copy"])
        .arg(seed["ami_id"].as_str().unwrap())
        .args(["--to", TARGET_ACCOUNT])
        .args(args)
        .output()
        .unwrap()
}

fn the_partition_everywhere(emu: &Emulator, region: &str, partition: &str) {
    let seed = emu.seed(&["--region", region]);
    assert!(seed["source_role_arn"]
        .as_str()
        .unwrap()
        .starts_with(&format!("arn:{partition}:iam::")));
    let launcher = format!("arn:{partition}:iam::{TARGET_ACCOUNT}:role/{TARGET_ROLE}");
    let out = copy(
        emu,
        &seed,
        region,
        &["--target-role", TARGET_ROLE, "--grant", &launcher, "--yes"],
    );
    assert_eq!(out.status.code(), Some(0), "{region}: {}", stderr(&out));
    let doc = stdout_json(&out);
    assert_eq!(
        doc["report"]["status"], "ok",
        "{region}: {:#}",
        doc["report"]
    );
    let plan = &doc["plan"];
    let text = plan.to_string();
    assert!(
        !text.contains("arn:aws:"),
        "{region}: an ARN of the commercial partition in the plan: {plan:#}"
    );
    let key = plan["keys"][0]["arn"].as_str().unwrap();
    assert!(
        key.starts_with(&format!("arn:{partition}:kms:{region}:")),
        "{key}"
    );
    let steps = plan["steps"].as_array().unwrap();
    let step = |kind: &str| {
        steps
            .iter()
            .find(|s| s["action"]["action"] == kind)
            .unwrap_or_else(|| panic!("{region}: no {kind} step"))
    };
    let added: Vec<&str> = step("put-key-policy")["action"]["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["principal"].as_str().unwrap())
        .collect();
    assert!(
        added.contains(&format!("arn:{partition}:iam::{TARGET_ACCOUNT}:root").as_str()),
        "{added:?}"
    );
    assert!(added.contains(&launcher.as_str()), "{added:?}");
    let policy_arn = format!("arn:{partition}:iam::{TARGET_ACCOUNT}:policy/KmsKeyUsagePolicy");
    assert_eq!(
        step("attach-policy")["action"]["policy_arn"],
        policy_arn.as_str()
    );
    let usage: Value = serde_json::from_str(
        step("create-policy")["action"]["document"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(usage.to_string().contains(key), "{usage:#}");
    let principal = plan["checks"][0]["principal"].as_str().unwrap();
    assert!(
        principal.starts_with(&format!(
            "arn:{partition}:sts::{TARGET_ACCOUNT}:assumed-role/{TARGET_ROLE}/"
        )),
        "the target role was assumed in {partition}: {principal}"
    );
    // read back independently: the policy is attached to the role in that partition's IAM
    let attached = emu.aws(
        TARGET_ACCOUNT,
        region,
        "iam",
        "list_attached_role_policies",
        json!({"RoleName": TARGET_ROLE}),
    );
    assert_eq!(
        attached["AttachedPolicies"][0]["PolicyArn"],
        policy_arn.as_str(),
        "{attached}"
    );

    // without target credentials: the hand-off's commands name the partition's ARNs
    let out = copy(emu, &seed, region, &["--grant", &launcher, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{region}: {}", stderr(&out));
    let handoff = &stdout_json(&out)["plan"]["handoffs"][0];
    let commands = handoff["commands"].to_string();
    assert!(commands.contains(&policy_arn), "{region}: {commands}");
    assert!(
        !handoff.to_string().contains("arn:aws:"),
        "{region}: {handoff:#}"
    );
}

#[test]
fn aws_cn_copies_with_arns_of_the_china_partition() {
    let emu = Emulator::start();
    the_partition_everywhere(&emu, "cn-north-1", "aws-cn");
}

#[test]
fn aws_us_gov_copies_with_arns_of_the_govcloud_partition() {
    let emu = Emulator::start();
    the_partition_everywhere(&emu, "us-gov-west-1", "aws-us-gov");
}

/// A role ARN of the wrong partition is refused by the emulator as AWS would: proof that the test
/// above would catch a role ARN built in `aws`.
#[test]
fn a_role_arn_of_another_partition_cannot_be_assumed() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--region", "cn-north-1"]);
    let wrong = format!("arn:aws:iam::{TARGET_ACCOUNT}:role/{TARGET_ROLE}");
    let out = copy(
        &emu,
        &seed,
        "cn-north-1",
        &["--target-role", &wrong, "--dry-run"],
    );
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("cannot assume role") && err.contains("Partition"),
        "{err}"
    );
}
