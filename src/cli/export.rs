//! `--export terraform|cloudformation DIR` on `copy` and `apply`: checks the flag and the
//! directory before any AWS call, then writes the files `workflow::export` generates (one set per
//! account, a StackSet template, README.txt). A non-empty DIR is refused unless it holds an
//! earlier amishare export and nothing else; that export's files (its README lists them) are
//! replaced.

use std::path::{Path, PathBuf};

use super::CliError;
use crate::workflow::copy::{Report, ReportStatus};
use crate::workflow::export::{
    applied_part, export, manifest_of, ExportFile, ExportFormat, ExportInput, README,
};
use crate::workflow::plan::Plan;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ExportArgs {
    /// Write the plan's changes per account as infrastructure code for review:
    /// `terraform DIR` or `cloudformation DIR` (with --dry-run: instead of applying; otherwise
    /// what the run applied, besides)
    #[arg(long, num_args = 2, value_names = ["FORMAT", "DIR"])]
    pub export: Option<Vec<String>>,
}

/// A checked `--export`: the format and a directory that is new, empty, or an earlier export.
#[derive(Debug, Clone)]
pub struct ExportTarget {
    pub format: ExportFormat,
    pub dir: PathBuf,
    /// The files of the earlier export in DIR (replaced by this one).
    previous: Vec<String>,
}

impl ExportArgs {
    /// The checked flag (`None` without `--export`); bad input is a usage error (exit 2).
    pub fn target(&self) -> Result<Option<ExportTarget>, CliError> {
        let Some(values) = &self.export else {
            return Ok(None);
        };
        let [format, dir] = values.as_slice() else {
            return Err(CliError::usage(
                "`--export` takes a format and a directory",
                "e.g. `--export terraform ./review` or `--export cloudformation ./review`",
            ));
        };
        let Some(format) = ExportFormat::parse(format) else {
            return Err(CliError::usage(
                format!("`--export {format}` is not a format amishare writes"),
                "use `--export terraform DIR` or `--export cloudformation DIR`",
            ));
        };
        let dir = PathBuf::from(dir);
        let previous = check_dir(&dir)?;
        Ok(Some(ExportTarget {
            format,
            dir,
            previous,
        }))
    }
}

/// DIR may be missing (created when writing), empty, or hold an earlier export and nothing
/// else; returns the earlier export's files.
fn check_dir(dir: &Path) -> Result<Vec<String>, CliError> {
    let shown = dir.display();
    if !dir.exists() {
        // created when writing: its nearest existing ancestor must be a directory
        let blocked = dir
            .ancestors()
            .skip(1)
            .find(|a| a.exists())
            .filter(|a| !a.is_dir());
        if let Some(a) = blocked {
            return Err(CliError::usage(
                format!(
                    "`--export` directory `{shown}` cannot be created: `{}` is not a directory",
                    a.display()
                ),
                "name a new or empty directory",
            ));
        }
        return Ok(Vec::new());
    }
    if !dir.is_dir() {
        return Err(CliError::usage(
            format!("`--export` directory `{shown}` is not a directory"),
            "name a new or empty directory",
        ));
    }
    let found = files_under(dir).map_err(|e| {
        CliError::usage(
            format!("cannot read the `--export` directory `{shown}`: {e}"),
            "name a new or empty directory you can write to",
        )
    })?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let listed = std::fs::read_to_string(dir.join(README))
        .ok()
        .and_then(|text| manifest_of(&text));
    let foreign = match &listed {
        Some(listed) => found.iter().find(|f| !listed.contains(f)).cloned(),
        None => found.first().cloned(),
    };
    if let Some(f) = foreign {
        return Err(CliError::usage(
            format!(
                "`--export` directory `{shown}` holds `{f}`, which is not from an amishare export"
            ),
            "name a new or empty directory (amishare replaces only its own earlier export)",
        ));
    }
    Ok(listed.unwrap_or_default())
}

/// Every file under `dir`, as `/`-separated paths relative to it.
fn files_under(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut todo = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, rel)) = todo.pop() {
        for entry in std::fs::read_dir(&path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if entry.file_type()?.is_dir() {
                todo.push((entry.path(), rel));
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Export a plan that was not applied: a dry run's; a blocked plan or one with nothing to do
/// is not exported (said on stderr).
pub fn write_unapplied(
    target: &ExportTarget,
    plan: &Plan,
    status: ReportStatus,
) -> Result<(), CliError> {
    if status != ReportStatus::DryRun {
        eprintln!(
            "nothing exported to {}: the plan is {}",
            target.dir.display(),
            match status {
                ReportStatus::Blocked => "blocked (see the blockers above)",
                ReportStatus::NothingToDo => "empty (nothing to change)",
                _ => "not applied",
            }
        );
        return Ok(());
    }
    let plans = [plan.clone()];
    write(
        target,
        ExportInput {
            plans: &plans,
            planned_only: true,
            created: &[],
        },
    )
}

/// Export what a run applied: the steps its report records as done (with `--reencrypt-with`,
/// also those of the plan made on the re-encrypted copy).
pub fn write_applied(target: &ExportTarget, plan: &Plan, report: &Report) -> Result<(), CliError> {
    let done: Vec<String> = report
        .changes
        .iter()
        .filter(|c| c.ok)
        .map(|c| c.step.clone())
        .collect();
    let created: Vec<(String, Vec<String>)> = report
        .changes
        .iter()
        .filter(|c| c.ok && !c.created.is_empty())
        .map(|c| (c.step.clone(), c.created.clone()))
        .collect();
    let mut plans = vec![applied_part(plan, &done)];
    if let Some(next) = &report.plan_on_copy {
        plans.push(applied_part(next, &done));
    }
    write(
        target,
        ExportInput {
            plans: &plans,
            planned_only: false,
            created: &created,
        },
    )
}

fn write(target: &ExportTarget, input: ExportInput<'_>) -> Result<(), CliError> {
    let files = export(input, target.format);
    let dir = &target.dir;
    let failed = |what: &str, path: &Path, e: std::io::Error| {
        CliError::runtime(format!("cannot {what} `{}`: {e}", path.display()))
    };
    for old in &target.previous {
        let path = dir.join(old);
        if path.is_file() {
            std::fs::remove_file(&path)
                .map_err(|e| failed("remove the earlier export's", &path, e))?;
        }
        // its directory too, once empty (remove_dir refuses a non-empty one)
        if let Some(parent) = path.parent().filter(|p| *p != dir.as_path()) {
            let _ = std::fs::remove_dir(parent);
        }
    }
    for ExportFile { path, contents } in &files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| failed("create", parent, e))?;
        }
        std::fs::write(&full, contents).map_err(|e| failed("write", &full, e))?;
    }
    // stderr: stdout holds the report (one JSON document with --output json)
    eprintln!(
        "exported {} files ({}) to {}: see {}",
        files.len(),
        target.format.as_str(),
        dir.display(),
        dir.join(README).display()
    );
    Ok(())
}
