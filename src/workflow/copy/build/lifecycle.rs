//! The copy's lifecycle steps (`--deprecate-in`, `--deregistration-protection`, `--ssm-parameter`)
//! in each target account and region, after the copy and its test launch: a copy is deprecated,
//! protected and published only once it has launched. `--copy-duration` is part of the CopyImage
//! step itself (`targets.rs`).
//!
//! A copy that exists already (an earlier run made it) gets the steps it still lacks, with its
//! id: a deprecation time or a protection it already has is left as it is (a rerun does not
//! move the deprecation date), so a rerun on a finished state plans nothing but the SSM
//! parameter (PutParameter of the same value is idempotent; discovery does not read SSM). The
//! journal keeps what each step replaced so rollback restores it. An account without
//! credentials gets them as commands in its hand-off.

use super::Draft;
use crate::workflow::plan::{Action, PlanOptions, SSM_IMAGE_DATA_TYPE};
use crate::workflow::ports_write::ImageStatus;

/// The lifecycle steps for the copy in `account`/`region` (`existing` `None`: the copy this
/// plan makes there).
pub fn lifecycle_steps(
    opts: &PlanOptions,
    account: &str,
    region: &str,
    existing: Option<&ImageStatus>,
    draft: &mut Draft,
) {
    let l = &opts.lifecycle;
    let image_id = existing.map(|c| c.image_id.clone());
    let deprecated = existing.is_some_and(|c| c.lifecycle.deprecation_time.is_some());
    let protected = existing.is_some_and(|c| c.lifecycle.protected());
    if let Some(days) = l.deprecate_in_days.filter(|_| !deprecated) {
        draft.push(
            account,
            region,
            Action::DeprecateImage {
                image_id: image_id.clone(),
                days,
            },
        );
    }
    if l.deregistration_protection && !protected {
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

/// ` --snapshot-copy-completion-duration-minutes M` for the hand-off's copy-image (or nothing).
pub fn copy_duration_arg(opts: &PlanOptions) -> String {
    opts.lifecycle
        .copy_duration_minutes
        .map(|m| format!(" --snapshot-copy-completion-duration-minutes {m}"))
        .unwrap_or_default()
}

/// The lifecycle settings as aws CLI commands for the hand-off of an account amishare has no
/// credentials for (run after the copy launched), in `region`.
pub fn handoff_commands(
    opts: &PlanOptions,
    region: &str,
    quote: fn(&str) -> String,
) -> Vec<String> {
    let l = &opts.lifecycle;
    let mut out = Vec::new();
    if let Some(days) = l.deprecate_in_days {
        out.push(format!(
            "aws ec2 enable-image-deprecation --region {region} --image-id <COPIED-AMI-ID> --deprecate-at <UTC TIME {days} DAYS AHEAD, e.g. 2030-01-31T00:00:00Z>"
        ));
    }
    if l.deregistration_protection {
        out.push(format!(
            "aws ec2 enable-image-deregistration-protection --region {region} --image-id <COPIED-AMI-ID>{}",
            if l.protection_cooldown { " --with-cooldown" } else { "" }
        ));
    }
    if let Some(name) = &l.ssm_parameter {
        out.push(format!(
            "aws ssm put-parameter --region {region} --name {} --type String --data-type {SSM_IMAGE_DATA_TYPE} --overwrite --value <COPIED-AMI-ID>",
            quote(name)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::plan::LifecycleOptions;

    #[test]
    fn the_hand_off_gets_each_setting_as_a_command() {
        let opts = PlanOptions {
            lifecycle: LifecycleOptions {
                deprecate_in_days: Some(30),
                deregistration_protection: true,
                protection_cooldown: true,
                copy_duration_minutes: Some(45),
                ssm_parameter: Some("/images/web".into()),
            },
            ..PlanOptions::default()
        };
        let cmds = handoff_commands(&opts, "eu-west-1", |s| s.to_string());
        assert_eq!(cmds.len(), 3, "{cmds:#?}");
        assert!(cmds[0].starts_with("aws ec2 enable-image-deprecation --region eu-west-1 "));
        assert!(cmds[0].contains("30 DAYS AHEAD"));
        assert!(cmds[1].ends_with("--image-id <COPIED-AMI-ID> --with-cooldown"));
        assert!(cmds[2].contains("--name /images/web --type String --data-type aws:ec2:image"));
        assert_eq!(
            copy_duration_arg(&opts),
            " --snapshot-copy-completion-duration-minutes 45"
        );
        assert!(
            handoff_commands(&PlanOptions::default(), "eu-west-1", |s| s.to_string()).is_empty()
        );
        assert_eq!(copy_duration_arg(&PlanOptions::default()), "");
    }
}
