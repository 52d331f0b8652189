//! Issue 11, the launch side, end to end against the emulator: `amishare copy --grant LAUNCHER`
//! test-launches the copy as each launcher (AssumeRole, or a temporary Auto Scaling group for the
//! service-linked role), reports who could only be verified by analysis, and leaves nothing
//! behind: no instance running, no test group, no launch template (checked after every test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use crate::common::{copy_cmd, stdout_json, Emulator, REGION, TARGET_ACCOUNT, TARGET_ROLE};

/// `--grant autoscaling` spelt out (the shorthand is issue 11's other half).
fn autoscaling_role() -> String {
    format!(
        "arn:aws:iam::{TARGET_ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    )
}

/// No instance running, no Auto Scaling group and no launch template left in the target.
/// No test instance running, no test group or launch template left in the target.
pub(crate) fn assert_nothing_left(emu: &Emulator) {
    let live = emu.live_instances(&[TARGET_ACCOUNT], &[REGION]);
    assert!(live.is_empty(), "test instances left running: {live:?}");
    let groups = emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "autoscaling",
        "describe_auto_scaling_groups",
        json!({}),
    );
    assert_eq!(
        groups["AutoScalingGroups"],
        json!([]),
        "groups left: {groups}"
    );
    let templates = emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "ec2",
        "describe_launch_templates",
        json!({}),
    );
    assert_eq!(
        templates["LaunchTemplates"],
        json!([]),
        "templates left: {templates}"
    );
}

fn run_copy(emu: &Emulator, seed: &Value, extra: &[&str]) -> (Option<i32>, Value, String) {
    let ami = seed["ami_id"].as_str().unwrap();
    let target_key = seed["target_key_arn"].as_str().unwrap();
    let out = copy_cmd(emu, seed, ami)
        .args(["--target-key", target_key, "--yes"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code(), stdout_json(&out), stderr)
}

fn launchers(doc: &Value) -> Vec<Value> {
    doc["report"]["targets"][0]["launchers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn the_copy_is_test_launched_as_an_assumable_launcher_role() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key", "--launcher-role", "--launcher-kms"]);
    let launcher = seed["launcher_role_arn"].as_str().unwrap();
    let (code, doc, stderr) = run_copy(&emu, &seed, &["--grant", launcher]);
    assert_eq!(code, Some(0), "{stderr}\n{doc:#}");
    let rows = launchers(&doc);
    assert_eq!(rows.len(), 1, "{doc:#}");
    let row = &rows[0];
    assert_eq!(row["principal"], launcher);
    assert_eq!(row["how"], "assume-role");
    assert_eq!(row["result"], "passed", "{row:#}");
    assert_eq!(row["cleaned_up"], true);
    assert_eq!(row["launch"]["result"], "running");
    assert_eq!(row["launch"]["terminated"], true);
    // RunInstances really was made as the launcher (a session of it, assumed by the target role).
    let as_launcher: Vec<Value> = emu
        .requests()
        .into_iter()
        .filter(|r| {
            r["action"] == "RunInstances"
                && r["principal"]
                    .as_str()
                    .is_some_and(|p| p.contains("assumed-role/amishare-launcher/"))
        })
        .collect();
    assert_eq!(as_launcher.len(), 1, "{:?}", emu.requests());
    // The run tagged the copy tested only after the launcher's launch: a rerun plans nothing.
    let (code, doc, stderr) = run_copy(&emu, &seed, &["--grant", launcher]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(doc["plan"]["steps"], json!([]), "{doc:#}");
    assert_nothing_left(&emu);
}

#[test]
fn the_auto_scaling_test_group_reaches_in_service_when_the_key_names_the_role() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key", "--target-key-allows-autoscaling"]);
    let (code, doc, stderr) = run_copy(&emu, &seed, &["--grant", &autoscaling_role()]);
    assert_eq!(code, Some(0), "{stderr}\n{doc:#}");
    let rows = launchers(&doc);
    assert_eq!(rows.len(), 1, "{doc:#}");
    let row = &rows[0];
    assert_eq!(row["how"], "auto-scaling-group");
    assert_eq!(row["result"], "passed", "{row:#}");
    assert_eq!(row["cleaned_up"], true);
    let group = row["group"].as_str().unwrap();
    assert!(group.starts_with("amishare-test-"), "{group}");
    // `amishare show` rebuilds the row from the journal.
    let run_id = doc["report"]["run_id"].as_str().unwrap();
    let shown = emu
        .amishare_as_source(&seed)
        .args(["--output", "json", "show", run_id])
        .output()
        .unwrap();
    let shown = stdout_json(&shown);
    let again = &shown["report"]["targets"][0]["launchers"][0];
    assert_eq!(again["how"], "auto-scaling-group", "{shown:#}");
    assert_eq!(again["result"], "passed");
    assert_eq!(again["group"], group);
    assert_eq!(again["cleaned_up"], true);
    let actions = emu.mutating_actions();
    for a in [
        "ec2:CreateLaunchTemplate",
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:DeleteAutoScalingGroup",
        "ec2:DeleteLaunchTemplate",
    ] {
        assert!(actions.contains(&a.to_string()), "{a} not in {actions:?}");
    }
    assert_nothing_left(&emu);
}

#[test]
fn a_target_without_the_auto_scaling_role_gets_it_created_and_the_test_group_reaches_in_service() {
    // The target has no Auto Scaling service-linked role yet. Before issue 18 the plan could
    // not name it in the key policy (KMS refuses a role that does not exist) and the test group,
    // which creates the role as AWS does, failed with Client.InternalError. Now the plan creates
    // the role first, then names it in the target key policy.
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key"]);
    let (code, doc, stderr) = run_copy(&emu, &seed, &["--grant", &autoscaling_role()]);
    assert_eq!(code, Some(0), "{stderr}\n{doc:#}");
    let kinds: Vec<&str> = doc["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"]["action"].as_str().unwrap())
        .collect();
    let pos = |k: &str| kinds.iter().position(|x| *x == k);
    assert!(
        pos("create-service-linked-role").is_some()
            && pos("create-service-linked-role") < pos("put-target-key-policy"),
        "{kinds:?}"
    );
    let row = &launchers(&doc)[0];
    assert_eq!(row["result"], "passed", "{row:#}");
    assert_eq!(row["cleaned_up"], true);
    assert_eq!(doc["report"]["targets"][0]["status"], "ok");
    assert_nothing_left(&emu);
}

#[test]
fn launchers_amishare_cannot_act_as_are_verified_by_analysis_only() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key", "--locked-launcher-role"]);
    emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "iam",
        "create_user",
        json!({"UserName": "ci"}),
    );
    let user = format!("arn:aws:iam::{TARGET_ACCOUNT}:user/ci");
    let locked = seed["locked_launcher_role_arn"].as_str().unwrap();
    let (code, doc, stderr) = run_copy(&emu, &seed, &["--grant", locked, "--grant", &user]);
    assert_eq!(code, Some(0), "{stderr}\n{doc:#}");
    let rows = launchers(&doc);
    assert_eq!(rows.len(), 2, "{doc:#}");
    let by = |p: &str| rows.iter().find(|r| r["principal"] == p).unwrap().clone();
    let (l, u) = (by(locked), by(&user));
    // planned as an AssumeRole; STS refused it, so analysis is all there is
    assert_eq!(l["how"], "analysis-only", "{l:#}");
    assert_eq!(l["result"], "analysis-only", "{l:#}");
    assert!(
        l["reason"].as_str().unwrap().contains("may not assume it"),
        "{l:#}"
    );
    assert_eq!(u["how"], "analysis-only");
    assert_eq!(u["result"], "analysis-only");
    assert!(u["reason"].as_str().unwrap().contains("IAM user"), "{u:#}");
    // Nothing was launched as either.
    assert!(!emu.requests().iter().any(|r| {
        r["action"] == "RunInstances"
            && r["principal"]
                .as_str()
                .is_some_and(|p| p.contains("locked-launcher"))
    }));
    assert_nothing_left(&emu);
}

#[test]
fn ctrl_c_during_the_auto_scaling_wait_deletes_the_group_and_the_template() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key", "--target-key-allows-autoscaling"]);
    let child = spawn_waiting_in_the_group(&emu, &seed, std::process::Stdio::piped);
    let interrupted_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(out.status.code().is_some(), "killed by the signal");
    let doc = stdout_json(&out);
    let row = &launchers(&doc)[0];
    assert_eq!(row["result"], "interrupted", "{doc:#}");
    assert_eq!(row["cleaned_up"], true, "{row:#}");
    // Ctrl-C abandons the throttled poll the SDK is retrying, and deleting the group does not
    // read its activities: at most the attempt in flight at the signal reaches the emulator
    // after it (before the fix the retries went on for minutes, then the clean-up read the
    // activities again, another ten throttled attempts).
    let after: Vec<Value> = emu
        .requests()
        .into_iter()
        .filter(|r| {
            r["action"] == "DescribeScalingActivities"
                && r["time"].as_f64().unwrap() > interrupted_at
        })
        .collect();
    assert!(after.len() <= 1, "{after:#?}");
    assert_nothing_left(&emu);
}

/// `amishare --output json ARGS` with the credentials of the target role (profile `tgt`) and
/// of the seed's source key administrator (profile `src`).
fn amishare_with_profiles(emu: &Emulator, seed: &Value, profile: &str) -> assert_cmd::Command {
    let config = emu.state_path().join("launch-as-aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile base]\naws_access_key_id = testing\naws_secret_access_key = testing\nregion = {REGION}\n\n\
             [profile tgt]\nrole_arn = {}\nsource_profile = base\nregion = {REGION}\n\n\
             [profile src]\nrole_arn = {}\nsource_profile = base\nregion = {REGION}\n",
            seed["target_role_arn"].as_str().unwrap(),
            seed["source_key_admin_role_arn"].as_str().unwrap(),
        ),
    )
    .unwrap();
    let mut cmd = emu.amishare();
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", profile)
        .args(["--output", "json"]);
    cmd
}

#[test]
fn diagnose_asg_names_the_key_the_role_the_cause_and_the_key_policy_fix() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key"]);
    // A copy on the target key (no launcher: nothing but the copy and amishare's own launch).
    let (code, doc, stderr) = run_copy(&emu, &seed, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let copy = doc["report"]["targets"][0]["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    let target_key = seed["target_key_arn"].as_str().unwrap();
    // A workload's group launches it; the key policy does not name the service-linked role.
    let aws = |service: &str, method: &str, params: Value| {
        emu.aws(TARGET_ACCOUNT, REGION, service, method, params)
    };
    aws(
        "ec2",
        "create_launch_template",
        json!({"LaunchTemplateName": "web", "LaunchTemplateData": {"ImageId": copy, "InstanceType": "t3.nano"}}),
    );
    aws(
        "autoscaling",
        "create_auto_scaling_group",
        json!({"AutoScalingGroupName": "web", "MinSize": 1, "MaxSize": 1, "DesiredCapacity": 1,
               "LaunchTemplate": {"LaunchTemplateName": "web", "Version": "$Latest"},
               "AvailabilityZones": [format!("{REGION}a")]}),
    );
    let started = std::time::Instant::now();
    loop {
        let acts = aws(
            "autoscaling",
            "describe_scaling_activities",
            json!({"AutoScalingGroupName": "web"}),
        );
        if acts["Activities"][0]["StatusCode"] == "Failed" {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 30,
            "the launch never failed: {acts}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = amishare_with_profiles(&emu, &seed, "tgt")
        .args(["diagnose", "--asg", "web"])
        .output()
        .unwrap();
    let d = stdout_json(&out);
    assert_eq!(out.status.code(), Some(1), "{d:#}");
    assert_eq!(d["principal"], autoscaling_role(), "{d:#}");
    assert_eq!(d["image_id"], copy.as_str());
    assert!(
        d["failed_activity"]["status_message"]
            .as_str()
            .unwrap()
            .contains("Client.InternalError: Client error on launch"),
        "{d:#}"
    );
    let key = &d["keys"][0];
    assert_eq!(key["key_arn"], target_key, "{d:#}");
    assert_eq!(key["kind"], "key-policy-statement");
    assert!(key["cause"]
        .as_str()
        .unwrap()
        .contains("AWSServiceRoleForAutoScaling"));
    assert_eq!(
        key["key_policy_statements"][0]["Principal"]["AWS"],
        autoscaling_role()
    );
    // An unknown group is bad input.
    let out = amishare_with_profiles(&emu, &seed, "tgt")
        .args(["diagnose", "--asg", "no-such-group"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    aws(
        "autoscaling",
        "delete_auto_scaling_group",
        json!({"AutoScalingGroupName": "web", "ForceDelete": true}),
    );
    aws(
        "ec2",
        "delete_launch_template",
        json!({"LaunchTemplateName": "web"}),
    );
    assert_nothing_left(&emu);
}

/// Seed 000: an IAM user with "full EC2" (no KMS action) launches an AMI on a customer managed
/// key whose policy delegates to IAM: `Client.InternalError`, and diagnose names the missing
/// kms:CreateGrant in the user's IAM.
#[test]
fn diagnose_names_the_cause_for_the_seed_000_user() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--ec2-user"]);
    let user = seed["ec2_user_arn"].as_str().unwrap();
    let script = r#"
import json, sys, time, boto3
ep, ak, sk, ami = sys.argv[1:5]
ec2 = boto3.client("ec2", endpoint_url=ep, region_name="us-east-1", aws_access_key_id=ak, aws_secret_access_key=sk)
iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.nano")["Instances"][0]["InstanceId"]
for _ in range(100):
    st = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    if st["State"]["Name"] != "pending":
        break
    time.sleep(0.1)
print(json.dumps({"id": iid, "state": st["State"]["Name"], "reason": st.get("StateReason", {})}))
"#;
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            script,
            &emu.endpoint,
            seed["ec2_user_access_key_id"].as_str().unwrap(),
            seed["ec2_user_secret_access_key"].as_str().unwrap(),
            seed["ami_id"].as_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let launched: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(launched["state"], "terminated", "{launched}");
    assert_eq!(launched["reason"]["Code"], "Client.InternalError");
    let id = launched["id"].as_str().unwrap();
    let out = amishare_with_profiles(&emu, &seed, "src")
        .args(["diagnose", id, "--principal", user])
        .output()
        .unwrap();
    let d = stdout_json(&out);
    assert_eq!(out.status.code(), Some(1), "{d:#}");
    let causes = d["causes"].as_array().unwrap();
    assert!(
        causes
            .iter()
            .any(|c| c["code"] == "identity-policy-missing-action"
                && c.to_string().contains("kms:CreateGrant")),
        "{d:#}"
    );
}

/// amishare killed (SIGKILL: no cleanup at all) while it waits for its test group: the journal
/// names the group and template, and `amishare rollback` deletes both (and the instance).
#[test]
fn rollback_deletes_a_test_group_a_killed_run_left_behind() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key", "--target-key-allows-autoscaling"]);
    let mut child = spawn_waiting_in_the_group(&emu, &seed, std::process::Stdio::null);
    child.kill().unwrap();
    child.wait().unwrap();
    emu.clear_faults();
    let groups = emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "autoscaling",
        "describe_auto_scaling_groups",
        json!({}),
    );
    assert_eq!(
        groups["AutoScalingGroups"].as_array().unwrap().len(),
        1,
        "{groups}"
    );
    let runs: Vec<_> = std::fs::read_dir(emu.state_path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run_id = runs[0].file_stem().unwrap().to_str().unwrap().to_string();
    // `amishare runs` lists the group as left to undo.
    let listed = emu
        .amishare_as_source(&seed)
        .args(["--output", "json", "runs"])
        .output()
        .unwrap();
    let listed = stdout_json(&listed);
    assert!(
        listed.to_string().contains("\"kind\":\"group\""),
        "{listed:#}"
    );
    let doc = emu.rollback_ok(&seed, &run_id, &[]);
    let undone = doc["undone"].as_array().unwrap();
    assert!(
        undone
            .iter()
            .any(|u| u["step"] == "groups" && u["result"] == "undone"),
        "{doc:#}"
    );
    assert_nothing_left(&emu);
}

/// CreateAutoScalingGroup fails (a 5xx after the SDK's retries): the launch template made just
/// before is deleted all the same, and the launcher's row is an error.
#[test]
fn a_failing_group_creation_still_deletes_the_launch_template() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key", "--target-key-allows-autoscaling"]);
    emu.add_fault(
        json!({"type": "5xx", "service": "autoscaling", "action": "CreateAutoScalingGroup"}),
    );
    // Two attempts, not the default ten with backoff: the 5xx reaches amishare all the same.
    let ami = seed["ami_id"].as_str().unwrap();
    let out = copy_cmd(&emu, &seed, ami)
        .env("AWS_MAX_ATTEMPTS", "2")
        .args([
            "--target-key",
            seed["target_key_arn"].as_str().unwrap(),
            "--yes",
        ])
        .args(["--grant", &autoscaling_role()])
        .output()
        .unwrap();
    let (code, doc, stderr) = (
        out.status.code(),
        stdout_json(&out),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert_ne!(code, Some(0), "{stderr}\n{doc:#}");
    let row = &launchers(&doc)[0];
    assert_eq!(row["result"], "error", "{row:#}");
    assert!(
        row["reason"]
            .as_str()
            .unwrap()
            .contains("CreateAutoScalingGroup"),
        "{row:#}"
    );
    assert_eq!(row["cleaned_up"], true, "{row:#}");
    assert!(emu
        .mutating_actions()
        .contains(&"ec2:DeleteLaunchTemplate".to_string()));
    emu.clear_faults();
    assert_nothing_left(&emu);
}

/// `amishare copy --grant <Auto Scaling role> --yes` started in the background with the group's
/// activities never readable (DescribeScalingActivities throttled), returned once the run polls
/// them: it is inside the wait for its test group. `stdio` makes its stdout and stderr.
fn spawn_waiting_in_the_group(
    emu: &Emulator,
    seed: &Value,
    stdio: fn() -> std::process::Stdio,
) -> std::process::Child {
    let ami = seed["ami_id"].as_str().unwrap();
    let target_key = seed["target_key_arn"].as_str().unwrap();
    let mut cmd = emu.std_command_as_source(seed);
    cmd.args([
        "--output",
        "json",
        "copy",
        ami,
        "--to",
        TARGET_ACCOUNT,
        "--target-role",
        TARGET_ROLE,
        "--target-key",
        target_key,
        "--grant",
        &autoscaling_role(),
        "--yes",
    ])
    .stdout(stdio())
    .stderr(stdio());
    emu.add_fault(json!({"type": "throttle", "service": "autoscaling", "action": "DescribeScalingActivities"}));
    let child = cmd.spawn().unwrap();
    let started = std::time::Instant::now();
    while !emu
        .requests()
        .iter()
        .any(|r| r["action"] == "DescribeScalingActivities")
    {
        assert!(
            started.elapsed().as_secs() < 120,
            "the run never waited for a group"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}
