//! Launchers (`--grant`, issue 11): the key each launcher uses in each target account and region,
//! the policy engine's verdict on it (the key's real policy and grants, the launcher's real
//! identity policies), and the minimal fix per launcher and key. Pure.
//!
//! Which key (docs/DOMAIN.md, "Who needs which key"):
//! - copy mode: the copy's key (`--target-key`, else the target's EBS default key) and the EBS
//!   default key when it is customer managed; nothing on the source key (the plan says so);
//! - `--share-only`: the source key (planned by `source.rs` / `targets.rs`) and the EBS default
//!   key when it is customer managed (a shared AMI's volumes are encrypted with it: EC2 user
//!   guide, "Use encryption with EBS-backed AMIs", instance-launching scenarios).
//!
//! The fix, per key (AWS managed keys need nothing):
//! - IAM: `KmsKeyUsagePolicy-<key id>` scoped to that one key (so each launcher gets exactly the
//!   keys it needs), attached to the launchers whose IAM lacks it, when the key policy delegates
//!   to the account's IAM;
//! - a key policy edit (`PutTargetKeyPolicy`, the source key's merge rules, lock-out and size
//!   checks) adding the launchers the key policy must name: those IAM cannot help (a key policy
//!   that does not delegate), and Auto Scaling's service-linked role, whose policies cannot be
//!   edited (Auto Scaling user guide, "Required AWS KMS key policy for use with encrypted
//!   volumes": use of the key, and CreateGrant with GrantIsForAWSResource).
//!
//! A launcher whose access is allowed already gets nothing, so a second run plans nothing.

use serde_json::json;

use super::access::identity_docs;
use super::Draft;
use crate::domain::arn::{is_autoscaling_service_role, partition_of, policy_arn, Principal};
use crate::policy;
use crate::workflow::copy::facts::{Discovery, PrincipalFacts, TargetFacts, TargetKeyFacts};
use crate::workflow::copy::launcher_facts::key_usage_policy_name;
use crate::workflow::inventory::{GrantInfo, KeyDescription, PolicySource};
use crate::workflow::plan::{
    AccessCheck, AccessVerdict, Action, Blocker, BlockerCode, PlanOptions,
};

/// One customer managed target key launchers use, and what for.
struct KeyUse<'a> {
    facts: &'a TargetKeyFacts,
    description: &'a KeyDescription,
}

/// Plan the launchers' access to the target keys of every target account amishare has
/// credentials for; returns the access checks (now and after the plan).
pub fn launcher_steps(d: &Discovery, opts: &PlanOptions, draft: &mut Draft) -> Vec<AccessCheck> {
    let mut checks = Vec::new();
    for t in &d.targets {
        if t.identity.is_none() || t.principals.is_empty() {
            continue;
        }
        for key in keys_of(t, opts, draft) {
            checks.extend(plan_key(d, opts, t, &key, draft));
        }
    }
    checks
}

/// The customer managed keys the launchers of `t` use, deduplicated; the notes and warnings
/// about the others.
fn keys_of<'a>(t: &'a TargetFacts, opts: &PlanOptions, draft: &mut Draft) -> Vec<KeyUse<'a>> {
    let mut out: Vec<KeyUse<'a>> = Vec::new();
    for r in &t.regions {
        let copy_key = r.copy_key.as_ref().or(r.ebs_default_key.as_ref());
        let mut candidates: Vec<&TargetKeyFacts> = Vec::new();
        if !opts.share_only {
            if let Some(k) = copy_key {
                draft.notes.push(format!(
                    "{}/{}: launchers get no access to the source key: they launch the copy, on {}",
                    t.account,
                    r.region,
                    key_label(k)
                ));
                candidates.push(k);
            }
        }
        if let Some(k) = r.ebs_default_key.as_ref() {
            if !candidates.iter().any(|c| std::ptr::eq(*c, k)) {
                candidates.push(k);
            }
        }
        for k in candidates {
            if let Some(e) = &k.error {
                draft.warnings.push(format!(
                    "{}/{}: cannot analyse the launchers' access to key `{}`: {e}",
                    t.account, r.region, k.key_ref
                ));
                continue;
            }
            let Some(description) = k.customer_managed() else {
                continue;
            };
            if description.account != t.account {
                draft.warnings.push(format!(
                    "{}/{}: key `{}` belongs to account {}: amishare does not change it; its owner must let the launchers use it",
                    t.account, r.region, description.arn, description.account
                ));
                continue;
            }
            if !out.iter().any(|u| u.description.arn == description.arn) {
                out.push(KeyUse {
                    facts: k,
                    description,
                });
            }
        }
    }
    out
}

fn key_label(k: &TargetKeyFacts) -> String {
    match &k.description {
        Some(d) if d.is_aws_managed() => format!("{} (AWS managed: nothing to change)", d.arn),
        Some(d) => d.arn.clone(),
        None => k.key_ref.clone(),
    }
}

/// What one launcher needs on one key.
struct Need<'a> {
    launcher: &'a PrincipalFacts,
    docs: Vec<policy::PolicyDocument>,
    now: policy::Analysis,
    in_key_policy: bool,
    iam: bool,
}

/// The launchers' verdicts on one key and the steps that fix them.
fn plan_key(
    d: &Discovery,
    opts: &PlanOptions,
    t: &TargetFacts,
    key: &KeyUse<'_>,
    draft: &mut Draft,
) -> Vec<AccessCheck> {
    let arn = &key.description.arn;
    let Some(policy_text) = key.facts.policy.as_deref() else {
        draft.warnings.push(format!(
            "cannot analyse the launchers' access to `{arn}`: its key policy is not readable"
        ));
        return Vec::new();
    };
    let usage = usage_document(arn);
    // Who will call PutKeyPolicy (for the lock-out check of a trial edit).
    let editor = t
        .identity
        .as_ref()
        .map_or_else(|| key_editor(key), |i| i.arn.clone());
    let mut needs = Vec::new();
    for l in &t.principals {
        if let (true, Some(e)) = (is_autoscaling_service_role(&l.arn), &l.error) {
            draft.warnings.push(format!(
                "`{}` cannot be added to the key policy of {arn}: {e}",
                l.arn
            ));
            continue;
        }
        let docs = identity_docs(l.policies.as_ref());
        let Some(now) = analyse(key, Some(policy_text), l, &docs) else {
            draft.warnings.push(format!(
                "cannot analyse the access of `{}` to `{arn}` (not a user or role, or an unreadable key policy)",
                l.arn
            ));
            continue;
        };
        let mut need = Need {
            launcher: l,
            docs,
            now,
            in_key_policy: false,
            iam: false,
        };
        if need.now.verdict != policy::Verdict::Allow {
            decide(key, policy_text, usage.as_ref(), &editor, &mut need);
        }
        needs.push(need);
    }
    let kp_users: Vec<String> = needs
        .iter()
        .filter(|n| n.in_key_policy)
        .map(|n| n.launcher.arn.clone())
        .collect();
    let edited = key_policy_step(t, key, policy_text, &kp_users, draft);
    let iam_users: Vec<&PrincipalFacts> =
        needs.iter().filter(|n| n.iam).map(|n| n.launcher).collect();
    iam_steps(d, opts, t, key, usage.as_ref(), &iam_users, draft);
    let after_policy = edited.as_deref().unwrap_or(policy_text);
    needs
        .into_iter()
        .map(|n| {
            let mut docs = n.docs.clone();
            if n.iam {
                docs.extend(usage.iter().map(|(_, doc)| doc.clone()));
            }
            let after_analysis = analyse(key, Some(after_policy), n.launcher, &docs);
            let after = after_analysis
                .as_ref()
                .map_or(AccessVerdict::Unknown, |a| verdict_of(a.verdict));
            AccessCheck {
                missing_after_plan: after_analysis
                    .iter()
                    .flat_map(|a| a.checks.iter().filter(|c| !c.allowed()))
                    .map(|c| c.action.clone())
                    .collect(),
                fix: None,
                principal: n.launcher.arn.clone(),
                key_arn: arn.clone(),
                operation: policy::Operation::Launch.as_str().to_string(),
                now: verdict_of(n.now.verdict),
                after_plan: after,
                findings: n
                    .now
                    .errors()
                    .map(|f| f.code.as_str().to_string())
                    .collect(),
                missing_actions: n
                    .now
                    .checks
                    .iter()
                    .filter(|c| !c.allowed())
                    .map(|c| c.action.clone())
                    .collect(),
            }
        })
        .collect()
}

/// The smallest fix for one launcher the key does not allow yet: IAM alone when the key policy
/// delegates to IAM; else the key policy (Auto Scaling's role: always), with IAM too when the key
/// policy's statement for it is not enough on its own.
fn decide(
    key: &KeyUse<'_>,
    policy_text: &str,
    usage: Option<&(String, policy::PolicyDocument)>,
    editor: &str,
    need: &mut Need<'_>,
) {
    let slr = is_autoscaling_service_role(&need.launcher.arn);
    let attachable =
        !slr && Principal::parse(&need.launcher.arn).is_some_and(|p| p.kind.iam_entity().is_some());
    let with_usage = |docs: &[policy::PolicyDocument]| -> Vec<policy::PolicyDocument> {
        let mut v = docs.to_vec();
        v.extend(usage.iter().map(|(_, doc)| doc.clone()));
        v
    };
    if attachable {
        let docs = with_usage(&need.docs);
        if allowed(analyse(key, Some(policy_text), need.launcher, &docs)) {
            need.iam = true;
            return;
        }
    }
    need.in_key_policy = true;
    let Ok(edit) = policy::edit::add_key_users(
        policy_text,
        &key.description.arn,
        std::slice::from_ref(&need.launcher.arn),
        editor,
    ) else {
        return;
    };
    if attachable && !allowed(analyse(key, Some(&edit.text), need.launcher, &need.docs)) {
        need.iam = true;
    }
}

/// The key's account root, as the editor when amishare has no identity in the account.
fn key_editor(key: &KeyUse<'_>) -> String {
    crate::domain::arn::root_arn(partition_of(&key.description.arn), &key.description.account)
}

/// The `PutTargetKeyPolicy` step adding `principals`; the edited policy text when it changes.
fn key_policy_step(
    t: &TargetFacts,
    key: &KeyUse<'_>,
    policy_text: &str,
    principals: &[String],
    draft: &mut Draft,
) -> Option<String> {
    if principals.is_empty() {
        return None;
    }
    let arn = &key.description.arn;
    let editor = t.identity.as_ref().map(|i| i.arn.clone())?;
    match policy::edit::add_key_users(policy_text, arn, principals, &editor) {
        Ok(edit) if edit.changed => {
            draft.warnings.extend(edit.warnings.iter().cloned());
            draft.push(
                &t.account,
                &key.description.region,
                Action::PutTargetKeyPolicy {
                    key_arn: arn.clone(),
                    before: policy_text.to_string(),
                    after: edit.text.clone(),
                    added: edit.added.clone(),
                    diff: edit.diff().unified,
                },
            );
            Some(edit.text)
        }
        Ok(_) => None,
        Err(e) => {
            draft.blockers.push(Blocker {
                code: BlockerCode::KeyPolicyEdit,
                account: None,
                message: format!("cannot edit the key policy of target key {arn}: {e}"),
                fix: e
                    .hint()
                    .unwrap_or_else(|| "edit the key policy by hand".into()),
            });
            None
        }
    }
}

/// `KmsKeyUsagePolicy-<key id>` (created, or a new default version when it does not cover the
/// key) and its attachment to each launcher in `users` that does not have it yet.
fn iam_steps(
    d: &Discovery,
    opts: &PlanOptions,
    t: &TargetFacts,
    key: &KeyUse<'_>,
    usage: Option<&(String, policy::PolicyDocument)>,
    users: &[&PrincipalFacts],
    draft: &mut Draft,
) {
    let Some((document, _)) = usage else { return };
    if users.is_empty() {
        return;
    }
    let name = key_usage_policy_name(&key.description.key_id);
    let arn = policy_arn(partition_of(&d.source.arn), &t.account, &name);
    let iam_region = opts
        .target_regions
        .first()
        .cloned()
        .unwrap_or_else(|| d.source_region.clone());
    match t
        .key_usage_policies
        .get(&key.description.arn)
        .cloned()
        .flatten()
    {
        None => draft.push(
            &t.account,
            &iam_region,
            Action::CreatePolicy {
                name,
                document: document.clone(),
            },
        ),
        Some(existing) if !existing.document.contains(&key.description.arn) => draft.push(
            &t.account,
            &iam_region,
            Action::CreatePolicyVersion {
                policy_arn: arn.clone(),
                previous_version: existing.default_version.clone(),
                document: document.clone(),
            },
        ),
        Some(_) => {}
    }
    for p in users {
        let attached = p.policies.as_ref().is_some_and(|pol| {
            pol.policies.iter().any(|doc| {
                doc.source == PolicySource::Attached && doc.arn.as_deref() == Some(arn.as_str())
            })
        });
        if !attached {
            draft.push(
                &t.account,
                &iam_region,
                Action::AttachPolicy {
                    policy_arn: arn.clone(),
                    principal_arn: p.arn.clone(),
                },
            );
        }
    }
}

/// The launchers' usage policy of one key: its text and its parsed form.
fn usage_document(key_arn: &str) -> Option<(String, policy::PolicyDocument)> {
    let v = policy::template::kms_key_usage_policy(&[key_arn.to_string()]).ok()?;
    let text = serde_json::to_string_pretty(&v).ok()?;
    let name = key_usage_policy_name(key_arn.rsplit('/').next().unwrap_or(key_arn));
    let doc = policy::parse_policy_value(&v, &name).ok()?;
    Some((text, doc))
}

/// The policy engine on one launcher, one target key (same account: a launch keeps the key).
fn analyse(
    key: &KeyUse<'_>,
    policy_text: Option<&str>,
    launcher: &PrincipalFacts,
    docs: &[policy::PolicyDocument],
) -> Option<policy::Analysis> {
    let parsed = match policy_text.map(|p| policy::parse_policy(p, "key policy")) {
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => return None,
        None => None,
    };
    let info = policy::KeyInfo {
        arn: key.description.arn.clone(),
        manager: policy::KeyManager::Customer,
        policy: parsed,
        grants: parse_grants(&key.facts.grants),
    };
    let ctx = policy::CallerContext {
        region: Some(key.description.region.clone()),
        ..policy::CallerContext::default()
    };
    policy::analyze(&policy::AnalysisRequest {
        key: &info,
        principal: &launcher.arn,
        identity_policies: docs,
        operation: policy::Operation::Launch,
        context: &ctx,
    })
    .ok()
}

fn allowed(a: Option<policy::Analysis>) -> bool {
    a.is_some_and(|a| a.verdict == policy::Verdict::Allow)
}

pub(super) fn verdict_of(v: policy::Verdict) -> AccessVerdict {
    match v {
        policy::Verdict::Allow => AccessVerdict::Allow,
        policy::Verdict::Deny => AccessVerdict::Deny,
        policy::Verdict::Undecided => AccessVerdict::Undecided,
    }
}

/// ListGrants' answer as the grants the policy engine reads (unparsable ones are left out).
pub(super) fn parse_grants(grants: &[GrantInfo]) -> Vec<policy::Grant> {
    let items: Vec<serde_json::Value> = grants
        .iter()
        .filter_map(|g| {
            let mut o = json!({
                "GranteePrincipal": g.grantee_principal.as_ref()?,
                "Operations": g.operations,
            });
            if let Some(id) = &g.grant_id {
                o["GrantId"] = json!(id);
            }
            if let Some(c) = g
                .constraints
                .as_deref()
                .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
            {
                o["Constraints"] = c;
            }
            Some(o)
        })
        .collect();
    policy::parse_grants_value(&serde_json::Value::Array(items), "ListGrants").unwrap_or_default()
}

#[cfg(test)]
#[path = "launchers_tests.rs"]
mod tests;
