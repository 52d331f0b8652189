//! Issue 19 through the real binary: a profile named explicitly (`--profile`, `--target-profile`,
//! `--org-profile`, `--key-account-profile`) gives that profile's credentials, never the
//! environment's, while environment keys of a third account are set; without a profile flag the
//! environment keys are used (also over `AWS_PROFILE`, as in the AWS CLI); a `--target-profile`
//! acting in another account than the target is refused before any change. The emulator's
//! request log names the account and principal of every call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use crate::common::{stdout_json, Emulator, REGION, SOURCE_ACCOUNT, TARGET_ACCOUNT};

/// The account of the environment's keys: neither the source nor the target.
const THIRD: &str = "777788889999";
/// The account `--target-profile wrong` acts in.
const WRONG: &str = "555566667777";

/// Keys of an IAM user of [`THIRD`] allowed everything, as `AWS_ACCESS_KEY_ID` /
/// `AWS_SECRET_ACCESS_KEY` would hold them.
fn third_account_keys(emu: &Emulator) -> (String, String) {
    emu.aws(
        THIRD,
        REGION,
        "iam",
        "create_user",
        json!({"UserName": "env-user"}),
    );
    let all = json!({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    emu.aws(
        THIRD,
        REGION,
        "iam",
        "put_user_policy",
        json!({"UserName": "env-user", "PolicyName": "all", "PolicyDocument": all.to_string()}),
    );
    let k = emu.aws(
        THIRD,
        REGION,
        "iam",
        "create_access_key",
        json!({"UserName": "env-user"}),
    );
    let s = |f: &str| k["AccessKey"][f].as_str().unwrap().to_string();
    (s("AccessKeyId"), s("SecretAccessKey"))
}

/// The AWS config of these tests: `base` has static keys (the emulator's default account);
/// `src`, `tgt`, `keyacct`, `org` and `wrong` assume a role with them.
fn write_config(emu: &Emulator, seed: &Value) -> std::path::PathBuf {
    let role = |k: &str| seed[k].as_str().unwrap().to_string();
    let profile = |name: &str, arn: &str| {
        format!("[profile {name}]\nrole_arn = {arn}\nsource_profile = base\nregion = {REGION}\n\n")
    };
    let text = [
        format!("[profile base]\naws_access_key_id = testing\naws_secret_access_key = testing\nregion = {REGION}\n\n"),
        profile("src", &role("source_role_arn")),
        profile("tgt", &role("target_role_arn")),
        profile("keyacct", &role("source_key_admin_role_arn")),
        profile("org", &format!("arn:aws:iam::{SOURCE_ACCOUNT}:role/OrgReader")),
        profile("wrong", &format!("arn:aws:iam::{WRONG}:role/amishare-target")),
    ]
    .concat();
    let path = emu.state_path().join("explicit-profiles-config");
    std::fs::write(&path, text).unwrap();
    path
}

/// The binary with the environment keys of [`THIRD`] and the config of [`write_config`].
fn amishare(emu: &Emulator, seed: &Value, keys: &(String, String)) -> assert_cmd::Command {
    let mut cmd = emu.amishare();
    cmd.env("AWS_ACCESS_KEY_ID", &keys.0)
        .env("AWS_SECRET_ACCESS_KEY", &keys.1)
        .env("AWS_CONFIG_FILE", write_config(emu, seed));
    cmd
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// No call of the request log acted in [`THIRD`].
fn assert_environment_unused(requests: &[Value]) {
    let third: Vec<&Value> = requests.iter().filter(|r| r["account"] == THIRD).collect();
    assert!(
        third.is_empty(),
        "calls made with the environment's keys: {third:#?}"
    );
}

/// Every call in `account` was made by a session of the role named `role` (`/role/`).
fn assert_all_calls_by(requests: &[Value], account: &str, role: &str) {
    let calls: Vec<&Value> = requests
        .iter()
        .filter(|r| r["account"] == account)
        .collect();
    assert!(!calls.is_empty(), "no call in {account}");
    for r in calls {
        assert!(
            s(&r["principal"]).contains(&format!("assumed-role/{role}/")),
            "a call in {account} not made by role {role}: {r}"
        );
    }
}

fn role_name(arn: &Value) -> String {
    s(arn).rsplit('/').next().unwrap().to_string()
}

#[test]
fn profile_and_target_profile_act_as_their_profiles_not_the_environment() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let keys = third_account_keys(&emu);
    emu.clear_requests();
    let out = amishare(&emu, &seed, &keys)
        .args(["--profile", "src", "-v", "--output", "json", "copy"])
        .arg(s(&seed["ami_id"]))
        .args(["--to", TARGET_ACCOUNT, "--target-profile", "tgt", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc = stdout_json(&out);
    assert_eq!(doc["plan"]["source"]["account"], SOURCE_ACCOUNT);
    assert_eq!(doc["report"]["status"], "ok", "{doc:#}");
    let requests = emu.requests();
    assert_environment_unused(&requests);
    assert_all_calls_by(
        &requests,
        SOURCE_ACCOUNT,
        &role_name(&seed["source_role_arn"]),
    );
    assert_all_calls_by(
        &requests,
        TARGET_ACCOUNT,
        &role_name(&seed["target_role_arn"]),
    );
    // `-v` names each account's credential source, never a secret.
    assert!(stderr.contains("Credentials per account:"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{SOURCE_ACCOUNT} (source): profile `src` (role_arn"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{TARGET_ACCOUNT} (target): profile `tgt` (role_arn"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains(&keys.1), "a secret in the output");
}

#[test]
fn without_a_profile_flag_the_environment_keys_are_used_even_over_aws_profile() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let keys = third_account_keys(&emu);
    for aws_profile in [None, Some("src")] {
        emu.clear_requests();
        let mut cmd = amishare(&emu, &seed, &keys);
        if let Some(p) = aws_profile {
            cmd.env("AWS_PROFILE", p);
        }
        let out = cmd
            .args(["--output", "json", "copy"])
            .arg(s(&seed["ami_id"]))
            .args(["--to", TARGET_ACCOUNT, "--target-role", "amishare-target"])
            .args(["--dry-run", "--no-input"])
            .output()
            .unwrap();
        // The environment's account has no such image: the run fails, as the AWS CLI would.
        assert_ne!(out.status.code(), Some(0), "AWS_PROFILE={aws_profile:?}");
        let requests = emu.requests();
        assert!(!requests.is_empty());
        for r in &requests {
            assert_eq!(r["account"], THIRD, "AWS_PROFILE={aws_profile:?}: {r}");
            assert!(s(&r["principal"]).ends_with(":user/env-user"), "{r}");
        }
    }
}

#[test]
fn a_target_profile_of_another_account_is_refused_before_any_change() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let keys = third_account_keys(&emu);
    emu.clear_requests();
    let out = amishare(&emu, &seed, &keys)
        .args(["--profile", "src", "copy"])
        .arg(s(&seed["ami_id"]))
        .args(["--to", TARGET_ACCOUNT, "--target-profile", "wrong", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("`--target-profile wrong` acts in account {WRONG}"))
            && stderr.contains(&format!("not in the target {TARGET_ACCOUNT}")),
        "{stderr}"
    );
    assert_eq!(emu.mutating_actions(), Vec::<String>::new());
    assert_environment_unused(&emu.requests());
}

#[test]
fn org_profile_reads_the_organization_as_its_profile() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--org-ou-accounts", "2"]);
    // The OU's other account gets its administrator `amishare-target` too (as the seed gives the
    // target): a copier whose IAM amishare cannot read (a role that does not exist) is blocked.
    for a in seed["org_account_ids"].as_array().unwrap() {
        if s(a) != TARGET_ACCOUNT {
            emu.admin_target_role(s(a));
        }
    }
    let keys = third_account_keys(&emu);
    emu.clear_requests();
    let out = amishare(&emu, &seed, &keys)
        .args(["--profile", "src", "--output", "json", "copy"])
        .arg(s(&seed["ami_id"]))
        .args(["--to-ou", s(&seed["ou_id"]), "--org-profile", "org"])
        .args([
            "--target-role",
            "amishare-target",
            "--dry-run",
            "--no-input",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc = stdout_json(&out);
    assert_eq!(
        doc["plan"]["options"]["target_accounts"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{doc:#}"
    );
    let requests = emu.requests();
    assert_environment_unused(&requests);
    let org: Vec<&Value> = requests
        .iter()
        .filter(|r| r["service"] == "organizations")
        .collect();
    assert!(!org.is_empty());
    for r in org {
        assert!(
            s(&r["principal"]).contains("assumed-role/OrgReader/"),
            "{r}"
        );
    }
}

#[test]
fn key_account_profile_reads_the_key_as_its_profile() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--share"]);
    let keys = third_account_keys(&emu);
    emu.clear_requests();
    let out = amishare(&emu, &seed, &keys)
        .args(["--profile", "tgt", "--output", "json", "diagnose"])
        .args(["--ami", s(&seed["ami_id"])])
        .args(["--principal", s(&seed["target_role_arn"])])
        .args(["--key-account-profile", "keyacct"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "diagnose could not decide: {stderr}"
    );
    let requests = emu.requests();
    assert_environment_unused(&requests);
    let admin = role_name(&seed["source_key_admin_role_arn"]);
    let key_reads: Vec<&Value> = requests
        .iter()
        .filter(|r| r["service"] == "kms" && r["account"] == SOURCE_ACCOUNT)
        .collect();
    assert!(!key_reads.is_empty(), "the key was not read: {requests:#?}");
    for r in key_reads {
        assert!(
            s(&r["principal"]).contains(&format!("assumed-role/{admin}/")),
            "{r}"
        );
    }
    assert_all_calls_by(
        &requests,
        TARGET_ACCOUNT,
        &role_name(&seed["target_role_arn"]),
    );
}
