//! What a run did: per change a [`ChangeRecord`], per target account and region a
//! [`TargetReport`] (copy, test launch, diagnosis), and the whole [`Report`] the CLI renders.

use serde::Serialize;

use super::diagnosis::Diagnosis;
use crate::workflow::plan::{Blocker, Handoff, Plan, Step};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LaunchReport {
    pub instance_id: Option<String>,
    pub instance_type: String,
    /// `running`, `failed`, `timeout`, `interrupted`, `error`.
    pub result: String,
    pub state: Option<String>,
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
    pub status: String,
    pub image_id: Option<String>,
    pub copy_state: Option<String>,
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
    pub status: String,
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
    pub fn unapplied(plan: &Plan, status: &str) -> Self {
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
                        "hand-off".into()
                    } else if existing.is_some() {
                        "exists".into()
                    } else {
                        "skipped".into()
                    },
                    image_id: existing.map(|(_, _, i)| i.clone()),
                    copy_state: existing.map(|_| "available".to_string()),
                    copy_state_reason: None,
                    test_launch: None,
                    diagnosis: None,
                    error: None,
                });
            }
        }
        Report {
            run_id: plan.run_id.clone(),
            status: status.into(),
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
        self.status == "failed" || self.status == "blocked"
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
    pub fn new(account: &str, region: &str, status: &str) -> Self {
        Self {
            account: account.to_string(),
            region: region.to_string(),
            status: status.into(),
            image_id: None,
            copy_state: None,
            copy_state_reason: None,
            test_launch: None,
            diagnosis: None,
            error: None,
        }
    }
}
