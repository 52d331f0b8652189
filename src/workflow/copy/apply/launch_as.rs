//! The test launch as each `--grant` principal (issue 11), after the test launch as amishare's
//! own target role, in the same target account and region:
//! - a role: AssumeRole into it (chained from the target role) and RunInstances as it, with the
//!   same wait / ALWAYS-terminate as the target role's test launch ([`super::launch`]); a denied
//!   AssumeRole makes it "verified by analysis only", with STS's answer as the reason;
//! - Auto Scaling's service-linked role: a temporary group of one ([`super::asg`]);
//! - a principal amishare cannot act as (an IAM user, ...): "verified by analysis only".
//!
//! One report row per launcher; a failed launch is diagnosed for that launcher and fails the
//! target. The copy is tagged as tested only once every launcher's launch passed.

use super::asg::{group_launch, GroupLaunch};
use super::error::{StepError, StepResult};
use super::launch::{launch_and_terminate, tag_tested, Launch};
use super::Run;
use crate::policy;
use crate::workflow::copy::diagnosis::diagnose_as;
use crate::workflow::copy::report::{
    ChangeRecord, LaunchResult, LauncherReport, LauncherResult, TargetReport,
};
use crate::workflow::events::Events;
use crate::workflow::journal::JournalStore;
use crate::workflow::plan::{Action, LaunchHow, Plan, Step};
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::Writer;
use crate::workflow::world::Conn;

/// The launcher test launches of one target account and region that launch something.
pub fn launcher_launches<'a>(plan: &'a Plan, account: &str, region: &str) -> Vec<&'a Step> {
    plan.steps
        .iter()
        .filter(|s| {
            s.account == account
                && s.region == region
                && matches!(
                    s.action,
                    Action::TestLaunchAs {
                        how: LaunchHow::AssumeRole | LaunchHow::AutoScalingGroup,
                        ..
                    }
                )
        })
        .collect()
}

/// One `test-launch-as` step: the launcher's row in `tr.launchers`; an error when its launch
/// did not pass (analysis only is not an error).
pub async fn launch_as_step<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    plan: &Plan,
    step: &Step,
    image: &str,
    tr: &mut TargetReport,
    rec: &mut ChangeRecord,
) -> StepResult {
    let Action::TestLaunchAs {
        launcher,
        how,
        reason,
        instance_type,
        subnet_id,
        ..
    } = &step.action
    else {
        return Err(StepError::Internal("not a test-launch-as step".into()));
    };
    let mut row = match how {
        LaunchHow::AnalysisOnly => analysis_only(launcher, reason.clone()),
        LaunchHow::AssumeRole => {
            let l = Launch {
                step_id: &step.id,
                image_id: image,
                instance_type: instance_type.clone(),
                subnet_id: subnet_id.clone(),
            };
            assume_and_launch(run, conn, plan, launcher, &l).await
        }
        LaunchHow::AutoScalingGroup => {
            let g = GroupLaunch {
                step_id: &step.id,
                launcher,
                image_id: image,
                instance_type: instance_type.clone(),
                subnet_id: subnet_id.clone(),
            };
            group_launch(run, conn, plan, &g).await
        }
    };
    if let Some(id) = row.launch.as_ref().and_then(|l| l.instance_id.clone()) {
        rec.created.push(id);
    }
    if let Some(g) = &row.group {
        rec.created.push(g.clone());
    }
    if row.result == LauncherResult::Failed {
        let d = diagnose_as(
            run.ctx,
            conn,
            plan,
            policy::Operation::Launch,
            row.launch.as_ref(),
            launcher,
            image,
        )
        .await;
        row.diagnosis = Some(with_activity(d, &row));
    }
    let outcome = outcome(&row);
    tr.launchers.push(row);
    if outcome.is_ok() {
        let last = launcher_launches(plan, &step.account, &step.region)
            .last()
            .is_some_and(|s| s.id == step.id);
        if last && *how != LaunchHow::AnalysisOnly && !plan.options.share_only {
            tag_tested(run, conn, image).await;
        }
    }
    outcome
}

fn analysis_only(launcher: &str, reason: Option<String>) -> LauncherReport {
    let mut row = LauncherReport::new(
        launcher,
        LaunchHow::AnalysisOnly,
        LauncherResult::AnalysisOnly,
    );
    row.reason = Some(reason.unwrap_or_else(|| "amishare cannot act as it".into()));
    row
}

/// AssumeRole into `launcher`, then the test launch as it; a denied AssumeRole is analysis only.
async fn assume_and_launch<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    plan: &Plan,
    launcher: &str,
    l: &Launch<'_>,
) -> LauncherReport {
    let runner = match conn.writer.assume_role(launcher).await {
        Ok(w) => w,
        Err(e) if e.is_access_denied() => {
            return analysis_only(
                launcher,
                Some(format!(
                    "amishare's target role may not assume it ({})",
                    e.message
                )),
            )
        }
        Err(e) => {
            let mut row =
                LauncherReport::new(launcher, LaunchHow::AssumeRole, LauncherResult::Error);
            row.reason = Some(e.to_string());
            return row;
        }
    };
    let report = launch_and_terminate(run, conn, &runner, plan, l).await;
    let mut row = LauncherReport::new(
        launcher,
        LaunchHow::AssumeRole,
        match report.result {
            LaunchResult::Running => LauncherResult::Passed,
            LaunchResult::Failed => LauncherResult::Failed,
            LaunchResult::Timeout => LauncherResult::Timeout,
            LaunchResult::Interrupted => LauncherResult::Interrupted,
            LaunchResult::Error => LauncherResult::Error,
        },
    );
    row.cleaned_up = report.terminated || report.instance_id.is_none();
    if report.result != LaunchResult::Running || !row.cleaned_up {
        row.reason = report
            .state_reason_message
            .clone()
            .or_else(|| report.error.clone());
    }
    row.launch = Some(report);
    row
}

/// A failed group's scaling activity message is the first evidence.
fn with_activity(
    mut d: crate::workflow::copy::diagnosis::Diagnosis,
    row: &LauncherReport,
) -> crate::workflow::copy::diagnosis::Diagnosis {
    if let (Some(group), Some(message)) = (&row.group, &row.reason) {
        d.evidence.insert(
            0,
            format!("test group {group}: scaling activity Failed: {message}"),
        );
    }
    d
}

/// The step's outcome: passed and analysis only are fine; the rest fail the target.
fn outcome(row: &LauncherReport) -> StepResult {
    let message = format!(
        "test launch as {} {}: {}",
        row.principal,
        row.result,
        row.reason.clone().unwrap_or_default()
    );
    match row.result {
        LauncherResult::Passed if row.cleaned_up => Ok(Some(format!("{} passed", row.how))),
        LauncherResult::Passed => Err(StepError::Failed(format!(
            "test launch as {} passed but not everything was cleaned up: {}",
            row.principal,
            row.reason.clone().unwrap_or_default()
        ))),
        LauncherResult::AnalysisOnly => Ok(Some(format!(
            "verified by analysis only: {}",
            row.reason.clone().unwrap_or_default()
        ))),
        LauncherResult::Timeout => Err(StepError::Timeout(message)),
        LauncherResult::Interrupted => Err(StepError::Interrupted(message)),
        LauncherResult::Failed | LauncherResult::Error => Err(StepError::Failed(message)),
    }
}
