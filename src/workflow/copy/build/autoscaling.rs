//! Auto Scaling's service-linked role as a launcher of the shared original (`--share-only`,
//! issue 11). Its policies hold no KMS action and cannot be edited, and a key policy of another
//! account cannot make it a key user on its own: it needs a KMS grant on the source key, created
//! by a principal of its own account (amishare's target identity). That call is direct, so the
//! source key policy must allow that principal `kms:CreateGrant` WITHOUT the
//! GrantIsForAWSResource condition (limited to the role with `kms:GranteePrincipal`). Grant
//! operations: the ones AWS documents for Auto Scaling ([`AUTOSCALING_GRANT_OPERATIONS`]). AWS
//! Knowledge Center "kms-launch-ec2-instance"; Auto Scaling user guide "Required AWS KMS key
//! policy for use with encrypted volumes". Pure.

use super::launchers::{parse_grants, verdict_of};
use super::Draft;
use crate::domain::arn::{assumed_role_arn, is_autoscaling_service_role, partition_of, policy_arn};
use crate::policy;
use crate::policy::edit::{KeyPolicyEdit, PolicyEditError};
use crate::policy::scenario::AUTOSCALING_GRANT_OPERATIONS;
use crate::workflow::copy::facts::{Discovery, KeyFacts, TargetFacts};
use crate::workflow::copy::launcher_facts::GRANT_CREATOR_POLICY_NAME;
use crate::workflow::inventory::{GrantInfo, PolicySource};
use crate::workflow::plan::{AccessCheck, AccessVerdict, Action, PlanOptions};

/// The name of the grants amishare creates (CreateGrant with the same name returns the same
/// grant, so a retried step makes no second one).
pub const GRANT_NAME: &str = "amishare-autoscaling";

/// `(creator, grantee)`: per target account, amishare's identity there (its role) and Auto
/// Scaling's role, for every account whose role needs a grant on `key`.
fn grant_pairs<'a>(d: &'a Discovery, opts: &PlanOptions, key: &KeyFacts) -> Vec<(String, &'a str)> {
    if !opts.share_only {
        return Vec::new();
    }
    let mut out = Vec::new();
    for t in &d.targets {
        let Some(id) = &t.identity else { continue };
        if key.description.account == t.account {
            continue;
        }
        for p in slr_launchers(t) {
            if !has_grant(&key.grants, p) {
                let creator = assumed_role_arn(&id.arn).unwrap_or_else(|| id.arn.clone());
                out.push((creator, p));
            }
        }
    }
    out
}

/// Auto Scaling roles among the launchers of `t` that exist (a missing one is warned about by
/// `launchers.rs`).
fn slr_launchers(t: &TargetFacts) -> impl Iterator<Item = &str> {
    t.principals
        .iter()
        .filter(|p| is_autoscaling_service_role(&p.arn) && p.error.is_none())
        .map(|p| p.arn.as_str())
}

/// A grant for `grantee` covering every documented operation exists on the key.
fn has_grant(grants: &[GrantInfo], grantee: &str) -> bool {
    grants.iter().any(|g| {
        g.grantee_principal.as_deref() == Some(grantee)
            && AUTOSCALING_GRANT_OPERATIONS
                .iter()
                .all(|op| g.operations.iter().any(|o| o == op))
    })
}

/// Add, to the source key policy edit `edit` of `key`, the statement letting each target
/// identity create the Auto Scaling role's grant (nothing when no grant is needed).
pub fn with_grant_creators(
    d: &Discovery,
    opts: &PlanOptions,
    key: &KeyFacts,
    edit: KeyPolicyEdit,
) -> Result<KeyPolicyEdit, PolicyEditError> {
    let pairs = grant_pairs(d, opts, key);
    if pairs.is_empty() {
        return Ok(edit);
    }
    let mut creators: Vec<String> = Vec::new();
    let mut grantees: Vec<String> = Vec::new();
    for (c, g) in pairs {
        if !creators.contains(&c) {
            creators.push(c);
        }
        if !grantees.iter().any(|x| x == g) {
            grantees.push(g.to_string());
        }
    }
    let more = policy::edit::add_grant_creators(
        &edit.text,
        &key.description.arn,
        &creators,
        &grantees,
        &d.source.arn,
    )?;
    if !more.changed {
        return Ok(edit);
    }
    let mut added = edit.added;
    added.extend(more.added);
    let mut statement_changes = edit.statement_changes;
    statement_changes.extend(more.statement_changes);
    let mut warnings = edit.warnings;
    warnings.extend(more.warnings);
    Ok(KeyPolicyEdit {
        before: edit.before,
        policy: more.policy,
        text: more.text,
        changed: true,
        added,
        removed: Vec::new(),
        statement_changes,
        warnings,
    })
}

/// The CreateGrant steps (target account, key region), preceded by the target identity's IAM
/// for the direct CreateGrant when its IAM lacks it; the role's access checks on each customer
/// managed source key, now and once the grant exists.
pub fn grant_steps(
    d: &Discovery,
    opts: &PlanOptions,
    customer_keys: &[&KeyFacts],
    draft: &mut Draft,
) -> Vec<AccessCheck> {
    let mut checks = Vec::new();
    if !opts.share_only {
        return checks;
    }
    for t in &d.targets {
        let Some(id) = &t.identity else { continue };
        let creator = assumed_role_arn(&id.arn).unwrap_or_else(|| id.arn.clone());
        let mut needed: Vec<(&KeyFacts, &str)> = Vec::new();
        for key in customer_keys
            .iter()
            .filter(|k| k.description.account != t.account)
        {
            for grantee in slr_launchers(t) {
                if has_grant(&key.grants, grantee) {
                    checks.push(check(key, grantee, &key.grants, &key.grants));
                } else {
                    needed.push((key, grantee));
                }
            }
        }
        if needed.is_empty() {
            continue;
        }
        checks.extend(creator_iam_steps(d, opts, t, &creator, &needed, draft));
        for (key, grantee) in needed {
            draft.push(
                &t.account,
                &key.description.region,
                Action::CreateGrant {
                    key_arn: key.description.arn.clone(),
                    grantee_principal: grantee.to_string(),
                    operations: operations(),
                    retiring_principal: Some(creator.clone()),
                    name: GRANT_NAME.to_string(),
                },
            );
            let mut after = key.grants.clone();
            after.push(GrantInfo {
                grant_id: None,
                name: Some(GRANT_NAME.into()),
                grantee_principal: Some(grantee.to_string()),
                retiring_principal: Some(creator.clone()),
                issuing_account: Some(t.account.clone()),
                operations: operations(),
                constraints: None,
                creation_date: None,
            });
            checks.push(check(key, grantee, &key.grants, &after));
        }
    }
    checks
}

fn operations() -> Vec<String> {
    AUTOSCALING_GRANT_OPERATIONS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The role's access check on `key`, with the grants now and after the plan.
fn check(key: &KeyFacts, grantee: &str, now: &[GrantInfo], after: &[GrantInfo]) -> AccessCheck {
    let now = verdict(key, grantee, now);
    let after = verdict(key, grantee, after);
    AccessCheck {
        principal: grantee.to_string(),
        key_arn: key.description.arn.clone(),
        operation: policy::Operation::Launch.as_str().to_string(),
        now: now.0,
        after_plan: after.0,
        findings: now.1,
        missing_actions: now.2,
        missing_after_plan: after.2,
        fix: None,
    }
}

/// The grant creator's check on each key (operation `create-grant`, the IAM side of its direct
/// CreateGrant: the key policy side is the statement the source edit adds).
fn creator_checks(
    creator: &str,
    needed: &[(&KeyFacts, &str)],
    now: &dyn Fn(&KeyFacts, &str) -> AccessVerdict,
    after: &dyn Fn(&KeyFacts, &str) -> AccessVerdict,
    fix: Option<String>,
) -> Vec<AccessCheck> {
    let mut out: Vec<AccessCheck> = Vec::new();
    for (key, grantee) in needed {
        let (now, after) = (now(key, grantee), after(key, grantee));
        if out.iter().any(|c| c.key_arn == key.description.arn) {
            continue;
        }
        let missing = |v: AccessVerdict| {
            if v == AccessVerdict::Allow {
                Vec::new()
            } else {
                vec!["kms:CreateGrant".to_string()]
            }
        };
        out.push(AccessCheck {
            principal: creator.to_string(),
            key_arn: key.description.arn.clone(),
            operation: "create-grant".into(),
            now,
            after_plan: after,
            findings: if now == AccessVerdict::Allow {
                Vec::new()
            } else {
                vec!["identity-policy-missing-action".into()]
            },
            missing_actions: missing(now),
            missing_after_plan: missing(after),
            fix: (after != AccessVerdict::Allow)
                .then(|| fix.clone())
                .flatten(),
        });
    }
    out
}

fn allow_or_deny(allowed: bool) -> AccessVerdict {
    if allowed {
        AccessVerdict::Allow
    } else {
        AccessVerdict::Deny
    }
}

/// `KmsKeyUsagePolicy-autoscaling-grants` for the target identity (the grants' creator), only
/// when its IAM does not allow the direct CreateGrant for these grantees on these keys already:
/// `kms:CreateGrant` on exactly those keys, for exactly those grantees. Returns the creator's
/// checks, now and after the plan.
fn creator_iam_steps(
    d: &Discovery,
    opts: &PlanOptions,
    t: &TargetFacts,
    creator: &str,
    needed: &[(&KeyFacts, &str)],
    draft: &mut Draft,
) -> Vec<AccessCheck> {
    let Some(identity) = &t.identity_policies else {
        let unknown = |_: &KeyFacts, _: &str| AccessVerdict::Unknown;
        let fix = format!(
            "amishare cannot read the IAM policies of `{creator}`: let it read them (iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy, iam:ListAttachedRolePolicies, iam:GetPolicyVersion), or allow it kms:CreateGrant on the source keys for Auto Scaling's role (the `{GRANT_CREATOR_POLICY_NAME}` statement), then run `amishare copy` again"
        );
        return creator_checks(creator, needed, &unknown, &unknown, Some(fix));
    };
    let docs = super::access::identity_docs(Some(identity));
    let now = |key: &KeyFacts, grantee: &str| {
        allow_or_deny(creator_allowed(key, creator, grantee, &docs))
    };
    let allowed = needed
        .iter()
        .all(|(key, grantee)| creator_allowed(key, creator, grantee, &docs));
    if allowed {
        return creator_checks(creator, needed, &now, &now, None);
    }
    let mut keys: Vec<String> = needed
        .iter()
        .map(|(k, _)| k.description.arn.clone())
        .collect();
    keys.sort();
    keys.dedup();
    let mut grantees: Vec<String> = needed.iter().map(|(_, g)| g.to_string()).collect();
    grantees.sort();
    grantees.dedup();
    let document = serde_json::to_string_pretty(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "CreateGrantsForAutoScaling",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": keys,
            "Condition": {"StringEquals": {"kms:GranteePrincipal": grantees}},
        }],
    }))
    .unwrap_or_default();
    let arn = policy_arn(
        partition_of(&d.source.arn),
        &t.account,
        GRANT_CREATOR_POLICY_NAME,
    );
    let region = opts
        .target_regions
        .first()
        .cloned()
        .unwrap_or_else(|| d.source_region.clone());
    match &t.grant_creator_policy {
        None => draft.push(
            &t.account,
            &region,
            Action::CreatePolicy {
                name: GRANT_CREATOR_POLICY_NAME.to_string(),
                document: document.clone(),
            },
        ),
        Some(existing)
            if !crate::workflow::copy::apply::change::same_json(&existing.document, &document) =>
        {
            draft.push(
                &t.account,
                &region,
                Action::CreatePolicyVersion {
                    policy_arn: arn.clone(),
                    previous_version: existing.default_version.clone(),
                    document: document.clone(),
                },
            )
        }
        Some(_) => {}
    }
    let attached = identity
        .policies
        .iter()
        .any(|p| p.source == PolicySource::Attached && p.arn.as_deref() == Some(arn.as_str()));
    if !attached {
        draft.push(
            &t.account,
            &region,
            Action::AttachPolicy {
                policy_arn: arn,
                principal_arn: creator.to_string(),
            },
        );
    }
    let mut after_docs = docs.clone();
    after_docs.extend(policy::parse_policy(&document, GRANT_CREATOR_POLICY_NAME).ok());
    let after = |key: &KeyFacts, grantee: &str| {
        allow_or_deny(creator_allowed(key, creator, grantee, &after_docs))
    };
    creator_checks(creator, needed, &now, &after, None)
}

/// Do `docs` (the creator's identity policies) allow its direct CreateGrant for `grantee` on
/// `key`? Only the IAM side: the key policy side is the statement the source edit adds.
fn creator_allowed(
    key: &KeyFacts,
    creator: &str,
    grantee: &str,
    docs: &[policy::PolicyDocument],
) -> bool {
    let info = policy::KeyInfo {
        arn: key.description.arn.clone(),
        manager: policy::KeyManager::Customer,
        policy: None,
        grants: Vec::new(),
    };
    let Ok(caller) = policy::Caller::parse(creator) else {
        return false;
    };
    let mut ctx = policy::RequestContext::direct(
        &caller,
        &policy::CallerContext::default(),
        "kms:CreateGrant",
        &key.description.region,
    );
    ctx.set("kms:GranteePrincipal", grantee.to_string());
    policy::evaluate_key_request(&info, creator, docs, "kms:CreateGrant", &ctx)
        .is_ok_and(|d| d.identity_policies.outcome == policy::Outcome::Allow)
}

/// The policy engine on the role and a source key with these grants: verdict, finding codes,
/// the actions not allowed.
fn verdict(
    key: &KeyFacts,
    grantee: &str,
    grants: &[GrantInfo],
) -> (AccessVerdict, Vec<String>, Vec<String>) {
    let parsed = key
        .policy
        .as_deref()
        .and_then(|p| policy::parse_policy(p, "key policy").ok());
    let info = policy::KeyInfo {
        arn: key.description.arn.clone(),
        manager: policy::KeyManager::Customer,
        policy: parsed,
        grants: parse_grants(grants),
    };
    let ctx = policy::CallerContext {
        region: Some(key.description.region.clone()),
        ..policy::CallerContext::default()
    };
    let analysis = policy::analyze(&policy::AnalysisRequest {
        key: &info,
        principal: grantee,
        identity_policies: &[],
        operation: policy::Operation::Launch,
        context: &ctx,
    });
    match analysis {
        Ok(a) => (
            verdict_of(a.verdict),
            a.errors().map(|f| f.code.as_str().to_string()).collect(),
            a.checks
                .iter()
                .filter(|c| !c.allowed())
                .map(|c| c.action.clone())
                .collect(),
        ),
        Err(_) => (AccessVerdict::Unknown, Vec::new(), Vec::new()),
    }
}
