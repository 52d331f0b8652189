//! Command-line layer: clap arguments, settings resolution, prompts, progress and rendering.
//! The only layer that prints, prompts, reads the terminal or decides exit codes.

pub mod copy;
pub mod diagnose;
pub mod explain;
pub mod prompt;
pub mod render_explain;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// Exit codes of DESIGN.md's command-line contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success (explain: access allowed; diagnose: no problem found).
    Success = 0,
    /// The analysed access is denied, a cause was found, or a test launch failed.
    Denied = 1,
    /// Bad input or usage.
    Usage = 2,
    /// An AWS or runtime error (diagnose: could not decide).
    Runtime = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// An error that ends the command: a one-line message (user input in backticks, lowercase, no
/// final period) and an optional hint saying how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    /// Bad input or usage (exit 2).
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// AWS or runtime failure (exit 3).
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Runtime,
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Every command maps a failure to build its AWS sessions the same way: bad input or
/// configuration (a misspelt profile, no region) is exit 2, anything else exit 3; both with a hint.
impl From<crate::aws::clients::SessionError> for CliError {
    fn from(e: crate::aws::clients::SessionError) -> Self {
        let hint = e.hint();
        if e.is_bad_input() {
            CliError::usage(e.to_string(), hint)
        } else {
            CliError::runtime(e.to_string()).with_hint(hint)
        }
    }
}

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
    /// AWS profile for the (source) account
    #[arg(long, global = true, env = "AWS_PROFILE")]
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
    Copy(copy::CopyArgs),
    /// Apply a plan saved by `amishare copy --plan-out`, refusing if the world changed since
    Apply(copy::ApplyArgs),
    /// Undo what a run changed, from its journal
    Rollback(copy::RollbackArgs),
    /// Decide offline, from policy files alone, whether a principal can launch or copy an encrypted AMI
    Explain(explain::ExplainArgs),
    /// Explain a failed launch ("Client error on launch"), or predict one, from the live account
    Diagnose(diagnose::DiagnoseArgs),
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
        if !prompt::is_region(region) {
            return Err(CliError::usage(
                format!("`--region {region}` is not an AWS region"),
                "regions look like `us-east-1` or `eu-central-1`",
            ));
        }
    }
    match cli.command {
        Command::Explain(args) => explain::run(&cli.global, args),
        Command::Copy(args) => block_on(copy::run(&cli.global, args)),
        Command::Apply(args) => block_on(copy::apply(&cli.global, args)),
        Command::Rollback(args) => block_on(copy::rollback(&cli.global, args)),
        Command::Diagnose(args) => block_on(diagnose::run(&cli.global, args)),
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
