//! Launchers on target keys: the fix per launcher and key, nothing on the source key in copy
//! mode, a second run planning nothing, Auto Scaling's role in the key policy.

use super::super::tests::{discovery, key_policy, options};
use crate::domain::arn::autoscaling_service_role_arn;
use crate::workflow::copy::build::build_plan;
use crate::workflow::copy::facts::{Discovery, PrincipalFacts, TargetKeyFacts};
use crate::workflow::inventory::{
    IdentityPolicies, IdentityPolicyDoc, KeyDescription, PolicySource, PrincipalKind,
};
use crate::workflow::plan::{AccessVerdict, Action, Plan, PlanOptions};
use crate::workflow::ports_write::ManagedPolicy;

const TGT: &str = "444455556666";
const TKEY_ID: &str = "9999bbbb-2222-3333-4444-555566667777";
const TKEY: &str = "arn:aws:kms:us-east-1:444455556666:key/9999bbbb-2222-3333-4444-555566667777";
const LAUNCHER: &str = "arn:aws:iam::444455556666:role/launcher";
const EC2_ONLY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#;

fn usage_policy_arn() -> String {
    format!("arn:aws:iam::{TGT}:policy/KmsKeyUsagePolicy-{TKEY_ID}")
}

/// The target key's policy: the console default (delegates to the account's IAM).
fn delegating_policy() -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": format!("arn:aws:iam::{TGT}:root")}, "Action": "kms:*", "Resource": "*"}]})
    .to_string()
}

fn launcher(attached: Option<&str>) -> PrincipalFacts {
    let mut policies = vec![IdentityPolicyDoc {
        source: PolicySource::Inline,
        name: "AmazonEC2FullAccess".into(),
        arn: None,
        version_id: None,
        group: None,
        document: EC2_ONLY.into(),
    }];
    if let Some(doc) = attached {
        policies.push(IdentityPolicyDoc {
            source: PolicySource::Attached,
            name: format!("KmsKeyUsagePolicy-{TKEY_ID}"),
            arn: Some(usage_policy_arn()),
            version_id: Some("v1".into()),
            group: None,
            document: doc.into(),
        });
    }
    PrincipalFacts {
        arn: LAUNCHER.into(),
        policies: Some(IdentityPolicies {
            principal_arn: LAUNCHER.into(),
            kind: PrincipalKind::Role,
            name: Some("launcher".into()),
            groups: vec![],
            policies,
        }),
        error: None,
    }
}

fn target_key(policy: String) -> TargetKeyFacts {
    TargetKeyFacts {
        key_ref: TKEY.into(),
        description: Some(KeyDescription {
            arn: TKEY.into(),
            key_id: TKEY_ID.into(),
            account: TGT.into(),
            region: "us-east-1".into(),
            key_manager: Some("CUSTOMER".into()),
            key_state: Some("Enabled".into()),
            multi_region: Some(false),
            description: None,
            origin: None,
            key_spec: None,
            aliases: None,
        }),
        policy: Some(policy),
        grants: vec![],
        error: None,
    }
}

/// A copy on the target customer managed key `TKEY` (the EBS default key is aws/ebs-like:
/// unreadable here, so only the copy key counts), launched by `launchers`.
fn world(launchers: Vec<PrincipalFacts>, key: TargetKeyFacts) -> (Discovery, PlanOptions) {
    let mut d = discovery("CUSTOMER", false, key_policy(None));
    let mut opts = options();
    opts.target_key = Some(TKEY.into());
    opts.grants = launchers.iter().map(|l| l.arn.clone()).collect();
    let t = &mut d.targets[0];
    t.principals = launchers;
    t.regions[0].target_key = Some(TKEY.into());
    t.regions[0].copy_key = Some(key.clone());
    let mut default = key;
    if let Some(desc) = default.description.as_mut() {
        desc.key_manager = Some("AWS".into());
        desc.arn = "arn:aws:kms:us-east-1:444455556666:key/aws-ebs".into();
    }
    default.policy = None;
    t.regions[0].ebs_default_key = Some(default);
    t.key_usage_policies.insert(TKEY.into(), None);
    (d, opts)
}

fn plan(d: &Discovery, opts: &PlanOptions) -> Plan {
    build_plan(d, opts, "r", 1, "2026-01-01T00:00:00Z").unwrap()
}

fn launcher_check<'a>(plan: &'a Plan, principal: &str) -> &'a crate::workflow::plan::AccessCheck {
    plan.checks
        .iter()
        .find(|c| c.principal == principal && c.key_arn == TKEY)
        .unwrap_or_else(|| panic!("no check for {principal}: {:#?}", plan.checks))
}

#[test]
fn an_ec2_only_launcher_gets_the_target_key_policy_and_nothing_on_the_source_key() {
    let (d, opts) = world(vec![launcher(None)], target_key(delegating_policy()));
    let p = plan(&d, &opts);
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
    let c = launcher_check(&p, LAUNCHER);
    assert_eq!(c.now, AccessVerdict::Deny);
    assert!(
        c.missing_actions.contains(&"kms:CreateGrant".to_string()),
        "{c:?}"
    );
    assert_eq!(c.after_plan, AccessVerdict::Allow);
    // IAM: KmsKeyUsagePolicy-<key id> scoped to the target key, attached to the launcher.
    let created = p.steps.iter().find_map(|s| match &s.action {
        Action::CreatePolicy { name, document } => Some((name.clone(), document.clone())),
        _ => None,
    });
    let (name, document) = created.expect("a CreatePolicy step");
    assert_eq!(name, format!("KmsKeyUsagePolicy-{TKEY_ID}"));
    assert!(
        document.contains(TKEY) && !document.contains("111122223333"),
        "{document}"
    );
    assert!(p.steps.iter().any(|s| matches!(&s.action,
        Action::AttachPolicy { policy_arn, principal_arn }
            if policy_arn == &usage_policy_arn() && principal_arn == LAUNCHER)));
    // Nothing on the source key: not in its key policy, no KmsKeyUsagePolicy for it.
    for s in &p.steps {
        match &s.action {
            Action::PutKeyPolicy { after, .. } => assert!(!after.contains(LAUNCHER), "{after}"),
            Action::CreatePolicy { name, .. } => assert_ne!(name, "KmsKeyUsagePolicy"),
            Action::PutTargetKeyPolicy { .. } => panic!("the key delegates to IAM: {s:?}"),
            _ => {}
        }
    }
    assert!(!p
        .checks
        .iter()
        .any(|c| c.principal == LAUNCHER && c.key_arn != TKEY));
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("launchers get no access to the source key") && n.contains(TKEY)),
        "{:?}",
        p.notes
    );
}

#[test]
fn a_second_run_plans_nothing_for_the_launcher() {
    let (mut d, opts) = world(vec![launcher(None)], target_key(delegating_policy()));
    let first = plan(&d, &opts);
    let document = first
        .steps
        .iter()
        .find_map(|s| match &s.action {
            Action::CreatePolicy { document, .. } => Some(document.clone()),
            _ => None,
        })
        .unwrap();
    d.targets[0].principals = vec![launcher(Some(&document))];
    d.targets[0].key_usage_policies.insert(
        TKEY.into(),
        Some(ManagedPolicy {
            arn: usage_policy_arn(),
            default_version: "v1".into(),
            document,
            versions: vec!["v1".into()],
        }),
    );
    let second = plan(&d, &opts);
    let c = launcher_check(&second, LAUNCHER);
    assert_eq!(
        (c.now, c.after_plan),
        (AccessVerdict::Allow, AccessVerdict::Allow)
    );
    assert!(
        !second.steps.iter().any(|s| s.action.is_target_access()),
        "{:#?}",
        second.steps
    );
}

#[test]
fn a_key_policy_that_does_not_delegate_names_the_launcher() {
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admins", "Effect": "Allow",
         "Principal": {"AWS": format!("arn:aws:iam::{TGT}:role/deployer")}, "Action": "kms:*", "Resource": "*"}]})
    .to_string();
    let (d, opts) = world(vec![launcher(None)], target_key(policy));
    let p = plan(&d, &opts);
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
    let edit = p.steps.iter().find_map(|s| match &s.action {
        Action::PutTargetKeyPolicy { after, added, .. } => Some((after.clone(), added.clone())),
        _ => None,
    });
    let (after, added) = edit.expect("a PutTargetKeyPolicy step");
    assert!(after.contains(LAUNCHER));
    assert!(added.iter().all(|a| a.principal == LAUNCHER));
    assert!(!p
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::AttachPolicy { .. })));
    assert_eq!(
        launcher_check(&p, LAUNCHER).after_plan,
        AccessVerdict::Allow
    );
}

#[test]
fn auto_scaling_role_is_added_to_the_target_key_policy_never_to_iam() {
    let slr = autoscaling_service_role_arn("aws", TGT);
    let asg = PrincipalFacts {
        arn: slr.clone(),
        policies: None,
        error: None,
    };
    let (d, opts) = world(vec![asg], target_key(delegating_policy()));
    let p = plan(&d, &opts);
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
    let after = p
        .steps
        .iter()
        .find_map(|s| match &s.action {
            Action::PutTargetKeyPolicy { after, .. } => Some(after.clone()),
            _ => None,
        })
        .expect("a PutTargetKeyPolicy step");
    let v: serde_json::Value = serde_json::from_str(&after).unwrap();
    let attach = v["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "Allow attachment of persistent resources")
        .unwrap();
    assert!(attach.to_string().contains(&slr));
    assert_eq!(
        attach["Condition"]["Bool"]["kms:GrantIsForAWSResource"],
        "true"
    );
    assert!(!p.steps.iter().any(|s| matches!(
        s.action,
        Action::AttachPolicy { .. } | Action::CreatePolicy { .. }
    )));
    assert_eq!(launcher_check(&p, &slr).after_plan, AccessVerdict::Allow);
}

#[test]
fn share_only_launchers_keep_the_source_key() {
    let (d, mut opts) = world(vec![launcher(None)], target_key(delegating_policy()));
    opts.share_only = true;
    let p = plan(&d, &opts);
    let source_edit = p.steps.iter().find_map(|s| match &s.action {
        Action::PutKeyPolicy { after, .. } => Some(after.clone()),
        _ => None,
    });
    assert!(source_edit.is_some_and(|a| a.contains(LAUNCHER)));
    assert!(p.steps.iter().any(|s| matches!(&s.action,
        Action::CreatePolicy { name, .. } if name == "KmsKeyUsagePolicy")));
    // Only the unseen organization layers (no `--org-profile`) are noted.
    assert!(
        p.notes
            .iter()
            .all(|n| n.contains("layer was not read")
                || n.contains("layer of the source key's account")),
        "{:?}",
        p.notes
    );
}

#[test]
fn share_only_auto_scaling_role_gets_a_grant_created_by_the_target_identity() {
    let slr = autoscaling_service_role_arn("aws", TGT);
    let asg = PrincipalFacts {
        arn: slr.clone(),
        policies: None,
        error: None,
    };
    let (mut d, mut opts) = world(vec![asg], target_key(delegating_policy()));
    // The deployer may change its own IAM but has no KMS right: no direct CreateGrant.
    let iam_self = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:CreatePolicy","iam:AttachRolePolicy"],"Resource":"*"}]}"#;
    if let Some(p) = d.targets[0].identity_policies.as_mut() {
        p.policies[0].document = iam_self.into();
    }
    opts.share_only = true;
    let p = plan(&d, &opts);
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
    let source_key = &d.keys[0].description.arn;
    let grant = p.steps.iter().find_map(|s| match &s.action {
        Action::CreateGrant {
            key_arn,
            grantee_principal,
            operations,
            retiring_principal,
            ..
        } => Some((
            s.account.clone(),
            key_arn.clone(),
            grantee_principal.clone(),
            operations.clone(),
            retiring_principal.clone(),
        )),
        _ => None,
    });
    let (account, key, grantee, ops, retiring) = grant.expect("a CreateGrant step");
    assert_eq!((account.as_str(), &key, &grantee), (TGT, source_key, &slr));
    assert!(ops.contains(&"CreateGrant".to_string()) && ops.contains(&"Decrypt".to_string()));
    let creator = format!("arn:aws:iam::{TGT}:role/deployer");
    assert_eq!(retiring.as_deref(), Some(creator.as_str()));
    // The deployer's IAM (no KMS action) does not allow the direct CreateGrant: it gets
    // KmsKeyUsagePolicy-autoscaling-grants (CreateGrant on the source key for the role only),
    // before the grant is made.
    let pos = |f: &dyn Fn(&Action) -> bool| p.steps.iter().position(|s| f(&s.action));
    let created = pos(&|a| {
        matches!(a, Action::CreatePolicy { name, document }
        if name == "KmsKeyUsagePolicy-autoscaling-grants"
            && document.contains(source_key.as_str())
            && document.contains(&slr)
            && !document.contains("GrantIsForAWSResource"))
    });
    let attached = pos(&|a| {
        matches!(a, Action::AttachPolicy { policy_arn, principal_arn }
        if policy_arn.ends_with("policy/KmsKeyUsagePolicy-autoscaling-grants")
            && principal_arn == &creator)
    });
    let granted = pos(&|a| matches!(a, Action::CreateGrant { .. }));
    assert!(
        created < attached && attached < granted && created.is_some(),
        "{:#?}",
        p.steps
    );
    // The source key policy lets the target identity create it: CreateGrant without the
    // GrantIsForAWSResource condition, for exactly the Auto Scaling role; the role itself is
    // not made a key user there.
    let after = p
        .steps
        .iter()
        .find_map(|s| match &s.action {
            Action::PutKeyPolicy { after, .. } => Some(after.clone()),
            _ => None,
        })
        .expect("a source PutKeyPolicy step");
    let v: serde_json::Value = serde_json::from_str(&after).unwrap();
    let st = v["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == crate::policy::edit::GRANT_CREATOR_SID)
        .expect("the grant creator statement");
    assert_eq!(st["Principal"]["AWS"], serde_json::json!([creator]));
    assert_eq!(
        st["Condition"],
        serde_json::json!({"StringEquals": {"kms:GranteePrincipal": [slr]}})
    );
    let users = v["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "Allow use of the key")
        .unwrap();
    assert!(!users.to_string().contains(&slr));
    let c = p
        .checks
        .iter()
        .find(|c| c.principal == slr && &c.key_arn == source_key)
        .expect("the role's check on the source key");
    assert_eq!(
        (c.now, c.after_plan),
        (AccessVerdict::Deny, AccessVerdict::Allow)
    );
    assert!(c.findings.contains(&"needs-grant".to_string()), "{c:?}");
}

/// `apply PLAN` refuses when what the launchers' fixes depend on changed: the target key policy,
/// the launchers' usage policy.
#[test]
fn the_fingerprint_covers_the_target_key_and_the_launchers_policy() {
    use crate::workflow::copy::fingerprint::fingerprint;
    let (d, _) = world(vec![launcher(None)], target_key(delegating_policy()));
    let before = fingerprint(&d);
    assert!(before.target_key_policies.contains_key(TKEY));
    let mut changed = d.clone();
    changed.targets[0].regions[0].copy_key = Some(target_key(
        delegating_policy().replace("kms:*", "kms:Describe*"),
    ));
    let diff = before.differences(&fingerprint(&changed));
    assert!(diff.iter().any(|m| m.contains(TKEY)), "{diff:?}");
    let mut changed = d;
    changed.targets[0].key_usage_policies.insert(
        TKEY.into(),
        Some(ManagedPolicy {
            arn: usage_policy_arn(),
            default_version: "v1".into(),
            document: "{}".into(),
            versions: vec!["v1".into()],
        }),
    );
    assert!(!before.differences(&fingerprint(&changed)).is_empty());
}
