//! Issue 21 end to end: the real binary against the stricter emulator (issue 20). Each guardrail
//! AWS evaluates beyond the key policy, identity policies and grants (an SCP on the target's OU,
//! the source organization's data-perimeter RCP, a launcher's permissions boundary, the target's
//! Allowed AMIs, a disabled source key, a disabled target copy key) refuses the run before its first change (the source key
//! policy byte for byte what it was, nothing shared, no copy, no instance), the plan naming the
//! layer and the policy; after the documented fix the same command succeeds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use crate::common::{stdout_json, Emulator, REGION, SOURCE_ACCOUNT, TARGET_ACCOUNT, TARGET_ROLE};

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The real binary as the seed's source role (profile `src`), with profile `org` assuming
/// `org_role` (a role of the organization's management account) for `--org-profile org`.
fn amishare(emu: &Emulator, seed: &Value, org_role: &str) -> assert_cmd::Command {
    let config = emu.state_path().join("guardrails-aws-config");
    let profile = |name: &str, arn: &str| {
        format!("[profile {name}]\nrole_arn = {arn}\nsource_profile = base\nregion = {REGION}\n\n")
    };
    let text = [
        format!("[profile base]\naws_access_key_id = testing\naws_secret_access_key = testing\nregion = {REGION}\n\n"),
        profile("src", s(&seed["source_role_arn"])),
        profile("org", org_role),
    ]
    .concat();
    std::fs::write(&config, text).unwrap();
    let mut cmd = emu.amishare();
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "src");
    cmd
}

/// A reader role of the management account `account` (the emulator lets the test keys assume it).
fn org_reader(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/OrgReader")
}

/// `amishare --output json copy AMI --to TARGET --target-role ROLE --org-profile org EXTRA... --yes`:
/// (exit code, JSON document, stderr).
fn copy(
    emu: &Emulator,
    seed: &Value,
    org_role: &str,
    extra: &[&str],
) -> (Option<i32>, Value, String) {
    let out = amishare(emu, seed, org_role)
        .args(["--output", "json", "copy", s(&seed["ami_id"])])
        .args(["--to", TARGET_ACCOUNT, "--target-role", TARGET_ROLE])
        .args(["--org-profile", "org"])
        .args(extra)
        .arg("--yes")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code(), stdout_json(&out), stderr)
}

/// The source key policy exactly as KMS returns it.
fn raw_key_policy(emu: &Emulator, key: &str) -> String {
    emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "kms",
        "get_key_policy",
        json!({"KeyId": key, "PolicyName": "default"}),
    )["Policy"]
        .as_str()
        .unwrap()
        .to_string()
}

/// What the run must not have changed: no mutating call, the key policy byte-equal, no launch
/// permission, no createVolumePermission, no image in the target, no live instance.
fn assert_nothing_changed(emu: &Emulator, seed: &Value, policy_before: &str) {
    assert_eq!(emu.mutating_actions(), Vec::<String>::new());
    let key = s(&seed["source_key_arn"]);
    assert_eq!(raw_key_policy(emu, key), policy_before);
    let perms = emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "ec2",
        "describe_image_attribute",
        json!({"ImageId": s(&seed["ami_id"]), "Attribute": "launchPermission"}),
    );
    assert_eq!(perms["LaunchPermissions"], json!([]), "{perms}");
    let vol = emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "ec2",
        "describe_snapshot_attribute",
        json!({"SnapshotId": s(&seed["snapshot_id"]), "Attribute": "createVolumePermission"}),
    );
    assert_eq!(vol["CreateVolumePermissions"], json!([]), "{vol}");
    let images = emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "ec2",
        "describe_images",
        json!({"Owners": ["self"]}),
    );
    assert_eq!(images["Images"], json!([]), "no copy, failed or not");
    assert_eq!(
        emu.live_instances(&[SOURCE_ACCOUNT, TARGET_ACCOUNT], &[REGION]),
        Vec::<Value>::new()
    );
}

/// A refused run: exit 1, status blocked, no step; returns the blocker coded `code`, after
/// checking that nothing changed.
fn refused(
    emu: &Emulator,
    seed: &Value,
    before: &str,
    run: (Option<i32>, Value, String),
    code: &str,
) -> Value {
    let (exit, doc, stderr) = run;
    assert_eq!(exit, Some(1), "{stderr}\n{doc:#}");
    assert_eq!(doc["report"]["status"], "blocked", "{:#}", doc["report"]);
    assert!(
        doc["plan"]["steps"].as_array().unwrap().is_empty(),
        "{:#}",
        doc["plan"]["steps"]
    );
    assert_nothing_changed(emu, seed, before);
    doc["plan"]["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["code"] == code)
        .cloned()
        .unwrap_or_else(|| panic!("no `{code}` blocker: {:#}", doc["plan"]["blockers"]))
}

/// A run that succeeded: exit 0, the target ok.
fn succeeded(run: (Option<i32>, Value, String)) -> Value {
    let (exit, doc, stderr) = run;
    assert_eq!(exit, Some(0), "{stderr}\n{doc:#}");
    let t = &doc["report"]["targets"][0];
    assert_eq!(t["status"], "ok", "{t:#}");
    doc
}

fn text_of(v: &Value) -> String {
    v.to_string()
}

/// (1) An SCP on the target's OU denies `kms:CreateGrant`: the copy (CopyImage creates a grant on
/// the source key as the target's copier) and `--share-only` are refused before any change,
/// naming the SCP; once the SCP is detached the same command copies.
#[test]
fn an_scp_denying_create_grant_refuses_the_run_until_detached() {
    let emu = Emulator::start();
    let seed = emu.seed(&[
        "--org-ou-accounts",
        "1",
        "--org-scp-deny",
        "kms:CreateGrant",
    ]);
    let scp = s(&seed["scp_id"]).to_string();
    assert!(scp.starts_with("p-"), "{seed:#}");
    let org = org_reader(SOURCE_ACCOUNT);
    let before = raw_key_policy(&emu, s(&seed["source_key_arn"]));
    for extra in [&[][..], &["--share-only"][..]] {
        emu.clear_requests();
        let b = refused(
            &emu,
            &seed,
            &before,
            copy(&emu, &seed, &org, extra),
            "guardrail-denied",
        );
        let t = text_of(&b);
        assert!(t.contains(&scp), "{extra:?}: the SCP named: {b:#}");
        assert!(
            t.to_lowercase().contains("scp") || t.contains("service control policy"),
            "{b:#}"
        );
        assert!(t.contains("kms:CreateGrant"), "{b:#}");
        assert_eq!(b["account"], TARGET_ACCOUNT, "{b:#}");
    }

    // The documented fix: detach the SCP from the OU.
    emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "organizations",
        "detach_policy",
        json!({"PolicyId": scp, "TargetId": s(&seed["scp_target_id"])}),
    );
    let doc = succeeded(copy(&emu, &seed, &org, &[]));
    assert_eq!(
        doc["report"]["targets"][0]["copy_state"], "available",
        "{doc:#}"
    );
}

/// (2) The source organization's data-perimeter RCP denies KMS to principals outside it: the
/// copy is refused before any change, naming the RCP; with the target account excepted in the
/// RCP the same command copies.
#[test]
fn the_source_organizations_perimeter_rcp_refuses_the_run_until_excepted() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--source-org-rcp"]);
    let rcp = s(&seed["rcp_id"]).to_string();
    let mgmt = s(&seed["source_management_account"]).to_string();
    let org = org_reader(&mgmt);
    let before = raw_key_policy(&emu, s(&seed["source_key_arn"]));
    emu.clear_requests();
    let b = refused(
        &emu,
        &seed,
        &before,
        copy(&emu, &seed, &org, &[]),
        "guardrail-denied",
    );
    let t = text_of(&b);
    assert!(t.contains(&rcp), "the RCP named: {b:#}");
    assert!(
        t.to_lowercase().contains("rcp") || t.contains("resource control policy"),
        "{b:#}"
    );

    // The documented fix: the exception for the target account in the perimeter statement.
    let org_id = s(&seed["source_organization_id"]);
    let doc = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "EnforceOrgIdentities", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
        "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": org_id,
                                                  "aws:PrincipalAccount": [TARGET_ACCOUNT]},
                      "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}}]});
    emu.aws(
        &mgmt,
        REGION,
        "organizations",
        "update_policy",
        json!({"PolicyId": rcp, "Content": doc.to_string()}),
    );
    let doc = succeeded(copy(&emu, &seed, &org, &[]));
    assert_eq!(
        doc["report"]["targets"][0]["copy_state"], "available",
        "{doc:#}"
    );
}

/// (3) The launcher's permissions boundary allows no KMS action: `--share-only --grant
/// LAUNCHER` is refused before any change, naming the boundary; with KMS added to the boundary
/// the same command shares and the launcher's test launch passes.
#[test]
fn a_launchers_boundary_without_kms_refuses_the_run_until_fixed() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--launcher-role", "--launcher-boundary"]);
    let boundary = s(&seed["launcher_boundary_arn"]).to_string();
    let launcher = s(&seed["launcher_role_arn"]).to_string();
    let org = org_reader(SOURCE_ACCOUNT);
    let args = ["--share-only", "--grant", launcher.as_str()];
    let before = raw_key_policy(&emu, s(&seed["source_key_arn"]));
    emu.clear_requests();
    let b = refused(
        &emu,
        &seed,
        &before,
        copy(&emu, &seed, &org, &args),
        "guardrail-denied",
    );
    let t = text_of(&b);
    assert!(t.contains(&boundary), "the boundary named: {b:#}");
    assert!(t.contains(&launcher), "the launcher named: {b:#}");
    assert!(
        t.contains("permissions boundary") || t.contains("permissions-boundary"),
        "{b:#}"
    );

    // The documented fix: the boundary allows the KMS actions of a launch.
    let fixed = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "ComputeOnly", "Effect": "Allow", "Action": ["ec2:*", "autoscaling:*", "sts:AssumeRole"],
         "Resource": "*"},
        {"Sid": "UseKeys", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*",
                    "kms:ReEncrypt*", "kms:CreateGrant"], "Resource": "*"}]});
    emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "iam",
        "create_policy_version",
        json!({"PolicyArn": boundary, "PolicyDocument": fixed.to_string(), "SetAsDefault": true}),
    );
    let doc = succeeded(copy(&emu, &seed, &org, &args));
    let rows = doc["report"]["targets"][0]["launchers"].as_array().unwrap();
    let row = rows.iter().find(|r| r["principal"] == launcher.as_str());
    assert!(
        row.is_some_and(|r| r["result"] == "passed"),
        "{:#}",
        doc["report"]
    );
}

/// (4) Allowed AMIs in the target allows only Amazon's images: the copy is refused before any
/// change, naming the setting and the criterion to add; with the source account among the
/// image providers the same command copies.
#[test]
fn allowed_amis_without_the_source_account_refuses_the_run_until_added() {
    let emu = Emulator::start();
    let seed = emu.seed(&[
        "--allowed-amis",
        "enabled",
        "--allowed-amis-providers",
        "amazon",
    ]);
    let org = org_reader(SOURCE_ACCOUNT);
    let before = raw_key_policy(&emu, s(&seed["source_key_arn"]));
    for extra in [&[][..], &["--share-only"][..]] {
        emu.clear_requests();
        let b = refused(
            &emu,
            &seed,
            &before,
            copy(&emu, &seed, &org, extra),
            "allowed-amis",
        );
        let t = text_of(&b);
        assert!(
            t.contains("Allowed AMIs") || t.contains("allowed-amis"),
            "{b:#}"
        );
        assert!(t.contains(SOURCE_ACCOUNT), "the criterion to add: {b:#}");
    }

    // The documented fix: the source account among the image providers.
    emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "ec2",
        "replace_image_criteria_in_allowed_images_settings",
        json!({"ImageCriteria": [{"ImageProviders": ["amazon", SOURCE_ACCOUNT]}]}),
    );
    let doc = succeeded(copy(&emu, &seed, &org, &[]));
    assert_eq!(
        doc["report"]["targets"][0]["copy_state"], "available",
        "{doc:#}"
    );
}

/// (5) The source key is disabled: the copy is refused before any change, naming the key and
/// its state; once the key is enabled the same command copies.
#[test]
fn a_disabled_source_key_refuses_the_run_until_enabled() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let key = s(&seed["source_key_arn"]).to_string();
    emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "kms",
        "disable_key",
        json!({"KeyId": key}),
    );
    let org = org_reader(SOURCE_ACCOUNT);
    let before = raw_key_policy(&emu, &key);
    emu.clear_requests();
    let (exit, doc, stderr) = copy(&emu, &seed, &org, &[]);
    assert_eq!(exit, Some(1), "{stderr}\n{doc:#}");
    let blockers = text_of(&doc["plan"]["blockers"]);
    assert!(blockers.contains(&key), "the key named: {blockers}");
    assert!(blockers.to_lowercase().contains("disabled"), "{blockers}");
    assert!(doc["plan"]["steps"].as_array().unwrap().is_empty());
    assert_nothing_changed(&emu, &seed, &before);

    // The documented fix: enable the key.
    emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "kms",
        "enable_key",
        json!({"KeyId": key}),
    );
    let doc = succeeded(copy(&emu, &seed, &org, &[]));
    assert_eq!(
        doc["report"]["targets"][0]["copy_state"], "available",
        "{doc:#}"
    );
}

/// (5b) The key the copy would be encrypted with in the target (`--target-key`) is disabled:
/// CopyImage would fail there, so the run is refused before any change, naming the key; once the
/// target enables it the same command copies with it.
#[test]
fn a_disabled_target_key_refuses_the_copy_until_enabled() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key"]);
    let target_key = s(&seed["target_key_arn"]).to_string();
    let enable = |method: &str| {
        emu.aws(
            TARGET_ACCOUNT,
            REGION,
            "kms",
            method,
            json!({"KeyId": target_key}),
        )
    };
    enable("disable_key");
    let org = org_reader(SOURCE_ACCOUNT);
    let before = raw_key_policy(&emu, s(&seed["source_key_arn"]));
    let extra = ["--target-key", target_key.as_str()];
    emu.clear_requests();
    let (exit, doc, stderr) = copy(&emu, &seed, &org, &extra);
    assert_eq!(exit, Some(1), "{stderr}\n{doc:#}");
    let blockers = text_of(&doc["plan"]["blockers"]);
    assert!(blockers.contains(&target_key), "the key named: {blockers}");
    assert!(blockers.contains("disabled"), "{blockers}");
    assert!(blockers.contains("aws kms enable-key"), "{blockers}");
    assert_nothing_changed(&emu, &seed, &before);

    enable("enable_key");
    let doc = succeeded(copy(&emu, &seed, &org, &extra));
    assert_eq!(
        doc["report"]["targets"][0]["copy_state"], "available",
        "{doc:#}"
    );
}

/// Launch `image` in the target as the seed's target role (boto3, independent of amishare) and
/// wait until it runs or terminates: (instance id, state).
fn launch_as_target_role(emu: &Emulator, seed: &Value, image: &str) -> (String, String) {
    let script = r#"
import json, sys, time, boto3
endpoint, role, image, region = sys.argv[1:5]
sts = boto3.client("sts", endpoint_url=endpoint, region_name=region,
                   aws_access_key_id="testing", aws_secret_access_key="testing")
c = sts.assume_role(RoleArn=role, RoleSessionName="launch")["Credentials"]
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=region,
                   aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                   aws_session_token=c["SessionToken"])
i = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
for _ in range(100):
    st = ec2.describe_instances(InstanceIds=[i])["Reservations"][0]["Instances"][0]["State"]["Name"]
    if st in ("running", "terminated"):
        break
    time.sleep(0.2)
if st == "running":
    ec2.terminate_instances(InstanceIds=[i])
print(json.dumps([i, st]))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args([&emu.endpoint, s(&seed["target_role_arn"]), image, REGION])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "launch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (s(&v[0]).to_string(), s(&v[1]).to_string())
}

/// (6) An SCP on the target's OU denies `kms:CreateGrant`; a launch of the shared AMI in the
/// target fails (Client.InternalError). `diagnose INSTANCE --org-profile` names the SCP (from
/// CloudTrail's "explicit deny in a service control policy" and the SCPs it reads) and the fix;
/// once the SCP is detached the same launch runs.
#[test]
fn diagnose_names_the_scp_of_a_failed_launch() {
    let emu = Emulator::start();
    let seed = emu.seed(&[
        "--org-ou-accounts",
        "1",
        "--org-scp-deny",
        "kms:CreateGrant",
        "--share",
        "--key-allows-target",
    ]);
    let scp = s(&seed["scp_id"]).to_string();
    let (id, state) = launch_as_target_role(&emu, &seed, s(&seed["ami_id"]));
    assert_eq!(state, "terminated", "the SCP fails the launch");

    let config = emu.state_path().join("guardrails-diagnose-config");
    let profile = |name: &str, arn: &str| {
        format!("[profile {name}]\nrole_arn = {arn}\nsource_profile = base\nregion = {REGION}\n\n")
    };
    let text = [
        format!("[profile base]\naws_access_key_id = testing\naws_secret_access_key = testing\nregion = {REGION}\n\n"),
        profile("tgt", s(&seed["target_role_arn"])),
        profile("src", s(&seed["source_key_admin_role_arn"])),
        profile("org", &org_reader(SOURCE_ACCOUNT)),
    ]
    .concat();
    std::fs::write(&config, text).unwrap();
    let out = emu
        .amishare()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "tgt")
        .args(["--output", "json", "diagnose", &id])
        .args(["--key-account-profile", "src", "--org-profile", "org"])
        .output()
        .unwrap();
    let doc = stdout_json(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{doc:#}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["instance"]["id"], id.as_str(), "{doc:#}");
    // One cause for the one denial: CloudTrail's quote and the SCP read, ranked first.
    let scp_causes = doc["causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["code"] == "scp-explicit-deny")
        .count();
    assert_eq!(scp_causes, 1, "{:#}", doc["causes"]);
    let first = &doc["causes"][0];
    assert_eq!(first["code"], "scp-explicit-deny", "{first:#}");
    let t = text_of(first);
    assert!(t.contains(&scp), "the first cause names the SCP: {doc:#}");
    assert!(t.contains("service control policy"), "{first:#}");
    assert!(t.contains("kms:CreateGrant"), "{first:#}");
    assert!(t.contains("DenyListed"), "the statement named: {first:#}");
    assert!(
        s(&first["fix"]["summary"]).contains(&scp),
        "the fix names the SCP: {first:#}"
    );
    let ev = first["evidence"].as_array().unwrap();
    assert!(
        ev.iter().any(|e| e["kind"] == "event"
            && e["event_name"] == "CreateGrant"
            && s(&e["error_message"]).contains("service control policy")),
        "CloudTrail's denial quoted: {ev:#?}"
    );

    emu.aws(
        SOURCE_ACCOUNT,
        REGION,
        "organizations",
        "detach_policy",
        json!({"PolicyId": scp, "TargetId": s(&seed["scp_target_id"])}),
    );
    let (_, state) = launch_as_target_role(&emu, &seed, s(&seed["ami_id"]));
    assert_eq!(state, "running", "after the SCP is detached");
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// (7) `--to-ou` over an OU of 20 accounts (nested OUs `a`, `a1`, `b` below it) where 3 accounts,
/// one in each nested OU, sit under an SCP denying `kms:CreateGrant` attached to the account:
/// the 17 others are copied, the 3 blocked ones are left out entirely (not in the key policy,
/// nothing shared with them, no copy) and reported with the SCP, exit 1; the key policy names
/// the 17 one by one (an OU-wide statement would reach the 3 too); the SCPs of each level are
/// read once.
#[test]
fn to_ou_copies_to_the_accounts_no_scp_blocks_and_reports_the_others() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--org-ou-accounts", "20", "--org-nested"]);
    let ou = s(&seed["ou_id"]).to_string();
    let nested = strings(&seed["nested_ou_ids"]);
    let org = |method: &str, params: Value| {
        emu.aws(SOURCE_ACCOUNT, REGION, "organizations", method, params)
    };
    let root = s(&org("list_roots", json!({}))["Roots"][0]["Id"]).to_string();
    org(
        "enable_policy_type",
        json!({"RootId": root, "PolicyType": "SERVICE_CONTROL_POLICY"}),
    );
    let deny = json!({"Version": "2012-10-17", "Statement": [{"Sid": "NoGrants", "Effect": "Deny",
        "Action": "kms:CreateGrant", "Resource": "*"}]});
    let created = org(
        "create_policy",
        json!({"Content": deny.to_string(), "Description": "no grants", "Name": "no-grants",
               "Type": "SERVICE_CONTROL_POLICY"}),
    );
    let scp = s(&created["Policy"]["PolicySummary"]["Id"]).to_string();
    let mut blocked = Vec::new();
    for parent in &nested {
        let listed = org("list_accounts_for_parent", json!({"ParentId": parent}));
        let first = s(&listed["Accounts"][0]["Id"]).to_string();
        org("attach_policy", json!({"PolicyId": scp, "TargetId": first}));
        blocked.push(first);
    }
    blocked.sort();
    let all = strings(&seed["org_account_ids"]);
    let allowed: Vec<String> = all
        .iter()
        .filter(|x| !blocked.contains(x))
        .cloned()
        .collect();
    assert_eq!((blocked.len(), allowed.len()), (3, 17), "{seed:#}");

    let key = s(&seed["source_key_arn"]).to_string();
    emu.clear_requests();
    let out = amishare(&emu, &seed, &org_reader(SOURCE_ACCOUNT))
        .args([
            "--output",
            "json",
            "copy",
            s(&seed["ami_id"]),
            "--to-ou",
            &ou,
        ])
        .args([
            "--target-role",
            TARGET_ROLE,
            "--org-profile",
            "org",
            "--yes",
        ])
        .output()
        .unwrap();
    let doc = stdout_json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{doc:#}");

    // The others: copied, each its own available image.
    let targets = doc["report"]["targets"].as_array().unwrap();
    let mut copied: Vec<String> = targets
        .iter()
        .filter(|t| t["status"] == "ok")
        .map(|t| s(&t["account"]).to_string())
        .collect();
    copied.sort();
    let mut expected = allowed.clone();
    expected.sort();
    assert_eq!(copied, expected, "{:#}", doc["report"]);
    for t in targets.iter().filter(|t| t["status"] == "ok") {
        assert_eq!(t["copy_state"], "available", "{t:#}");
    }
    // The blocked: reported with the SCP, left out of the key policy and the shares, no copy.
    let excluded = doc["report"]["excluded"].as_array().unwrap();
    let mut reported: Vec<String> = excluded
        .iter()
        .map(|e| s(&e["account"]).to_string())
        .collect();
    reported.sort();
    assert_eq!(reported, blocked, "{excluded:#?}");
    assert_eq!(doc["plan"]["excluded"], doc["report"]["excluded"]);
    for e in excluded {
        let cause = &e["causes"][0];
        assert_eq!(
            (s(&cause["layer"]), s(&cause["policy"])),
            ("scp", scp.as_str()),
            "{e:#}"
        );
        assert!(s(&cause["message"]).contains("NoGrants"), "{e:#}");
    }
    for b in &blocked {
        let images = emu.aws(
            b,
            REGION,
            "ec2",
            "describe_images",
            json!({"Owners": ["self"]}),
        );
        assert_eq!(images["Images"], json!([]), "no copy in {b}");
    }
    let text = emu.key_policy(SOURCE_ACCOUNT, &key).to_string();
    let perms = emu
        .aws(
            SOURCE_ACCOUNT,
            REGION,
            "ec2",
            "describe_image_attribute",
            json!({"ImageId": s(&seed["ami_id"]), "Attribute": "launchPermission"}),
        )
        .to_string();
    let vol = emu
        .aws(
            SOURCE_ACCOUNT,
            REGION,
            "ec2",
            "describe_snapshot_attribute",
            json!({"SnapshotId": s(&seed["snapshot_id"]), "Attribute": "createVolumePermission"}),
        )
        .to_string();
    for acct in &blocked {
        assert!(
            !text.contains(&format!(":{acct}:")),
            "{acct} in the key policy: {text}"
        );
        assert!(!perms.contains(acct.as_str()), "{acct} shared: {perms}");
        assert!(!vol.contains(acct.as_str()), "{acct} shared: {vol}");
    }
    for acct in &allowed {
        assert!(
            text.contains(&format!(":{acct}:")),
            "{acct} not in the key policy: {text}"
        );
    }
    assert_eq!(
        emu.live_instances(
            &blocked.iter().map(String::as_str).collect::<Vec<_>>(),
            &[REGION]
        ),
        Vec::<Value>::new()
    );

    // SCPs read once per level: one ListPoliciesForTarget per OU/root on the paths and per account.
    let reads = Emulator::actions(&emu.requests())
        .iter()
        .filter(|a| a.ends_with(":ListPoliciesForTarget"))
        .count();
    // root, the OU, a, a1, b: 5 levels, plus the 20 accounts.
    assert_eq!(reads, 5 + 20, "{:?}", Emulator::actions(&emu.requests()));
    // The members' paths come from listing the OU: no ListParents per account (the one call is
    // the OU's own path, read when listing it).
    let parents = Emulator::actions(&emu.requests())
        .iter()
        .filter(|a| a.ends_with(":ListParents"))
        .count();
    assert_eq!(parents, 1, "{:?}", Emulator::actions(&emu.requests()));
    assert!(!text.contains("aws:PrincipalOrgPaths"), "{text}");
    assert!(
        doc["plan"]["notes"].to_string().contains("one by one"),
        "{:#}",
        doc["plan"]["notes"]
    );
}

/// `amishare --output json copy AMI --to TARGET --target-role ROLE EXTRA...` WITHOUT
/// `--org-profile`: (exit code, JSON document, stderr).
fn copy_as_source_only(
    emu: &Emulator,
    seed: &Value,
    extra: &[&str],
) -> (Option<i32>, Value, String) {
    let out = amishare(emu, seed, &org_reader(SOURCE_ACCOUNT))
        .args(["--output", "json", "copy", s(&seed["ami_id"])])
        .args(["--target-role", TARGET_ROLE])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code(), stdout_json(&out), stderr)
}

/// The Organizations calls each account made since the last clear, as `account Action`.
fn org_calls(emu: &Emulator) -> Vec<String> {
    emu.requests()
        .iter()
        .filter(|r| r["service"] == "organizations")
        .map(|r| format!("{} {}", s(&r["account"]), s(&r["action"])))
        .collect()
}

/// (8) Without `--org-profile`, the source account that is the organization's management
/// account reads the SCPs itself (issue 21: "or the source credentials when they are the
/// management account"): the SCP on the target's OU refuses the run before any change, naming
/// the SCP, and no note says a layer went unread (RCPs never apply to the management account's
/// keys). With `--to-ou` the organization `--to-ou` described is not described again.
#[test]
fn the_management_account_source_reads_the_scps_without_org_profile() {
    let emu = Emulator::start();
    let seed = emu.seed(&[
        "--org-ou-accounts",
        "1",
        "--org-scp-deny",
        "kms:CreateGrant",
    ]);
    let scp = s(&seed["scp_id"]).to_string();
    let before = raw_key_policy(&emu, s(&seed["source_key_arn"]));
    emu.clear_requests();
    let run = copy_as_source_only(&emu, &seed, &["--to", TARGET_ACCOUNT, "--yes"]);
    let doc = run.1.clone();
    let b = refused(&emu, &seed, &before, run, "guardrail-denied");
    let t = text_of(&b);
    assert!(t.contains(&scp), "the SCP named: {b:#}");
    assert_eq!(b["account"], TARGET_ACCOUNT, "{b:#}");
    let notes = doc["plan"]["notes"].to_string();
    assert!(!notes.contains("was not read"), "{notes}");
    let calls = org_calls(&emu);
    let describes = calls
        .iter()
        .filter(|c| c.ends_with(" DescribeOrganization"))
        .count();
    assert_eq!(describes, 1, "{calls:?}");
    assert!(
        calls.iter().all(|c| c.starts_with(SOURCE_ACCOUNT)),
        "{calls:?}"
    );

    emu.clear_requests();
    let ou = s(&seed["ou_id"]).to_string();
    let (_, doc, stderr) = copy_as_source_only(&emu, &seed, &["--to-ou", &ou, "--dry-run"]);
    let blockers = doc["plan"]["blockers"].to_string();
    assert!(blockers.contains(&scp), "{stderr}\n{doc:#}");
    let calls = org_calls(&emu);
    let describes = calls
        .iter()
        .filter(|c| c.ends_with(" DescribeOrganization"))
        .count();
    assert_eq!(describes, 1, "described once, by `--to-ou`: {calls:?}");
}

/// (9) Without `--org-profile`, a source account that is a plain member of its organization
/// (no delegated administrator) may describe the organization but not list its policies: two
/// Organizations calls, then the plan keeps both `unseen` notes (SCPs of the target, RCPs of the
/// source key's account); with `--org-profile` the RCP is read and refuses the run (test 2).
#[test]
fn a_member_source_without_org_profile_leaves_the_layers_unseen_at_two_calls() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--source-org-rcp"]);
    emu.clear_requests();
    let (_, doc, stderr) =
        copy_as_source_only(&emu, &seed, &["--to", TARGET_ACCOUNT, "--dry-run", "-v"]);
    let notes = doc["plan"]["notes"].to_string();
    assert!(
        notes.contains("the SCP layer was not read"),
        "{stderr}\n{notes}"
    );
    assert!(
        notes.contains("the RCP layer of the source key's account"),
        "{notes}"
    );
    assert_eq!(
        org_calls(&emu),
        [
            format!("{SOURCE_ACCOUNT} DescribeOrganization"),
            format!("{SOURCE_ACCOUNT} ListPoliciesForTarget"),
        ]
    );
    assert!(stderr.contains("may not list them"), "{stderr}");
    assert_eq!(emu.mutating_actions(), Vec::<String>::new());
}
