//! Unit tests of plan building on hand-built discoveries: a fresh copy, a finished state, aws/ebs,
//! `--reencrypt-with`, `--skip-key-policy-edit` and resumed step ids.

use super::*;
use crate::workflow::copy::facts::{ReencryptFacts, RegionFacts, TargetFacts};
use crate::workflow::inventory::IdentityPolicies;
use crate::workflow::inventory::{CallerIdentity, ImageInfo, KeyDescription, SnapshotInfo};
use crate::workflow::ports_write::{ImageStatus, TAG_SOURCE_IMAGE, TAG_TEST_LAUNCH};

const CREATED: &str = "2026-01-01T00:00:00Z";
use crate::workflow::inventory::{
    CreateVolumePermission, ImageBlockDevice, LaunchPermission, PrincipalKind,
};

const SRC: &str = "111122223333";
const TGT: &str = "444455556666";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1111aaaa-2222-3333-4444-555566667777";

pub(super) fn key_policy(extra_principal: Option<&str>) -> String {
    let mut users = vec![format!("arn:aws:iam::{SRC}:role/app")];
    if let Some(p) = extra_principal {
        users.push(p.to_string());
    }
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{SRC}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": users.clone()},
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

pub(super) fn discovery(manager: &str, shared: bool, policy: String) -> Discovery {
    let perm = |shared: bool| {
        if shared {
            vec![TGT.to_string()]
        } else {
            vec![]
        }
    };
    Discovery {
        source: CallerIdentity {
            account: SRC.into(),
            arn: format!("arn:aws:sts::{SRC}:assumed-role/admin/amishare"),
        },
        source_region: "us-east-1".into(),
        image: ImageInfo {
            id: "ami-1".into(),
            name: Some("web".into()),
            owner: Some(SRC.into()),
            state: Some("available".into()),
            architecture: Some("arm64".into()),
            creation_date: None,
            block_devices: vec![ImageBlockDevice {
                device: Some("/dev/xvda".into()),
                snapshot_id: Some("snap-1".into()),
                encrypted: Some(true),
                kms_key_id: None,
                volume_size: Some(8),
                volume_type: None,
            }],
            launch_permissions: Some(
                perm(shared)
                    .into_iter()
                    .map(|a| LaunchPermission {
                        user_id: Some(a),
                        group: None,
                        organization_arn: None,
                        organizational_unit_arn: None,
                    })
                    .collect(),
            ),
            tags: vec![],
        },
        snapshots: vec![SnapshotInfo {
            id: "snap-1".into(),
            encrypted: Some(true),
            kms_key_id: Some(KEY.into()),
            owner: Some(SRC.into()),
            state: Some("completed".into()),
            progress: Some("100%".into()),
            volume_size: Some(8),
            create_volume_permissions: Some(
                perm(shared)
                    .into_iter()
                    .map(|a| CreateVolumePermission {
                        user_id: Some(a),
                        group: None,
                    })
                    .collect(),
            ),
        }],
        keys: vec![KeyFacts {
            description: KeyDescription {
                arn: KEY.into(),
                key_id: "1111aaaa-2222-3333-4444-555566667777".into(),
                account: SRC.into(),
                region: "us-east-1".into(),
                key_manager: Some(manager.into()),
                key_state: Some("Enabled".into()),
                multi_region: Some(false),
                description: None,
                origin: None,
                key_spec: None,
                aliases: Some(vec![]),
            },
            policy: Some(policy),
            policy_error: None,
            grants: vec![],
        }],
        targets: vec![TargetFacts {
            account: TGT.into(),
            identity: Some(CallerIdentity {
                account: TGT.into(),
                arn: format!("arn:aws:sts::{TGT}:assumed-role/deployer/amishare"),
            }),
            identity_policies: Some(IdentityPolicies {
                principal_arn: format!("arn:aws:iam::{TGT}:role/deployer"),
                kind: PrincipalKind::Role,
                name: Some("deployer".into()),
                groups: vec![],
                // An administrator, as the roles amishare runs as usually are.
                policies: vec![crate::workflow::inventory::IdentityPolicyDoc {
                    source: crate::workflow::inventory::PolicySource::Inline,
                    name: "AdministratorAccess".into(),
                    arn: None,
                    version_id: None,
                    group: None,
                    document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#.into(),
                }],
            }),
            principals: vec![],
            usage_policy: None,
            regions: vec![RegionFacts {
                region: "us-east-1".into(),
                target_key: None,
                copies: vec![],
                ebs_default_key: None,
                copy_key: None,
            }],
            key_usage_policies: Default::default(),
            grant_creator_policy: None,
        }],
        reencrypt: None,
        probes: vec![],
        guardrails: Default::default(),
    }
}

pub(super) fn options() -> PlanOptions {
    PlanOptions {
        target_accounts: vec![TGT.into()],
        target_regions: vec!["us-east-1".into()],
        test_launch: true,
        launch_timeout_secs: 60,
        ..PlanOptions::default()
    }
}

fn actions(plan: &Plan) -> Vec<&'static str> {
    plan.steps
        .iter()
        .map(|s| match s.action {
            Action::PutKeyPolicy { .. } => "put-key-policy",
            Action::AddLaunchPermission { .. } => "add-launch-permission",
            Action::AddCreateVolumePermission { .. } => "add-create-volume-permission",
            Action::CopyImage { .. } => "copy-image",
            Action::TestLaunch { .. } => "test-launch",
            _ => "other",
        })
        .collect()
}

#[test]
fn a_fresh_copy_plans_key_policy_sharing_copy_and_test_launch() {
    let plan = build_plan(
        &discovery("CUSTOMER", false, key_policy(None)),
        &options(),
        "r",
        1,
        CREATED,
    )
    .unwrap();
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    assert_eq!(
        actions(&plan),
        [
            "put-key-policy",
            "add-launch-permission",
            "add-create-volume-permission",
            "copy-image",
            "test-launch"
        ]
    );
    // arm64 image: the smallest Graviton type.
    assert!(plan.steps.iter().any(|s| matches!(
        &s.action,
        Action::TestLaunch { instance_type, .. } if instance_type == "t4g.nano"
    )));
}

#[test]
fn a_finished_state_plans_nothing() {
    let mut d = discovery(
        "CUSTOMER",
        true,
        key_policy(Some(&format!("arn:aws:iam::{TGT}:root"))),
    );
    d.targets[0].regions[0].copies.push(ImageStatus {
        image_id: "ami-copy".into(),
        state: Some("available".into()),
        state_reason: None,
        snapshot_ids: vec![],
        progress_percent: Some(100),
        tags: vec![(TAG_TEST_LAUNCH.into(), "passed".into())],
        lifecycle: Default::default(),
    });
    let plan = build_plan(&d, &options(), "r", 1, CREATED).unwrap();
    assert!(plan.is_empty(), "{plan}");
    assert_eq!(plan.existing_copies.len(), 1);
}

#[test]
fn an_aws_managed_key_blocks_with_the_re_encrypting_fix() {
    let plan = build_plan(
        &discovery("AWS", false, key_policy(None)),
        &options(),
        "r",
        1,
        CREATED,
    )
    .unwrap();
    assert_eq!(plan.blockers[0].code, "aws-managed-key");
    assert!(plan.blockers[0].fix.contains("--kms-key-id"));
    assert!(plan.steps.is_empty());
}

fn reencrypt_facts(d: &Discovery, manager: &str, region: &str) -> ReencryptFacts {
    let mut key = d.keys[0].description.clone();
    key.arn = format!("arn:aws:kms:{region}:{SRC}:key/cmk");
    key.region = region.into();
    key.key_manager = Some(manager.into());
    ReencryptFacts {
        original_image_id: d.image.id.clone(),
        key: Some(key),
        key_error: None,
        pending_copy: None,
        using_copy: false,
    }
}

#[test]
fn reencrypt_with_a_customer_key_plans_only_the_re_encrypting_copy_in_the_source() {
    let mut d = discovery("AWS", false, key_policy(None));
    d.reencrypt = Some(reencrypt_facts(&d, "CUSTOMER", "us-east-1"));
    let mut opts = options();
    opts.reencrypt_with = Some("alias/cmk".into());
    let plan = build_plan(&d, &opts, "r", 1, CREATED).unwrap();
    assert!(plan.blockers.is_empty(), "{plan}");
    assert_eq!(plan.steps.len(), 1, "{plan}");
    let step = &plan.steps[0];
    assert_eq!(step.account, SRC);
    match &step.action {
        Action::ReencryptImage {
            source_image_id,
            kms_key_id,
            existing_image_id,
            tags,
            ..
        } => {
            assert_eq!(source_image_id, "ami-1");
            assert_eq!(kms_key_id, &format!("arn:aws:kms:us-east-1:{SRC}:key/cmk"));
            assert_eq!(existing_image_id, &None);
            assert!(tags.contains(&(TAG_SOURCE_IMAGE.to_string(), "ami-1".to_string())));
        }
        other => panic!("unexpected {other:?}"),
    }
    // A copy an earlier run started is waited for, not made again.
    if let Some(r) = d.reencrypt.as_mut() {
        r.pending_copy = Some("ami-earlier".into());
    }
    let plan = build_plan(&d, &opts, "r", 2, CREATED).unwrap();
    assert!(matches!(
        &plan.steps[0].action,
        Action::ReencryptImage { existing_image_id: Some(i), .. } if i == "ami-earlier"
    ));
}

#[test]
fn reencrypt_with_an_aws_managed_or_foreign_region_key_is_a_blocker() {
    let mut opts = options();
    opts.reencrypt_with = Some("alias/aws/ebs".into());
    for (manager, region) in [("AWS", "us-east-1"), ("CUSTOMER", "eu-west-1")] {
        let mut d = discovery("AWS", false, key_policy(None));
        d.reencrypt = Some(reencrypt_facts(&d, manager, region));
        let plan = build_plan(&d, &opts, "r", 1, CREATED).unwrap();
        assert_eq!(plan.blockers.len(), 1, "{plan}");
        assert_eq!(plan.blockers[0].code, "reencrypt-key");
        assert!(plan.steps.is_empty());
    }
}

#[test]
fn skip_key_policy_edit_plans_no_put_key_policy_and_resumed_ids_differ() {
    let mut o = options();
    o.skip_key_policy_edit = true;
    let plan = build_plan(
        &discovery("CUSTOMER", false, key_policy(None)),
        &o,
        "r",
        2,
        CREATED,
    )
    .unwrap();
    assert!(!actions(&plan).contains(&"put-key-policy"));
    assert!(plan.steps.iter().all(|s| s.id.starts_with("a2s")));
}
