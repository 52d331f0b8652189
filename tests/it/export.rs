//! `--export terraform|cloudformation DIR` through the real binary against the emulator, with the
//! real tools on the files: python-hcl2 parses every `.tf` (and the resource types and arguments
//! are checked against amishare's documented list), cfn-lint checks every template and fails on
//! any finding, `sh -n` every `commands.sh`; the source account's exported commands, run with
//! the aws CLI, do what the plan would (a new plan has no source-side step left).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::common::*;
use amishare::workflow::export::{DOCUMENTED_ARGUMENTS, META_ARGUMENTS, PROVIDER_ARGUMENTS};

const SECOND: &str = "777788889999";
const SECOND_ROLE: &str = "deployer";

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// A role in the second target account to `--grant` (the seed makes only the first).
fn second_account_role(emu: &Emulator) -> String {
    emu.admin_target_role(SECOND);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{SECOND}:root")}, "Action": "sts:AssumeRole"}]});
    let out = emu.aws(
        SECOND,
        REGION,
        "iam",
        "create_role",
        json!({"RoleName": SECOND_ROLE, "AssumeRolePolicyDocument": trust.to_string()}),
    );
    out["Role"]["Arn"].as_str().unwrap().to_string()
}

/// `copy AMI --to TARGET --to SECOND` in two regions with a `--grant` in each account.
fn two_target_copy(emu: &Emulator, seed: &Value, extra: &[&str]) -> std::process::Output {
    let second_grant = second_account_role(emu);
    emu.clear_requests();
    let ami = seed["ami_id"].as_str().unwrap();
    copy_cmd(emu, seed, ami)
        .args([
            "--to",
            SECOND,
            "--grant",
            &grant(),
            "--grant",
            &second_grant,
        ])
        .args([
            "--target-region",
            "us-east-1",
            "--target-region",
            "us-west-2",
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// python-hcl2's reading of a .tf file (as JSON).
fn parse_hcl(path: &Path) -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, hcl2\nopts = hcl2.SerializationOptions(strip_string_quotes=True, preserve_heredocs=False, with_comments=False)\nwith open(sys.argv[1]) as f:\n    print(json.dumps(hcl2.load(f, serialization_options=opts)))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-hcl2 rejects {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Resource blocks: `(type, name, body)`.
type Resources = Vec<(String, String, Value)>;

/// The resource blocks of a parsed file.
fn resources(doc: &Value) -> Resources {
    let mut out = Vec::new();
    for block in doc["resource"].as_array().cloned().unwrap_or_default() {
        for (ty, named) in block.as_object().unwrap() {
            for (name, body) in named.as_object().unwrap() {
                out.push((ty.clone(), name.clone(), body.clone()));
            }
        }
    }
    out
}

/// Every .tf parses, uses only documented resource types and arguments, and providers only the
/// arguments amishare documents; returns the resources of every file by path.
fn check_terraform(dir: &Path) -> Vec<(String, Resources)> {
    let mut all = Vec::new();
    for rel in files_under(dir).into_iter().filter(|f| f.ends_with(".tf")) {
        let doc = parse_hcl(&dir.join(&rel));
        for provider in doc["provider"].as_array().cloned().unwrap_or_default() {
            for (_, body) in provider.as_object().unwrap() {
                for arg in body.as_object().unwrap().keys() {
                    assert!(
                        PROVIDER_ARGUMENTS.contains(&arg.as_str()) || arg.starts_with("__"),
                        "{rel}: provider argument {arg}"
                    );
                }
            }
        }
        let found = resources(&doc);
        for (ty, name, body) in &found {
            let (_, allowed) = DOCUMENTED_ARGUMENTS
                .iter()
                .find(|(t, _)| t == ty)
                .unwrap_or_else(|| {
                    panic!("{rel}: resource type {ty} is not in the documented list")
                });
            for arg in body.as_object().unwrap().keys() {
                assert!(
                    allowed.contains(&arg.as_str())
                        || META_ARGUMENTS.contains(&arg.as_str())
                        || arg.starts_with("__"),
                    "{rel}: {ty}.{name} has undocumented argument {arg}"
                );
            }
            assert!(
                body.get("bypass_policy_lockout_safety_check").is_none(),
                "{rel}: {ty}.{name} sets bypass_policy_lockout_safety_check"
            );
        }
        all.push((rel, found));
    }
    assert!(!all.is_empty(), "no .tf files in {}", dir.display());
    all
}

/// cfn-lint (the pinned one, through the same python3 as the emulator) on every template: no
/// finding at all (errors, warnings and informational all fail).
fn check_cloudformation(dir: &Path) {
    let templates: Vec<PathBuf> = files_under(dir)
        .into_iter()
        .filter(|f| f.ends_with(".template.json"))
        .map(|f| dir.join(f))
        .collect();
    assert!(!templates.is_empty(), "no templates in {}", dir.display());
    let script = "import sys\nfrom importlib.metadata import entry_points\nmain = [e for e in entry_points(group='console_scripts') if e.name == 'cfn-lint'][0].load()\nsys.argv = ['cfn-lint'] + sys.argv[1:]\nsys.exit(main())";
    let out = Command::new("python3")
        .args(["-c", script, "--"])
        .args(&templates)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "cfn-lint findings (exit {:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for sh in files_under(dir).into_iter().filter(|f| f.ends_with(".sh")) {
        let st = Command::new("sh")
            .arg("-n")
            .arg(dir.join(&sh))
            .status()
            .unwrap();
        assert!(st.success(), "{sh} is not valid sh");
    }
}

/// The principals of a key policy statement, as a list.
fn statement_principals(policy: &Value, sid: &str) -> Vec<String> {
    let s = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid}"));
    match &s["Principal"]["AWS"] {
        Value::String(p) => vec![p.clone()],
        Value::Array(a) => a.iter().map(|p| p.as_str().unwrap().to_string()).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn dry_run_exports_terraform_that_parses_as_hcl2_with_documented_arguments_only() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let key = seed["source_key_arn"].as_str().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let dir = out_dir.path().join("review");
    let out = two_target_copy(
        &emu,
        &seed,
        &["--dry-run", "--export", "terraform", dir.to_str().unwrap()],
    );
    assert_exit(&out, 0);
    // A dry run with --export still changes nothing.
    let mutating: Vec<Value> = emu
        .mutating_requests()
        .into_iter()
        .filter(|r| r["dry_run"] != true)
        .collect();
    assert!(mutating.is_empty(), "{mutating:?}");
    let files = files_under(&dir);
    assert_eq!(
        files,
        [
            "111122223333/main.tf",
            "444455556666/main.tf",
            "777788889999/main.tf",
            "README.txt"
        ]
    );
    let all = check_terraform(&dir);
    let source = &all
        .iter()
        .find(|(p, _)| p.starts_with(SOURCE_ACCOUNT))
        .unwrap()
        .1;
    let (_, _, key_policy) = source
        .iter()
        .find(|(t, _, _)| t == "aws_kms_key_policy")
        .unwrap();
    assert_eq!(key_policy["key_id"], key);
    let merged: Value =
        serde_json::from_str(key_policy["policy"].as_str().unwrap().trim()).unwrap();
    for sid in [
        "Allow use of the key",
        "Allow attachment of persistent resources",
    ] {
        let p = statement_principals(&merged, sid);
        for account in [TARGET_ACCOUNT, SECOND] {
            assert!(
                p.contains(&format!("arn:aws:iam::{account}:root")),
                "{sid}: {p:?}"
            );
        }
    }
    // The merged document keeps what the key policy already had.
    assert!(merged["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["Sid"] == "Enable IAM User Permissions"));
    let count = |ty: &str| source.iter().filter(|(t, _, _)| t == ty).count();
    assert_eq!(count("aws_ami_launch_permission"), 2);
    assert_eq!(count("aws_snapshot_create_volume_permission"), 2);
    // The target role (the copier) gets the source key in its IAM; SECOND's `deployer` only
    // launches the copy, on the copy's key, so it gets nothing on the source key (issue 11).
    let types_of = |account: &str| -> Vec<String> {
        let target = &all.iter().find(|(p, _)| p.starts_with(account)).unwrap().1;
        target.iter().map(|(t, _, _)| t.clone()).collect()
    };
    assert_eq!(
        types_of(TARGET_ACCOUNT),
        [
            "aws_iam_policy",
            "aws_iam_role_policy_attachment",
            "aws_ami_copy",
            "aws_ami_copy"
        ]
    );
    assert_eq!(types_of(SECOND), ["aws_ami_copy", "aws_ami_copy"]);
    let main = std::fs::read_to_string(dir.join("444455556666/main.tf")).unwrap();
    assert!(main.contains("not exported: test-launch"), "{main}");
    let readme = std::fs::read_to_string(dir.join("README.txt")).unwrap();
    assert!(readme.starts_with("Generated by amishare"), "{readme}");
}

#[test]
fn dry_run_exports_cloudformation_that_passes_cfn_lint_and_commands_that_do_what_the_plan_would() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let out_dir = tempfile::tempdir().unwrap();
    let dir = out_dir.path().join("review");
    // --share-only: both accounts' `--grant` principals launch the shared original, on the
    // source key, so both get the source key in their IAM (the StackSet's case).
    let out = two_target_copy(
        &emu,
        &seed,
        &[
            "--share-only",
            "--dry-run",
            "--export",
            "cloudformation",
            dir.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);
    // The report stays one JSON document on stdout; the export is said on stderr.
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["report"]["status"], "dry-run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("exported"));
    let files = files_under(&dir);
    for f in [
        "444455556666.template.json",
        "777788889999.template.json",
        "stackset/target-iam.template.json",
        "stackset/444455556666.parameters.json",
        "stackset/777788889999.parameters.json",
        "111122223333/commands.sh",
        "README.txt",
    ] {
        assert!(files.contains(&f.to_string()), "{f} missing from {files:?}");
    }
    assert!(!files.contains(&"111122223333.template.json".to_string()));
    check_cloudformation(&dir);
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("777788889999.template.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        template["Resources"]["KmsKeyUsagePolicy"]["Properties"]["Roles"],
        json!([SECOND_ROLE])
    );

    // Run the source account's commands with the aws CLI (as the source account): a new plan
    // then has no source-side step left: the key policy edit and the shares are done.
    let bin = tempfile::tempdir().unwrap();
    let aws = bin.path().join("aws");
    std::fs::write(&aws, "#!/bin/sh\nexec python3 -m awscli \"$@\"\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = Command::new("sh")
        .arg("commands.sh")
        .current_dir(dir.join(SOURCE_ACCOUNT))
        .envs(source_cli_env(&emu, &seed))
        // the aws CLI caches assumed-role credentials under ~/.aws/cli/cache: not another
        // emulator's
        .env("HOME", bin.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.path().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let ami = seed["ami_id"].as_str().unwrap();
    let again = copy_cmd(&emu, &seed, ami)
        .args(["--to", SECOND, "--grant", &grant()])
        .args([
            "--grant",
            &format!("arn:aws:iam::{SECOND}:role/{SECOND_ROLE}"),
        ])
        .args([
            "--target-region",
            "us-east-1",
            "--target-region",
            "us-west-2",
            "--share-only",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert_exit(&again, 0);
    let plan: Value = serde_json::from_slice(&again.stdout).unwrap();
    let source_steps: Vec<&Value> = plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["account"] == SOURCE_ACCOUNT)
        .collect();
    assert!(source_steps.is_empty(), "{source_steps:?}");
}

/// The environment of an aws CLI acting as the seed's source account (the profile amishare's
/// tests use: `src` assumes the seed's source role).
fn source_cli_env(emu: &Emulator, seed: &Value) -> Vec<(String, String)> {
    let _ = emu.amishare_as_source(seed); // writes the profile file
    let mut env: Vec<(String, String)> = emu
        .aws_env()
        .into_iter()
        .filter(|(k, _)| k != "AWS_ACCESS_KEY_ID" && k != "AWS_SECRET_ACCESS_KEY")
        .collect();
    env.push((
        "AWS_CONFIG_FILE".into(),
        emu.state_path().join("aws-config").display().to_string(),
    ));
    env.push(("AWS_PROFILE".into(), "src".into()));
    env
}

#[test]
fn after_a_real_run_what_was_applied_is_exported_besides() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let dir = out_dir.path().join("applied");
    let out = copy_cmd(&emu, &seed, ami)
        .args(["--grant", &grant(), "--yes"])
        .args(["--export", "terraform", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["report"]["status"], "ok");
    let all = check_terraform(&dir);
    let target = &all
        .iter()
        .find(|(p, _)| p.starts_with(TARGET_ACCOUNT))
        .unwrap()
        .1;
    let (_, _, copy) = target.iter().find(|(t, _, _)| t == "aws_ami_copy").unwrap();
    assert_eq!(copy["source_ami_id"], ami);
    let main = std::fs::read_to_string(dir.join("444455556666/main.tf")).unwrap();
    assert!(main.contains(" changed in account 444455556666"), "{main}");
    assert!(main.contains("not exported: test-launch"), "{main}");
    // What the run created: the policy is adopted with an import block, the copy is named.
    let doc = parse_hcl(&dir.join("444455556666/main.tf"));
    let imports = doc["import"].as_array().cloned().unwrap_or_default();
    assert_eq!(imports.len(), 1, "{imports:?}");
    assert_eq!(
        imports[0]["id"],
        format!("arn:aws:iam::{TARGET_ACCOUNT}:policy/KmsKeyUsagePolicy")
    );
    let copy_id = report["report"]["targets"][0]["image_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no copy id in {report:#}"));
    assert!(
        main.contains(&format!("# This run created {copy_id}:")),
        "{main}"
    );

    // The same directory again: amishare replaces its own export (and only that).
    let again = copy_cmd(&emu, &seed, ami)
        .args(["--grant", &grant(), "--dry-run"])
        .args(["--export", "cloudformation", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_exit(&again, 0);
    assert!(!dir.join("444455556666/main.tf").exists());
}

#[test]
fn bad_export_arguments_are_refused_before_any_aws_call() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("review");
    let cases: [(&[&str], &str); 4] = [
        (
            &["pulumi", "out"],
            "`--export pulumi` is not a format amishare writes",
        ),
        (&["terraform", file.to_str().unwrap()], "is not a directory"),
        (
            &["terraform", under_file.to_str().unwrap()],
            "cannot be created",
        ),
        (
            &["terraform", foreign.to_str().unwrap()],
            "holds `notes.txt`",
        ),
    ];
    for (args, message) in cases {
        emu.clear_requests();
        let out = copy_cmd(&emu, &seed, ami)
            .args(["--dry-run", "--export"])
            .args(args)
            .output()
            .unwrap();
        assert_exit(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error:")).count(),
            1
        );
        assert!(emu.requests().is_empty(), "{:?}", emu.requests());
    }
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn apply_exports_what_it_applied_like_the_dry_run_of_the_same_plan() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (planned, applied) = (tmp.path().join("planned"), tmp.path().join("applied"));
    let plan_file = emu.state_path().join("plan.json");
    let out = copy_cmd(&emu, &seed, ami)
        .args(["--grant", &grant(), "--dry-run"])
        .args(["--plan-out", plan_file.to_str().unwrap()])
        .args(["--export", "cloudformation", planned.to_str().unwrap()])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let out = emu
        .amishare_as_source(&seed)
        .args([
            "--output",
            "json",
            "apply",
            plan_file.to_str().unwrap(),
            "--yes",
        ])
        .args(["--export", "cloudformation", applied.to_str().unwrap()])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(files_under(&planned), files_under(&applied));
    check_cloudformation(&applied);
    let read = |dir: &Path| std::fs::read_to_string(dir.join("111122223333/commands.sh")).unwrap();
    let commands = |text: String| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("aws "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(commands(read(&planned)), commands(read(&applied)));
    assert!(read(&applied).contains(" changed in account 111122223333"));
}

#[test]
fn without_target_credentials_the_hand_off_is_exported_as_the_target_accounts_code() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (tf, cfn) = (tmp.path().join("tf"), tmp.path().join("cfn"));
    for (format, dir) in [("terraform", &tf), ("cloudformation", &cfn)] {
        let out = emu
            .amishare_as_source(&seed)
            .args(["--output", "json", "copy", ami, "--to", TARGET_ACCOUNT])
            .args(["--grant", &grant(), "--dry-run"])
            .args(["--export", format, dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert_exit(&out, 0);
    }
    let all = check_terraform(&tf);
    let target = &all
        .iter()
        .find(|(p, _)| p.starts_with(TARGET_ACCOUNT))
        .unwrap()
        .1;
    let types: Vec<&str> = target.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(types, ["aws_iam_policy", "aws_iam_role_policy_attachment"]);
    let main = std::fs::read_to_string(tf.join("444455556666/main.tf")).unwrap();
    assert!(main.contains("#   aws ec2 copy-image"), "{main}");
    check_cloudformation(&cfn);
    assert!(cfn.join("444455556666.template.json").is_file());
}
