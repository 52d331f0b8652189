//! Target accounts: per account the `KmsKeyUsagePolicy` (created, or a new version covering more
//! keys) and its attachment to the `--grant` principals; per region the copy (or waiting for an
//! earlier pending one) and the test launch; a hand-off for accounts without credentials.

use std::collections::BTreeSet;

use serde_json::Value;

use super::handoff::handoff;
use super::launch_as::launcher_actions;
use super::lifecycle::lifecycle_steps;
use super::Draft;
use crate::domain::arn::{partition_of, Principal};
use crate::domain::states::ImageState;
use crate::policy;
use crate::policy::template::KMS_KEY_USAGE_POLICY_NAME;
use crate::workflow::copy::facts::{Discovery, RegionFacts, TargetFacts};
use crate::workflow::copy::usage_policy_arn;
use crate::workflow::inventory::{IdentityPolicies, PolicySource};
use crate::workflow::plan::{Action, Handoff, PlanOptions, SourceImage};
use crate::workflow::ports_write::{
    TAG_RUN_ID, TAG_SOURCE_ACCOUNT, TAG_SOURCE_IMAGE, TAG_TEST_LAUNCH,
};

/// The smallest general-purpose instance type for an architecture.
pub fn smallest_instance_type(architecture: Option<&str>) -> &'static str {
    match architecture {
        Some("arm64") | Some("arm64_mac") => "t4g.nano",
        Some("i386") => "t2.nano",
        _ => "t3.nano",
    }
}

/// The `KmsKeyUsagePolicy` document for these keys (`None` without customer managed keys).
pub fn usage_policy_document(key_arns: &[String]) -> Option<String> {
    if key_arns.is_empty() {
        return None;
    }
    policy::template::kms_key_usage_policy(key_arns)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
}

/// What the target section adds besides steps.
#[derive(Default)]
pub struct TargetsOut {
    pub handoffs: Vec<Handoff>,
    /// `(account, region, image id)` of copies that exist, are available and were tested.
    pub existing_copies: Vec<(String, String, String)>,
}

/// What every target's steps are made from.
struct Common<'a> {
    d: &'a Discovery,
    opts: &'a PlanOptions,
    run_id: &'a str,
    source: &'a SourceImage,
    instance_type: String,
    copy_name: String,
}

/// The source keys' `KmsKeyUsagePolicy` and who gets it besides the `--grant` principals.
pub struct SourceKeyUsage<'a> {
    pub key_arns: &'a [String],
    /// The policy document (`None` without customer managed keys).
    pub usage_doc: Option<&'a str>,
    /// `(account, user or role ARN)` of the copiers it is attached to (`access.rs`).
    pub copiers: &'a [(String, String)],
}

/// Every target account: IAM, then per region copy and test launch; hand-offs without
/// credentials.
pub fn target_steps(
    d: &Discovery,
    opts: &PlanOptions,
    run_id: &str,
    source: &SourceImage,
    usage: &SourceKeyUsage<'_>,
    draft: &mut Draft,
) -> TargetsOut {
    let SourceKeyUsage {
        key_arns,
        usage_doc,
        copiers,
    } = *usage;
    let instance_type = opts
        .instance_type
        .clone()
        .unwrap_or_else(|| smallest_instance_type(d.image.architecture.as_deref()).to_string());
    let base_name = d.image.name.clone().unwrap_or_else(|| d.image.id.clone());
    let copy_name = opts
        .name
        .clone()
        .unwrap_or_else(|| format!("{base_name} (copy of {}/{})", d.source.account, d.image.id));
    let common = Common {
        d,
        opts,
        run_id,
        source,
        instance_type,
        copy_name,
    };
    let mut out = TargetsOut::default();
    for t in &d.targets {
        if t.identity.is_none() {
            out.handoffs.push(handoff(
                d,
                opts,
                t,
                usage_doc,
                &common.copy_name,
                &common.instance_type,
            ));
            continue;
        }
        if let Some(doc) = usage_doc {
            let copier = copiers
                .iter()
                .find(|(a, _)| a == &t.account)
                .map(|(_, arn)| arn.as_str());
            iam_steps(d, opts, t, key_arns, doc, copier, draft);
        }
        for r in &t.regions {
            region_steps(&common, t, r, &mut out, draft);
        }
    }
    out
}

/// The `KmsKeyUsagePolicy` (source keys) in one target account and its attachments to the
/// `--grant` principals that use the source key ([`super::source_key_users`]) and to the copier
/// (amishare's own user or role) when its IAM lacks the keys (`copier.rs`).
fn iam_steps(
    d: &Discovery,
    opts: &PlanOptions,
    t: &TargetFacts,
    key_arns: &[String],
    doc: &str,
    copier: Option<&str>,
    draft: &mut Draft,
) {
    let account = &t.account;
    let policy_arn = usage_policy_arn(partition_of(&d.source.arn), account);
    let iam_region = opts
        .target_regions
        .first()
        .cloned()
        .unwrap_or_else(|| d.source_region.clone());
    let mut users: Vec<(&str, Option<&IdentityPolicies>)> = super::source_key_users(t, opts)
        .into_iter()
        .map(|p| (p.arn.as_str(), p.policies.as_ref()))
        .collect();
    if let Some(c) = copier.filter(|c| !users.iter().any(|(u, _)| u == c)) {
        users.push((c, t.identity_policies.as_ref()));
    }
    if !users.is_empty() {
        match &t.usage_policy {
            None => draft.push(
                account,
                &iam_region,
                Action::CreatePolicy {
                    name: KMS_KEY_USAGE_POLICY_NAME.into(),
                    document: doc.to_string(),
                },
            ),
            Some(existing) => {
                let covered = covered_keys(&existing.document);
                if !key_arns.iter().all(|k| covered.contains(k)) {
                    let mut all: Vec<String> = covered.into_iter().collect();
                    all.extend(key_arns.iter().cloned());
                    let merged = usage_policy_document(&all).unwrap_or_else(|| doc.to_string());
                    draft.push(
                        account,
                        &iam_region,
                        Action::CreatePolicyVersion {
                            policy_arn: policy_arn.clone(),
                            previous_version: existing.default_version.clone(),
                            document: merged,
                        },
                    );
                }
            }
        }
    }
    for (arn, policies) in users {
        let attached = policies.is_some_and(|pol| {
            pol.policies.iter().any(|d| {
                d.source == PolicySource::Attached && d.arn.as_deref() == Some(policy_arn.as_str())
            })
        });
        let attachable = Principal::parse(arn).is_some_and(|p| p.kind.iam_entity().is_some());
        if !attachable {
            draft.warnings.push(format!(
                "cannot attach {KMS_KEY_USAGE_POLICY_NAME} to `{arn}`: not a user, role or group"
            ));
        } else if !attached {
            draft.push(
                account,
                &iam_region,
                Action::AttachPolicy {
                    policy_arn: policy_arn.clone(),
                    principal_arn: arn.to_string(),
                },
            );
        }
    }
    if t.principals.is_empty() && copier.is_none() {
        draft.warnings.push(format!(
            "no `--grant` for {account}: {KMS_KEY_USAGE_POLICY_NAME} is not created there; only amishare's own identity is tested"
        ));
    }
}

/// One target region: the copy (or the wait for an earlier pending one) and the test launch;
/// with `--share-only`, the test launch of the shared original.
fn region_steps(
    c: &Common<'_>,
    t: &TargetFacts,
    r: &RegionFacts,
    out: &mut TargetsOut,
    draft: &mut Draft,
) {
    let (account, region) = (&t.account, &r.region);
    let test_launch = |image_id: Option<String>| Action::TestLaunch {
        image_id,
        instance_type: c.instance_type.clone(),
        subnet_id: c.opts.subnet_id.clone(),
    };
    if c.opts.share_only {
        if c.opts.test_launch {
            draft.push(account, region, test_launch(Some(c.d.image.id.clone())));
            launchers(c, t, region, Some(c.d.image.id.clone()), draft);
        }
        return;
    }
    let live = r
        .copies
        .iter()
        .find(|c| c.state == Some(ImageState::Available))
        .or_else(|| {
            r.copies
                .iter()
                .find(|c| c.state == Some(ImageState::Pending))
        });
    for failed in r
        .copies
        .iter()
        .filter(|c| !matches!(c.state, Some(ImageState::Available | ImageState::Pending)))
    {
        draft.warnings.push(format!(
            "{account}/{region}: an earlier copy {} is `{}`{}",
            failed.image_id,
            failed.state.as_ref().map_or("?", ImageState::as_str),
            failed
                .state_reason
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        ));
    }
    let Some(copy) = live else {
        draft.push(account, region, copy_image(c, r));
        if c.opts.test_launch {
            draft.push(account, region, test_launch(None));
            launchers(c, t, region, None, draft);
        }
        lifecycle_steps(c.opts, account, region, None, draft);
        return;
    };
    let tested = copy.tag(TAG_TEST_LAUNCH) == Some("passed");
    if copy.state == Some(ImageState::Pending) {
        draft.push(
            account,
            region,
            Action::WaitCopy {
                image_id: copy.image_id.clone(),
            },
        );
    }
    if c.opts.test_launch && !tested {
        draft.push(account, region, test_launch(Some(copy.image_id.clone())));
        launchers(c, t, region, Some(copy.image_id.clone()), draft);
    } else if copy.state == Some(ImageState::Available) {
        out.existing_copies
            .push((account.clone(), region.clone(), copy.image_id.clone()));
    }
    lifecycle_steps(c.opts, account, region, Some(copy), draft);
}

/// The test launches as the target account's `--grant` principals (after the target role's).
fn launchers(
    c: &Common<'_>,
    t: &TargetFacts,
    region: &str,
    image_id: Option<String>,
    draft: &mut Draft,
) {
    for a in launcher_actions(t, image_id, &c.instance_type, c.opts.subnet_id.clone()) {
        draft.push(&t.account, region, a);
    }
}

/// The CopyImage of the source image into one target region, tagged with where it came from.
fn copy_image(c: &Common<'_>, r: &RegionFacts) -> Action {
    let mut tags = vec![
        (TAG_SOURCE_IMAGE.to_string(), c.d.image.id.clone()),
        (TAG_SOURCE_ACCOUNT.to_string(), c.d.source.account.clone()),
        (TAG_RUN_ID.to_string(), c.run_id.to_string()),
    ];
    if c.opts.copy_tags {
        for (k, v) in &c.source.tags {
            if !k.starts_with("aws:") && !k.starts_with("amishare:") {
                tags.push((k.clone(), v.clone()));
            }
        }
    }
    Action::CopyImage {
        source_image_id: c.d.image.id.clone(),
        source_region: c.d.source_region.clone(),
        name: c.copy_name.clone(),
        kms_key_id: r.target_key.clone(),
        tags,
        completion_minutes: c.opts.lifecycle.copy_duration_minutes,
    }
}

/// Key ARNs named in the `Resource` of an identity policy document.
pub(crate) fn covered_keys(document: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(v) = serde_json::from_str::<Value>(document) else {
        return out;
    };
    let statements = match v.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => Vec::new(),
    };
    for s in statements {
        let resources = match s.get("Resource") {
            Some(Value::String(r)) => vec![r.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        for r in resources {
            if policy::template::validate_key_arn(&r).is_ok() {
                out.insert(r);
            }
        }
    }
    out
}
