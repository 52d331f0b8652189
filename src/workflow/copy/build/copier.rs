//! The copier's own access to the source keys (issue 18). amishare's identity in a target
//! account runs CopyImage (or, with `--share-only`, the test launch), so EC2 calls KMS on the
//! source key as it: across accounts both the key policy and the copier's IAM must allow it
//! (docs/DOMAIN.md, "How access to a KMS key is decided"). When its IAM lacks the key, the plan
//! attaches the same `KmsKeyUsagePolicy` the launchers get (the source key ARNs, the copy
//! actions, CreateGrant only with `kms:GrantIsForAWSResource`) to the copier's user or role, if
//! amishare may: it must be an IAM user or role (not an account root, not a federated session),
//! not the role of an IAM Identity Center permission set (`AWSReservedSSO_*`: IAM Identity Center
//! provisions and manages those roles, changes belong in the permission set; AWS managed policy
//! `AWSSSOServiceRolePolicy`), with identity policies amishare can read that allow it to create
//! the policy and attach it to itself. Otherwise the check stays `deny` and [`Decision::Block`]
//! carries the exact fix for the blocker the rule makes of it (`rule.rs`). Pure.

use super::{identity_docs, Inputs, OrgFacts, Who};
use crate::domain::arn::{assumed_role_arn, partition_of, Principal};
use crate::policy::template::KMS_KEY_USAGE_POLICY_NAME;
use crate::policy::{self, Caller, CallerContext, Outcome, RequestContext};
use crate::workflow::copy::facts::{Discovery, TargetFacts};
use crate::workflow::copy::usage_policy_arn;
use crate::workflow::plan::AccessVerdict;

/// What the plan does about the copier's IAM.
pub(super) enum Decision {
    /// Its IAM needs nothing (or `KmsKeyUsagePolicy` would not help: the rule's own fix says why).
    Nothing,
    /// Attach `KmsKeyUsagePolicy` to this user or role ARN.
    Attach(String),
    /// It needs `KmsKeyUsagePolicy` and amishare cannot attach it: why, and the fix.
    Block(String),
}

/// Whether the copier needs the `KmsKeyUsagePolicy` on the source keys, and whether amishare can
/// attach it.
pub(super) fn decide(
    d: &Discovery,
    t: &TargetFacts,
    inputs: &Inputs<'_>,
    w: &Who<'_>,
    org: &OrgFacts,
) -> Decision {
    let keys = inputs.customer_keys;
    let allowed = |usage: bool| {
        keys.iter()
            .all(|k| inputs.verdict(k, w, org, true, usage).0 == AccessVerdict::Allow)
    };
    if keys.is_empty() || allowed(false) || inputs.usage_policy.is_none() || !allowed(true) {
        return Decision::Nothing;
    }
    match may_attach(d, t, w) {
        Ok(entity) => Decision::Attach(entity),
        Err(why) => Decision::Block(why),
    }
}

/// The user or role amishare may attach `KmsKeyUsagePolicy` to, or why not and the fix.
fn may_attach(d: &Discovery, t: &TargetFacts, w: &Who<'_>) -> Result<String, String> {
    let entity = assumed_role_arn(w.arn).unwrap_or_else(|| w.arn.to_string());
    let policy = usage_policy_arn(partition_of(&d.source.arn), &t.account);
    let keys: Vec<&str> = d
        .keys
        .iter()
        .filter(|k| !k.description.is_aws_managed())
        .map(|k| k.description.arn.as_str())
        .collect();
    let fix = format!(
        "give `{entity}` the use of {} in its IAM (the `{KMS_KEY_USAGE_POLICY_NAME}` document of the plan's hand-off: kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey, and kms:CreateGrant with kms:GrantIsForAWSResource), or run amishare as a principal of account {} whose IAM lets it attach `{policy}` to itself; then run `amishare copy` again",
        keys.join(", "),
        t.account
    );
    let Some(p) = Principal::parse(&entity) else {
        return Err(format!("`{entity}` is not an IAM principal: {fix}"));
    };
    let kind = match p.kind.iam_entity() {
        Some("user") => "User",
        Some("role") => "Role",
        _ => {
            return Err(format!(
                "`{entity}` is not an IAM user or role amishare can attach a policy to: {fix}"
            ))
        }
    };
    if kind == "Role" && p.name.starts_with("AWSReservedSSO_") {
        return Err(format!(
            "`{entity}` is the role of an IAM Identity Center permission set, whose policies IAM Identity Center manages: add the `{KMS_KEY_USAGE_POLICY_NAME}` statements to the permission set's inline policy and provision it again, then run `amishare copy` again"
        ));
    }
    let Some(policies) = w.policies else {
        return Err(format!(
            "amishare cannot read the IAM policies of `{entity}`, so it cannot tell whether it may attach `{policy}`: {fix}"
        ));
    };
    let docs = identity_docs(Some(policies));
    let Ok(caller) = Caller::parse(w.arn) else {
        return Err(format!("`{}` is not a principal ARN: {fix}", w.arn));
    };
    let base = RequestContext::with_principal(&caller, &CallerContext::default());
    let covered = t
        .usage_policy
        .as_ref()
        .map(|u| keys.iter().all(|k| u.document.contains(k)));
    let mut needed: Vec<(String, String, RequestContext)> = Vec::new();
    match covered {
        None => needed.push(("iam:CreatePolicy".into(), policy.clone(), base.clone())),
        Some(false) => needed.push((
            "iam:CreatePolicyVersion".into(),
            policy.clone(),
            base.clone(),
        )),
        Some(true) => {}
    }
    let mut attach = base;
    attach.set("iam:PolicyARN", policy.clone());
    needed.push((format!("iam:Attach{kind}Policy"), entity.clone(), attach));
    for (action, resource, ctx) in &needed {
        let outcome = policy::identity_outcome(&docs, &caller, action, resource, ctx);
        if outcome != Outcome::Allow {
            let how = if outcome == Outcome::ExplicitDeny {
                "deny"
            } else {
                "do not allow"
            };
            return Err(format!(
                "the IAM policies of `{entity}` {how} `{action}` on `{resource}`, which attaching `{KMS_KEY_USAGE_POLICY_NAME}` needs: {fix}"
            ));
        }
    }
    Ok(entity)
}
