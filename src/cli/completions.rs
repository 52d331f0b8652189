//! `amishare completions SHELL` and `amishare man`: the shell completion script and the man page,
//! generated from the clap definition of the whole command line, written to stdout.

use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, ValueEnum};

use super::{Cli, CliError, Exit};

/// The shells completions are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    #[value(name = "powershell")]
    PowerShell,
}

impl Shell {
    fn generator(self) -> clap_complete::Shell {
        match self {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
            Shell::PowerShell => clap_complete::Shell::PowerShell,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ManArgs {
    /// Write the pages as files into this directory instead (amishare.1 and one
    /// amishare-SUBCOMMAND.1 per subcommand, so `man amishare-copy` works)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Write the completion script for the shell to stdout.
pub fn run_completions(args: CompletionsArgs) -> Result<Exit, CliError> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell.generator(), &mut cmd, "amishare", &mut script);
    write_stdout(&script)
}

/// Write the man page (roff) of amishare to stdout, or every page into `--dir`.
pub fn run_man(args: ManArgs) -> Result<Exit, CliError> {
    if let Some(dir) = args.dir {
        clap_mangen::generate_to(Cli::command(), &dir).map_err(|e| {
            CliError::runtime(format!(
                "cannot write the man pages into {}: {e}",
                dir.display()
            ))
        })?;
        return Ok(Exit::Success);
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| CliError::runtime(format!("cannot render the man page: {e}")))?;
    write_stdout(&page)
}

fn write_stdout(bytes: &[u8]) -> Result<Exit, CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::runtime(format!("cannot write to stdout: {e}")))?;
    Ok(Exit::Success)
}
