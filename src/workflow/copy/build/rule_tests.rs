//! The rule over the plan builder: for every kind of access check (the copier, a launcher, Auto
//! Scaling's role, the grant creator) a verdict the plan does not make `allow` is a blocker that
//! names the principal and the key and leaves no step; one the plan fixes is planned.

use super::super::tests::{discovery, key_policy, options};
use crate::domain::arn::autoscaling_service_role_arn;
use crate::workflow::copy::build::build_plan;
use crate::workflow::copy::discover::SLR_MISSING;
use crate::workflow::copy::facts::{Discovery, PrincipalFacts};
use crate::workflow::inventory::{
    CallerIdentity, IdentityPolicies, IdentityPolicyDoc, PolicySource, PrincipalKind,
};
use crate::workflow::plan::{AccessVerdict, Action, BlockerCode, Plan, PlanOptions};

const TGT: &str = "444455556666";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1111aaaa-2222-3333-4444-555566667777";
const EC2_ONLY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#;
const IAM_SELF: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:CreatePolicy","iam:CreatePolicyVersion","iam:AttachRolePolicy","iam:DetachRolePolicy"],"Resource":"*"}]}"#;
const DENY_KMS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*"}]}"#;

fn inline(name: &str, document: &str) -> IdentityPolicyDoc {
    IdentityPolicyDoc {
        source: PolicySource::Inline,
        name: name.into(),
        arn: None,
        version_id: None,
        group: None,
        document: document.into(),
    }
}

/// The target identity is a session of role `role` with these inline policies.
fn copier(d: &mut Discovery, role: &str, docs: Option<Vec<IdentityPolicyDoc>>) {
    let t = &mut d.targets[0];
    t.identity = Some(CallerIdentity {
        account: TGT.into(),
        arn: format!("arn:aws:sts::{TGT}:assumed-role/{role}/amishare"),
    });
    t.identity_policies = docs.map(|policies| IdentityPolicies {
        principal_arn: format!("arn:aws:iam::{TGT}:role/{role}"),
        kind: PrincipalKind::Role,
        name: Some(role.into()),
        groups: vec![],
        policies,
    });
}

fn plan(d: &Discovery, opts: &PlanOptions) -> Plan {
    build_plan(d, opts, "r", 1, "2026-01-01T00:00:00Z").unwrap()
}

/// The rule itself: every check not `allow` after the plan has its blocker (principal, key and
/// account named), and a blocked plan has no step.
fn assert_rule(plan: &Plan) {
    for c in plan
        .checks
        .iter()
        .filter(|c| c.after_plan != AccessVerdict::Allow)
    {
        assert!(
            plan.blockers
                .iter()
                .any(|b| b.code == BlockerCode::AccessAfterPlan
                    && b.message.contains(&c.principal)
                    && b.message.contains(&c.key_arn)
                    && b.account.as_deref() == Some(TGT)
                    && !b.fix.is_empty()),
            "no blocker for {c:?}: {:#?}",
            plan.blockers
        );
    }
    if !plan.blockers.is_empty() {
        assert!(plan.steps.is_empty(), "{:#?}", plan.steps);
    }
}

fn blocker_for<'a>(plan: &'a Plan, principal: &str) -> &'a crate::workflow::plan::Blocker {
    plan.blockers
        .iter()
        .find(|b| b.code == BlockerCode::AccessAfterPlan && b.message.contains(principal))
        .unwrap_or_else(|| panic!("no blocker for {principal}: {:#?}", plan.blockers))
}

#[test]
fn a_copier_with_ec2_only_rights_gets_the_usage_policy_attached_when_it_may() {
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    copier(
        &mut d,
        "deployer",
        Some(vec![inline("ec2", EC2_ONLY), inline("iam", IAM_SELF)]),
    );
    let p = plan(&d, &options());
    assert_rule(&p);
    assert!(p.blockers.is_empty(), "{:#?}", p.blockers);
    let role = format!("arn:aws:iam::{TGT}:role/deployer");
    assert!(p.steps.iter().any(|s| matches!(&s.action,
        Action::AttachPolicy { principal_arn, policy_arn }
            if *principal_arn == role && policy_arn.ends_with(":policy/KmsKeyUsagePolicy"))));
    assert!(p.steps.iter().any(
        |s| matches!(&s.action, Action::CreatePolicy { name, .. } if name == "KmsKeyUsagePolicy")
    ));
    let c = &p.checks[0];
    assert_eq!(
        (c.now, c.after_plan),
        (AccessVerdict::Deny, AccessVerdict::Allow)
    );
}

#[test]
fn a_copier_that_may_not_change_its_iam_blocks_before_any_change() {
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    copier(&mut d, "deployer", Some(vec![inline("ec2", EC2_ONLY)]));
    let p = plan(&d, &options());
    assert_rule(&p);
    let b = blocker_for(&p, "assumed-role/deployer/amishare");
    assert!(b.message.contains(KEY), "{b:?}");
    assert!(b.message.contains("kms:"), "missing actions named: {b:?}");
    assert!(b.fix.contains("iam:CreatePolicy"), "{b:?}");
    assert!(b.fix.contains("KmsKeyUsagePolicy"), "{b:?}");
    assert!(p.steps.is_empty());
}

#[test]
fn an_sso_permission_set_role_or_unreadable_policies_block_with_the_fix() {
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    let sso = "AWSReservedSSO_Admin_0123456789abcdef";
    copier(
        &mut d,
        sso,
        Some(vec![inline("ec2", EC2_ONLY), inline("iam", IAM_SELF)]),
    );
    let p = plan(&d, &options());
    assert_rule(&p);
    assert!(blocker_for(&p, sso).fix.contains("permission set"));

    copier(&mut d, "deployer", None);
    let p = plan(&d, &options());
    assert_rule(&p);
    assert!(blocker_for(&p, "deployer").fix.contains("cannot read"));
}

#[test]
fn a_launcher_the_plan_cannot_fix_blocks() {
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    let launcher = format!("arn:aws:iam::{TGT}:role/launcher");
    d.targets[0].principals = vec![PrincipalFacts {
        arn: launcher.clone(),
        policies: Some(IdentityPolicies {
            principal_arn: launcher.clone(),
            kind: PrincipalKind::Role,
            name: Some("launcher".into()),
            groups: vec![],
            policies: vec![inline("deny", DENY_KMS)],
        }),
        error: None,
    }];
    let mut opts = options();
    opts.share_only = true;
    opts.grants = vec![launcher.clone()];
    let p = plan(&d, &opts);
    assert_rule(&p);
    assert!(blocker_for(&p, &launcher).message.contains(KEY));
}

/// `--share-only --grant autoscaling` in the target: the role's grant and its creator.
fn autoscaling_world(key_policy_text: String, slr_error: Option<&str>) -> (Discovery, PlanOptions) {
    let mut d = discovery("CUSTOMER", false, key_policy_text);
    let slr = autoscaling_service_role_arn("aws", TGT);
    d.targets[0].principals = vec![PrincipalFacts {
        arn: slr.clone(),
        policies: None,
        error: slr_error.map(str::to_string),
    }];
    let mut opts = options();
    opts.share_only = true;
    opts.grants = vec![slr];
    (d, opts)
}

#[test]
fn a_missing_autoscaling_role_is_created_before_its_grant_and_kept_by_name() {
    let (d, opts) = autoscaling_world(key_policy(None), Some(SLR_MISSING));
    let p = plan(&d, &opts);
    assert_rule(&p);
    assert!(p.blockers.is_empty(), "{:#?}", p.blockers);
    let pos = |f: &dyn Fn(&Action) -> bool| p.steps.iter().position(|s| f(&s.action));
    let create = pos(&|a| matches!(a, Action::CreateServiceLinkedRole { .. })).expect("role");
    let grant = pos(&|a| matches!(a, Action::CreateGrant { .. })).expect("grant");
    assert!(create < grant, "{:#?}", p.steps);
    assert_eq!(p.fingerprint.missing_service_roles, vec![TGT.to_string()]);
    // The grant's verdict: the role can use the key once it exists.
    let slr = autoscaling_service_role_arn("aws", TGT);
    let c = p
        .checks
        .iter()
        .find(|c| c.principal == slr)
        .expect("role check");
    assert_eq!(c.after_plan, AccessVerdict::Allow);
}

#[test]
fn autoscaling_role_and_grant_creator_checks_that_stay_denied_block() {
    // A key policy that denies the role every KMS action: its grant cannot help.
    let slr = autoscaling_service_role_arn("aws", TGT);
    let mut v: serde_json::Value = serde_json::from_str(&key_policy(None)).unwrap();
    v["Statement"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
        "Sid": "NoAutoScaling", "Effect": "Deny", "Principal": {"AWS": slr},
        "Action": "kms:*", "Resource": "*"}));
    let (d, opts) = autoscaling_world(v.to_string(), None);
    let p = plan(&d, &opts);
    assert_rule(&p);
    assert!(blocker_for(&p, &slr).message.contains(KEY));

    // The grant creator (amishare's target role) whose IAM amishare cannot read.
    let (mut d, opts) = autoscaling_world(key_policy(None), None);
    copier(&mut d, "deployer", None);
    let p = plan(&d, &opts);
    assert_rule(&p);
    let creator = p
        .checks
        .iter()
        .find(|c| c.operation == "create-grant")
        .expect("the grant creator's check");
    assert_eq!(creator.after_plan, AccessVerdict::Unknown);
    assert!(p
        .blockers
        .iter()
        .any(|b| b.message.contains("create Auto Scaling's grant")));
}

#[test]
fn skip_key_policy_edit_warns_instead_of_blocking() {
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    copier(&mut d, "deployer", Some(vec![inline("ec2", EC2_ONLY)]));
    let mut opts = options();
    opts.skip_key_policy_edit = true;
    let p = plan(&d, &opts);
    assert!(p.blockers.is_empty(), "{:#?}", p.blockers);
    assert!(p
        .warnings
        .iter()
        .any(|w| w.contains("--skip-key-policy-edit") && w.contains("still cannot")));
    assert!(!p.steps.is_empty());
}

/// With several targets, an account only the rule's blockers concern is left out (layer
/// `access`, the blocker's text and fix) and the others proceed; when every target is blocked,
/// the blockers stand and nothing runs.
#[test]
fn with_several_targets_a_blocked_account_is_left_out_and_the_others_proceed() {
    const OTHER: &str = "777788889999";
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    let mut other = d.targets[0].clone();
    other.account = OTHER.into();
    other.identity = Some(CallerIdentity {
        account: OTHER.into(),
        arn: format!("arn:aws:sts::{OTHER}:assumed-role/deployer/amishare"),
    });
    d.targets.push(other);
    copier(&mut d, "deployer", Some(vec![inline("ec2", EC2_ONLY)]));
    let mut o = options();
    o.target_accounts.push(OTHER.into());
    let p = plan(&d, &o);
    assert!(p.blockers.is_empty(), "{:#?}", p.blockers);
    assert_eq!(p.excluded.len(), 1, "{:#?}", p.excluded);
    assert_eq!(p.excluded[0].account, TGT);
    let cause = &p.excluded[0].causes[0];
    assert_eq!(cause.layer, "access");
    assert!(
        cause.message.contains("assumed-role/deployer/amishare"),
        "{cause:?}"
    );
    assert!(cause.fix.contains("KmsKeyUsagePolicy"), "{cause:?}");
    assert!(!p.steps.is_empty());
    assert!(p.steps.iter().all(|s| s.account != TGT), "{:#?}", p.steps);
    assert!(!serde_json::to_string(&p.steps).unwrap().contains(TGT));
    assert!(p
        .checks
        .iter()
        .all(|c| c.after_plan == AccessVerdict::Allow));

    // Both blocked: nothing is left to copy to, the blockers stand.
    d.targets[1].identity_policies = d.targets[0].identity_policies.clone().map(|mut p| {
        p.principal_arn = format!("arn:aws:iam::{OTHER}:role/deployer");
        p
    });
    let p = plan(&d, &o);
    assert!(p.steps.is_empty());
    assert!(p.excluded.is_empty(), "{:#?}", p.excluded);
    let mut blocked: Vec<_> = p
        .blockers
        .iter()
        .filter_map(|b| b.account.clone())
        .collect();
    blocked.sort();
    blocked.dedup();
    assert_eq!(blocked, [TGT, OTHER], "{:#?}", p.blockers);
}
