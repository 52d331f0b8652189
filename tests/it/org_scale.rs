//! Organization scale (issue 12) end to end: `copy --to-ou` against the emulator's organization
//! (an OU with nested OUs, 20 accounts, one suspended): every active account gets its copy,
//! shares and IAM; the suspended one is reported; a rerun plans nothing. Also the accounts-file
//! errors (exit 2 naming FILE:LINE).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use crate::common::{stdout_json, Emulator, REGION, SOURCE_ACCOUNT, TARGET_ROLE};

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn copy_to_ou(emu: &Emulator, seed: &Value) -> std::process::Output {
    copy_to_ou_with(emu, seed, &[])
}

fn copy_to_ou_with(emu: &Emulator, seed: &Value, extra: &[&str]) -> std::process::Output {
    let ami = seed["ami_id"].as_str().unwrap();
    let ou = seed["ou_id"].as_str().unwrap();
    emu.amishare_as_source(seed)
        .args(["--output", "json", "copy", ami, "--to-ou", ou])
        .args(["--target-role", TARGET_ROLE, "--yes"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn to_ou_copies_to_every_active_account_and_reports_the_suspended_one() {
    let emu = Emulator::start();
    let seed = emu.seed(&[
        "--org-ou-accounts",
        "20",
        "--org-nested",
        "--org-suspended",
        "1",
    ]);
    let ami = seed["ami_id"].as_str().unwrap();
    let all = strings(&seed["org_account_ids"]);
    let suspended = strings(&seed["suspended_account_ids"]);
    assert_eq!((all.len(), suspended.len()), (20, 1));
    let active: Vec<&String> = all.iter().filter(|a| !suspended.contains(a)).collect();

    // Every account listed in the key policy (the opt-out of the organization statements).
    let out = copy_to_ou_with(&emu, &seed, &["--key-policy-principals", "accounts"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = stdout_json(&out);
    let report = &doc["report"];
    assert_eq!(report["status"], "ok", "{report:#}");
    // The plan lists the resolved accounts and the skipped one.
    let mut planned = strings(&doc["plan"]["options"]["target_accounts"]);
    planned.sort();
    let mut expected: Vec<String> = active.iter().map(|a| a.to_string()).collect();
    expected.sort();
    assert_eq!(planned, expected);
    let skipped = &doc["plan"]["options"]["org_targets"]["skipped"];
    assert_eq!(skipped[0]["account"], suspended[0].as_str(), "{skipped}");
    assert_eq!(skipped[0]["reason"], "suspended");
    assert_eq!(skipped.as_array().unwrap().len(), 1);

    // Every active account: a target ok with its copy, visible to it; IAM attached.
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), active.len());
    for t in targets {
        assert_eq!(t["status"], "ok", "{t}");
        let account = t["account"].as_str().unwrap();
        let copy = t["image_id"].as_str().unwrap();
        let images = emu.aws(
            account,
            REGION,
            "ec2",
            "describe_images",
            json!({"ImageIds": [copy]}),
        );
        assert_eq!(images["Images"][0]["OwnerId"], account);
        // Its copier (the assumed target role) may use the source key after the plan: key
        // policy (next) and its IAM (the member's administrator role needs no KmsKeyUsagePolicy).
        let checks = doc["plan"]["checks"].as_array().unwrap();
        assert!(
            checks.iter().any(|c| c["principal"]
                .as_str()
                .unwrap()
                .contains(&format!(":{account}:"))
                && c["operation"] == "copy"
                && c["after_plan"] == "allow"),
            "{account}: {checks:?}"
        );
    }
    // The source key policy names every active account, in one edit.
    let policy = source_key_policy(&emu, &seed);
    let text = policy.to_string();
    for a in &active {
        assert!(
            text.contains(&format!("arn:aws:iam::{a}:root")),
            "{a}: {text}"
        );
    }
    assert!(!text.contains(&format!("arn:aws:iam::{}:root", suspended[0])));
    let actions = emu.mutating_actions();
    let count = |name: &str| actions.iter().filter(|a| a.ends_with(name)).count();
    assert_eq!(
        count(":PutKeyPolicy"),
        1,
        "one key-policy edit for every target"
    );
    // One ModifyImageAttribute and one ModifySnapshotAttribute for all 19 accounts.
    assert_eq!(count(":ModifyImageAttribute"), 1, "{actions:?}");
    assert_eq!(count(":ModifySnapshotAttribute"), 1, "{actions:?}");
    // Shares: the AMI's launch permissions and the snapshot's createVolumePermission name every
    // active account and not the suspended one.
    let perms = emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "ec2",
        "describe_image_attribute",
        json!({"ImageId": ami, "Attribute": "launchPermission"}),
    );
    let shared: Vec<&str> = perms["LaunchPermissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["UserId"].as_str())
        .collect();
    for a in &active {
        assert!(shared.contains(&a.as_str()), "{a} not in {shared:?}");
    }
    assert!(!shared.contains(&suspended[0].as_str()));
    let snap = seed["snapshot_id"].as_str().unwrap();
    let vol = emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "ec2",
        "describe_snapshot_attribute",
        json!({"SnapshotId": snap, "Attribute": "createVolumePermission"}),
    );
    assert_eq!(
        vol["CreateVolumePermissions"].as_array().unwrap().len(),
        active.len(),
        "{vol}"
    );

    // A rerun plans nothing and changes nothing.
    emu.clear_requests();
    let again = emu
        .amishare_as_source(&seed)
        .args(["-v", "--output", "json", "copy", ami, "--to-ou"])
        .arg(seed["ou_id"].as_str().unwrap())
        .args(["--target-role", TARGET_ROLE, "--yes"])
        .args(["--key-policy-principals", "accounts"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    // -v: the API calls per account/region, from the SDK's own count.
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("API calls per account/region")
            && err.contains(&format!("  {SOURCE_ACCOUNT} {REGION}: ")),
        "{err}"
    );
    let doc = stdout_json(&again);
    assert!(doc["plan"]["steps"].as_array().unwrap().is_empty());
    assert_eq!(doc["report"]["status"], "nothing-to-do");
    assert_eq!(emu.mutating_actions(), Vec::<String>::new());
}

#[test]
fn a_bad_accounts_file_line_is_exit_2_naming_file_and_line() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accounts.txt");
    std::fs::write(&file, "# targets\n444455556666\n4444-5555\n").unwrap();
    emu.clear_requests();
    let out = emu
        .amishare_as_source(&seed)
        .args(["copy", ami, "--to-accounts-file"])
        .arg(&file)
        .args(["--target-role", TARGET_ROLE, "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap_or("");
    assert!(
        first.contains(&format!("{}:3", file.display())) && first.contains("`4444-5555`"),
        "{err}"
    );
    assert!(emu.requests().is_empty(), "no AWS call before the check");
}

#[test]
fn a_failing_target_does_not_stop_the_others_and_the_rerun_does_only_it() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--org-ou-accounts", "4", "--org-nested"]);
    // The first CopyImage is refused (not retryable): that target fails, the others go on.
    emu.add_fault(
        json!({"type": "5xx", "service": "ec2", "action": "CopyImage", "count": 1,
                         "status": 400, "code": "UnauthorizedOperation",
                         "message": "not authorized to perform ec2:CopyImage"}),
    );
    let out = copy_to_ou(&emu, &seed);
    // A refused AWS call (not a failed launch or copy state): exit 3.
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = stdout_json(&out);
    let targets = doc["report"]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 4);
    let failed: Vec<&Value> = targets.iter().filter(|t| t["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{targets:#?}");
    assert_eq!(
        targets.iter().filter(|t| t["status"] == "ok").count(),
        3,
        "{targets:#?}"
    );
    let failed_account = failed[0]["account"].as_str().unwrap().to_string();

    // The rerun copies only into the account that failed.
    emu.clear_faults();
    emu.clear_requests();
    let again = copy_to_ou(&emu, &seed);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let copies: Vec<Value> = emu
        .requests()
        .into_iter()
        .filter(|r| r["action"] == "CopyImage")
        .collect();
    assert_eq!(copies.len(), 1, "{copies:#?}");
    assert_eq!(copies[0]["account"], failed_account.as_str());
    let doc = stdout_json(&again);
    assert_eq!(doc["report"]["status"], "ok", "{:#}", doc["report"]);
}

fn source_key_policy(emu: &Emulator, seed: &Value) -> Value {
    emu.key_policy(SOURCE_ACCOUNT, seed["source_key_arn"].as_str().unwrap())
}

fn launch_permissions(emu: &Emulator, ami: &str) -> Value {
    emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "ec2",
        "describe_image_attribute",
        json!({"ImageId": ami, "Attribute": "launchPermission"}),
    )["LaunchPermissions"]
        .clone()
}

fn volume_permissions(emu: &Emulator, snap: &str) -> Vec<String> {
    let vol = emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "ec2",
        "describe_snapshot_attribute",
        json!({"SnapshotId": snap, "Attribute": "createVolumePermission"}),
    );
    let mut out: Vec<String> = vol["CreateVolumePermissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["UserId"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

/// The Sids of the statements whose principal is `{"AWS": "*"}`.
fn org_statement_sids(policy: &Value) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Principal"] == json!({"AWS": "*"}))
        .map(|s| s["Sid"].as_str().unwrap().to_string())
        .collect()
}

fn assert_ok(out: &std::process::Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(out)
}

#[test]
fn share_only_to_a_nested_ou_shares_with_the_ou_and_admits_it_in_the_key_policy() {
    let emu = Emulator::start();
    let seed = emu.seed(&[
        "--org-ou-accounts",
        "6",
        "--org-nested",
        "--org-suspended",
        "1",
    ]);
    let ami = seed["ami_id"].as_str().unwrap();
    let snap = seed["snapshot_id"].as_str().unwrap();
    let ou = seed["ou_id"].as_str().unwrap();
    let all = strings(&seed["org_account_ids"]);
    let suspended = strings(&seed["suspended_account_ids"]);
    let mut active: Vec<String> = all.into_iter().filter(|a| !suspended.contains(a)).collect();
    active.sort();
    let before = source_key_policy(&emu, &seed);

    let doc = assert_ok(&copy_to_ou_with(&emu, &seed, &["--share-only"]));
    let report = &doc["report"];
    assert_eq!(report["status"], "ok", "{report:#}");
    // Every active account's test launch (as its target role, through the emulator's own
    // evaluation of the key policy and of the OU launch permission) passed.
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), active.len(), "{targets:#?}");
    assert!(targets.iter().all(|t| t["status"] == "ok"), "{targets:#?}");

    // One OrganizationalUnitArn launch permission, no account listed.
    let perms = launch_permissions(&emu, ami);
    let ou_arn = seed["ou_arn"].as_str().unwrap();
    assert_eq!(perms, json!([{"OrganizationalUnitArn": ou_arn}]), "{perms}");
    // The snapshot: each active account by id.
    assert_eq!(volume_permissions(&emu, snap), active);
    // The key policy: the OU statements, no account listed.
    let policy = source_key_policy(&emu, &seed);
    let text = policy.to_string();
    for a in &active {
        assert!(
            !text.contains(&format!("arn:aws:iam::{a}:root")),
            "{a}: {text}"
        );
    }
    assert_eq!(
        org_statement_sids(&policy),
        [
            format!("Allow use of the key by OU {ou}"),
            format!("Allow attachment of persistent resources by OU {ou}")
        ]
    );
    let org = seed["organization_id"].as_str().unwrap();
    assert!(
        text.contains(&format!("{org}/r-")) && text.contains(&format!("/{ou}/*")),
        "{text}"
    );
    assert!(text.contains("ec2.us-east-1.amazonaws.com"), "{text}");
    // The plan shows the statements and the verdicts through them.
    let steps = doc["plan"]["steps"].as_array().unwrap();
    let put = steps
        .iter()
        .find(|s| s["action"]["action"] == "put-key-policy")
        .unwrap();
    let added = put["action"]["added"].as_array().unwrap();
    assert_eq!(added.len(), 2, "{added:#?}");
    assert!(added.iter().all(|a| a["statement"]
        .as_str()
        .is_some_and(|l| l.starts_with(&format!("OU {ou}")))));
    let checks = doc["plan"]["checks"].as_array().unwrap();
    for a in &active {
        assert!(
            checks.iter().any(
                |c| c["principal"].as_str().unwrap().contains(&format!(":{a}:"))
                    && c["after_plan"] == "allow"
            ),
            "{a}: {checks:#?}"
        );
    }

    explain_accepts_the_ou_statements(&policy, &seed, &active[0]);

    // A rerun plans no change: only the test launches that prove the share (a share-only run
    // always proves it again); no key policy, image or snapshot call.
    emu.clear_requests();
    let again = assert_ok(&copy_to_ou_with(&emu, &seed, &["--share-only"]));
    let steps = again["plan"]["steps"].as_array().unwrap();
    assert!(
        steps.iter().all(|s| s["action"]["action"] == "test-launch"),
        "{steps:#?}"
    );
    let changed: Vec<String> = emu
        .mutating_actions()
        .into_iter()
        .filter(|a| {
            a.ends_with(":PutKeyPolicy")
                || a.ends_with(":ModifyImageAttribute")
                || a.ends_with(":ModifySnapshotAttribute")
        })
        .collect();
    assert_eq!(changed, Vec::<String>::new());

    // Rollback: the statements, the OU permission and the snapshot shares come off; the key
    // policy is as it was.
    let run_id = report["run_id"].as_str().unwrap();
    emu.rollback_ok(&seed, run_id, &[]);
    assert_eq!(source_key_policy(&emu, &seed), before);
    assert_eq!(launch_permissions(&emu, ami), json!([]));
    assert!(volume_permissions(&emu, snap).is_empty());
}

#[test]
fn copy_to_an_ou_with_the_org_key_policy_makes_every_copy() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--org-ou-accounts", "4", "--org-nested"]);
    let ami = seed["ami_id"].as_str().unwrap();
    // The plan text names the OU statements (a dry run changes nothing).
    let dry = emu
        .amishare_as_source(&seed)
        .args(["copy", ami, "--to-ou", seed["ou_id"].as_str().unwrap()])
        .args(["--target-role", TARGET_ROLE, "--dry-run", "--no-color"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&dry.stdout);
    let ou = seed["ou_id"].as_str().unwrap();
    assert!(
        text.contains(&format!("the source key policy admits OU {ou} ("))
            && text.contains(&format!("statements for every principal of OU {ou} (")),
        "{text}"
    );
    let doc = assert_ok(&copy_to_ou(&emu, &seed));
    let report = &doc["report"];
    assert_eq!(report["status"], "ok", "{report:#}");
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 4);
    for t in targets {
        assert_eq!(t["status"], "ok", "{t}");
        let account = t["account"].as_str().unwrap();
        let copy = t["image_id"].as_str().unwrap();
        let images = emu.aws(
            account,
            REGION,
            "ec2",
            "describe_images",
            json!({"ImageIds": [copy]}),
        );
        assert_eq!(images["Images"][0]["OwnerId"], account);
    }
    // The copiers used the source key through the OU statements: no account is listed.
    let policy = source_key_policy(&emu, &seed);
    assert_eq!(org_statement_sids(&policy).len(), 2, "{policy:#}");
    for a in strings(&seed["org_account_ids"]) {
        assert!(!policy
            .to_string()
            .contains(&format!("arn:aws:iam::{a}:root")));
    }
    // A copy keeps per-account launch permissions (each account copies).
    let perms = launch_permissions(&emu, ami);
    assert_eq!(perms.as_array().unwrap().len(), 4, "{perms}");
    assert!(perms
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["UserId"].is_string()));
}

/// `explain` on the key policy amishare wrote: a principal of an OU member account (its org path
/// given) is allowed with no wildcard warning; the same principal from outside the OU is not.
fn explain_accepts_the_ou_statements(policy: &Value, seed: &Value, member: &str) {
    let dir = tempfile::tempdir().unwrap();
    let key_policy = dir.path().join("key-policy.json");
    std::fs::write(&key_policy, policy.to_string()).unwrap();
    let identity = dir.path().join("identity.json");
    std::fs::write(
        &identity,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
    )
    .unwrap();
    let org = seed["organization_id"].as_str().unwrap();
    let ou = seed["ou_id"].as_str().unwrap();
    let text = policy.to_string();
    let root = text
        .split(&format!("{org}/"))
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    let run = |path: &str| {
        let out = assert_cmd::Command::cargo_bin("amishare")
            .unwrap()
            .env_remove("NO_COLOR")
            .arg("explain")
            .arg("--key-policy")
            .arg(&key_policy)
            .arg("--identity-policy")
            .arg(&identity)
            .args([
                "--principal",
                &format!("arn:aws:sts::{member}:assumed-role/{TARGET_ROLE}/s"),
                "--key-arn",
                seed["source_key_arn"].as_str().unwrap(),
                "--org-id",
                org,
                "--org-path",
                path,
                "--output",
                "json",
            ])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, out) = run(&format!("{org}/{root}/{ou}/ou-zz99-nested01/"));
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("wildcard-principal-unconditioned"), "{out}");
    let (code, out) = run(&format!("{org}/{root}/ou-zz99-elsewhere/"));
    assert_eq!(code, Some(1), "{out}");
}

#[test]
fn key_policy_principals_without_org_targets_is_exit_2() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    emu.clear_requests();
    let out = emu
        .amishare_as_source(&seed)
        .args(["copy", ami, "--to", "444455556666"])
        .args(["--key-policy-principals", "accounts"])
        .args(["--target-role", TARGET_ROLE, "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .next()
            .is_some_and(|l| l.contains("`--key-policy-principals`")),
        "{err}"
    );
    assert!(emu.requests().is_empty(), "no AWS call before the check");
}

/// `--to-org` in copy mode with `--revoke-after-copy`: the key policy admits the organization
/// (`aws:PrincipalOrgID` + `kms:ViaService`) while the accounts copy, every copy is made and
/// test-launched, then the organization statements and the shares are taken back, leaving the
/// key policy as it was.
#[test]
fn to_org_with_revoke_after_copy_admits_the_organization_then_takes_it_back() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--org-ou-accounts", "3", "--org-nested"]);
    let ami = seed["ami_id"].as_str().unwrap();
    let org = seed["organization_id"].as_str().unwrap();
    let before = source_key_policy(&emu, &seed);
    let out = emu
        .amishare_as_source(&seed)
        .args(["--output", "json", "copy", ami, "--to-org"])
        .args(["--target-role", TARGET_ROLE, "--revoke-after-copy", "--yes"])
        .output()
        .unwrap();
    let doc = assert_ok(&out);
    let steps = doc["plan"]["steps"].as_array().unwrap();
    let put = steps
        .iter()
        .find(|s| s["action"]["action"] == "put-key-policy")
        .unwrap();
    let after: Value = serde_json::from_str(put["action"]["after"].as_str().unwrap()).unwrap();
    let org_statements: Vec<&Value> = after["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Principal"] == json!({"AWS": "*"}))
        .collect();
    assert_eq!(org_statements.len(), 2, "{after:#}");
    for s in &org_statements {
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:PrincipalOrgID"], org,
            "{s:#}"
        );
        assert_eq!(
            s["Condition"]["StringEquals"]["kms:ViaService"], "ec2.us-east-1.amazonaws.com",
            "{s:#}"
        );
    }
    let report = &doc["report"];
    assert_eq!(report["status"], "ok", "{report:#}");
    let mut copied: Vec<String> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["status"], "ok", "{t}");
            assert_eq!(t["test_launch"]["result"], "running", "{t}");
            t["account"].as_str().unwrap().to_string()
        })
        .collect();
    copied.sort();
    let mut members = strings(&seed["org_account_ids"]);
    members.sort();
    assert_eq!(copied, members);
    // Taken back: the key policy is as it was, nothing is shared any more.
    assert_eq!(source_key_policy(&emu, &seed), before);
    assert_eq!(launch_permissions(&emu, ami), json!([]));
    for s in strings(&seed["snapshot_ids"]) {
        assert!(volume_permissions(&emu, &s).is_empty(), "{s}");
    }
}

/// `--to-org --share-only`: ONE launch permission for the organization (its ARN), the snapshots
/// shared with every member account id (AWS shares snapshots with account ids only), and a
/// rerun plans no change (only the test launches that prove the share again).
#[test]
fn share_only_to_the_org_shares_the_image_with_the_organization_arn() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--org-ou-accounts", "3", "--org-nested"]);
    let ami = seed["ami_id"].as_str().unwrap();
    let run = || {
        emu.amishare_as_source(&seed)
            .args(["--output", "json", "copy", ami, "--to-org", "--share-only"])
            .args(["--target-role", TARGET_ROLE, "--yes"])
            .output()
            .unwrap()
    };
    let doc = assert_ok(&run());
    assert_eq!(doc["report"]["status"], "ok", "{:#}", doc["report"]);
    assert_eq!(
        launch_permissions(&emu, ami),
        json!([{"OrganizationArn": seed["organization_arn"]}])
    );
    let mut members = strings(&seed["org_account_ids"]);
    members.sort();
    for s in strings(&seed["snapshot_ids"]) {
        assert_eq!(volume_permissions(&emu, &s), members, "{s}");
    }
    let again = assert_ok(&run());
    let steps = again["plan"]["steps"].as_array().unwrap();
    assert!(
        steps.iter().all(|s| s["action"]["action"] == "test-launch"),
        "{steps:#?}"
    );
}
