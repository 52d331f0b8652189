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

/// Malformed ids, regions and principals are refused before any AWS call, naming the value.
#[test]
fn malformed_values_are_usage_errors_naming_the_value() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["copy", "ami-12", "--to", "444455556666"],
            "`ami-12` is not an AMI id",
        ),
        (
            &[
                "copy",
                "ami-0123456789abcdef0",
                "--to",
                "444455556666",
                "--target-region",
                "mars-1",
            ],
            "`--target-region mars-1` is not an AWS region",
        ),
        (
            &[
                "copy",
                "ami-0123456789abcdef0",
                "--to",
                "444455556666",
                "--grant",
                "arn:aws:iam::444455556666:role/*",
            ],
            "`--grant arn:aws:iam::444455556666:role/*` is not an IAM user, role or group ARN",
        ),
        (
            &[
                "copy",
                "ami-0123456789abcdef0",
                "--to",
                "444455556666",
                "--name",
                "web*",
            ],
            "`--name web*` is not an AMI name",
        ),
        (
            &["copy", "ami-0123456789abcdef0", "--to-ou", "ou-12"],
            "`--to-ou ou-12` is not an organizational unit id",
        ),
        (
            &[
                "copy",
                "ami-0123456789abcdef0",
                "--to",
                "444455556666",
                "--external-id",
                "a b",
            ],
            "`--external-id a b` is not an STS external id",
        ),
        (
            &[
                "copy",
                "ami-0123456789abcdef0",
                "--to",
                "444455556666",
                "--target-profile",
                "",
            ],
            "`--target-profile ` is not an AWS profile name",
        ),
        (&["diagnose", "i-123"], "`i-123` is not an instance id"),
        (
            &["--region", "useast1", "diagnose", "i-0123456789abcdef0"],
            "`--region useast1` is not an AWS region",
        ),
    ];
    for (args, message) in cases {
        let out = Command::cargo_bin("amishare")
            .unwrap()
            .env_clear()
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", "us-east-1")
            // Nothing listens here: reaching AWS would be exit 3, not 2.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .args(*args)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: {message}\n")),
            "{args:?}: {stderr}"
        );
    }
}
