//! What a run did: per change a [`ChangeRecord`], per target account and region a
//! [`TargetReport`] (copy, test launch, diagnosis), and the whole [`Report`] the CLI renders.

use serde::Serialize;

use crate::domain::states::{closed_set, ImageState, InstanceState};
use crate::workflow::plan::{Blocker, ExcludedAccount, Handoff, LaunchHow, Plan, Step};

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

closed_set! {
    /// How the test launch as one launcher ended.
    pub enum LauncherResult {
        /// The instance ran (assume-role) or the group's instance reached InService.
        Passed => "passed",
        Failed => "failed",
        /// amishare cannot act as the launcher: the policy engine's verdict is all there is.
        AnalysisOnly => "analysis-only",
        Timeout => "timeout",
        Interrupted => "interrupted",
        Error => "error",
    }
}

/// One `--grant` principal's test launch (issue 11): how amishare verified it, the result, and
/// on failure the diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LauncherReport {
    pub principal: String,
    /// `assume-role`, `auto-scaling-group`, `analysis-only`.
    pub how: &'static str,
    pub result: LauncherResult,
    /// Why it is analysis only, or why the launch failed (AWS's message).
    pub reason: Option<String>,
    /// The instance launched as the role (`assume-role`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchReport>,
    /// The temporary Auto Scaling group and launch template (`auto-scaling-group`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Everything launched for it is gone (instance terminated; group and template deleted).
    pub cleaned_up: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
}

impl LauncherReport {
    pub fn new(principal: &str, how: LaunchHow, result: LauncherResult) -> Self {
        Self {
            principal: principal.to_string(),
            how: how.as_str(),
            result,
            reason: None,
            launch: None,
            group: None,
            cleaned_up: how == LaunchHow::AnalysisOnly,
            diagnosis: None,
        }
    }
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
    /// The test launches as the `--grant` principals, one row each (issue 11).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub launchers: Vec<LauncherReport>,
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
    /// A contended key-policy edit: the attempts after the first that wrote.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// What people should know about the change (a key policy edit merged again into a policy
    /// other writers changed, with the diff written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
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
    /// Target accounts left out because a guardrail denies them (the run then exits 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<ExcludedAccount>,
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
                    launchers: Vec::new(),
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
            excluded: plan.excluded.clone(),
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
            retries: 0,
            notes: Vec::new(),
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
            launchers: Vec::new(),
        }
    }
}

/// A diagnosis of a failed copy or test launch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    /// One line: the cause.
    pub cause: String,
    /// Finding codes, e.g. `key-policy-no-access`.
    pub codes: Vec<String>,
    /// What to do.
    pub fix: Option<String>,
    /// Key policy statements to add (paste-ready JSON).
    pub key_policy_statements: Vec<serde_json::Value>,
    /// Evidence: CloudTrail denials, state reasons.
    pub evidence: Vec<String>,
    /// The full shared diagnosis (causes with documents and commands, what could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<crate::workflow::diagnose::Diagnosis>>,
}
