//! The guardrail pass of plan building: a target account an SCP, RCP or permissions boundary
//! denies, or whose Allowed AMIs excludes the source, is left out (no share, no key policy
//! principal, no steps); the others proceed; when every target is left out, the causes are
//! blockers. Hand-built discoveries (`tests.rs`).

use super::tests::{discovery, key_policy, options};
use super::*;
use crate::workflow::allowed_images::{AllowedImagesSettings, ImageCriterion};
use crate::workflow::guardrail_facts::{
    AllowedImagesFact, BoundaryDoc, BoundaryFact, LevelFact, PathFact, PolicyFact,
};
use crate::workflow::plan::{by_cause, Action, BlockerCode};

const TGT: &str = "444455556666";
const OTHER: &str = "777788889999";
const CREATED: &str = "2026-01-01T00:00:00Z";

const FULL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const DENY_GRANTS: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoKmsGrants","Effect":"Deny","Action":"kms:CreateGrant","Resource":"*"}]}"#;

fn level(target: &str, extra: Option<(&str, &str)>) -> LevelFact {
    let mut policies = vec![PolicyFact {
        id: "p-FullAWSAccess".into(),
        name: "FullAWSAccess".into(),
        content: FULL.into(),
    }];
    if let Some((id, content)) = extra {
        policies.push(PolicyFact {
            id: id.into(),
            name: id.into(),
            content: content.into(),
        });
    }
    LevelFact {
        target: target.into(),
        policies,
    }
}

fn scp_path(account: &str, deny: bool) -> PathFact {
    PathFact::Known {
        levels: vec![
            level("r-root", None),
            level("ou-prod", deny.then_some(("p-nogrants", DENY_GRANTS))),
            level(account, None),
        ],
        management_account: false,
    }
}

/// Two targets: `TGT` and `OTHER` (a copy of `TGT` with another account id).
fn two_targets() -> (Discovery, PlanOptions) {
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    let mut other = d.targets[0].clone();
    other.account = OTHER.into();
    if let Some(id) = other.identity.as_mut() {
        id.account = OTHER.into();
        id.arn = format!("arn:aws:sts::{OTHER}:assumed-role/deployer/amishare");
    }
    d.targets.push(other);
    let mut o = options();
    o.target_accounts.push(OTHER.into());
    (d, o)
}

fn accounts_in_steps(plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = plan.steps.iter().map(|s| s.account.clone()).collect();
    for s in &plan.steps {
        if let Action::AddLaunchPermission { account, .. }
        | Action::AddCreateVolumePermission { account, .. } = &s.action
        {
            out.push(account.clone());
        }
    }
    out
}

#[test]
fn an_account_under_a_blocking_scp_is_left_out_and_the_other_proceeds() {
    let (mut d, o) = two_targets();
    d.guardrails.scps.insert(TGT.into(), scp_path(TGT, true));
    d.guardrails
        .scps
        .insert(OTHER.into(), scp_path(OTHER, false));
    let plan = build_plan(&d, &o, "r", 1, CREATED).unwrap();
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    assert_eq!(plan.excluded.len(), 1);
    assert_eq!(plan.excluded[0].account, TGT);
    let cause = &plan.excluded[0].causes[0];
    assert_eq!(cause.layer, "scp");
    assert_eq!(cause.policy.as_deref(), Some("p-nogrants"));
    assert!(cause.message.contains("`ou-prod`"), "{}", cause.message);
    let touched = accounts_in_steps(&plan);
    assert!(!touched.iter().any(|a| a == TGT), "{touched:?}");
    assert!(touched.iter().any(|a| a == OTHER), "{touched:?}");
    // The source key policy names the other account only.
    let key_edit = serde_json::to_string(&plan.steps).unwrap();
    assert!(!key_edit.contains(&format!("arn:aws:iam::{TGT}:root")));
    assert_eq!(
        by_cause(&plan.excluded),
        vec![("scp `p-nogrants`".to_string(), vec![TGT.to_string()])]
    );
}

#[test]
fn every_target_blocked_is_a_blocker_before_any_change() {
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    d.guardrails.scps.insert(TGT.into(), scp_path(TGT, true));
    let plan = build_plan(&d, &options(), "r", 1, CREATED).unwrap();
    assert!(plan.steps.is_empty());
    assert_eq!(plan.blockers[0].code, BlockerCode::GuardrailDenied);
    assert!(
        plan.blockers[0].message.contains("p-nogrants"),
        "{}",
        plan.blockers[0].message
    );
}

#[test]
fn a_boundary_without_kms_and_an_rcp_perimeter_block_too() {
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    let copier = d.targets[0].identity.as_ref().unwrap().arn.clone();
    d.guardrails.boundaries.insert(
        copier,
        BoundaryFact::Known(BoundaryDoc {
            arn: format!("arn:aws:iam::{TGT}:policy/NoKms"),
            document: r#"{"Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*"}}"#.into(),
        }),
    );
    let plan = build_plan(&d, &options(), "r", 1, CREATED).unwrap();
    assert_eq!(plan.excluded[0].causes[0].layer, "permissions-boundary");
    assert!(plan.steps.is_empty());

    let mut d = discovery("CUSTOMER", false, key_policy(None));
    let rcp = r#"{"Statement":[{"Sid":"Perimeter","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringNotEqualsIfExists":{"aws:PrincipalOrgID":"o-source"},"BoolIfExists":{"aws:PrincipalIsAWSService":"false"}}}]}"#;
    d.guardrails.rcps = Some(PathFact::Known {
        levels: vec![LevelFact {
            target: "r-src".into(),
            policies: vec![PolicyFact {
                id: "p-perimeter".into(),
                name: "Perimeter".into(),
                content: rcp.into(),
            }],
        }],
        management_account: false,
    });
    let plan = build_plan(&d, &options(), "r", 1, CREATED).unwrap();
    assert_eq!(plan.excluded[0].causes[0].layer, "rcp");
    assert_eq!(
        plan.excluded[0].causes[0].policy.as_deref(),
        Some("p-perimeter")
    );
}

#[test]
fn allowed_amis_without_the_source_account_blocks_with_the_criterion() {
    let (mut d, o) = two_targets();
    d.guardrails.allowed_images.insert(
        format!("{TGT}/us-east-1"),
        AllowedImagesFact::Known(AllowedImagesSettings {
            state: "enabled".into(),
            criteria: vec![ImageCriterion {
                image_providers: vec!["amazon".into()],
                ..ImageCriterion::default()
            }],
            managed_by: Some("account".into()),
        }),
    );
    let plan = build_plan(&d, &o, "r", 1, CREATED).unwrap();
    let cause = &plan.excluded[0].causes[0];
    assert_eq!(plan.excluded[0].account, TGT);
    assert_eq!(cause.layer, "allowed-amis");
    assert!(
        cause.fix.contains("ImageProviders=[111122223333]"),
        "{}",
        cause.fix
    );
    assert!(!accounts_in_steps(&plan).iter().any(|a| a == TGT));
}

#[test]
fn unseen_layers_are_notes_not_exclusions() {
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    d.guardrails.scps.insert(
        TGT.into(),
        PathFact::Unseen {
            reason: "AccessDenied".into(),
            command: "aws organizations list-policies-for-target --target-id ou-prod --filter SERVICE_CONTROL_POLICY".into(),
        },
    );
    let plan = build_plan(&d, &options(), "r", 1, CREATED).unwrap();
    assert!(plan.excluded.is_empty());
    assert!(!plan.steps.is_empty());
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("list-policies-for-target")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn unread_org_layers_are_unseen_notes_never_a_silent_allow() {
    let (d, o) = two_targets();
    let plan = build_plan(&d, &o, "r", 1, CREATED).unwrap();
    let scp: Vec<&String> = plan
        .notes
        .iter()
        .filter(|n| n.contains("SCP layer was not read"))
        .collect();
    assert_eq!(scp.len(), 1, "{:?}", plan.notes);
    assert!(scp[0].contains(&format!("{TGT}, {OTHER}")), "{}", scp[0]);
    assert!(
        scp[0].contains("--filter SERVICE_CONTROL_POLICY"),
        "{}",
        scp[0]
    );
    assert!(scp[0].contains("--org-profile"), "{}", scp[0]);
    let rcp: Vec<&String> = plan
        .notes
        .iter()
        .filter(|n| n.contains("RCP layer"))
        .collect();
    assert_eq!(rcp.len(), 1, "{:?}", plan.notes);
    assert!(
        rcp[0].contains("--filter RESOURCE_CONTROL_POLICY"),
        "{}",
        rcp[0]
    );
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);

    // With the organization's facts: no such note.
    let (mut d, o) = two_targets();
    d.guardrails.scps.insert(TGT.into(), scp_path(TGT, false));
    d.guardrails
        .scps
        .insert(OTHER.into(), scp_path(OTHER, false));
    d.guardrails.rcps = Some(PathFact::Known {
        levels: vec![level("r-src", None)],
        management_account: false,
    });
    let plan = build_plan(&d, &o, "r", 1, CREATED).unwrap();
    assert!(
        !plan.notes.iter().any(|n| n.contains("was not read")),
        "{:?}",
        plan.notes
    );

    // Over ten unread accounts: the first ten, then how many more.
    let (mut d, mut o) = two_targets();
    for i in 0..11 {
        let mut t = d.targets[1].clone();
        t.account = format!("1000000000{i:02}");
        o.target_accounts.push(t.account.clone());
        d.targets.push(t);
    }
    let plan = build_plan(&d, &o, "r", 1, CREATED).unwrap();
    let n = plan.notes.iter().find(|n| n.contains("SCP layer")).unwrap();
    assert!(n.contains("and 3 more"), "{n}");
}

/// A target key, described as discovery leaves it.
fn target_key(
    account: &str,
    state: &str,
    spec: &str,
) -> crate::workflow::copy::facts::TargetKeyFacts {
    let mut desc = discovery("CUSTOMER", false, key_policy(None)).keys[0]
        .description
        .clone();
    desc.arn = format!("arn:aws:kms:us-east-1:{account}:key/9999aaaa-2222-3333-4444-555566667777");
    desc.account = account.into();
    desc.key_state = Some(state.into());
    desc.key_spec = Some(spec.into());
    crate::workflow::copy::facts::TargetKeyFacts {
        key_ref: desc.arn.clone(),
        description: Some(desc),
        policy: None,
        grants: vec![],
        error: None,
    }
}

/// KMS "Key states of AWS KMS keys": a disabled key cannot encrypt, so CopyImage into the
/// account fails; the target owns the key, so the account is left out, the other proceeds.
#[test]
fn a_disabled_target_key_leaves_its_account_out() {
    let (mut d, mut o) = two_targets();
    o.target_key = Some("alias/copies".into());
    d.targets[0].regions[0].copy_key = Some(target_key(TGT, "Disabled", "SYMMETRIC_DEFAULT"));
    d.targets[1].regions[0].copy_key = Some(target_key(OTHER, "Enabled", "SYMMETRIC_DEFAULT"));
    let plan = build_plan(&d, &o, "r", 1, CREATED).unwrap();
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    assert_eq!(plan.excluded.len(), 1, "{:?}", plan.excluded);
    assert_eq!(plan.excluded[0].account, TGT);
    let cause = &plan.excluded[0].causes[0];
    assert_eq!(cause.layer, "key-state");
    assert!(cause.message.contains("disabled"), "{}", cause.message);
    assert!(cause.fix.contains("aws kms enable-key"), "{}", cause.fix);
    let touched = accounts_in_steps(&plan);
    assert!(!touched.iter().any(|a| a == TGT), "{touched:?}");
    assert!(touched.iter().any(|a| a == OTHER), "{touched:?}");
    // The same keys in a share-only plan: no copy, so no cause.
    o.share_only = true;
    let plan = build_plan(&d, &o, "r", 1, CREATED).unwrap();
    assert!(plan.excluded.is_empty(), "{:?}", plan.excluded);
}

/// EBS encrypts only with symmetric encryption keys (EBS user guide, "Amazon EBS encryption
/// requirements"): an asymmetric EBS default key of the only target blocks the run; an
/// asymmetric source key blocks it too.
#[test]
fn an_asymmetric_key_blocks_with_the_key_spec() {
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    d.targets[0].regions[0].ebs_default_key = Some(target_key(TGT, "Enabled", "RSA_2048"));
    let plan = build_plan(&d, &options(), "r", 1, CREATED).unwrap();
    assert!(plan.steps.is_empty());
    assert_eq!(
        plan.blockers[0].code,
        BlockerCode::KeySpec,
        "{:?}",
        plan.blockers
    );
    assert!(plan.blockers[0].message.contains("RSA_2048"));
    assert!(plan.blockers[0]
        .fix
        .contains("modify-ebs-default-kms-key-id"));

    let mut d = discovery("CUSTOMER", false, key_policy(None));
    d.keys[0].description.key_spec = Some("HMAC_256".into());
    let plan = build_plan(&d, &options(), "r", 1, CREATED).unwrap();
    assert!(plan.steps.is_empty());
    assert!(
        plan.blockers.iter().any(|b| b.code == BlockerCode::KeySpec),
        "{:?}",
        plan.blockers
    );
}

/// `--to-ou --share-only`: with a member left out, the OU-wide launch permission and key policy
/// statements would still reach it, so the others are shared with one by one.
#[test]
fn a_left_out_member_turns_an_ou_share_into_per_account_shares() {
    let (mut d, mut o) = two_targets();
    o.share_only = true;
    let path = "o-a1b2c3d4e5/r-ab12/ou-ab12-22222222/";
    o.org_targets = Some(crate::workflow::org_targets::OrgTargets {
        from: vec!["ou ou-ab12-22222222".into()],
        ous: vec!["ou-ab12-22222222".into()],
        org_id: Some("o-a1b2c3d4e5".into()),
        management_account: Some("111122223333".into()),
        ou_paths: [("ou-ab12-22222222".to_string(), path.to_string())].into(),
        members: [
            (TGT.to_string(), path.to_string()),
            (OTHER.to_string(), path.to_string()),
        ]
        .into(),
        ..Default::default()
    });
    // Without exclusions: one OU ARN launch permission.
    let plan = build_plan(&d, &o, "r", 1, CREATED).unwrap();
    let shared = serde_json::to_string(&plan.steps).unwrap();
    assert!(
        shared.contains(":ou/o-a1b2c3d4e5/ou-ab12-22222222"),
        "{shared}"
    );

    d.guardrails.scps.insert(TGT.into(), scp_path(TGT, true));
    d.guardrails
        .scps
        .insert(OTHER.into(), scp_path(OTHER, false));
    let plan = build_plan(&d, &o, "r", 1, CREATED).unwrap();
    assert_eq!(plan.excluded.len(), 1);
    let steps = serde_json::to_string(&plan.steps).unwrap();
    assert!(!steps.contains(":ou/"), "no OU-wide share: {steps}");
    assert!(!steps.contains("aws:PrincipalOrgPaths"), "{steps}");
    assert!(!steps.contains(TGT), "{steps}");
    let launch: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::AddLaunchPermission { account, .. } => Some(account.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(launch, vec![OTHER]);
    assert!(
        plan.notes.iter().any(|n| n.contains("one by one")),
        "{:?}",
        plan.notes
    );
}
