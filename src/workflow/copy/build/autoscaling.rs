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
use crate::domain::arn::{assumed_role_arn, is_autoscaling_service_role};
use crate::policy;
use crate::policy::edit::{KeyPolicyEdit, PolicyEditError};
use crate::policy::scenario::AUTOSCALING_GRANT_OPERATIONS;
use crate::workflow::copy::facts::{Discovery, KeyFacts, TargetFacts};
use crate::workflow::inventory::GrantInfo;
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

/// The CreateGrant steps (target account, key region) and the role's access checks on each
/// customer managed source key, now and once the grant exists.
pub fn grant_steps(
    d: &Discovery,
    opts: &PlanOptions,
    customer_keys: &[&KeyFacts],
    draft: &mut Draft,
) -> Vec<AccessCheck> {
    let mut checks = Vec::new();
    for key in customer_keys {
        for (creator, grantee) in grant_pairs(d, opts, key) {
            let account = crate::domain::arn::account_of(grantee).unwrap_or_default();
            draft.push(
                account,
                &key.description.region,
                Action::CreateGrant {
                    key_arn: key.description.arn.clone(),
                    grantee_principal: grantee.to_string(),
                    operations: AUTOSCALING_GRANT_OPERATIONS
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                    retiring_principal: Some(creator),
                    name: GRANT_NAME.to_string(),
                },
            );
            let planned = GrantInfo {
                grant_id: None,
                name: Some(GRANT_NAME.into()),
                grantee_principal: Some(grantee.to_string()),
                retiring_principal: None,
                issuing_account: Some(account.to_string()),
                operations: AUTOSCALING_GRANT_OPERATIONS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                constraints: None,
                creation_date: None,
            };
            let now = verdict(key, grantee, &key.grants);
            let mut after_grants = key.grants.clone();
            after_grants.push(planned);
            let after = verdict(key, grantee, &after_grants);
            checks.push(AccessCheck {
                principal: grantee.to_string(),
                key_arn: key.description.arn.clone(),
                operation: policy::Operation::Launch.as_str().to_string(),
                now: now.0,
                after_plan: after.0,
                findings: now.1,
                missing_actions: now.2,
            });
        }
    }
    checks
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
