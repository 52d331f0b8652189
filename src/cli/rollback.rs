//! `amishare rollback RUN`: undo what a run changed, from its journal.

use super::connect::{connect, Reach};
use super::progress::Progress;
use super::prompt::{confirm, interactive};
use super::render::rollback::render_rollback;
use super::{render, CliError, Exit, GlobalArgs, OutputFormat};
use crate::state::FileJournalStore;
use crate::workflow::copy::Timing;
use crate::workflow::journal::JournalStore;

#[derive(Debug, Clone, clap::Args)]
pub struct RollbackArgs {
    /// The run id printed by `amishare copy`
    pub run_id: String,
    /// Also deregister the copies and delete their snapshots
    #[arg(long)]
    pub delete_copies: bool,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Never prompt: without `--yes`, refuse (exit 2) instead of asking
    #[arg(long)]
    pub no_input: bool,
}

pub async fn run(global: &GlobalArgs, args: RollbackArgs) -> Result<Exit, CliError> {
    let store = FileJournalStore::default_location();
    let journal = store.load(&args.run_id).map_err(|e| {
        CliError::usage(
            e.to_string(),
            format!(
                "run ids are printed by `amishare copy`; journals are in {}",
                store.dir().display()
            ),
        )
    })?;
    if !args.yes && !interactive(args.no_input) {
        return Err(CliError::usage(
            format!(
                "refusing to roll back run {} without confirmation {}",
                args.run_id,
                if args.no_input {
                    "(`--no-input` was given)"
                } else {
                    "(stdin is not a terminal)"
                }
            ),
            "pass `--yes` to undo without being asked",
        ));
    }
    let (world, _) = connect(global, &Reach::of_plan(&journal.plan), None).await?;
    let n = journal.entries.len();
    if !confirm(
        &format!("Undo the {n} recorded step(s) of run {}?", args.run_id),
        args.yes,
        args.no_input,
    )? {
        eprintln!("nothing changed");
        return Ok(Exit::Success);
    }
    let progress = Progress::for_output(global);
    let report = crate::workflow::rollback::rollback(
        &world,
        &store,
        &progress,
        &args.run_id,
        args.delete_copies,
        Timing::default(),
    )
    .await?;
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            render::json(&serde_json::to_value(&report).unwrap_or_default())?
        ),
        OutputFormat::Text => print!("{}", render_rollback(&report)),
    }
    Ok(if report.complete() {
        Exit::Success
    } else {
        Exit::Denied
    })
}
