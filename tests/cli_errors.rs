//! Bad input and configuration are exit 2 with a one-line error and a hint, for every command
//! that talks to AWS, before any AWS call is attempted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use assert_cmd::Command;

/// Regression: a missing region was reported as an AWS/runtime failure (exit 3) by `copy` and
/// `diagnose`, although the fix is the user's (`--region`).
#[test]
fn no_region_is_a_usage_error_naming_the_fix() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &[
            "copy",
            "ami-0123456789abcdef0",
            "--to",
            "444455556666",
            "--no-input",
        ][..],
        &["diagnose", "i-0123456789abcdef0"][..],
    ] {
        let out = Command::cargo_bin("amishare")
            .unwrap()
            .env_clear()
            .env("HOME", home.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: no AWS region configured\n"),
            "{stderr}"
        );
        assert!(stderr.contains("help: pass `--region`"), "{stderr}");
    }
}
