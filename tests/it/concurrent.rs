//! Many operators, one key (issue 22): concurrent runs of the real binary against one emulator
//! (40 ms latency), each to its own account, all editing the same source key policy. Every run
//! succeeds on its first try, nothing any run added is lost, a rollback removes only its own run's
//! additions, and a run killed (SIGKILL) inside its retry loop resumes or rolls back cleanly.
//!
//! Run: `cargo test --test it concurrent::`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{Emulator, StartOptions, REGION, SOURCE_ACCOUNT, TARGET_ROLE};

/// Target accounts the emulator serves (its target role exists in any account).
fn account(i: usize) -> String {
    format!("4444555{i:05}")
}

fn root(a: &str) -> String {
    format!("arn:aws:iam::{a}:root")
}

/// `amishare --output json copy AMI --to ACCOUNT --target-role ROLE --yes EXTRA...`. Build
/// every command before spawning any: building one rewrites the harness's AWS config file, which
/// a starting child may be reading.
fn copy_command(emu: &Emulator, seed: &Value, to: &str, extra: &[&str]) -> Command {
    let ami = seed["ami_id"].as_str().unwrap();
    let mut cmd = emu.std_command_as_source(seed);
    cmd.args(["--output", "json", "copy", ami, "--to", to])
        .args(["--target-role", TARGET_ROLE, "--yes"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn spawn_copy(emu: &Emulator, seed: &Value, to: &str, extra: &[&str]) -> Child {
    copy_command(emu, seed, to, extra).spawn().unwrap()
}

/// Start one run per account at once and wait for all: (exit code, report, stderr) each.
fn concurrently(
    emu: &Emulator,
    seed: &Value,
    accounts: &[String],
    extra: &[&str],
) -> Vec<(Option<i32>, Value, String)> {
    let mut commands: Vec<Command> = accounts
        .iter()
        .map(|a| copy_command(emu, seed, a, extra))
        .collect();
    let children: Vec<Child> = commands.iter_mut().map(|c| c.spawn().unwrap()).collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            (out.status.code(), doc["report"].clone(), stderr)
        })
        .collect()
}

fn source_policy(emu: &Emulator, seed: &Value) -> Value {
    emu.key_policy(SOURCE_ACCOUNT, seed["source_key_arn"].as_str().unwrap())
}

/// Every statement of `original` is in `now` (by Sid), unchanged apart from its principals.
fn keeps_every_statement(original: &Value, now: &Value) {
    let strip = |s: &Value| {
        let mut s = s.clone();
        s.as_object_mut().unwrap().remove("Principal");
        s
    };
    let now_st = now["Statement"].as_array().unwrap();
    for s in original["Statement"].as_array().unwrap() {
        let found = now_st
            .iter()
            .find(|n| n["Sid"] == s["Sid"])
            .unwrap_or_else(|| panic!("statement {} lost: {now:#}", s["Sid"]));
        assert_eq!(strip(found), strip(s), "statement {} changed", s["Sid"]);
    }
}

fn policy_names(policy: &Value, who: &str) -> bool {
    policy.to_string().contains(&format!("\"{who}\""))
}

#[test]
fn six_concurrent_copies_then_six_share_only_runs_all_succeed_first_try_and_lose_nothing() {
    let emu = Emulator::start_with(&StartOptions {
        latency_ms: 40,
        ..StartOptions::default()
    });
    let seed = emu.seed(&[]);
    let original = source_policy(&emu, &seed);
    let copies: Vec<String> = (1..=6).map(account).collect();
    let shares: Vec<String> = (7..=12).map(account).collect();
    for a in copies.iter().chain(&shares) {
        emu.admin_target_role(a);
    }

    let results = concurrently(&emu, &seed, &copies, &[]);
    for ((code, report, stderr), a) in results.iter().zip(&copies) {
        assert_eq!(*code, Some(0), "copy to {a}: {stderr}\n{report:#}");
        assert_eq!(report["status"], "ok", "{report:#}");
    }
    let results2 = concurrently(&emu, &seed, &shares, &["--share-only"]);
    for ((code, report, stderr), a) in results2.iter().zip(&shares) {
        assert_eq!(*code, Some(0), "share-only to {a}: {stderr}\n{report:#}");
    }
    // The runs did contend: some key-policy edit was merged again or retried.
    let retried = results
        .iter()
        .chain(&results2)
        .flat_map(|(_, r, _)| r["changes"].as_array().cloned().unwrap_or_default())
        .any(|c| c["retries"].as_u64().unwrap_or(0) > 0 || c.get("notes").is_some());
    let puts = emu
        .requests()
        .iter()
        .filter(|r| r["action"] == "PutKeyPolicy")
        .count();
    assert!(puts >= 12, "one PutKeyPolicy per run at least, saw {puts}");

    // The final key policy: every account, every original statement.
    let policy = source_policy(&emu, &seed);
    for a in copies.iter().chain(&shares) {
        assert!(policy_names(&policy, &root(a)), "{a} missing: {policy:#}");
    }
    keeps_every_statement(&original, &policy);
    // Every copy is available in its account; no test instance is left.
    for (_, report, _) in &results {
        let t = &report["targets"][0];
        let a = t["account"].as_str().unwrap();
        let image = t["image_id"].as_str().unwrap();
        let d = emu.aws(
            a,
            REGION,
            "ec2",
            "describe_images",
            json!({"ImageIds": [image]}),
        );
        assert_eq!(d["Images"][0]["State"], "available", "{a}: {d}");
    }
    let all: Vec<&str> = copies.iter().chain(&shares).map(String::as_str).collect();
    assert!(emu.live_instances(&all, &[REGION]).is_empty());
    eprintln!("contended edits merged again or retried: {retried}; PutKeyPolicy calls: {puts}");

    // A rollback of one run while two other runs edit the key: it removes exactly its run's
    // account; everyone else's stays.
    let victim = results[0].1["run_id"].as_str().unwrap().to_string();
    let more: Vec<String> = (13..=14).map(account).collect();
    for a in &more {
        emu.admin_target_role(a);
    }
    let mut rollback = emu.amishare_as_source(&seed);
    rollback.args(["--output", "json", "rollback", &victim, "--yes"]);
    let mut commands: Vec<Command> = more
        .iter()
        .map(|a| copy_command(&emu, &seed, a, &["--share-only"]))
        .collect();
    let children: Vec<Child> = commands.iter_mut().map(|c| c.spawn().unwrap()).collect();
    let out = rollback.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rolled = crate::common::stdout_json(&out);
    assert_eq!(rolled["status"], "rolled-back", "{rolled:#}");
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let policy = source_policy(&emu, &seed);
    assert!(
        !policy_names(&policy, &root(&copies[0])),
        "the rolled back run's account is still there: {policy:#}"
    );
    for a in copies[1..].iter().chain(&shares).chain(&more) {
        assert!(policy_names(&policy, &root(a)), "{a} missing: {policy:#}");
    }
    keeps_every_statement(&original, &policy);
}

/// A writer that keeps putting back `policy` plus its own statement, as fast as it can, in one
/// Python process (boto3), until the file `stop` exists or `secs` have passed.
fn spawn_clobberer(emu: &Emulator, key: &str, policy: &Value, stop: &std::path::Path) -> Child {
    let mut p = policy.clone();
    p["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "Another writer",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
        "Action": "kms:Decrypt",
        "Resource": "*"
    }));
    let script = r#"
import json, os, sys, time, boto3
endpoint, acct, key, policy, stop = sys.argv[1:6]
c = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing")
c.meta.events.register("before-sign.*.*",
    lambda request, **kw: request.headers.__setitem__("x-moto-account-id", acct))
t0 = time.time()
while not os.path.exists(stop) and time.time() - t0 < 120:
    c.put_key_policy(KeyId=key, PolicyName="default", Policy=policy)
    time.sleep(0.02)
"#;
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args([
            emu.endpoint.as_str(),
            SOURCE_ACCOUNT,
            key,
            &p.to_string(),
            stop.to_str().unwrap(),
        ])
        .spawn()
        .unwrap()
}

/// amishare's own PutKeyPolicy calls so far (the clobberer's are made as the account, not as
/// the assumed source role).
fn amishare_puts(emu: &Emulator) -> usize {
    emu.requests()
        .iter()
        .filter(|r| {
            r["action"] == "PutKeyPolicy"
                && r["principal"]
                    .as_str()
                    .is_some_and(|p| p.contains("assumed-role"))
        })
        .count()
}

/// Start a share-only run to `to` while another writer keeps reverting the key policy, and
/// SIGKILL it once it is inside its retry loop (three writes made). The other writer is then
/// stopped (its statement stays). Returns the killed run's id.
fn kill_in_retry_loop(emu: &Emulator, seed: &Value, to: &str, dir: &std::path::Path) -> String {
    let key = seed["source_key_arn"].as_str().unwrap();
    let original = source_policy(emu, seed);
    let stop = dir.join(format!("stop-{to}"));
    let others = || {
        emu.requests()
            .iter()
            .filter(|r| r["action"] == "PutKeyPolicy")
            .count()
            - amishare_puts(emu)
    };
    let writes = others();
    let mut clobber = spawn_clobberer(emu, key, &original, &stop);
    let started = Instant::now();
    while others() < writes + 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the other writer never wrote"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = amishare_puts(emu);
    let mut child = spawn_copy(emu, seed, to, &["--share-only"]);
    let started = Instant::now();
    while amishare_puts(emu) < before + 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never retried"
        );
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the run ended early: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::write(&stop, "").unwrap();
    clobber.wait().unwrap();
    // The killed run's journal: a key-policy step started, with its attempts recorded.
    let runs = emu.state_path().join("runs");
    let mut found = None;
    for e in std::fs::read_dir(&runs).unwrap() {
        let j: Value = serde_json::from_str(&std::fs::read_to_string(e.unwrap().path()).unwrap())
            .unwrap_or(Value::Null);
        if j["plan"]["options"]["target_accounts"] == json!([to]) && j["status"] == "running" {
            found = Some(j);
        }
    }
    let j = found.expect("the killed run's journal");
    let step = j["entries"]
        .as_object()
        .unwrap()
        .values()
        .find(|e| e["step"]["action"]["action"] == "put-key-policy")
        .expect("the key-policy step");
    assert_eq!(step["state"], "started", "{step:#}");
    assert!(step["attempts"].as_array().unwrap().len() >= 3, "{step:#}");
    j["run_id"].as_str().unwrap().to_string()
}

#[test]
fn a_run_killed_in_its_retry_loop_resumes_and_another_rolls_back_cleanly() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let dir = crate::common::private_tempdir();
    let (a, b) = (account(21), account(22));
    emu.admin_target_role(&a);
    emu.admin_target_role(&b);

    // Killed, then run again: it resumes the journal and completes.
    let killed = kill_in_retry_loop(&emu, &seed, &a, dir.path());
    let again = spawn_copy(&emu, &seed, &a, &["--share-only"])
        .wait_with_output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let doc: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(doc["report"]["run_id"], killed.as_str(), "resumed the run");
    let policy = source_policy(&emu, &seed);
    assert!(policy_names(&policy, &root(&a)), "{policy:#}");
    assert!(policy.to_string().contains("Another writer"), "{policy:#}");

    // Killed, then rolled back: its account goes, the other writer's statement and the first
    // run's account stay.
    let killed = kill_in_retry_loop(&emu, &seed, &b, dir.path());
    let rolled = emu.rollback_ok(&seed, &killed, &[]);
    assert_eq!(rolled["status"], "rolled-back", "{rolled:#}");
    let policy = source_policy(&emu, &seed);
    assert!(!policy_names(&policy, &root(&b)), "{policy:#}");
    assert!(policy_names(&policy, &root(&a)), "{policy:#}");
    assert!(policy.to_string().contains("Another writer"), "{policy:#}");
}

/// `apply PLAN` when the key policy changed since the plan was saved, only by another writer's
/// statement: the plan's edit is merged into the current policy (the report's change says so,
/// with the diff written) and the other statement stays; a change to a statement the plan edits
/// is refused as before (`copy_e2e::apply_refuses_a_plan_when_the_world_changed`).
#[test]
fn apply_merges_a_saved_plan_into_a_key_policy_changed_only_elsewhere() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let key = seed["source_key_arn"].as_str().unwrap();
    let to = account(31);
    emu.admin_target_role(&to);
    let plan_file = emu.state_path().join("plan.json");
    let out = emu
        .amishare_as_source(&seed)
        .args(["--output", "json", "copy", ami, "--to", &to])
        .args(["--target-role", TARGET_ROLE, "--share-only", "--dry-run"])
        .args(["--plan-out", plan_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut policy = source_policy(&emu, &seed);
    policy["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "Another writer",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
        "Action": "kms:Decrypt",
        "Resource": "*"
    }));
    emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "kms",
        "put_key_policy",
        json!({"KeyId": key, "PolicyName": "default", "Policy": policy.to_string()}),
    );
    let out = emu
        .amishare_as_source(&seed)
        .args(["--output", "json", "apply", plan_file.to_str().unwrap()])
        .arg("--yes")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc = crate::common::stdout_json(&out);
    let change = doc["report"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["summary"]
                .as_str()
                .unwrap()
                .starts_with("edit the key policy")
        })
        .unwrap()
        .clone();
    let notes = change["notes"].to_string();
    assert!(
        notes.contains("merged into the current policy"),
        "{change:#}"
    );
    assert!(
        notes.contains("+++ after") && notes.contains(&root(&to)),
        "the diff written: {change:#}"
    );
    let now = source_policy(&emu, &seed);
    assert!(policy_names(&now, &root(&to)), "{now:#}");
    assert!(now.to_string().contains("Another writer"), "{now:#}");
}
