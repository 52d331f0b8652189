//! What a run did: per change a [`ChangeRecord`], per target account and region a
//! [`TargetReport`] (copy, test launch, diagnosis), and the whole [`Report`] the CLI renders.

use serde::Serialize;

use super::diagnosis::Diagnosis;
use crate::domain::states::{closed_set, ImageState, InstanceState};
use crate::workflow::plan::{Blocker, Handoff, Plan, Step};

closed_set! {
    /// How a whole run ended.
    pub enum ReportStatus {
        Ok => "ok",
        Failed => "failed",
        Blocked => "blocked",
        NothingToDo => "nothing-to-do",
        DryRun => "dry-run",
        Interrupted => "interrupted",
    }
}

closed_set! {
    /// How one target account and region ended.
    pub enum TargetStatus {
        Ok => "ok",
        Failed => "failed",
        HandOff => "hand-off",
        Exists => "exists",
        Skipped => "skipped",
        Interrupted => "interrupted",
    }
}

closed_set! {
    /// How a test launch ended.
    pub enum LaunchResult {
        Running => "running",
        Failed => "failed",
        Timeout => "timeout",
        Interrupted => "interrupted",
        Error => "error",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LaunchReport {
    pub instance_id: Option<String>,
    pub instance_type: String,
    /// `running`, `failed`, `timeout`, `interrupted`, `error`.
    pub result: LaunchResult,
    pub state: Option<InstanceState>,
    pub state_reason_code: Option<String>,
    pub state_reason_message: Option<String>,
    pub seconds_to_running: Option<f64>,
    /// Termination confirmed.
    pub terminated: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetReport {
    pub account: String,
    pub region: String,
    /// `ok`, `failed`, `hand-off`, `exists`, `skipped`, `interrupted`.
    pub status: TargetStatus,
    pub image_id: Option<String>,
    pub copy_state: Option<ImageState>,
    pub copy_state_reason: Option<String>,
    pub test_launch: Option<LaunchReport>,
    pub diagnosis: Option<Diagnosis>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeRecord {
    pub step: String,
    pub account: String,
    pub region: String,
    pub summary: String,
    pub ok: bool,
    pub created: Vec<String>,
    pub error: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub run_id: String,
    /// `ok`, `failed`, `blocked`, `nothing-to-do`, `dry-run`, `interrupted`.
    pub status: ReportStatus,
    pub source_account: String,
    pub source_region: String,
    pub image_id: String,
    pub changes: Vec<ChangeRecord>,
    pub targets: Vec<TargetReport>,
    pub blockers: Vec<Blocker>,
    pub handoffs: Vec<Handoff>,
    pub left_behind: Vec<String>,
    pub warnings: Vec<String>,
    /// `--reencrypt-with`: the re-encrypted copy in the source account that was shared instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reencrypted_image: Option<String>,
    /// `--reencrypt-with`: the plan made on that copy (and applied, unless blocked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_on_copy: Option<Box<Plan>>,
}

impl Report {
    /// A report for a plan that was not applied (dry run, blocked, nothing to do).
    pub fn unapplied(plan: &Plan, status: ReportStatus) -> Self {
        let mut targets = Vec::new();
        for account in &plan.options.target_accounts {
            for region in &plan.options.target_regions {
                let handoff = plan.handoffs.iter().any(|h| &h.account == account);
                let existing = plan
                    .existing_copies
                    .iter()
                    .find(|(a, r, _)| a == account && r == region);
                targets.push(TargetReport {
                    account: account.clone(),
                    region: region.clone(),
                    status: if handoff {
                        TargetStatus::HandOff
                    } else if existing.is_some() {
                        TargetStatus::Exists
                    } else {
                        TargetStatus::Skipped
                    },
                    image_id: existing.map(|(_, _, i)| i.clone()),
                    copy_state: existing.map(|_| ImageState::Available),
                    copy_state_reason: None,
                    test_launch: None,
                    diagnosis: None,
                    error: None,
                });
            }
        }
        Report {
            run_id: plan.run_id.clone(),
            status,
            source_account: plan.source.account.clone(),
            source_region: plan.source.region.clone(),
            image_id: plan.source.image_id.clone(),
            changes: Vec::new(),
            targets,
            blockers: plan.blockers.clone(),
            handoffs: plan.handoffs.clone(),
            left_behind: Vec::new(),
            warnings: plan.warnings.clone(),
            reencrypted_image: None,
            plan_on_copy: None,
        }
    }

    /// Any target failed (copy or test launch) or the plan is blocked.
    pub fn failed(&self) -> bool {
        matches!(self.status, ReportStatus::Failed | ReportStatus::Blocked)
    }
}

impl ChangeRecord {
    /// The record of a step about to run (not ok until it finished).
    pub fn started(step: &Step) -> Self {
        Self {
            step: step.id.clone(),
            account: step.account.clone(),
            region: step.region.clone(),
            summary: step.action.summary(),
            ok: false,
            created: Vec::new(),
            error: None,
        }
    }

    /// The record of a step that failed with `error`.
    pub fn failed(step: &Step, error: String) -> Self {
        Self {
            error: Some(error),
            ..Self::started(step)
        }
    }
}

impl TargetReport {
    /// A target account and region with `status` and nothing else known yet.
    pub fn new(account: &str, region: &str, status: TargetStatus) -> Self {
        Self {
            account: account.to_string(),
            region: region.to_string(),
            status,
            image_id: None,
            copy_state: None,
            copy_state_reason: None,
            test_launch: None,
            diagnosis: None,
            error: None,
        }
    }
}
