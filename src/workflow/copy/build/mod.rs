//! Plan building: a [`Discovery`] in, a [`Plan`] out. Pure (no I/O, no clock: the creation time
//! is passed in). The plan is built in the order a reviewer reads it, one file per section:
//!
//! 1. [`blockers`]: what stops the copy (image not owned or not available, AWS managed keys,
//!    unusable keys, unreadable key policies), and [`reencrypt`] for `--reencrypt-with`;
//! 2. [`source`]: the source key policy edits and the sharing of the image and its snapshots;
//! 3. [`access`]: the policy engine's verdict for every target principal, now and after the plan;
//! 4. [`targets`]: per target account its IAM (`KmsKeyUsagePolicy`), per region the copy and the
//!    test launch, then the copy's [`lifecycle`] settings; [`handoff`] for accounts amishare has
//!    no credentials for;
//! 5. [`revoke`]: `--revoke-after-copy`'s undoing of the shares and key policy additions.
//!
//! Auto Scaling's missing service-linked role is created first ([`service_roles`]); every access
//! check reaches the plan through [`rule::admit`]: one the plan does not make `allow` blocks the
//! run before its first change.
//! Before all of these, [`guardrails`] leaves out the target accounts a layer amishare cannot
//! change denies (SCP, RCP, permissions boundary, Allowed AMIs); when it leaves out every
//! target, its causes are blockers.
//!
//! Step ids are `{prefix}1`, `{prefix}2`, ... in that order (`s` on a first attempt).

pub mod access;
pub mod autoscaling;
pub mod blockers;
pub mod guardrails;
pub mod handoff;
pub mod launch_as;
pub mod launchers;
pub mod lifecycle;
pub mod reencrypt;
pub mod revoke;
pub mod rule;
pub mod service_roles;
pub mod source;
pub mod targets;

pub use self::access::access_verdict;
pub use self::targets::smallest_instance_type;

use super::facts::{Discovery, KeyFacts, PrincipalFacts, TargetFacts};
use super::fingerprint::fingerprint;
use super::CopyError;
use crate::domain::arn::{account_of, assumed_role_arn, is_autoscaling_service_role};
use crate::workflow::plan::{
    Action, Blocker, ExcludedAccount, Plan, PlanOptions, SourceImage, SourceKey, SourceSnapshot,
    Step, PLAN_VERSION,
};

/// The plan so far: steps (with their ids), blockers and warnings, in plan order.
pub struct Draft {
    prefix: String,
    n: usize,
    pub steps: Vec<Step>,
    pub blockers: Vec<Blocker>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

impl Draft {
    fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            n: 0,
            steps: Vec::new(),
            blockers: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Add a step with the next id.
    pub fn push(&mut self, account: &str, region: &str, action: Action) {
        self.n += 1;
        self.steps.push(Step {
            id: format!("{}{}", self.prefix, self.n),
            account: account.to_string(),
            region: region.to_string(),
            action,
        });
    }
}

/// Turn a discovery into a plan created at `created_at` (RFC 3339). Pure.
pub fn build_plan(
    d: &Discovery,
    opts: &PlanOptions,
    run_id: &str,
    attempt: u32,
    created_at: &str,
) -> Result<Plan, CopyError> {
    let prefix = if attempt <= 1 {
        "s".to_string()
    } else {
        format!("a{attempt}s")
    };
    build_plan_with_prefix(d, opts, run_id, &prefix, created_at)
}

/// [`build_plan`] with the step id prefix given (the plan made after a re-encrypting copy
/// continues the ids of the step that made it).
///
/// With several targets, an account only the rule's blockers concern (an access check the plan
/// cannot make `allow` for a principal of that account) is left out like an account a guardrail
/// denies, and the plan is made again without it: the others proceed (`rule::left_out`).
pub fn build_plan_with_prefix(
    d: &Discovery,
    opts: &PlanOptions,
    run_id: &str,
    prefix: &str,
    created_at: &str,
) -> Result<Plan, CopyError> {
    check_grants(opts)?;
    let mut left_out: Vec<ExcludedAccount> = Vec::new();
    loop {
        let plan = build_once(d, opts, run_id, prefix, created_at, &left_out)?;
        match rule::left_out(&plan) {
            Some(more) => left_out.extend(more),
            None => return Ok(plan),
        }
    }
}

/// One plan, leaving out the guardrails' accounts and `left_out`.
fn build_once(
    d: &Discovery,
    opts: &PlanOptions,
    run_id: &str,
    prefix: &str,
    created_at: &str,
    left_out: &[ExcludedAccount],
) -> Result<Plan, CopyError> {
    // 0. Guardrails: the accounts a layer amishare cannot change denies are left out.
    let mut pass = guardrails::guardrail_pass(d, opts, &customer_keys_of(d), created_at);
    pass.excluded.extend(left_out.iter().cloned());
    let narrowed = guardrails::exclude_blocked(d, opts, &mut pass);
    let (d, opts) = match &narrowed {
        Some((d2, o2)) => (d2, o2),
        None => (d, opts),
    };
    let mut draft = Draft::new(prefix);
    if narrowed.is_none() {
        draft.blockers.extend(guardrails::blockers(&pass));
    }
    draft.notes.extend(pass.notes.iter().cloned());
    let source = source_image(d);

    // 1. What stops the copy.
    blockers::image_blockers(d, &mut draft);
    let reencrypt = reencrypt::plan_reencrypt(d, opts, run_id, &mut draft);
    let reencrypting = d.reencrypt.as_ref().is_some_and(|r| !r.using_copy);
    blockers::key_blockers(d, opts, reencrypting, &mut draft);
    // Auto Scaling's service-linked role where it is missing: created before anything names it;
    // the rest of the plan sees it existing.
    let discovered = d;
    let planned = service_roles::plan_service_roles(d, opts, &mut draft);
    let d: &Discovery = &planned;

    // 2. Source account: key policy edits, then sharing.
    let customer_keys = customer_keys_of(d);
    let edited = source::key_policy_edits(d, opts, &customer_keys, &mut draft);
    source::sharing(d, opts, &mut draft);

    // 3. The policy engine: every target principal, now and after the plan.
    let key_arns: Vec<String> = customer_keys
        .iter()
        .map(|k| k.description.arn.clone())
        .collect();
    let usage_doc = targets::usage_policy_document(&key_arns);
    let access = access::access_checks(d, opts, &customer_keys, &edited, usage_doc.as_deref());
    let mut checks = access.checks;
    // Launchers (`--grant`) on the target keys they launch with: verdicts and fixes.
    checks.extend(launchers::launcher_steps(d, opts, &mut draft));
    checks.extend(autoscaling::grant_steps(
        d,
        opts,
        &customer_keys,
        &mut draft,
    ));

    // 4. Target accounts: IAM, copies, test launches; hand-offs without credentials.
    let mut out = targets::target_steps(
        d,
        opts,
        run_id,
        &source,
        &targets::SourceKeyUsage {
            key_arns: &key_arns,
            usage_doc: usage_doc.as_deref(),
            copiers: &access.copier_attachments,
        },
        &mut draft,
    );

    // 5. Revoke after copy: undo the sharing and key policy access this plan adds.
    if opts.revoke_after_copy && !opts.share_only {
        revoke::revoke_steps(&mut draft);
    }
    if let Some(action) = reencrypt {
        // Everything else is planned on the re-encrypted AMI once it exists.
        draft.steps.clear();
        out.handoffs.clear();
        checks.clear();
        reencrypt::only_the_reencrypting_copy(d, action, &mut draft);
    }
    // The rule: a check the plan does not make `allow` blocks the run before any change.
    let checks = rule::admit(checks, opts, &mut draft);
    if !draft.blockers.is_empty() {
        draft.steps.clear();
    }

    Ok(Plan {
        version: PLAN_VERSION,
        run_id: run_id.to_string(),
        created_at: created_at.to_string(),
        source,
        keys: source_keys(d),
        options: opts.clone(),
        fingerprint: fingerprint(discovered),
        blockers: draft.blockers,
        checks: checks.into_checks(),
        steps: draft.steps,
        handoffs: out.handoffs,
        existing_copies: out.existing_copies,
        warnings: draft.warnings,
        probes: d.probes.clone(),
        notes: draft.notes,
        excluded: pass.excluded,
    })
}

/// The customer managed source keys (AWS managed ones cannot be shared at all).
fn customer_keys_of(d: &Discovery) -> Vec<&KeyFacts> {
    d.keys
        .iter()
        .filter(|k| !k.description.is_aws_managed())
        .collect()
}

/// The `--grant` principals of `t` that use the SOURCE key: with `--share-only` every launcher
/// but Auto Scaling's service-linked role (its policies cannot be edited: it gets a grant); in
/// copy mode only amishare's own target identity when it is named with `--grant` (the copier),
/// since launchers of the copy use the copy's key, never the source key.
pub fn source_key_users<'a>(t: &'a TargetFacts, opts: &PlanOptions) -> Vec<&'a PrincipalFacts> {
    t.principals
        .iter()
        .filter(|p| {
            if opts.share_only {
                !is_autoscaling_service_role(&p.arn)
            } else {
                t.identity.as_ref().is_some_and(|id| {
                    p.arn == id.arn || assumed_role_arn(&id.arn).as_deref() == Some(p.arn.as_str())
                })
            }
        })
        .collect()
}

/// The `--grant` principals the source key policy names (see [`source_key_users`]).
pub fn source_key_grants(d: &Discovery, opts: &PlanOptions) -> Vec<String> {
    d.targets
        .iter()
        .flat_map(|t| source_key_users(t, opts))
        .map(|p| p.arn.clone())
        .collect()
}

/// Every `--grant` must be a principal of a target account.
fn check_grants(opts: &PlanOptions) -> Result<(), CopyError> {
    for g in &opts.grants {
        if !account_of(g).is_some_and(|a| opts.target_accounts.iter().any(|t| t == a)) {
            return Err(CopyError::input(
                format!("`--grant {g}` is not a principal of a target account"),
                "pass IAM user, role or group ARNs of the accounts named with `--to`",
            ));
        }
    }
    Ok(())
}

/// The source image as the plan records it (snapshot keys resolved to ARNs).
fn source_image(d: &Discovery) -> SourceImage {
    let key_arn = |k: &String| {
        d.keys
            .iter()
            .find(|f| {
                &f.description.arn == k
                    || &f.description.key_id == k
                    || f.description.aliases.iter().flatten().any(|a| a == k)
            })
            .map(|f| f.description.arn.clone())
            .unwrap_or_else(|| k.clone())
    };
    SourceImage {
        account: d.source.account.clone(),
        region: d.source_region.clone(),
        image_id: d.image.id.clone(),
        name: d.image.name.clone(),
        architecture: d.image.architecture.clone(),
        snapshots: d
            .snapshots
            .iter()
            .map(|s| SourceSnapshot {
                snapshot_id: s.id.clone(),
                encrypted: s.encrypted == Some(true),
                key_arn: s.kms_key_id.as_ref().map(key_arn),
            })
            .collect(),
        tags: d
            .image
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect(),
    }
}

fn source_keys(d: &Discovery) -> Vec<SourceKey> {
    d.keys
        .iter()
        .map(|k| SourceKey {
            arn: k.description.arn.clone(),
            account: k.description.account.clone(),
            region: k.description.region.clone(),
            manager: k.description.key_manager.clone(),
            state: k.description.key_state.clone(),
            multi_region: k.description.multi_region,
            aliases: k.description.aliases.clone().unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod guardrails_tests;
#[cfg(test)]
mod org_tests;
#[cfg(test)]
mod tests;
