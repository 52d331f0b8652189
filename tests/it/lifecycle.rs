//! The copy's lifecycle flags through the real binary against the emulator: `--deprecate-in`,
//! `--deregistration-protection [--protection-cooldown]`, `--copy-duration` and `--ssm-parameter`
//! are applied to the copy (read back with boto3, independent of amishare), journalled, and undone
//! by `rollback` (read back again); bad values are refused offline with exit 2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use super::common::{copy_cmd, grant, stdout_json, Emulator, REGION, TARGET_ACCOUNT};
use super::everyday::{amishare, stderr};

const PARAM: &str = "/images/web/latest";

fn image(emu: &Emulator, id: &str) -> Option<Value> {
    let out = emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "ec2",
        "describe_images",
        json!({"Owners": ["self"]}),
    );
    out["Images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["ImageId"] == id)
        .cloned()
}

/// The parameter's value and data type in the target account (`None`: it does not exist).
fn parameter(emu: &Emulator) -> Option<(String, String)> {
    let out = emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "ssm",
        "get_parameters",
        json!({"Names": [PARAM]}),
    );
    out["Parameters"].as_array().unwrap().first().map(|p| {
        (
            p["Value"].as_str().unwrap().to_string(),
            p["DataType"].as_str().unwrap().to_string(),
        )
    })
}

fn rollback(emu: &Emulator, seed: &Value, run_id: &str) -> (Option<i32>, Value) {
    let out = emu
        .amishare_as_source(seed)
        .args([
            "--output",
            "json",
            "rollback",
            run_id,
            "--delete-copies",
            "--yes",
        ])
        .output()
        .unwrap();
    let code = out.status.code();
    (code, stdout_json(&out))
}

fn undo<'a>(report: &'a Value, summary_part: &str) -> &'a Value {
    report["undone"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["summary"].as_str().unwrap().contains(summary_part))
        .unwrap_or_else(|| panic!("no undo of `{summary_part}` in {report:#}"))
}

#[test]
fn lifecycle_flags_are_applied_to_the_copy_and_undone_by_rollback() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let out = copy_cmd(&emu, &seed, ami)
        .args(["--grant", &grant(), "--yes"])
        .args(["--deprecate-in", "30", "--deregistration-protection"])
        .args(["--copy-duration", "60", "--ssm-parameter", PARAM])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = &stdout_json(&out)["report"];
    assert_eq!(report["status"], "ok", "{report:#}");
    let copy = report["targets"][0]["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    let summaries: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == true)
        .map(|c| c["summary"].as_str().unwrap())
        .collect();
    for part in [
        "time-based: done within 60 minutes",
        "deprecate the copy in 30 days (at ",
        "protect the copy from deregistration",
        "publish the id of the copy as SSM parameter /images/web/latest",
    ] {
        assert!(
            summaries.iter().any(|s| s.contains(part)),
            "{part}: {summaries:#?}"
        );
    }

    // Read back, independently of amishare.
    let img = image(&emu, &copy).unwrap();
    let deprecation = img["DeprecationTime"].as_str().unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(deprecation).unwrap();
    let days = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((29.9..=30.1).contains(&days), "{deprecation}");
    assert_eq!(img["DeregistrationProtection"], "enabled-without-cooldown");
    let snap = img["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"].clone();
    let snaps = emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "ec2",
        "describe_snapshots",
        json!({"SnapshotIds": [snap]}),
    );
    assert_eq!(snaps["Snapshots"][0]["TransferType"], "time-based");
    assert_eq!(snaps["Snapshots"][0]["CompletionDurationMinutes"], 60);
    assert_eq!(
        parameter(&emu),
        Some((copy.clone(), "aws:ec2:image".to_string()))
    );

    // `runs` (no AWS) counts each lifecycle setting as a change left to undo.
    let out = emu
        .amishare()
        .args(["--output", "json", "runs"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runs = stdout_json(&out);
    let left: Vec<&str> = runs["runs"][0]["left_to_undo"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "change")
        .map(|l| l["summary"].as_str().unwrap())
        .collect();
    for part in [
        "deprecate the copy",
        "protect the copy",
        "publish the id of the copy",
    ] {
        assert!(left.iter().any(|l| l.contains(part)), "{part}: {left:#?}");
    }

    // A rerun leaves the deprecation date and the protection as they are (it would move the
    // date otherwise): no deprecate-image or protect-image step.
    let out = copy_cmd(&emu, &seed, ami)
        .args(["--grant", &grant(), "--dry-run"])
        .args(["--deprecate-in", "30", "--deregistration-protection"])
        .args(["--copy-duration", "60", "--ssm-parameter", PARAM])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again = stdout_json(&out);
    let kinds: Vec<&str> = again["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"]["action"].as_str().unwrap())
        .collect();
    assert!(
        !kinds.contains(&"deprecate-image") && !kinds.contains(&"protect-image"),
        "{kinds:?}"
    );
    assert_eq!(image(&emu, &copy).unwrap()["DeprecationTime"], deprecation);

    // Rollback: the parameter goes, the protection is lifted first, so the copy can go too.
    let (code, undone) = rollback(&emu, &seed, report["run_id"].as_str().unwrap());
    assert_eq!(code, Some(0), "{undone:#}");
    assert_eq!(undone["status"], "rolled-back");
    assert_eq!(undo(&undone, "protect")["result"], "undone");
    assert_eq!(undo(&undone, "deprecate")["result"], "nothing-to-do");
    assert_eq!(parameter(&emu), None);
    assert_eq!(image(&emu, &copy), None, "the copy is deregistered");
}

#[test]
fn rollback_restores_a_previous_parameter_and_explains_the_protection_cooldown() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "ssm",
        "put_parameter",
        json!({"Name": PARAM, "Value": "golden-v1", "Type": "String"}),
    );

    // Without target credentials the settings are the admin's: commands in the hand-off.
    let out = emu
        .amishare_as_source(&seed)
        .args([
            "--output",
            "json",
            "copy",
            ami,
            "--to",
            TARGET_ACCOUNT,
            "--dry-run",
        ])
        .args(["--deregistration-protection", "--protection-cooldown"])
        .args(["--ssm-parameter", PARAM, "--copy-duration", "30"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let commands = stdout_json(&out)["plan"]["handoffs"][0]["commands"].to_string();
    for part in [
        "--snapshot-copy-completion-duration-minutes 30",
        "aws ec2 enable-image-deregistration-protection --region us-east-1 --image-id <COPIED-AMI-ID> --with-cooldown",
        "aws ssm put-parameter --region us-east-1 --name /images/web/latest --type String --data-type aws:ec2:image --overwrite --value <COPIED-AMI-ID>",
    ] {
        assert!(commands.contains(part), "{part}: {commands}");
    }
    let out = copy_cmd(&emu, &seed, ami)
        .args(["--grant", &grant(), "--yes"])
        .args(["--deregistration-protection", "--protection-cooldown"])
        .args(["--ssm-parameter", PARAM])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = &stdout_json(&out)["report"];
    let copy = report["targets"][0]["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run_id = report["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        image(&emu, &copy).unwrap()["DeregistrationProtection"],
        "enabled-with-cooldown"
    );
    assert_eq!(parameter(&emu).unwrap().0, copy);

    let (code, undone) = rollback(&emu, &seed, &run_id);
    assert_eq!(code, Some(1), "a partial rollback: {undone:#}");
    assert_eq!(undone["status"], "partial");
    let protect = undo(&undone, "protect");
    assert_eq!(protect["result"], "undone");
    let note = protect["detail"].as_str().unwrap();
    assert!(
        note.contains("24-hour cooldown") && note.contains(&copy),
        "{note}"
    );
    let copy_undo = undo(&undone, &format!("copy {ami}"));
    assert_eq!(copy_undo["result"], "failed");
    assert!(
        copy_undo["detail"]
            .as_str()
            .unwrap()
            .contains("still protected"),
        "{copy_undo:#}"
    );
    assert_eq!(
        parameter(&emu),
        Some(("golden-v1".to_string(), "text".to_string())),
        "the previous value is back"
    );
    assert!(image(&emu, &copy).unwrap()["DeregistrationProtection"]
        .as_str()
        .unwrap()
        .starts_with("disabled-until "));

    // A day later (the emulator ends the cooldown), the same rollback finishes the job.
    emu.post(&format!("/_emulator/cooldown/{copy}"), &json!({}));
    let (code, undone) = rollback(&emu, &seed, &run_id);
    assert_eq!(code, Some(0), "{undone:#}");
    assert_eq!(undone["status"], "rolled-back");
    assert_eq!(image(&emu, &copy), None);
    assert_eq!(parameter(&emu).unwrap().0, "golden-v1");
}

#[test]
fn lifecycle_values_aws_would_refuse_are_refused_before_any_aws_call() {
    let home = tempfile::tempdir().unwrap();
    let copy = [
        "copy",
        "ami-0123456789abcdef0",
        "--to",
        "444455556666",
        "--no-input",
    ];
    let cases: &[(&[&str], &str)] = &[
        (&["--deprecate-in", "0"], "`--deprecate-in 0` must be 1 to 3650 days"),
        (&["--deprecate-in", "-5"], "`--deprecate-in -5` must be a positive number"),
        (&["--deprecate-in", "3651"], "`--deprecate-in 3651` must be 1 to 3650 days"),
        (&["--copy-duration", "20"], "`--copy-duration 20` must be 15 to 2880 minutes in steps of 15"),
        (&["--copy-duration", "2895"], "`--copy-duration 2895` must be 15 to 2880 minutes"),
        (&["--copy-duration", "-15"], "`--copy-duration -15` must be a positive number"),
        (&["--ssm-parameter", "/aws/service/x"], "`--ssm-parameter /aws/service/x` is not an SSM parameter name amishare may write: it must not begin with `aws` or `ssm`"),
        (&["--ssm-parameter", "images/web"], "`--ssm-parameter images/web` is not an SSM parameter name amishare may write: it is hierarchical but does not start with `/`"),
        (&["--ssm-parameter", "/images/my web"], "`--ssm-parameter /images/my web` is not an SSM parameter name amishare may write: it contains ` `"),
        (&["--share-only", "--deregistration-protection"], "the lifecycle flags"),
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
            err.starts_with(&format!("error: {message}")),
            "{flags:?}: {err}"
        );
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{err}"
        );
    }
    // `--protection-cooldown` means nothing without the protection (clap: usage error, exit 2).
    let out = amishare(home.path())
        .args(copy)
        .arg("--protection-cooldown")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--deregistration-protection"),
        "{}",
        stderr(&out)
    );
}
