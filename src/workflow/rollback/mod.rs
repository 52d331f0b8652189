//! `amishare rollback RUN_ID`: undo what a run changed, from its journal, newest change first.
//!
//! - From the key policy as it is now, exactly what the run added is removed (the inverse edit,
//!   `policy::edit::remove_key_users`, converging like the edit: `workflow::key_policy`);
//!   everything other runs or people added since stays. An older document is never put back
//!   whole. A removal that would empty a statement amishare did not create is refused.
//! - Launch and createVolumePermissions amishare added are removed; the KmsKeyUsagePolicy it
//!   attached is detached, a policy it created is deleted, a version it added is rolled back.
//! - Test instances whose termination was not confirmed are terminated.
//! - Copies are deregistered and their snapshots deleted only with `--delete-copies`.

mod undo;

#[cfg(test)]
pub(crate) use self::undo::undo_step as undo_step_for_tests;

use serde::Serialize;

use self::undo::undo_step;
use super::copy::apply::asg::delete_group_and_template;
use super::copy::CopyError;
use super::events::{Event, Events};
use super::journal::{Journal, JournalEntry, JournalStore, LiveJournal, RunStatus, StepState};
use super::ports::Reader;
use super::ports_write::Writer;
use super::waiters::{terminate_and_confirm, Timing};
use super::world::{Conn, World};
use crate::domain::states::closed_set;

/// One undo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Undo {
    pub step: String,
    pub account: String,
    pub region: String,
    pub summary: String,
    pub result: UndoResult,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackReport {
    pub run_id: String,
    pub status: RollbackStatus,
    pub undone: Vec<Undo>,
}

closed_set! {
    /// What became of one change.
    pub enum UndoResult {
        Undone => "undone",
        /// Undoing would remove or overwrite what someone else changed since: a human decides.
        Refused => "refused",
        Failed => "failed",
        /// A copy, kept without `--delete-copies`.
        Kept => "kept",
        NothingToDo => "nothing-to-do",
    }
}

impl UndoResult {
    /// Nothing is left to undo for this change.
    pub fn settled(self) -> bool {
        matches!(self, Self::Undone | Self::NothingToDo | Self::Kept)
    }
}

closed_set! {
    /// How a whole rollback ended.
    pub enum RollbackStatus {
        RolledBack => "rolled-back",
        Partial => "partial",
    }
}

impl RollbackReport {
    pub fn complete(&self) -> bool {
        self.status == RollbackStatus::RolledBack
    }
}

impl Undo {
    fn new(step: &str, account: &str, region: &str, summary: String) -> Self {
        Self {
            step: step.to_string(),
            account: account.to_string(),
            region: region.to_string(),
            summary,
            result: UndoResult::Undone,
            detail: None,
        }
    }
}

/// Undo run `run_id`: test instances first (nothing must keep running), then every change,
/// newest first.
pub async fn rollback<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    world: &World<R, W>,
    store: &S,
    events: &E,
    run_id: &str,
    delete_copies: bool,
    timing: Timing,
) -> Result<RollbackReport, CopyError> {
    let journal = store.load(run_id)?;
    let live = LiveJournal::new(store, journal.clone())?;
    events.emit(Event::Phase {
        name: "rollback".into(),
    });
    let mut undone = remove_leftovers(world, &journal, &live, timing).await?;
    for e in changes_newest_first(&journal) {
        let step = &e.step;
        let mut u = Undo::new(&step.id, &step.account, &step.region, step.action.summary());
        match conn_for(world, &journal, &e) {
            None => {
                u.result = UndoResult::Failed;
                u.detail = Some(format!("no credentials for account {}", step.account));
            }
            Some(conn) => {
                let outcome = undo_step(conn, &e, delete_copies).await;
                u.result = outcome.result;
                u.detail = outcome.detail;
                if u.result == UndoResult::Undone {
                    let id = step.id.clone();
                    live.update(|j| {
                        if let Some(x) = j.entries.get_mut(&id) {
                            x.state = StepState::RolledBack;
                        }
                    })?;
                }
                events.emit(Event::StepFinished {
                    step: u.step.clone(),
                    ok: u.result.settled(),
                    detail: u.detail.clone(),
                });
            }
        }
        undone.push(u);
    }
    let complete = undone.iter().all(|u| u.result.settled());
    if complete {
        live.set_status(RunStatus::RolledBack)?;
    }
    Ok(RollbackReport {
        run_id: run_id.to_string(),
        status: if complete {
            RollbackStatus::RolledBack
        } else {
            RollbackStatus::Partial
        },
        undone,
    })
}

/// The steps that may have changed something (done, started or failed), newest first.
fn changes_newest_first(journal: &Journal) -> Vec<JournalEntry> {
    let mut entries: Vec<JournalEntry> = journal
        .entries
        .values()
        .filter(|e| {
            matches!(
                e.state,
                StepState::Done | StepState::Started | StepState::Failed
            )
        })
        .cloned()
        .collect();
    // Newest first; steps started in the same millisecond in reverse plan order (`s10` after
    // `s9`, not before `s2`).
    entries.sort_by(|a, b| {
        (b.started_at.as_str(), step_order(&b.step.id))
            .cmp(&(a.started_at.as_str(), step_order(&a.step.id)))
    });
    entries
}

/// A step id's place in its plan: its prefix (`s`, `a2s`, `s1r`) and trailing number.
fn step_order(id: &str) -> (&str, u64) {
    let digits = id.len() - id.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (prefix, n) = id.split_at(id.len() - digits);
    (prefix, n.parse().unwrap_or(0))
}

/// The connection a step is undone on: the source's, or its target account's (IAM is global).
fn conn_for<'a, R, W>(
    world: &'a World<R, W>,
    journal: &Journal,
    e: &JournalEntry,
) -> Option<&'a Conn<R, W>> {
    let step = &e.step;
    if step.account == journal.plan.source.account {
        Some(&world.source)
    } else {
        world.target(&step.account).and_then(|t| {
            t.regions
                .get(&step.region)
                .or_else(|| t.regions.values().next())
        })
    }
}

/// A temporary resource a run may leave behind in a target account and region.
enum Leftover {
    /// A test instance (its id).
    Instance(String),
    /// A temporary test group and its launch template (issue 11; the group's name).
    Group(String),
}

impl Leftover {
    /// The undo row's id and summary.
    fn describe(&self) -> (&'static str, String) {
        match self {
            Self::Instance(id) => ("instances", format!("terminate test instance {id}")),
            Self::Group(name) => (
                "groups",
                format!("delete test group and launch template {name}"),
            ),
        }
    }
}

/// Terminate (and confirm) every test instance the journal does not show terminated, then
/// delete every temporary test group and launch template it does not show deleted; each is
/// journalled as gone once AWS confirms it.
async fn remove_leftovers<R: Reader, W: Writer, S: JournalStore + ?Sized>(
    world: &World<R, W>,
    journal: &Journal,
    live: &LiveJournal<'_, S>,
    timing: Timing,
) -> Result<Vec<Undo>, CopyError> {
    let instances = journal
        .unconfirmed_instances()
        .into_iter()
        .map(|(id, r)| (Leftover::Instance(id), r.account, r.region));
    let groups = journal
        .undeleted_groups()
        .into_iter()
        .map(|(name, r)| (Leftover::Group(name), r.account, r.region));
    let mut undone = Vec::new();
    for (what, account, region) in instances.chain(groups) {
        let (kind, summary) = what.describe();
        let mut u = Undo::new(kind, &account, &region, summary);
        let Some(conn) = world.target_conn(&account, &region) else {
            u.result = UndoResult::Failed;
            u.detail = Some("no credentials for the target account".into());
            undone.push(u);
            continue;
        };
        let removed = match &what {
            Leftover::Instance(id) => terminate_and_confirm(&conn.writer, id, timing).await,
            Leftover::Group(name) => delete_group_and_template(&conn.writer, name, timing).await,
        };
        match removed {
            Ok(()) => match &what {
                Leftover::Instance(id) => live.instance_terminated(id)?,
                Leftover::Group(name) => live.group_deleted(name)?,
            },
            Err(e) => {
                u.result = UndoResult::Failed;
                u.detail = Some(e);
            }
        }
        undone.push(u);
    }
    Ok(undone)
}

#[cfg(test)]
mod tests {
    use super::step_order;

    #[test]
    fn step_ids_order_by_their_number_not_as_text() {
        assert!(step_order("s10") > step_order("s9"));
        assert!(step_order("s2") < step_order("s10"));
        assert_eq!(step_order("a2s11"), ("a2s", 11));
        assert_eq!(step_order("s1r3"), ("s1r", 3));
        assert_eq!(step_order("instances"), ("instances", 0));
    }
}
