//! AWS conventions through the real binary against the emulator: a `credential_process` profile
//! resolves, and `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` from the environment decide how often a
//! failing call is tried. (SSO profiles are not tested here: moto 5.2.1 does not answer the SSO
//! portal's GetRoleCredentials.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use crate::common::{stdout_json, Emulator, REGION, SOURCE_ACCOUNT, TARGET_ACCOUNT};

/// `copy AMI --to TARGET --target-role amishare-target --dry-run`: the cheapest command that
/// needs the source credentials and shows whose they are (the plan's source account).
fn dry_run_args(ami: &str) -> Vec<String> {
    [
        "--output",
        "json",
        "copy",
        ami,
        "--to",
        TARGET_ACCOUNT,
        "--target-role",
        "amishare-target",
        "--dry-run",
        "--no-input",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A shared config file whose profile `src` assumes the seed's source role with the credentials
/// of profile `proc`, which come from `credential_process` (a script that logs each run to
/// `marker` and prints static test keys, or fails when `fail` is set).
fn write_process_profile(dir: &std::path::Path, seed: &Value, fail: bool) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let marker = dir.join("marker");
    let script = dir.join("creds.sh");
    let body = if fail {
        "echo 'no credentials today' >&2\nexit 1\n".to_string()
    } else {
        r#"echo '{"Version":1,"AccessKeyId":"testing","SecretAccessKey":"testing"}'"#.to_string()
            + "\n"
    };
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho ran >> '{}'\n{body}", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let role = seed["source_role_arn"].as_str().unwrap();
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "[profile proc]\ncredential_process = {}\nregion = {REGION}\n\n[profile src]\nrole_arn = {role}\nsource_profile = proc\nregion = {REGION}\n",
            script.display()
        ),
    )
    .unwrap();
    config
}

fn process_profile_cmd(emu: &Emulator, config: &std::path::Path, ami: &str) -> assert_cmd::Command {
    let mut cmd = emu.amishare();
    // static keys in the environment would win over the profile's credentials
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", config)
        .args(["--profile", "src"])
        .args(dry_run_args(ami));
    cmd
}

#[test]
fn a_credential_process_profile_resolves() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_process_profile(dir.path(), &seed, false);
    emu.clear_requests();
    let out = process_profile_cmd(&emu, &config, ami).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = stdout_json(&out);
    assert_eq!(doc["plan"]["source"]["account"], SOURCE_ACCOUNT, "{doc:#}");
    assert_eq!(doc["plan"]["source"]["image_id"], ami);
    let ran = std::fs::read_to_string(dir.path().join("marker")).unwrap_or_default();
    assert!(ran.lines().count() >= 1, "credential_process never ran");
    // The source role was assumed (with the process's keys) before anything else was asked.
    let actions = Emulator::actions(&emu.requests());
    assert_eq!(
        actions.first().map(String::as_str),
        Some("sts:AssumeRole"),
        "{actions:?}"
    );
}

#[test]
fn a_failing_credential_process_fails_the_run_before_any_change() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_process_profile(dir.path(), &seed, true);
    emu.clear_requests();
    let out = process_profile_cmd(&emu, &config, ami).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "panicked: {stderr}");
    assert!(
        stderr.contains("cannot tell who the credentials are"),
        "{stderr}"
    );
    assert!(
        dir.path().join("marker").exists(),
        "credential_process never ran"
    );
    assert_eq!(emu.mutating_actions(), Vec::<String>::new());
}

/// The dry run as the seed's source account with `env`, while the first two GetCallerIdentity
/// calls answer 500: (exit code, how many GetCallerIdentity calls the emulator saw).
fn dry_run_with_two_5xx(
    emu: &Emulator,
    seed: &Value,
    env: &[(&str, &str)],
) -> (Option<i32>, usize, String) {
    emu.clear_requests();
    emu.clear_faults();
    emu.add_fault(
        json!({"type": "5xx", "service": "sts", "action": "GetCallerIdentity", "count": 2}),
    );
    let mut cmd = emu.amishare_as_source(seed);
    cmd.env_remove("AWS_MAX_ATTEMPTS")
        .env_remove("AWS_RETRY_MODE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args(dry_run_args(seed["ami_id"].as_str().unwrap()))
        .output()
        .unwrap();
    let calls = emu
        .requests()
        .iter()
        .filter(|r| r["action"] == "GetCallerIdentity")
        .count();
    emu.clear_faults();
    (
        out.status.code(),
        calls,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn aws_max_attempts_and_retry_mode_from_the_environment_are_honoured() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);

    // One attempt: the first 500 fails the run (exit 3, an AWS failure), no retry.
    let (code, calls, stderr) = dry_run_with_two_5xx(&emu, &seed, &[("AWS_MAX_ATTEMPTS", "1")]);
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(calls, 1, "{stderr}");
    assert!(stderr.contains("GetCallerIdentity"), "{stderr}");

    // Three attempts: two 500s, then the answer.
    let (code, calls, stderr) = dry_run_with_two_5xx(&emu, &seed, &[("AWS_MAX_ATTEMPTS", "3")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(calls >= 3, "{calls} GetCallerIdentity calls: {stderr}");

    // Two attempts in standard mode: not enough for two 500s.
    let (code, calls, stderr) = dry_run_with_two_5xx(
        &emu,
        &seed,
        &[("AWS_MAX_ATTEMPTS", "2"), ("AWS_RETRY_MODE", "standard")],
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(calls, 2, "{stderr}");

    // Adaptive mode is accepted and retries too.
    let (code, calls, stderr) = dry_run_with_two_5xx(
        &emu,
        &seed,
        &[("AWS_MAX_ATTEMPTS", "3"), ("AWS_RETRY_MODE", "adaptive")],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(calls >= 3, "{calls} GetCallerIdentity calls: {stderr}");
}

/// aws-config panics on an invalid `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE`; amishare refuses them
/// first: exit 2, one line naming the variable, before any AWS call.
#[test]
fn an_invalid_retry_setting_in_the_environment_is_bad_input_not_a_panic() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    for (var, value) in [
        ("AWS_RETRY_MODE", "legacy"),
        ("AWS_MAX_ATTEMPTS", "0"),
        ("AWS_MAX_ATTEMPTS", "many"),
    ] {
        emu.clear_requests();
        let out = emu
            .amishare_as_source(&seed)
            .env_remove("AWS_MAX_ATTEMPTS")
            .env_remove("AWS_RETRY_MODE")
            .env(var, value)
            .args(dry_run_args(seed["ami_id"].as_str().unwrap()))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(
            stderr.contains(&format!("`{var}={value}` is not valid")),
            "{stderr}"
        );
        assert_eq!(emu.requests().len(), 0, "{var}={value}: AWS was called");
    }
}

/// The same for `max_attempts` / `retry_mode` in the profile file (aws-config panics on them
/// too): exit 2, one line naming the setting and the profile, before any AWS call.
#[test]
fn an_invalid_retry_setting_in_the_profile_file_is_bad_input_not_a_panic() {
    for (key, value) in [
        ("max_attempts", "abc"),
        ("max_attempts", "0"),
        ("retry_mode", "weird"),
    ] {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join("config");
        std::fs::write(
            &config,
            format!(
                "[profile ops]\nregion = us-east-1\naws_access_key_id = x\n\
                 aws_secret_access_key = y\n{key} = {value}\n"
            ),
        )
        .unwrap();
        let out = assert_cmd::Command::cargo_bin("amishare")
            .unwrap()
            .env_clear()
            .env("HOME", home.path())
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // Nothing listens here: reaching AWS would be exit 3, not 2.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .args(["--profile", "ops", "copy", "ami-0123456789abcdef0"])
            .args(["--to", "444455556666", "--dry-run", "--no-input"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}={value}: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "error: `{key} = {value}` in profile `ops` is not valid"
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
