//! Plans for `--to-ou` / `--to-org` targets: one OrganizationalUnitArn launch permission with
//! `--share-only` (snapshots per account), the organization-conditioned key-policy statements
//! (named accounts still listed), the policy engine's verdict through them (and a principal
//! outside the OU denied), a rerun planning nothing, and `--revoke-after-copy` undoing both.

#![allow(clippy::unwrap_used)]

use super::tests::{discovery, key_policy, options};
use super::*;
use crate::workflow::inventory::{
    CreateVolumePermission, IdentityPolicyDoc, LaunchPermission, PolicySource,
};
use crate::workflow::org_targets::{KeyPolicyPrincipals, OrgTargets};
use crate::workflow::plan::AccessVerdict;

const MEMBER: &str = "444455556666";
const NAMED: &str = "777788889999";
const OU: &str = "ou-ab12-22222222";
const OU_PATH: &str = "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/";
const OU_ARN: &str = "arn:aws:organizations::999999999999:ou/o-a1b2c3d4e5/ou-ab12-22222222";
const CREATED: &str = "2026-01-01T00:00:00Z";

fn org_targets(member_path: &str) -> OrgTargets {
    OrgTargets {
        from: vec![format!("ou {OU}")],
        ous: vec![OU.into()],
        org_id: Some("o-a1b2c3d4e5".into()),
        management_account: Some("999999999999".into()),
        ou_paths: [(OU.to_string(), OU_PATH.to_string())].into(),
        members: [(MEMBER.to_string(), member_path.to_string())].into(),
        ..OrgTargets::default()
    }
}

/// The member's target role may use any KMS key in its own IAM (so the verdict turns on the key
/// policy alone).
fn world(member_path: &str, share_only: bool) -> (Discovery, PlanOptions) {
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    let mut named = d.targets[0].clone();
    named.account = NAMED.into();
    named.identity = None;
    named.identity_policies = None;
    d.targets.push(named);
    if let Some(p) = d.targets[0].identity_policies.as_mut() {
        p.policies.push(IdentityPolicyDoc {
            source: PolicySource::Inline,
            name: "kms".into(),
            arn: None,
            version_id: None,
            group: None,
            document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#.into(),
        });
    }
    let mut o = options();
    o.target_accounts = vec![NAMED.into(), MEMBER.into()];
    o.share_only = share_only;
    o.test_launch = false;
    o.org_targets = Some(org_targets(member_path));
    (d, o)
}

fn plan_of(d: &Discovery, o: &PlanOptions) -> Plan {
    build_plan(d, o, "r", 1, CREATED).unwrap()
}

fn launch_permissions(plan: &Plan) -> Vec<&str> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::AddLaunchPermission { account, .. } => Some(account.as_str()),
            _ => None,
        })
        .collect()
}

fn volume_permissions(plan: &Plan) -> Vec<&str> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::AddCreateVolumePermission { account, .. } => Some(account.as_str()),
            _ => None,
        })
        .collect()
}

fn key_policy_after(plan: &Plan) -> (String, Vec<crate::policy::edit::AddedPrincipal>) {
    plan.steps
        .iter()
        .find_map(|s| match &s.action {
            Action::PutKeyPolicy { after, added, .. } => Some((after.clone(), added.clone())),
            _ => None,
        })
        .unwrap()
}

#[test]
fn share_only_to_an_ou_shares_the_image_with_the_ou_and_snapshots_per_account() {
    let (d, o) = world(OU_PATH, true);
    let plan = plan_of(&d, &o);
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    assert_eq!(launch_permissions(&plan), [OU_ARN, NAMED]);
    assert_eq!(volume_permissions(&plan), [NAMED, MEMBER]);
    // The key policy: the named account listed, the member only through the OU statements.
    let (after, added) = key_policy_after(&plan);
    assert!(after.contains(&format!("arn:aws:iam::{NAMED}:root")));
    assert!(!after.contains(MEMBER), "{after}");
    assert!(after.contains("aws:PrincipalOrgPaths") && after.contains(&format!("{OU_PATH}*")));
    assert!(after.contains("\"kms:ViaService\": \"ec2.us-east-1.amazonaws.com\""));
    assert_eq!(added.iter().filter(|a| a.statement.is_some()).count(), 2);
    // The engine sees the member's org path: denied now, allowed after the plan.
    let check = plan
        .checks
        .iter()
        .find(|c| c.principal.contains(MEMBER))
        .unwrap();
    assert_eq!(
        (check.now, check.after_plan),
        (AccessVerdict::Deny, AccessVerdict::Allow),
        "{check:?}"
    );
}

#[test]
fn a_principal_outside_the_ou_is_not_admitted_by_the_ou_statements() {
    let (d, o) = world("o-a1b2c3d4e5/r-ab12/ou-ab12-99999999/", true);
    let plan = plan_of(&d, &o);
    // Denied after the plan: the rule leaves the account out (the named account proceeds).
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    assert!(!plan.checks.iter().any(|c| c.principal.contains(MEMBER)));
    let left_out: Vec<&str> = plan.excluded.iter().map(|e| e.account.as_str()).collect();
    assert_eq!(left_out, [MEMBER]);
    let cause = &plan.excluded[0].causes[0];
    assert_eq!(cause.layer, "access");
    assert!(
        cause.message.contains(MEMBER) && cause.message.contains("deny"),
        "{cause:?}"
    );
    assert!(launch_permissions(&plan).contains(&NAMED));
    assert!(!volume_permissions(&plan).contains(&MEMBER));
}

#[test]
fn a_rerun_after_the_ou_share_plans_nothing_and_revoke_undoes_it() {
    let (mut d, mut o) = world(OU_PATH, true);
    let plan = plan_of(&d, &o);
    let (after, added) = key_policy_after(&plan);
    d.keys[0].policy = Some(after);
    d.image.launch_permissions = Some(vec![
        LaunchPermission {
            user_id: None,
            group: None,
            organization_arn: None,
            organizational_unit_arn: Some(OU_ARN.into()),
        },
        LaunchPermission {
            user_id: Some(NAMED.into()),
            group: None,
            organization_arn: None,
            organizational_unit_arn: None,
        },
    ]);
    d.snapshots[0].create_volume_permissions = Some(
        [NAMED, MEMBER]
            .iter()
            .map(|a| CreateVolumePermission {
                user_id: Some((*a).to_string()),
                group: None,
            })
            .collect(),
    );
    let again = plan_of(&d, &o);
    assert!(again.steps.is_empty(), "{:#?}", again.steps);

    // --revoke-after-copy on a fresh world: the OU permission and the org statements come off.
    let (d, _) = world(OU_PATH, true);
    o.revoke_after_copy = true;
    o.share_only = false;
    let revoking = plan_of(&d, &o);
    // A copy: per-account launch permissions (each account copies).
    assert_eq!(launch_permissions(&revoking), [NAMED, MEMBER]);
    let revoke = revoking
        .steps
        .iter()
        .find_map(|s| match &s.action {
            Action::RevokeKeyUsers { added, .. } => Some(added.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(revoke.iter().filter(|a| a.statement.is_some()).count(), 2);
    assert_eq!(added.len(), revoke.len());
}

#[test]
fn key_policy_principals_accounts_lists_every_account() {
    let (d, mut o) = world(OU_PATH, true);
    if let Some(t) = o.org_targets.as_mut() {
        t.key_policy_principals = KeyPolicyPrincipals::Accounts;
    }
    let plan = plan_of(&d, &o);
    let (after, added) = key_policy_after(&plan);
    assert!(after.contains(&format!("arn:aws:iam::{MEMBER}:root")));
    assert!(!after.contains("aws:PrincipalOrgPaths"));
    assert!(added.iter().all(|a| a.statement.is_none()));
    // The launch permission is still the OU's (share-only).
    assert_eq!(launch_permissions(&plan), [OU_ARN, NAMED]);
}
