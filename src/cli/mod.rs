//! Command-line layer: clap arguments, settings resolution, prompts, progress and rendering.
//! The only layer that prints, prompts, reads the terminal or decides exit codes.
//!
//! One file per command ([`copy`], [`apply`], [`rollback`], [`explain`], [`diagnose`];
//! [`runs`], [`show`]; `completions` and `man` in [`completions`]); the
//! composition root that builds the AWS sessions from the flags ([`connect`]); progress on stderr
//! ([`progress`]); the guided prompts ([`prompt`]) and the syntax checks of typed values
//! ([`validate`]); all rendering of results ([`render`]); exit codes and errors ([`error`]).

pub mod apply;
pub mod completions;
pub mod connect;
pub mod copy;
pub mod diagnose;
mod diagnose_group;
pub mod error;
pub mod explain;
pub mod explain_guardrails;
pub mod export;
pub mod lifecycle;
pub mod org_targets;
pub mod progress;
pub mod prompt;
pub mod prompt_access;
pub mod render;
pub mod rollback;
pub mod runs;
pub mod show;
pub mod statedir;
pub mod validate;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

pub use error::{CliError, Exit};
/// The former home of `amishare explain`'s rendering, kept so `cli::render_explain` paths work.
pub use render::explain as render_explain;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// Options every subcommand understands. The standard AWS environment (AWS_PROFILE, AWS_REGION,
/// AWS_ENDPOINT_URL, ...) is honoured by the aws layer.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// AWS profile for the (source) account: its credentials win over any in the environment
    /// (`AWS_PROFILE` is read by the standard chain, after environment keys, as the AWS CLI does)
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// AWS region for the (source) account
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Output format: human-readable text or one JSON document on stdout
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More detail on stderr (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Never colour the output (also when the NO_COLOR environment variable is set and not empty)
    #[arg(long, global = true)]
    pub no_color: bool,
}

impl GlobalArgs {
    /// Whether output may be coloured: not with `--no-color`, nor when `NO_COLOR` is set to a
    /// non-empty value (no-color.org: any value, not just `true`, which clap's env would demand).
    pub fn colour_allowed(&self) -> bool {
        !self.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "amishare",
    version,
    about = "Copy KMS-encrypted AMIs across AWS accounts and regions, and prove the copy launches",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Share an AMI with other accounts, fix its KMS keys' policies, copy it there and test-launch it
    Copy(Box<copy::CopyArgs>),
    /// Apply a plan saved by `amishare copy --plan-out`, refusing if the world changed since
    Apply(apply::ApplyArgs),
    /// Undo what a run changed, from its journal
    Rollback(rollback::RollbackArgs),
    /// Decide offline, from policy files alone, whether a principal can launch or copy an encrypted AMI
    Explain(explain::ExplainArgs),
    /// Explain a failed launch ("Client error on launch"), or predict one, from the live account
    Diagnose(diagnose::DiagnoseArgs),
    /// List the runs in the state directory, newest first, and what each left to undo
    Runs(runs::RunsArgs),
    /// Print the report of a past run again, from its journal
    Show(show::ShowArgs),
    /// Write the shell completion script for bash, zsh, fish or powershell to stdout
    Completions(completions::CompletionsArgs),
    /// Write the man page (roff) to stdout
    Man(completions::ManArgs),
}

/// Parse arguments, run the command, print errors as one line plus a hint, return the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
            let _ = e.print();
            return code.into();
        }
    };
    match run(cli) {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("error: {}", err.message);
            if let Some(hint) = &err.hint {
                eprintln!("  help: {hint}");
            }
            err.exit.into()
        }
    }
}

fn run(cli: Cli) -> Result<Exit, CliError> {
    if let Some(region) = &cli.global.region {
        if !validate::is_region(region) {
            return Err(CliError::usage(
                format!("`--region {region}` is not an AWS region"),
                "regions look like `us-east-1` or `eu-central-1`",
            ));
        }
    }
    if matches!(
        cli.command,
        Command::Copy(_)
            | Command::Apply(_)
            | Command::Rollback(_)
            | Command::Runs(_)
            | Command::Show(_)
    ) {
        statedir::warn_if_loose();
    }
    match cli.command {
        Command::Explain(args) => explain::run(&cli.global, args),
        Command::Copy(args) => block_on(copy::run(&cli.global, *args)),
        Command::Apply(args) => block_on(apply::run(&cli.global, args)),
        Command::Rollback(args) => block_on(rollback::run(&cli.global, args)),
        Command::Diagnose(args) => block_on(diagnose::run(&cli.global, args)),
        Command::Runs(args) => runs::run(&cli.global, args),
        Command::Show(args) => show::run(&cli.global, args),
        Command::Completions(args) => completions::run_completions(args),
        Command::Man(args) => completions::run_man(args),
    }
}

fn block_on<F: std::future::Future<Output = Result<Exit, CliError>>>(
    fut: F,
) -> Result<Exit, CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(fut)
}
