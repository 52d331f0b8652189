//! The copy workflow (discover -> plan -> apply) over in-memory fakes of its ports
//! (`amishare::testing`, behind the `test-util` feature): no network, no emulator, milliseconds
//! per test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use amishare::testing::{
    Cloud, FakeImage, FakeKey, FakeReader, FakeSnapshot, FakeWriter, LaunchOutcome,
};
use amishare::workflow::copy::{apply, build_plan, discover, Apply, Report, Timing, World};
use amishare::workflow::events::CollectEvents;
use amishare::workflow::inventory::{
    IdentityPolicies, ImageBlockDevice, ImageInfo, KeyDescription, PrincipalKind, SnapshotInfo,
};
use amishare::workflow::journal::{
    Journal, JournalStore, MemoryJournalStore, RunStatus, StepState,
};
use amishare::workflow::plan::{Action, Plan, PlanOptions};
use serde_json::{json, Value};

pub(crate) const SRC: &str = "111122223333";
pub(crate) const T1: &str = "444455556666";
pub(crate) const T2: &str = "777788889999";
pub(crate) const REGION: &str = "us-east-1";
pub(crate) const KEY: &str =
    "arn:aws:kms:us-east-1:111122223333:key/1111aaaa-2222-3333-4444-555566667777";
pub(crate) const EBS_KEY: &str =
    "arn:aws:kms:us-east-1:111122223333:key/9999aaaa-2222-3333-4444-555566667777";
pub(crate) const AMI: &str = "ami-0000000000000aaaa";
pub(crate) const SNAP: &str = "snap-0000000000000aaaa";

pub(crate) type FakeWorld = World<FakeReader, FakeWriter>;

fn source_arn() -> String {
    format!("arn:aws:sts::{SRC}:assumed-role/admin/amishare")
}

fn deployer(account: &str) -> String {
    format!("arn:aws:sts::{account}:assumed-role/deployer/amishare")
}

pub(crate) fn launcher(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/Launcher")
}

/// The AWS console's default key policy: the source role is the only key user.
fn console_key_policy() -> String {
    let users = json!([format!("arn:aws:iam::{SRC}:role/app")]);
    json!({
        "Version": "2012-10-17",
        "Id": "key-consolepolicy-3",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{SRC}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": users},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
             "Resource": "*"},
            {"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
             "Principal": {"AWS": users},
             "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
        ]
    })
    .to_string()
}

fn key(arn: &str, manager: &str, alias: &str) -> KeyDescription {
    KeyDescription {
        arn: arn.into(),
        key_id: arn.rsplit('/').next().unwrap().into(),
        account: SRC.into(),
        region: REGION.into(),
        key_manager: Some(manager.into()),
        key_state: Some("Enabled".into()),
        multi_region: Some(false),
        description: None,
        origin: Some("AWS_KMS".into()),
        key_spec: Some("SYMMETRIC_DEFAULT".into()),
        aliases: Some(vec![alias.into()]),
    }
}

fn role(arn: &str) -> IdentityPolicies {
    IdentityPolicies {
        principal_arn: arn.into(),
        kind: PrincipalKind::Role,
        name: arn.rsplit('/').next().map(str::to_string),
        groups: vec![],
        policies: vec![],
    }
}

/// A source account with one AMI on one snapshot encrypted with `key_arn` (customer key `KEY`
/// or the aws/ebs key `EBS_KEY`), and target accounts with a `deployer` (amishare's identity)
/// and a `Launcher` role each.
pub(crate) fn cloud(key_arn: &str) -> Cloud {
    let cloud = Cloud::default();
    {
        let mut s = cloud.lock();
        s.keys.push(FakeKey {
            description: key(KEY, "CUSTOMER", "alias/app"),
            policy: console_key_policy(),
        });
        s.keys.push(FakeKey {
            description: key(EBS_KEY, "AWS", "alias/aws/ebs"),
            policy: "{\"Version\":\"2012-10-17\",\"Statement\":[]}".into(),
        });
        s.snapshots.push(FakeSnapshot {
            account: SRC.into(),
            region: REGION.into(),
            info: SnapshotInfo {
                id: SNAP.into(),
                encrypted: Some(true),
                kms_key_id: Some(key_arn.into()),
                owner: Some(SRC.into()),
                state: Some("completed".into()),
                progress: Some("100%".into()),
                volume_size: Some(8),
                create_volume_permissions: None,
            },
            create_volume_permissions: vec![],
        });
        s.images.push(FakeImage {
            account: SRC.into(),
            region: REGION.into(),
            info: ImageInfo {
                id: AMI.into(),
                name: Some("web".into()),
                owner: Some(SRC.into()),
                state: Some("available".into()),
                architecture: Some("x86_64".into()),
                creation_date: Some("2026-01-01T00:00:00.000Z".into()),
                block_devices: vec![ImageBlockDevice {
                    device: Some("/dev/xvda".into()),
                    snapshot_id: Some(SNAP.into()),
                    encrypted: Some(true),
                    kms_key_id: None,
                    volume_size: Some(8),
                    volume_type: Some("gp3".into()),
                }],
                launch_permissions: None,
                tags: vec![],
            },
            launch_permissions: vec![],
            state_reason: None,
        });
        s.principals.insert(
            format!("arn:aws:iam::{SRC}:role/admin"),
            role(&format!("arn:aws:iam::{SRC}:role/admin")),
        );
        for t in [T1, T2] {
            let d = format!("arn:aws:iam::{t}:role/deployer");
            // amishare's identity: an administrator (its IAM allows the source key's use).
            let mut admin = role(&d);
            admin.policies.push(amishare::workflow::inventory::IdentityPolicyDoc {
                source: amishare::workflow::inventory::PolicySource::Inline,
                name: "AdministratorAccess".into(),
                arn: None,
                version_id: None,
                group: None,
                document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#.into(),
            });
            s.principals.insert(d.clone(), admin);
            s.principals.insert(launcher(t), role(&launcher(t)));
        }
    }
    cloud
}

pub(crate) fn options(targets: &[&str]) -> PlanOptions {
    PlanOptions {
        target_accounts: targets.iter().map(|t| (*t).to_string()).collect(),
        target_regions: vec![REGION.into()],
        grants: targets.iter().map(|t| launcher(t)).collect(),
        test_launch: true,
        launch_timeout_secs: 30,
        ..PlanOptions::default()
    }
}

pub(crate) fn world(cloud: &Cloud, targets: &[&str]) -> FakeWorld {
    let t: Vec<(&str, Option<String>)> = targets.iter().map(|t| (*t, Some(deployer(t)))).collect();
    let t: Vec<(&str, Option<&str>)> = t.iter().map(|(a, d)| (*a, d.as_deref())).collect();
    cloud.world(&source_arn(), REGION, &t, &[REGION])
}

pub(crate) async fn plan(world: &FakeWorld, opts: &PlanOptions, run_id: &str) -> Plan {
    let d = discover(world, AMI, opts, &CollectEvents::default())
        .await
        .unwrap();
    build_plan(&d, opts, run_id, 1, "2026-01-01T00:00:00Z").unwrap()
}

pub(crate) fn fast() -> Timing {
    Timing {
        poll_start: Duration::from_millis(1),
        poll_max: Duration::from_millis(5),
        copy_timeout: Duration::from_secs(5),
        terminate_timeout: Duration::from_secs(2),
        instance_poll_start: Duration::from_millis(1),
        instance_poll_max: Duration::from_millis(5),
    }
}

pub(crate) async fn run(world: &FakeWorld, store: &MemoryJournalStore, plan: &Plan) -> Report {
    let (_tx, cancel) = tokio::sync::watch::channel(false);
    let events = CollectEvents::default();
    let ctx = Apply {
        world,
        store,
        events: &events,
        cancel,
        timing: fast(),
        max_concurrency: amishare::workflow::copy::DEFAULT_MAX_CONCURRENCY,
        throttle: &amishare::workflow::throttle::NoSignal,
        contention: amishare::workflow::contention::Contention::seeded(1),
    };
    apply(&ctx, plan, Journal::new(plan.clone())).await.unwrap()
}

fn kinds(plan: &Plan) -> Vec<&'static str> {
    plan.steps
        .iter()
        .map(|s| match &s.action {
            Action::PutKeyPolicy { .. } => "put-key-policy",
            Action::AddLaunchPermission { .. } => "add-launch-permission",
            Action::AddCreateVolumePermission { .. } => "add-create-volume-permission",
            Action::CreatePolicy { .. } => "create-policy",
            Action::CreatePolicyVersion { .. } => "create-policy-version",
            Action::AttachPolicy { .. } => "attach-policy",
            Action::CopyImage { .. } => "copy-image",
            Action::ReencryptImage { .. } => "reencrypt-image",
            Action::WaitCopy { .. } => "wait-copy",
            Action::TestLaunch { .. } => "test-launch",
            Action::TestLaunchAs { .. } => "test-launch-as",
            Action::RemoveLaunchPermission { .. } => "remove-launch-permission",
            Action::RemoveCreateVolumePermission { .. } => "remove-create-volume-permission",
            Action::RevokeKeyUsers { .. } => "revoke-key-users",
            Action::PutTargetKeyPolicy { .. } => "put-target-key-policy",
            Action::CreateGrant { .. } => "create-grant",
            Action::CreateServiceLinkedRole { .. } => "create-service-linked-role",
            Action::DeprecateImage { .. } => "deprecate-image",
            Action::ProtectImage { .. } => "protect-image",
            Action::PublishImageId { .. } => "publish-image-id",
        })
        .collect()
}

fn statement<'a>(policy: &'a Value, sid: &str) -> &'a Value {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid} in {policy}"))
}

fn principals(st: &Value) -> Vec<String> {
    match &st["Principal"]["AWS"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
        other => panic!("unexpected principal {other}"),
    }
}

#[tokio::test]
async fn a_world_where_everything_is_done_plans_nothing() {
    let cloud = cloud(KEY);
    let w = world(&cloud, &[T1]);
    let opts = options(&[T1]);
    let first = plan(&w, &opts, "run-1").await;
    // The `--grant` Launcher launches the copy (on the target's key), so it gets nothing on the
    // source key: no KmsKeyUsagePolicy for it, and the key policy names only the account.
    assert_eq!(
        kinds(&first),
        [
            "put-key-policy",
            "add-launch-permission",
            "add-create-volume-permission",
            "copy-image",
            "test-launch",
            // the `--grant` Launcher role, assumed from the deployer role (issue 11)
            "test-launch-as"
        ]
    );
    let store = MemoryJournalStore::default();
    let report = run(&w, &store, &first).await;
    assert_eq!(report.status, "ok", "{report:#?}");

    // The world is now done: the key policy has the target, the AMI and snapshot are shared,
    // a tested copy exists.
    cloud.clear_calls();
    let again = plan(&w, &opts, "run-2").await;
    assert!(again.steps.is_empty(), "{:#?}", again.steps);
    assert!(again.blockers.is_empty(), "{:#?}", again.blockers);
    assert_eq!(
        again.existing_copies.len(),
        1,
        "{:?}",
        again.existing_copies
    );
    assert_eq!(
        cloud.mutations(),
        Vec::<String>::new(),
        "discovery changed something"
    );
}

#[tokio::test]
async fn a_key_policy_without_the_target_gets_a_put_key_policy_with_the_merged_policy() {
    let cloud = cloud(KEY);
    let w = world(&cloud, &[T1]);
    let plan = plan(&w, &options(&[T1]), "run-1").await;
    let (before, after) = plan
        .steps
        .iter()
        .find_map(|s| match &s.action {
            Action::PutKeyPolicy {
                key_arn,
                before,
                after,
                ..
            } => {
                assert_eq!(key_arn, KEY);
                assert_eq!(
                    s.account, SRC,
                    "the key policy is written by the key's account"
                );
                Some((before.clone(), after.clone()))
            }
            _ => None,
        })
        .expect("a PutKeyPolicy step");
    assert_eq!(before, console_key_policy(), "before is the policy as read");
    let before: Value = serde_json::from_str(&before).unwrap();
    let after: Value = serde_json::from_str(&after).unwrap();

    // The key users gain the target account; nothing else is dropped or widened.
    let target_root = format!("arn:aws:iam::{T1}:root");
    for sid in [
        "Allow use of the key",
        "Allow attachment of persistent resources",
    ] {
        let p = principals(statement(&after, sid));
        assert!(p.contains(&target_root), "{sid}: {p:?}");
        assert!(
            p.contains(&format!("arn:aws:iam::{SRC}:role/app")),
            "{sid}: {p:?}"
        );
        assert_eq!(
            statement(&after, sid)["Action"],
            statement(&before, sid)["Action"],
            "{sid}: actions unchanged"
        );
        assert_eq!(
            statement(&after, sid)["Condition"],
            statement(&before, sid)["Condition"],
            "{sid}: condition unchanged"
        );
    }
    assert_eq!(
        statement(&after, "Enable IAM User Permissions"),
        statement(&before, "Enable IAM User Permissions")
    );
    assert_eq!(after["Statement"].as_array().unwrap().len(), 3);
    assert_eq!(after["Id"], before["Id"]);

    // Applied, the fake key holds exactly the planned policy.
    let planned_after = plan
        .steps
        .iter()
        .find_map(|s| match &s.action {
            Action::PutKeyPolicy { after, .. } => Some(after.clone()),
            _ => None,
        })
        .unwrap();
    let store = MemoryJournalStore::default();
    let report = run(&w, &store, &plan).await;
    assert_eq!(report.status, "ok", "{report:#?}");
    let stored: Value = serde_json::from_str(&cloud.key_policy(KEY)).unwrap();
    let planned: Value = serde_json::from_str(&planned_after).unwrap();
    assert_eq!(stored, planned);
}

#[tokio::test]
async fn an_aws_managed_key_is_a_blocker_with_a_fix_and_no_steps() {
    let cloud = cloud(EBS_KEY);
    let w = world(&cloud, &[T1]);
    cloud.clear_calls();
    let plan = plan(&w, &options(&[T1]), "run-1").await;
    assert!(plan.steps.is_empty(), "{:#?}", plan.steps);
    let b = plan
        .blockers
        .iter()
        .find(|b| b.code == "aws-managed-key")
        .unwrap_or_else(|| panic!("{:#?}", plan.blockers));
    assert!(
        b.message.contains(EBS_KEY) || b.message.contains("aws/ebs"),
        "{}",
        b.message
    );
    assert!(
        b.fix.contains("copy") && b.fix.to_lowercase().contains("customer"),
        "the fix re-encrypts with a customer managed key: {}",
        b.fix
    );
    assert_eq!(cloud.mutations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_failing_write_step_stops_that_target_is_journalled_and_the_others_continue() {
    let cloud = cloud(KEY);
    let w = world(&cloud, &[T1, T2]);
    let plan = plan(&w, &options(&[T1, T2]), "run-1").await;
    cloud.fail(Some(T1), "CopyImage", "InvalidRequest", None);
    let store = MemoryJournalStore::default();
    let report = run(&w, &store, &plan).await;

    assert_eq!(report.status, "failed");
    let t1 = report.targets.iter().find(|t| t.account == T1).unwrap();
    let t2 = report.targets.iter().find(|t| t.account == T2).unwrap();
    assert_eq!(t1.status, "failed", "{t1:#?}");
    assert!(
        t1.error.as_deref().unwrap().contains("InvalidRequest"),
        "{t1:#?}"
    );
    assert!(
        t1.test_launch.is_none(),
        "no test launch after a failed copy"
    );
    assert_eq!(t2.status, "ok", "{t2:#?}");
    assert!(t2.image_id.is_some());
    assert_eq!(t2.test_launch.as_ref().unwrap().result, "running");

    // The journal has the failure with its error, and T2's steps done.
    let journal = store.load("run-1").unwrap();
    assert_eq!(journal.status, RunStatus::Failed);
    let copy_step = |account: &str| {
        plan.steps
            .iter()
            .find(|s| s.account == account && matches!(s.action, Action::CopyImage { .. }))
            .unwrap()
            .id
            .clone()
    };
    let e1 = journal.entry(&copy_step(T1)).unwrap();
    assert_eq!(e1.state, StepState::Failed);
    assert!(e1.error.as_deref().unwrap().contains("InvalidRequest"));
    assert!(e1.finished_at.is_some());
    let e2 = journal.entry(&copy_step(T2)).unwrap();
    assert_eq!(e2.state, StepState::Done);
    assert_eq!(e2.created, vec![t2.image_id.clone().unwrap()]);
    let t1_launch = plan
        .steps
        .iter()
        .find(|s| s.account == T1 && matches!(s.action, Action::TestLaunch { .. }))
        .unwrap();
    assert!(
        journal.entry(&t1_launch.id).is_none(),
        "T1's launch never started"
    );
    // No instance left in any state but terminated.
    assert!(cloud
        .lock()
        .instances
        .values()
        .all(|i| i.state == "terminated"));
    assert!(journal.unconfirmed_instances().is_empty());
}

#[tokio::test]
async fn a_failing_source_step_stops_the_run_before_any_target() {
    let cloud = cloud(KEY);
    let w = world(&cloud, &[T1, T2]);
    let plan = plan(&w, &options(&[T1, T2]), "run-1").await;
    cloud.fail(
        Some(SRC),
        "ModifyImageAttribute",
        "UnauthorizedOperation",
        None,
    );
    let store = MemoryJournalStore::default();
    let report = run(&w, &store, &plan).await;
    assert_eq!(report.status, "failed");
    let muts = cloud.mutations();
    assert!(muts.iter().all(|m| !m.starts_with("CopyImage")), "{muts:?}");
    assert!(
        muts.iter().all(|m| !m.starts_with("CreatePolicy")),
        "{muts:?}"
    );
    let journal = store.load("run-1").unwrap();
    // The first failing share stops the run: the image's launch permissions go out in one
    // batch (one failed entry per target account of that batch), nothing started after it.
    let failed: Vec<_> = journal
        .entries
        .values()
        .filter(|e| e.state == StepState::Failed)
        .collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    for f in &failed {
        assert!(matches!(f.step.action, Action::AddLaunchPermission { .. }));
        assert!(f
            .error
            .as_deref()
            .unwrap()
            .contains("UnauthorizedOperation"));
    }
    assert_eq!(
        muts.iter()
            .filter(|m| m.starts_with("ModifyImageAttribute"))
            .count(),
        1,
        "{muts:?}"
    );
    assert!(journal
        .entries
        .values()
        .all(|e| !matches!(e.step.action, Action::AddCreateVolumePermission { .. })));
    assert!(report
        .targets
        .iter()
        .all(|t| t.error.as_deref() == Some("not attempted: a source-account step failed")));
    assert_eq!(journal.status, RunStatus::Failed);
}

#[tokio::test]
async fn the_test_instance_is_terminated_when_waiting_for_it_fails() {
    let cloud = cloud(KEY);
    let w = world(&cloud, &[T1]);
    let plan = plan(&w, &options(&[T1]), "run-1").await;
    // The first DescribeInstances of the test instance fails (not a transient error).
    cloud.fail(
        Some(T1),
        "DescribeInstances",
        "UnauthorizedOperation",
        Some(1),
    );
    let store = MemoryJournalStore::default();
    let report = run(&w, &store, &plan).await;

    let launch = report.targets[0].test_launch.as_ref().unwrap();
    assert_eq!(launch.result, "error", "{launch:#?}");
    assert!(launch
        .error
        .as_deref()
        .unwrap()
        .contains("UnauthorizedOperation"));
    let id = launch.instance_id.clone().unwrap();
    assert!(launch.terminated, "termination confirmed: {launch:#?}");
    assert_eq!(cloud.instance(&id).state, "terminated");
    let terminations: Vec<_> = cloud
        .calls()
        .into_iter()
        .filter(|c| c.api == "TerminateInstances")
        .collect();
    assert_eq!(terminations.len(), 1);
    assert_eq!(terminations[0].arg, id);
    let journal = store.load("run-1").unwrap();
    assert!(journal.instances[&id].terminated);
    assert!(report.left_behind.is_empty(), "{:?}", report.left_behind);
    assert_eq!(report.status, "failed");
}

#[tokio::test]
async fn the_test_instance_is_terminated_when_it_never_runs() {
    let cloud = cloud(KEY);
    cloud.lock().launch = LaunchOutcome::StaysPending;
    let w = world(&cloud, &[T1]);
    let mut opts = options(&[T1]);
    opts.launch_timeout_secs = 0;
    let plan = plan(&w, &opts, "run-1").await;
    let store = MemoryJournalStore::default();
    let report = run(&w, &store, &plan).await;
    let launch = report.targets[0].test_launch.as_ref().unwrap();
    assert_eq!(launch.result, "timeout", "{launch:#?}");
    assert!(launch.terminated);
    assert_eq!(
        cloud.instance(launch.instance_id.as_deref().unwrap()).state,
        "terminated"
    );
    assert!(store
        .load("run-1")
        .unwrap()
        .unconfirmed_instances()
        .is_empty());
}

#[tokio::test]
async fn a_failed_launch_is_diagnosed_and_the_instance_not_terminated_twice() {
    let cloud = cloud(KEY);
    cloud.lock().launch = LaunchOutcome::Fails(
        "Client.InternalError".into(),
        "Client.InternalError: Client error on launch".into(),
    );
    let w = world(&cloud, &[T1]);
    let plan = plan(&w, &options(&[T1]), "run-1").await;
    let store = MemoryJournalStore::default();
    let report = run(&w, &store, &plan).await;
    let t = &report.targets[0];
    let launch = t.test_launch.as_ref().unwrap();
    assert_eq!(launch.result, "failed");
    assert_eq!(
        launch.state_reason_code.as_deref(),
        Some("Client.InternalError")
    );
    assert!(launch.terminated);
    assert!(t.diagnosis.is_some(), "{t:#?}");
    assert!(
        cloud.calls().iter().all(|c| c.api != "TerminateInstances"),
        "terminating an already terminated instance would replace its state reason"
    );
}

#[tokio::test]
async fn a_test_instance_that_cannot_be_terminated_is_reported_as_left_behind() {
    let cloud = cloud(KEY);
    let w = world(&cloud, &[T1]);
    let plan = plan(&w, &options(&[T1]), "run-1").await;
    cloud.fail(
        Some(T1),
        "TerminateInstances",
        "UnauthorizedOperation",
        None,
    );
    let store = MemoryJournalStore::default();
    let report = run(&w, &store, &plan).await;
    let launch = report.targets[0].test_launch.as_ref().unwrap();
    let id = launch.instance_id.clone().unwrap();
    assert!(!launch.terminated, "{launch:#?}");
    assert!(
        launch
            .error
            .as_deref()
            .unwrap()
            .contains("cannot terminate"),
        "{launch:#?}"
    );
    assert_eq!(cloud.instance(&id).state, "running");
    assert!(
        report.left_behind.iter().any(|l| l.contains(&id)),
        "{:?}",
        report.left_behind
    );
    let journal = store.load("run-1").unwrap();
    assert_eq!(journal.unconfirmed_instances().len(), 1);
}

/// IAM refusing to show the target's `KmsKeyUsagePolicy` (AccessDenied on GetPolicy, as a role
/// without IAM read rights gets on AWS) is not a discovery failure: the identity's IAM counts as
/// unreadable in that account, and the plan leaves that account out before any change.
#[tokio::test]
async fn an_unreadable_usage_policy_is_unreadable_iam_not_a_failed_discovery() {
    let cloud = cloud(KEY);
    let w = world(&cloud, &[T1, T2]);
    cloud.fail(Some(T1), "GetPolicy", "AccessDenied", None);
    let opts = options(&[T1, T2]);
    let d = discover(&w, AMI, &opts, &CollectEvents::default())
        .await
        .unwrap();
    let t = |a: &str| d.targets.iter().find(|t| t.account == a).unwrap();
    assert!(t(T1).identity_policies.is_none() && t(T1).usage_policy.is_none());
    assert!(t(T2).identity_policies.is_some());
    let plan = build_plan(&d, &opts, "run-1", 1, "2026-01-01T00:00:00Z").unwrap();
    // Only T1 is concerned: it is left out with the blocker's text, T2 proceeds.
    assert!(plan.blockers.is_empty(), "{:#?}", plan.blockers);
    let left_out: Vec<&str> = plan.excluded.iter().map(|e| e.account.as_str()).collect();
    assert_eq!(left_out, [T1], "{:#?}", plan.excluded);
    let cause = &plan.excluded[0].causes[0];
    assert!(
        cause.layer == "access" && cause.message.contains(T1),
        "{cause:#?}"
    );
    assert!(
        plan.steps.iter().all(|s| s.account != T1),
        "{:#?}",
        plan.steps
    );
    assert!(
        plan.steps.iter().any(|s| s.account == T2),
        "{:#?}",
        plan.steps
    );
    assert_eq!(cloud.mutations(), Vec::<String>::new());
}
