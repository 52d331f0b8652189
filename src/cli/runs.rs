//! `amishare runs`: the runs in the state directory, newest first, read from their journals
//! alone (never AWS): run id, when it started, the AMI, the targets, the status and what a
//! `rollback` would still undo.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::{render, CliError, Exit, GlobalArgs, OutputFormat};
use crate::state::FileJournalStore;
use crate::workflow::journal::{Journal, JournalStore, StepState};
use crate::workflow::plan::Action;

#[derive(Debug, Clone, clap::Args)]
pub struct RunsArgs {}

/// One thing of a run that `amishare rollback` would still undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leftover {
    /// `change` (undone by rollback), `copy` (kept unless `--delete-copies`), `instance` (a test
    /// instance whose termination was never confirmed), `group` (a temporary test group and
    /// launch template whose deletion was never confirmed).
    pub kind: &'static str,
    pub step: String,
    pub account: String,
    pub region: String,
    pub summary: String,
}

/// One line of `amishare runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub started: String,
    pub updated: String,
    pub status: String,
    pub attempt: u32,
    pub image_id: String,
    pub source_account: String,
    pub source_region: String,
    pub target_accounts: Vec<String>,
    pub target_regions: Vec<String>,
    pub left_to_undo: Vec<Leftover>,
}

/// The journal's status as it is written in the file (`completed`, `rolled-back`, ...).
pub fn status_name(journal: &Journal) -> String {
    serde_json::to_value(journal.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn summarize(journal: &Journal) -> RunSummary {
    let plan = &journal.plan;
    RunSummary {
        run_id: journal.run_id.clone(),
        started: journal.created_at.clone(),
        updated: journal.updated_at.clone(),
        status: status_name(journal),
        attempt: journal.attempt,
        image_id: plan.source.image_id.clone(),
        source_account: plan.source.account.clone(),
        source_region: plan.source.region.clone(),
        target_accounts: plan.options.target_accounts.clone(),
        target_regions: plan.options.target_regions.clone(),
        left_to_undo: left_to_undo(journal),
    }
}

/// What `rollback` would still act on: changes done (or started) and not rolled back, nor
/// already withdrawn by the run itself (`--revoke-after-copy`); copies; unconfirmed instances.
pub fn left_to_undo(journal: &Journal) -> Vec<Leftover> {
    let mut entries: Vec<_> = journal.entries.values().collect();
    entries.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    let withdrawn = withdrawn_by_the_run(journal);
    let mut out = Vec::new();
    for e in entries {
        let step = &e.step;
        let item = |kind, summary| Leftover {
            kind,
            step: step.id.clone(),
            account: step.account.clone(),
            region: step.region.clone(),
            summary,
        };
        let happened = matches!(e.state, StepState::Done | StepState::Started);
        let is_change = match &step.action {
            Action::CopyImage { .. } | Action::ReencryptImage { .. } => {
                if e.state != StepState::RolledBack {
                    for image in &e.created {
                        out.push(item("copy", format!("copy {image}")));
                    }
                }
                false
            }
            Action::PutKeyPolicy { key_arn, .. } => {
                e.state == StepState::Done && !withdrawn.contains(&("key", key_arn, ""))
            }
            Action::PutTargetKeyPolicy { .. } => e.state == StepState::Done,
            Action::CreateGrant { .. } => e.state != StepState::RolledBack && !e.created.is_empty(),
            Action::AddLaunchPermission { image_id, account } => {
                happened && !withdrawn.contains(&("image", image_id, account))
            }
            Action::AddCreateVolumePermission {
                snapshot_id,
                account,
            } => happened && !withdrawn.contains(&("snapshot", snapshot_id, account)),
            Action::CreatePolicy { .. } | Action::CreatePolicyVersion { .. } => {
                e.state != StepState::RolledBack && !e.created.is_empty()
            }
            Action::AttachPolicy { .. } => happened,
            // A lifecycle step changed something once it recorded what it replaced.
            a if a.is_lifecycle() => happened && e.before.is_some(),
            _ => false,
        };
        if is_change {
            out.push(item("change", step.action.summary()));
        }
    }
    for (id, rec) in journal.unconfirmed_instances() {
        out.push(Leftover {
            kind: "instance",
            step: "instances".into(),
            account: rec.account,
            region: rec.region,
            summary: format!("test instance {id}: termination not confirmed"),
        });
    }
    for (name, rec) in journal.undeleted_groups() {
        out.push(Leftover {
            kind: "group",
            step: "groups".into(),
            account: rec.account,
            region: rec.region,
            summary: format!("test group and launch template {name}: deletion not confirmed"),
        });
    }
    out
}

/// What the run's own revoke steps (done) took back: ("key", key ARN, ""), ("image", image,
/// account), ("snapshot", snapshot, account).
fn withdrawn_by_the_run(journal: &Journal) -> BTreeSet<(&'static str, &str, &str)> {
    let mut out = BTreeSet::new();
    for e in journal.entries.values() {
        if e.state != StepState::Done {
            continue;
        }
        match &e.step.action {
            Action::RevokeKeyUsers { key_arn, .. } => {
                out.insert(("key", key_arn.as_str(), ""));
            }
            Action::RemoveLaunchPermission { image_id, account } => {
                out.insert(("image", image_id.as_str(), account.as_str()));
            }
            Action::RemoveCreateVolumePermission {
                snapshot_id,
                account,
            } => {
                out.insert(("snapshot", snapshot_id.as_str(), account.as_str()));
            }
            _ => {}
        }
    }
    out
}

/// Every readable journal in the store, newest first; unreadable files are returned as
/// warnings, not dropped silently.
pub fn read_all(store: &FileJournalStore) -> Result<(Vec<Journal>, Vec<String>), CliError> {
    let dir = store.dir();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => {
            return Err(CliError::runtime(format!(
                "cannot read the state directory {}: {e}",
                dir.display()
            )))
        }
    };
    let (mut journals, mut warnings) = (Vec::new(), Vec::new());
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(id) = name
            .strip_suffix(".json")
            .filter(|_| !name.starts_with('.'))
        else {
            continue;
        };
        match store.load(id) {
            Ok(j) => journals.push(j),
            Err(e) => warnings.push(format!("skipping {}: {e}", entry.path().display())),
        }
    }
    journals.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    Ok((journals, warnings))
}

pub fn run(global: &GlobalArgs, _args: RunsArgs) -> Result<Exit, CliError> {
    let store = FileJournalStore::default_location();
    let (journals, warnings) = read_all(&store)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let runs: Vec<RunSummary> = journals.iter().map(summarize).collect();
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            render::json(&serde_json::json!({
                "journals": store.dir().display().to_string(),
                "runs": runs,
            }))?
        ),
        OutputFormat::Text if runs.is_empty() => {
            println!("No runs in {}", store.dir().display());
        }
        OutputFormat::Text => print!("{}", render_runs(&runs)),
    }
    Ok(Exit::Success)
}

/// `3 changes, 2 copies, 1 instance`, or `nothing`.
pub fn left_summary(left: &[Leftover]) -> String {
    let count = |kind: &str| left.iter().filter(|l| l.kind == kind).count();
    let parts: Vec<String> = [
        ("change", "changes"),
        ("copy", "copies"),
        ("instance", "instances"),
        ("group", "groups"),
    ]
    .iter()
    .filter_map(|(one, many)| match count(one) {
        0 => None,
        1 => Some(format!("1 {one}")),
        n => Some(format!("{n} {many}")),
    })
    .collect();
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}

/// The runs as a table, one line each, columns padded to their widest value.
pub fn render_runs(runs: &[RunSummary]) -> String {
    let header = [
        "RUN ID",
        "STARTED",
        "STATUS",
        "AMI",
        "TARGETS",
        "LEFT TO UNDO",
    ]
    .map(String::from);
    let mut rows = vec![header];
    for r in runs {
        rows.push([
            r.run_id.clone(),
            r.started.clone(),
            r.status.clone(),
            format!("{} ({}/{})", r.image_id, r.source_account, r.source_region),
            format!(
                "{} in {}",
                r.target_accounts.join(","),
                r.target_regions.join(",")
            ),
            left_summary(&r.left_to_undo),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}
