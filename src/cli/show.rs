//! `amishare show RUN_ID`: the report of a past run again, rebuilt from its journal alone (never
//! AWS) and rendered like the report `copy` / `apply` printed.
//!
//! The journal records each step (what it did, what it created, its error), the plan (targets,
//! blockers, hand-offs, warnings made while planning) and the test instances. It does not record
//! [`NOT_RECORDED`]: those parts of the original report are absent here.

use super::render::report::render_report;
use super::runs::{left_to_undo, status_name};
use super::{render, CliError, Exit, GlobalArgs, OutputFormat};
use crate::domain::states::ImageState;
use crate::state::FileJournalStore;
use crate::workflow::copy::report::{LauncherReport, LauncherResult};
use crate::workflow::copy::{
    ChangeRecord, LaunchReport, LaunchResult, Report, ReportStatus, TargetReport, TargetStatus,
};
use crate::workflow::journal::{Journal, JournalEntry, JournalStore, RunStatus, StepState};
use crate::workflow::plan::{Action, LaunchHow};

/// What the original report showed that a journal does not hold.
pub const NOT_RECORDED: &[&str] = &[
    "the copies' final state reasons",
    "test launch timings and state reasons",
    "diagnoses of failed launches",
    "warnings raised while applying",
    "the plan made on a re-encrypted copy",
];

#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// The run id printed by `amishare copy` (listed by `amishare runs`)
    pub run_id: String,
}

pub fn run(global: &GlobalArgs, args: ShowArgs) -> Result<Exit, CliError> {
    let store = FileJournalStore::default_location();
    let journal = store.load(&args.run_id).map_err(|e| {
        CliError::usage(
            e.to_string(),
            "`amishare runs` lists the runs in the state directory",
        )
    })?;
    let report = report_from_journal(&journal);
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            render::json(&serde_json::json!({
                "plan": journal.plan,
                "report": report,
                "journal": {
                    "path": store.path_of(&journal.run_id).display().to_string(),
                    "status": status_name(&journal),
                    "created_at": journal.created_at,
                    "updated_at": journal.updated_at,
                    "attempt": journal.attempt,
                    "left_to_undo": left_to_undo(&journal),
                },
                "not_recorded": NOT_RECORDED,
            }))?
        ),
        OutputFormat::Text => {
            print!("{}", render_report(&report));
            if matches!(journal.status, RunStatus::Running | RunStatus::RolledBack) {
                println!("Journal status: {}", status_name(&journal));
            }
            eprintln!(
                "note: rebuilt from the journal {}; not recorded there: {}",
                store.path_of(&journal.run_id).display(),
                NOT_RECORDED.join(", ")
            );
        }
    }
    Ok(Exit::Success)
}

/// The report status for the journal's run status: a run still `running` on disk was
/// interrupted (or is running now); a rolled-back run is shown as it ended, its undone steps
/// marked (the journal status is printed besides).
fn report_status(status: RunStatus) -> ReportStatus {
    match status {
        RunStatus::Running | RunStatus::Interrupted => ReportStatus::Interrupted,
        RunStatus::Completed | RunStatus::RolledBack => ReportStatus::Ok,
        RunStatus::Failed => ReportStatus::Failed,
    }
}

/// The report of `copy` / `apply`, as far as the journal holds it.
pub fn report_from_journal(journal: &Journal) -> Report {
    let plan = &journal.plan;
    let mut entries: Vec<&JournalEntry> = journal.entries.values().collect();
    entries.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    let mut report = Report::unapplied(plan, report_status(journal.status));
    report.changes = entries.iter().map(|e| change(e)).collect();
    for t in &mut report.targets {
        fill_target(t, &entries, journal);
    }
    report.reencrypted_image = entries
        .iter()
        .filter(|e| matches!(e.step.action, Action::ReencryptImage { .. }))
        .find_map(|e| e.created.first().cloned());
    for (id, rec) in journal.unconfirmed_instances() {
        report.left_behind.push(format!(
            "test instance {id} in {}/{}: termination not confirmed",
            rec.account, rec.region
        ));
    }
    for t in &report.targets {
        if t.copy_state == Some(ImageState::Failed) {
            if let Some(img) = &t.image_id {
                report.left_behind.push(format!(
                    "failed copy {img} in {}/{} (deregister it, or `amishare rollback {} --delete-copies`)",
                    t.account, t.region, plan.run_id
                ));
            }
        }
    }
    report
}

fn change(e: &JournalEntry) -> ChangeRecord {
    let mut rec = ChangeRecord::started(&e.step);
    rec.created = e.created.clone();
    match e.state {
        StepState::Done => rec.ok = true,
        StepState::RolledBack => {
            rec.ok = true;
            rec.summary.push_str(" (rolled back since)");
        }
        StepState::Failed => rec.error = e.error.clone(),
        StepState::Started => {
            rec.error = Some("started, never finished (the run was interrupted)".into());
        }
    }
    rec
}

/// A target's copy and test launch from the steps of its account and region.
fn fill_target(t: &mut TargetReport, entries: &[&JournalEntry], journal: &Journal) {
    let mine = entries
        .iter()
        .filter(|e| e.step.account == t.account && e.step.region == t.region);
    let mut any = false;
    for e in mine {
        match &e.step.action {
            Action::CopyImage { .. } => {
                t.image_id = e.created.first().cloned().or(t.image_id.take());
                t.copy_state = copy_state(e.state);
            }
            Action::WaitCopy { image_id } => {
                t.image_id = Some(image_id.clone());
                t.copy_state = copy_state(e.state);
            }
            Action::TestLaunch { instance_type, .. } => {
                t.test_launch = Some(launch(e, instance_type, journal));
            }
            Action::TestLaunchAs { .. } => t.launchers.push(launcher(e, journal)),
            _ => continue,
        }
        any = true;
        match e.state {
            StepState::Failed => {
                t.status = TargetStatus::Failed;
                t.error = e.error.clone();
            }
            StepState::Started if t.status != TargetStatus::Failed => {
                t.status = TargetStatus::Interrupted;
            }
            _ => {}
        }
    }
    if any && !matches!(t.status, TargetStatus::Failed | TargetStatus::Interrupted) {
        t.status = TargetStatus::Ok;
    }
}

/// A launcher's row from its `test-launch-as` step: done is passed (or analysis only), a failed
/// one's error reads `test launch as PRINCIPAL RESULT: ...`.
fn launcher(e: &JournalEntry, journal: &Journal) -> LauncherReport {
    let Action::TestLaunchAs {
        launcher,
        how,
        reason,
        instance_type,
        ..
    } = &e.step.action
    else {
        return LauncherReport::new("?", LaunchHow::AnalysisOnly, LauncherResult::Error);
    };
    let result = match (e.state, how) {
        (StepState::Done | StepState::RolledBack, LaunchHow::AnalysisOnly) => {
            LauncherResult::AnalysisOnly
        }
        // an AssumeRole refused while applying: the step is done, its record says so
        (StepState::Done | StepState::RolledBack, _)
            if e.after
                .as_deref()
                .is_some_and(|a| a.starts_with("verified by analysis only")) =>
        {
            LauncherResult::AnalysisOnly
        }
        (StepState::Done | StepState::RolledBack, _) => LauncherResult::Passed,
        (StepState::Started, _) => LauncherResult::Interrupted,
        (StepState::Failed, _) => {
            let word = e
                .error
                .as_deref()
                .and_then(|m| m.strip_prefix(&format!("test launch as {launcher} ")))
                .and_then(|m| m.split(':').next());
            LauncherResult::ALL
                .iter()
                .copied()
                .find(|r| Some(r.as_str()) == word)
                .unwrap_or(LauncherResult::Failed)
        }
    };
    let mut row = LauncherReport::new(launcher, *how, result);
    row.reason = match result {
        LauncherResult::AnalysisOnly => e
            .after
            .as_deref()
            .and_then(|a| a.strip_prefix("verified by analysis only: "))
            .map(str::to_string)
            .or_else(|| reason.clone()),
        _ => e.error.as_deref().map(|m| {
            m.strip_prefix(&format!("test launch as {launcher} {result}: "))
                .unwrap_or(m)
                .to_string()
        }),
    };
    match how {
        LaunchHow::AssumeRole => {
            if let Some(id) = e.created.first() {
                row.cleaned_up = journal.instances.get(id).is_some_and(|r| r.terminated);
                row.launch = Some(launch(e, instance_type, journal));
            } else {
                row.cleaned_up = true;
            }
        }
        LaunchHow::AutoScalingGroup => {
            row.group = e.created.first().cloned();
            row.cleaned_up = row
                .group
                .as_ref()
                .is_none_or(|g| journal.groups.get(g).is_some_and(|r| r.deleted));
        }
        LaunchHow::AnalysisOnly => {}
    }
    row
}

/// A copy step done waited until the copy was available; one that failed left it failed (or
/// its state unknown: the error says).
fn copy_state(state: StepState) -> Option<ImageState> {
    match state {
        StepState::Done | StepState::RolledBack => Some(ImageState::Available),
        StepState::Failed => Some(ImageState::Failed),
        StepState::Started => None,
    }
}

/// A test launch step is done only when the instance reached `running`; a failed one's error
/// starts with `test launch RESULT:`.
fn launch(e: &JournalEntry, instance_type: &str, journal: &Journal) -> LaunchReport {
    let instance_id = e.created.first().cloned();
    let result = match e.state {
        StepState::Done | StepState::RolledBack => LaunchResult::Running,
        StepState::Started => LaunchResult::Interrupted,
        StepState::Failed => match e
            .error
            .as_deref()
            .and_then(|m| m.strip_prefix("test launch "))
            .and_then(|m| m.split(':').next())
        {
            Some("timeout") => LaunchResult::Timeout,
            Some("interrupted") => LaunchResult::Interrupted,
            Some("error") => LaunchResult::Error,
            _ => LaunchResult::Failed,
        },
    };
    LaunchReport {
        terminated: instance_id
            .as_ref()
            .and_then(|id| journal.instances.get(id))
            .is_some_and(|r| r.terminated),
        instance_id,
        instance_type: instance_type.to_string(),
        result,
        state: None,
        state_reason_code: None,
        state_reason_message: None,
        seconds_to_running: None,
        error: e.error.clone(),
    }
}
