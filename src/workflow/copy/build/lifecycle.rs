//! The copy's lifecycle steps (`--deprecate-in`, `--deregistration-protection`, `--ssm-parameter`)
//! in each target account and region, after the copy and its test launch: a copy is deprecated,
//! protected and published only once it has launched. `--copy-duration` is part of the CopyImage
//! step itself (`targets.rs`).
//!
//! A copy that exists already (an earlier run made it) gets the steps too, with its id: they
//! are idempotent, and the journal keeps what each replaced so rollback restores it.

use super::Draft;
use crate::workflow::plan::{Action, PlanOptions};

/// The lifecycle steps for the copy in `account`/`region` (`image_id` `None`: the copy this
/// plan makes there).
pub fn lifecycle_steps(
    opts: &PlanOptions,
    account: &str,
    region: &str,
    image_id: Option<&str>,
    draft: &mut Draft,
) {
    let l = &opts.lifecycle;
    let image_id = image_id.map(str::to_string);
    if let Some(days) = l.deprecate_in_days {
        draft.push(
            account,
            region,
            Action::DeprecateImage {
                image_id: image_id.clone(),
                days,
            },
        );
    }
    if l.deregistration_protection {
        draft.push(
            account,
            region,
            Action::ProtectImage {
                image_id: image_id.clone(),
                with_cooldown: l.protection_cooldown,
            },
        );
    }
    if let Some(name) = &l.ssm_parameter {
        draft.push(
            account,
            region,
            Action::PublishImageId {
                image_id,
                name: name.clone(),
            },
        );
    }
}

/// A target account amishare has no credentials for: its admin makes the copy, so the lifecycle
/// settings are theirs to make too (a warning says which).
pub fn handoff_warning(opts: &PlanOptions, account: &str, draft: &mut Draft) {
    let l = &opts.lifecycle;
    let mut asked = Vec::new();
    if l.deprecate_in_days.is_some() {
        asked.push("`--deprecate-in`");
    }
    if l.deregistration_protection {
        asked.push("`--deregistration-protection`");
    }
    if l.copy_duration_minutes.is_some() {
        asked.push("`--copy-duration`");
    }
    if l.ssm_parameter.is_some() {
        asked.push("`--ssm-parameter`");
    }
    if !asked.is_empty() {
        draft.warnings.push(format!(
            "{account}: no credentials, so {} cannot be applied there; the account's admin sets them on the copy they make",
            asked.join(", ")
        ));
    }
}
