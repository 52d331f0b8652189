//! Everyday use, the checks: the private state directory (a real run against the emulator),
//! offline checks of copy's AWS-naming flags and durations, `--no-input` on rollback and apply.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use super::common;
use super::everyday::{amishare, golden, run, state_with_journals, stderr, stdout, GOLDEN_RUN};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A real run against the emulator: the state directory amishare creates is 0700, its journal
/// and the `--plan-out` file 0600; `runs` and `show` then read that journal without AWS, and a
/// state directory opened up afterwards is warned about with the fix.
#[cfg(unix)]
#[test]
fn a_real_run_keeps_its_state_private_and_runs_and_show_read_it() {
    let emu = common::Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let home = emu.state_path().join("home");
    let state = home.join("state");
    let plan_file = emu.state_path().join("plan.json");
    let grant = format!(
        "arn:aws:iam::{}:role/amishare-target",
        common::TARGET_ACCOUNT
    );
    let out = emu
        .amishare_as_source(&seed)
        .env("AMISHARE_STATE_DIR", &state)
        .args(["copy", ami, "--to", common::TARGET_ACCOUNT])
        .args(["--target-role", "amishare-target", "--grant", &grant])
        .args(["--dry-run", "--plan-out", plan_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(mode(&plan_file), 0o600);
    let out = emu
        .amishare_as_source(&seed)
        .env("AMISHARE_STATE_DIR", &state)
        .args(["apply", plan_file.to_str().unwrap(), "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("chmod 700"), "{}", stderr(&out));
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("runs")), 0o700);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    let run_id = plan["run_id"].as_str().unwrap();
    let journal = state.join(format!("runs/{run_id}.json"));
    assert_eq!(mode(&journal), 0o600);

    // The emulator is not asked: AWS is a closed port and there are no credentials.
    let out = run(&home, &["runs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).lines().nth(1).unwrap().starts_with(run_id),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains(" completed "), "{}", stdout(&out));
    let out = run(&home, &["show", run_id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(&format!("Run {run_id}: ok ({ami} from ")),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("test launch: i-"), "{}", stdout(&out));

    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(&home, &["runs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let warning = stderr(&out);
    assert!(
        warning.contains(&format!(
            "warning: the state directory {} is open to other users (mode 0755)",
            state.display()
        )),
        "{warning}"
    );
    assert!(
        warning.contains(&format!("fix: chmod 700 {}\n", state.display())),
        "{warning}"
    );
    assert_eq!(
        mode(&state),
        0o755,
        "the directory is reported, not changed"
    );
}

/// Malformed flags that name AWS things are refused before any AWS call (no credentials, AWS
/// at a closed port), one line naming the flag and the value.
#[test]
fn malformed_copy_flags_are_refused_before_any_aws_call() {
    let home = tempfile::tempdir().unwrap();
    let copy = [
        "copy",
        "ami-0123456789abcdef0",
        "--to",
        "444455556666",
        "--no-input",
    ];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--target-key", "alias/aws/rds"],
            "`--target-key alias/aws/rds` is not a KMS key id, alias or ARN",
        ),
        (
            &["--target-key", "arn:aws:kms:us-east-1:4444:key/x"],
            "`--target-key arn:aws:kms:us-east-1:4444:key/x` is not a KMS key id, alias or ARN",
        ),
        (
            &["--reencrypt-with", "my key"],
            "`--reencrypt-with my key` is not a customer managed KMS key id, alias or ARN",
        ),
        (
            &["--instance-type", "t3"],
            "`--instance-type t3` is not an EC2 instance type (FAMILY.SIZE)",
        ),
        (
            &["--instance-type", "T3.Micro"],
            "`--instance-type T3.Micro` is not an EC2 instance type (FAMILY.SIZE)",
        ),
        (
            &["--subnet-id", "subnet-12"],
            "`--subnet-id subnet-12` is not a subnet id",
        ),
        (
            &["--subnet-id", "sg-0123456789abcdef0"],
            "`--subnet-id sg-0123456789abcdef0` is not a subnet id",
        ),
        (
            &["--target-role", "arn:aws:iam::444455556666:user/alice"],
            "`--target-role arn:aws:iam::444455556666:user/alice` is not an IAM role name or role ARN",
        ),
    ];
    for (flags, message) in cases {
        let out = amishare(home.path())
            .args(copy)
            .args(*flags)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        assert!(
            err.starts_with(&format!("error: {message}\n")),
            "{flags:?}: {err}"
        );
        assert!(err.contains("  help: e.g. `--"), "{flags:?}: {err}");
    }
}

#[test]
fn well_formed_flags_pass_the_offline_checks() {
    let home = tempfile::tempdir().unwrap();
    // Valid forms get as far as needing AWS: not the usage error of a malformed flag.
    let out = amishare(home.path())
        .args([
            "copy",
            "ami-0123456789abcdef0",
            "--to",
            "444455556666",
            "--no-input",
        ])
        .args([
            "--target-key",
            "alias/aws/ebs",
            "--instance-type",
            "m7i-flex.large",
        ])
        .args([
            "--subnet-id",
            "subnet-0123456789abcdef0",
            "--target-role",
            "ops/amishare",
        ])
        .args(["--launch-timeout", "30", "--dry-run"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("is not "), "{err}");
    assert!(!err.contains("invalid value"), "{err}");
}

#[test]
fn zero_or_negative_durations_are_refused_naming_the_flag() {
    let home = tempfile::tempdir().unwrap();
    for value in ["0", "-5", "ten"] {
        for form in [
            vec!["--launch-timeout".to_string(), value.to_string()],
            vec![format!("--launch-timeout={value}")],
        ] {
            let out = amishare(home.path())
                .args(["copy", "ami-0123456789abcdef0", "--to", "444455556666"])
                .args(&form)
                .output()
                .unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{form:?}: {err}");
            let first = err.lines().next().unwrap();
            assert!(first.starts_with("error: "), "{err}");
            assert!(first.contains("--launch-timeout"), "{err}");
            assert!(
                first.contains(&format!("`{value}` is not a positive number of seconds")),
                "{err}"
            );
        }
    }
}

/// `rollback` and `apply` take `--no-input`: nothing to ask on, so without `--yes` they refuse
/// (exit 2, naming `--yes`) before any AWS call.
#[test]
fn rollback_and_apply_with_no_input_refuse_without_yes_before_aws() {
    let home = tempfile::tempdir().unwrap();
    state_with_journals(home.path(), None);
    let out = run(home.path(), &["rollback", GOLDEN_RUN, "--no-input"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err,
        format!("error: refusing to roll back run {GOLDEN_RUN} without confirmation (`--no-input` was given)\n  help: pass `--yes` to undo without being asked\n")
    );
    let plan_file = home.path().join("plan.json");
    std::fs::write(&plan_file, golden()["plan"].to_string()).unwrap();
    let out = run(
        home.path(),
        &["apply", plan_file.to_str().unwrap(), "--no-input"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: refusing to change AWS without confirmation"),
        "{err}"
    );
    assert!(err.contains("pass `--yes`"), "{err}");
}
