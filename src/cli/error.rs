//! How a command ends: its exit code, and the error (one line plus a hint) `cli::main` prints.

use std::process::ExitCode;

use crate::aws::session::SessionError;
use crate::workflow::copy::CopyError;

/// Exit codes of the command-line contract (docs/DESIGN.md).
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
impl From<SessionError> for CliError {
    fn from(e: SessionError) -> Self {
        let hint = e.hint();
        if e.is_bad_input() {
            CliError::usage(e.to_string(), hint)
        } else {
            CliError::runtime(e.to_string()).with_hint(hint)
        }
    }
}

/// A failed copy, apply or rollback: bad input is exit 2, anything else exit 3.
impl From<CopyError> for CliError {
    fn from(e: CopyError) -> Self {
        match e {
            CopyError::Input { message, hint } => CliError::usage(message, hint),
            CopyError::WorldChanged(d) => CliError::runtime(format!(
                "the world changed since the plan was made: {}",
                d.join("; ")
            ))
            .with_hint("run `amishare copy ... --plan-out FILE` again and review the new plan"),
            CopyError::Interrupted => CliError::runtime("interrupted"),
            other => CliError::runtime(other.to_string()),
        }
    }
}
