//! The copy workflow: discover -> analyse -> plan -> apply -> wait -> test launch -> report.
//!
//! - [`discover`] ([`discover.rs`](discover)) reads everything the plan depends on (read port +
//!   the few reads of the write port) into [`facts`], never changing anything; [`fingerprint`]
//!   condenses what a saved plan must find unchanged.
//! - [`build_plan`] ([`build`]) is pure: it turns a [`Discovery`] into a [`Plan`] with only the
//!   changes still needed (a rerun on a finished state plans nothing), the blockers with their
//!   fixes, and the policy engine's verdicts for the target principals now and after the plan.
//! - [`apply()`] ([`apply`]) runs the plan step by step, journalling before and after each step:
//!   the source side first, then every target account and region concurrently (bounded), each
//!   one copy -> wait -> test launch (always terminated) -> diagnosis on failure. Key-policy
//!   and `KmsKeyUsagePolicy` edits converge while other runs edit the same document
//!   (`workflow::key_policy`, `apply::usage_policy`).
//! - [`report`] is what a run did; [`diagnosis`] its short form of the shared diagnosis;
//!   [`resume`] which journal a rerun continues (`apply::leftovers` then terminates what the
//!   interrupted run left).
//!
//! [`Plan`]: super::plan::Plan

pub mod apply;
pub mod build;
pub mod diagnosis;
pub mod discover;
pub mod discover_guardrails;
pub mod facts;
pub mod fingerprint;
pub mod launcher_facts;
pub mod report;
pub mod resume;
pub mod saved;

pub use self::apply::leftovers::terminate_leftovers;
pub use self::apply::{apply, Apply, DEFAULT_MAX_CONCURRENCY};
pub use self::build::{access_verdict, build_plan, build_plan_with_prefix, smallest_instance_type};
pub use self::diagnosis::Diagnosis;
pub use self::discover::discover;
pub use self::facts::{
    Discovery, KeyFacts, PrincipalFacts, ReencryptFacts, RegionFacts, TargetFacts,
};
pub use self::fingerprint::fingerprint;
pub use self::report::{
    ChangeRecord, LaunchReport, LaunchResult, Report, ReportStatus, TargetReport, TargetStatus,
};
pub use self::resume::{new_run_id, resumable, RunStart};
pub use self::saved::{
    check_not_applied, check_not_blocked, check_world_unchanged, parse_saved_plan, SavedPlanError,
};
pub use super::waiters::{terminate_and_confirm, Timing};
pub use super::world::{Conn, TargetAccess, World};

use super::journal::JournalError;
use super::ports::AwsError;
use crate::domain::arn::policy_arn;
use crate::policy::template::KMS_KEY_USAGE_POLICY_NAME;

/// Why the workflow stopped.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{message}")]
    Input { message: String, hint: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the world changed since the plan was made: {}", .0.join("; "))]
    WorldChanged(Vec<String>),
    #[error("interrupted")]
    Interrupted,
}

impl CopyError {
    pub(crate) fn input(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CopyError::Input {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// `arn:PARTITION:iam::ACCOUNT:policy/KmsKeyUsagePolicy`.
pub fn usage_policy_arn(partition: &str, account: &str) -> String {
    policy_arn(partition, account, KMS_KEY_USAGE_POLICY_NAME)
}
