//! `amishare apply PLAN`: apply a plan saved by `amishare copy --plan-out`, refusing if the world
//! changed since; and the application of a plan that `copy` shares (progress, Ctrl-C, report,
//! exit code).

use std::path::{Path, PathBuf};

use tokio::sync::watch;

use super::connect::{connect, Reach, SdkWorld};
use super::export::{write_applied, ExportArgs, ExportTarget};
use super::progress::Progress;
use super::prompt::confirm;
use super::render::report::render_report;
use super::{render, CliError, Exit, GlobalArgs, OutputFormat};
use crate::domain::states::ImageState;
use crate::state::FileJournalStore;
use crate::workflow::copy::report::{LaunchResult, LauncherResult, ReportStatus};
use crate::workflow::copy::{
    check_not_applied, check_not_blocked, check_world_unchanged, parse_saved_plan, Apply, Report,
    SavedPlanError, Timing,
};
use crate::workflow::journal::Journal;
use crate::workflow::plan::Plan;

#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// A plan saved by `amishare copy --plan-out`
    pub plan_file: PathBuf,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Never prompt: without `--yes`, refuse (exit 2) instead of asking
    #[arg(long)]
    pub no_input: bool,
    #[command(flatten)]
    pub export: ExportArgs,
}

pub async fn run(global: &GlobalArgs, args: ApplyArgs) -> Result<Exit, CliError> {
    let export = args.export.target()?;
    let plan = read_plan(&args.plan_file)?;
    if !super::prompt::interactive(args.no_input) {
        // No one to ask: without `--yes` this refuses (exit 2) before any AWS call.
        confirm("Apply this plan?", args.yes, args.no_input)?;
    }
    let (world, _) = connect(global, &Reach::of_plan(&plan), None).await?;
    let progress = Progress::for_output(global);
    check_world_unchanged(&world, &plan, &progress).await?;
    let path = &args.plan_file;
    check_not_blocked(&plan).map_err(|e| refused(path, e))?;
    let store = FileJournalStore::default_location();
    check_not_applied(&store, &plan).map_err(|e| refused(path, e))?;
    if global.output == OutputFormat::Text {
        eprint!("{plan}");
    }
    if !confirm("Apply this plan?", args.yes, args.no_input)? {
        eprintln!("nothing changed");
        return Ok(Exit::Success);
    }
    apply_and_report(
        global,
        &world,
        &plan,
        Journal::new(plan.clone()),
        &store,
        &progress,
        ApplyWith {
            export: export.as_ref(),
            max_concurrency: crate::workflow::copy::DEFAULT_MAX_CONCURRENCY,
        },
    )
    .await
}

/// The saved plan, of a version this amishare applies.
fn read_plan(path: &Path) -> Result<Plan, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::usage(
            format!("cannot read the plan `{}`: {e}", path.display()),
            "pass a file written by `amishare copy --plan-out FILE`",
        )
    })?;
    parse_saved_plan(&text).map_err(|e| refused(path, e))
}

/// The message, hint and exit code of a saved plan's refusal.
fn refused(path: &Path, e: SavedPlanError) -> CliError {
    match e {
        SavedPlanError::NotAPlan(e) => CliError::usage(
            format!("`{}` is not an amishare plan: {e}", path.display()),
            "pass a file written by `amishare copy --plan-out FILE`",
        ),
        SavedPlanError::UnsupportedVersion(v) => CliError::usage(
            format!("plan version {v} is not supported"),
            "make the plan again with this amishare version",
        ),
        // A blocked plan exits 1, with the first blocker's fix as the hint.
        SavedPlanError::Blocked { codes, fix } => CliError {
            exit: Exit::Denied,
            message: format!(
                "the plan is blocked: {}",
                codes
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: fix,
        },
        SavedPlanError::AppliedAlready { run_id } => CliError::usage(
            format!("plan `{run_id}` was applied already"),
            "make a new plan with `amishare copy ... --plan-out FILE` (a rerun plans only what is still missing)",
        ),
    }
}

/// Ctrl-C sets the cancel flag; the workflow then stops waiting and terminates its test instances.
fn cancel_on_ctrl_c() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: stopping, terminating test instances (Ctrl-C again is ignored until done)");
            let _ = tx.send(true);
            // keep the sender alive so the receivers see the flag
            std::future::pending::<()>().await;
        }
    });
    rx
}

/// How a plan is applied besides the plan itself: `--export` and `--max-concurrency`.
pub(super) struct ApplyWith<'a> {
    pub export: Option<&'a ExportTarget>,
    pub max_concurrency: usize,
}

/// Apply the plan with its journal, then print the report (and, with `--export`, write what
/// was applied as infrastructure code) and say how the command exits.
pub(super) async fn apply_and_report(
    global: &GlobalArgs,
    world: &SdkWorld,
    plan: &Plan,
    journal: Journal,
    store: &FileJournalStore,
    progress: &Progress,
    with: ApplyWith<'_>,
) -> Result<Exit, CliError> {
    let ApplyWith {
        export,
        max_concurrency,
    } = with;
    let ctx = Apply {
        world,
        store,
        events: progress,
        cancel: cancel_on_ctrl_c(),
        timing: Timing::default(),
        max_concurrency,
        throttle: &crate::aws::calls::SdkThrottleSignal,
        contention: crate::workflow::contention::Contention::default(),
    };
    let report = crate::workflow::copy::apply(&ctx, plan, journal).await?;
    match global.output {
        OutputFormat::Json => println!("{}", render::report::json(plan, &report)?),
        OutputFormat::Text => print!("{}", render_report(&report)),
    }
    if let Some(target) = export {
        write_applied(target, plan, &report)?;
    }
    if global.verbose > 0 {
        eprint!("{}", super::connect::verbose_footer());
    }
    Ok(exit_for(&report))
}

/// The exit code of a copy or apply: 0 done (or nothing to do, or a dry run), 1 blocked or a
/// copy or test launch (also as a launcher) failed, 3 anything else.
pub(super) fn exit_for(report: &Report) -> Exit {
    let launch_or_copy_failed = report.targets.iter().any(|t| {
        t.copy_state == Some(ImageState::Failed)
            || t.test_launch
                .as_ref()
                .is_some_and(|l| l.result == LaunchResult::Failed)
            || t.launchers
                .iter()
                .any(|l| l.result == LauncherResult::Failed)
    });
    match report.status {
        // Accounts a guardrail left out did not get the AMI: not a success.
        ReportStatus::Ok | ReportStatus::NothingToDo | ReportStatus::DryRun
            if !report.excluded.is_empty() =>
        {
            Exit::Denied
        }
        ReportStatus::Ok | ReportStatus::NothingToDo | ReportStatus::DryRun => Exit::Success,
        ReportStatus::Blocked => Exit::Denied,
        _ if launch_or_copy_failed => Exit::Denied,
        _ => Exit::Runtime,
    }
}
