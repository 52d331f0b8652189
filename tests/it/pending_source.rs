//! A source AMI that is still `pending` (issue 13): `copy` waits for it, then copies and
//! test-launches; `--dry-run` does not wait and plans with the `image-not-available` blocker,
//! whose message says a real run waits. The real binary against the emulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::common::{grant, stdout_json, Emulator, REGION, SOURCE_ACCOUNT, TARGET_ACCOUNT};
use serde_json::{json, Value};

/// A new AMI in the source account (CopyImage of the seeded one, encrypted with the source key)
/// that stays `pending` for `secs`; resources created afterwards use the default pending time.
fn pending_source_image(emu: &Emulator, seed: &Value, secs: f64) -> String {
    let ami = seed["ami_id"].as_str().unwrap();
    let key = seed["source_key_arn"].as_str().unwrap();
    emu.configure(json!({"pending_seconds": secs}));
    let out = emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "ec2",
        "copy_image",
        json!({
            "SourceImageId": ami,
            "SourceRegion": REGION,
            "Name": "still-pending",
            "Encrypted": true,
            "KmsKeyId": key,
        }),
    );
    emu.configure(json!({"pending_seconds": 0.5}));
    let id = out["ImageId"].as_str().unwrap().to_string();
    let images = emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "ec2",
        "describe_images",
        json!({"ImageIds": [id]}),
    );
    assert_eq!(images["Images"][0]["State"], "pending", "{images}");
    id
}

/// `amishare --output json copy AMI --to TARGET --target-role ROLE -v --grant ...` (`-v`: the
/// progress notes are written to stderr with JSON output too).
fn copy_cmd(emu: &Emulator, seed: &Value, ami: &str) -> assert_cmd::Command {
    let mut cmd = crate::common::copy_cmd(emu, seed, ami);
    cmd.args(["-v", "--grant", &grant()]);
    cmd
}

#[test]
fn a_pending_source_image_is_waited_for_then_copied_and_launched() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = pending_source_image(&emu, &seed, 6.0);
    emu.clear_requests();
    let started = Instant::now();
    let out = copy_cmd(&emu, &seed, &ami).arg("--yes").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let doc = stdout_json(&out);
    let report = &doc["report"];
    assert_eq!(report["status"], "ok", "{report:#}");
    assert!(doc["plan"]["blockers"].as_array().unwrap().is_empty());
    let target = &report["targets"][0];
    assert_eq!(target["status"], "ok", "{target:#}");
    assert_eq!(target["test_launch"]["result"], "running", "{target:#}");
    assert_eq!(target["test_launch"]["terminated"], true, "{target:#}");
    // It waited, with progress on stderr.
    assert!(
        stderr.contains(&format!(
            "source image {ami} in {SOURCE_ACCOUNT}/{REGION} is `pending`: waiting"
        )),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains(&format!("source image {ami}: pending")),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains(&format!("source image {ami}: available")),
        "stderr: {stderr}"
    );
    // Several looks at the source image before anything changed, none of them mutating.
    let requests = emu.requests();
    let first_change = requests
        .iter()
        .position(|r| r["mutating"] == true && r["dry_run"] != true)
        .unwrap();
    let polls = requests[..first_change]
        .iter()
        .filter(|r| r["account"] == SOURCE_ACCOUNT && r["action"] == "DescribeImages")
        .count();
    assert!(polls >= 3, "{polls} DescribeImages before the first change");
    // The run could not have finished before the image did.
    assert!(started.elapsed() >= Duration::from_secs(3));
    let actions = emu.mutating_actions();
    for a in [
        "ec2:ModifyImageAttribute",
        "ec2:CopyImage",
        "ec2:RunInstances",
    ] {
        assert!(actions.contains(&a.to_string()), "{a} not in {actions:?}");
    }
    let live = emu.live_instances(&[TARGET_ACCOUNT], &[REGION]);
    assert!(live.is_empty(), "test instances left running: {live:?}");
}

#[test]
fn dry_run_does_not_wait_for_a_pending_source_image() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = pending_source_image(&emu, &seed, 120.0);
    emu.clear_requests();
    let started = Instant::now();
    let out = copy_cmd(&emu, &seed, &ami)
        .arg("--dry-run")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a dry run waited: {stderr}"
    );
    assert!(!stderr.contains("waiting"), "stderr: {stderr}");
    // Blocked: exit 1, as any dry run with a blocker.
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let doc = stdout_json(&out);
    let blockers = doc["plan"]["blockers"].as_array().unwrap();
    let b = blockers
        .iter()
        .find(|b| b["code"] == "image-not-available")
        .unwrap_or_else(|| panic!("{blockers:#?}"));
    let message = b["message"].as_str().unwrap();
    assert!(message.contains("still `pending`"), "{b}");
    assert!(message.contains("a real run"), "{b}");
    assert!(b["fix"].as_str().unwrap().contains("--dry-run"), "{b}");
    // Nothing changed: only DryRun probes count as mutating.
    let real: Vec<Value> = emu
        .requests()
        .into_iter()
        .filter(|r| r["mutating"] == true && r["dry_run"] != true)
        .collect();
    assert!(real.is_empty(), "{real:#?}");
    let images = emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "ec2",
        "describe_images",
        json!({"ImageIds": [ami]}),
    );
    assert_eq!(images["Images"][0]["State"], "pending", "{images}");
}
