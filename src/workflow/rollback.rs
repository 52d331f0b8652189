//! `amishare rollback RUN_ID`: undo what a run changed, from its journal, newest change first.
//!
//! - The key policy is restored only if it still equals what amishare wrote; otherwise rollback
//!   refuses that step and shows the difference (someone changed it since: a human decides).
//! - Launch and createVolumePermissions amishare added are removed; the KmsKeyUsagePolicy it
//!   attached is detached, a policy it created is deleted, a version it added is rolled back.
//! - Test instances whose termination was not confirmed are terminated.
//! - Copies are deregistered and their snapshots deleted only with `--delete-copies`.

use serde::Serialize;

use super::copy::CopyError;
use super::events::{Event, Events};
use super::journal::{JournalStore, LiveJournal, RunStatus, StepState};
use super::plan::Action;
use super::ports::{Reader, Seen};
use super::ports_write::Writer;
use super::waiters::{terminate_and_confirm, Timing};
use super::world::World;
use crate::domain::states::closed_set;
use crate::policy;

closed_set! {
    /// What became of one undo.
    pub enum UndoResult {
        Undone => "undone",
        Refused => "refused",
        Failed => "failed",
        Kept => "kept",
        NothingToDo => "nothing-to-do",
    }
}

impl UndoResult {
    /// Nothing is left to undo for this step.
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

/// One undo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Undo {
    pub step: String,
    pub account: String,
    pub region: String,
    pub summary: String,
    /// `undone`, `refused`, `failed`, `kept`, `nothing-to-do`.
    pub result: UndoResult,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackReport {
    pub run_id: String,
    /// `rolled-back`, `partial`.
    pub status: RollbackStatus,
    pub undone: Vec<Undo>,
}

impl RollbackReport {
    pub fn complete(&self) -> bool {
        self.status == RollbackStatus::RolledBack
    }
}

fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Undo run `run_id`.
pub async fn rollback<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    world: &World<R, W>,
    store: &S,
    events: &E,
    run_id: &str,
    delete_copies: bool,
    timing: Timing,
) -> Result<RollbackReport, CopyError> {
    let journal = store.load(run_id)?;
    let source_account = journal.plan.source.account.clone();
    let mut entries: Vec<_> = journal
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
    entries.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    let live = LiveJournal::new(store, journal.clone())?;
    events.emit(Event::Phase {
        name: "rollback".into(),
    });
    let mut undone = Vec::new();

    // Test instances first: nothing must keep running.
    for (id, rec) in journal.unconfirmed_instances() {
        let mut u = Undo {
            step: "instances".into(),
            account: rec.account.clone(),
            region: rec.region.clone(),
            summary: format!("terminate test instance {id}"),
            result: UndoResult::Undone,
            detail: None,
        };
        match world.target_conn(&rec.account, &rec.region) {
            None => {
                u.result = UndoResult::Failed;
                u.detail = Some("no credentials for the target account".into());
            }
            Some(conn) => match terminate_and_confirm(&conn.writer, &id, timing).await {
                Ok(()) => {
                    live.instance_terminated(&id)?;
                }
                Err(e) => {
                    u.result = UndoResult::Failed;
                    u.detail = Some(e);
                }
            },
        }
        undone.push(u);
    }

    for e in entries {
        let step = &e.step;
        let conn = if step.account == source_account {
            Some(&world.source)
        } else {
            world.target(&step.account).and_then(|t| {
                t.regions
                    .get(&step.region)
                    .or_else(|| t.regions.values().next())
            })
        };
        let mut u = Undo {
            step: step.id.clone(),
            account: step.account.clone(),
            region: step.region.clone(),
            summary: step.action.summary(),
            result: UndoResult::Undone,
            detail: None,
        };
        let Some(conn) = conn else {
            u.result = UndoResult::Failed;
            u.detail = Some(format!("no credentials for account {}", step.account));
            undone.push(u);
            continue;
        };
        let w = &conn.writer;
        let outcome: Result<UndoResult, String> = match &step.action {
            Action::PutKeyPolicy {
                key_arn, before, ..
            } => {
                if e.state != StepState::Done {
                    Ok(UndoResult::NothingToDo)
                } else {
                    let written = e.after.clone().unwrap_or_default();
                    match conn.reader.get_key_policy(key_arn).await {
                        Ok(Seen::Visible(current)) => {
                            if same_json(&current, before) {
                                Ok(UndoResult::NothingToDo)
                            } else if same_json(&current, &written) {
                                match w.put_key_policy(key_arn, before).await {
                                    Ok(()) => Ok(UndoResult::Undone),
                                    Err(err) => Err(err.to_string()),
                                }
                            } else {
                                u.result = UndoResult::Refused;
                                Err(format!(
                                    "the key policy of `{key_arn}` changed since amishare wrote it; not restoring it. Difference (what amishare wrote -> what is there now):\n{}",
                                    policy::diff::unified_diff(&written, &current)
                                ))
                            }
                        }
                        Ok(Seen::NotVisible(err)) => Err(err.to_string()),
                        Err(err) => Err(err.to_string()),
                    }
                }
            }
            Action::AddLaunchPermission { image_id, account } => w
                .set_launch_permission(image_id, account, false)
                .await
                .map(|()| UndoResult::Undone)
                .map_err(|e| e.to_string()),
            Action::AddCreateVolumePermission {
                snapshot_id,
                account,
            } => w
                .set_create_volume_permission(snapshot_id, account, false)
                .await
                .map(|()| UndoResult::Undone)
                .map_err(|e| e.to_string()),
            Action::AttachPolicy {
                policy_arn,
                principal_arn,
            } => match w
                .set_policy_attachment(principal_arn, policy_arn, false)
                .await
            {
                Ok(()) => Ok(UndoResult::Undone),
                Err(err) if err.is_not_found() => Ok(UndoResult::NothingToDo),
                Err(err) => Err(err.to_string()),
            },
            Action::CreatePolicy { .. } => match e.created.first() {
                None => Ok(UndoResult::NothingToDo),
                Some(arn) => match w.delete_policy(arn).await {
                    Ok(()) => Ok(UndoResult::Undone),
                    Err(err) if err.is_not_found() => Ok(UndoResult::NothingToDo),
                    Err(err) => Err(err.to_string()),
                },
            },
            Action::CreatePolicyVersion {
                policy_arn,
                previous_version,
                ..
            } => match e.created.first() {
                None => Ok(UndoResult::NothingToDo),
                Some(v) => w
                    .restore_policy_version(policy_arn, previous_version, v)
                    .await
                    .map(|()| UndoResult::Undone)
                    .map_err(|e| e.to_string()),
            },
            Action::CopyImage { .. } | Action::ReencryptImage { .. } => {
                if !delete_copies {
                    u.detail = Some(format!(
                        "copy {} kept (pass `--delete-copies` to deregister it)",
                        e.created.join(", ")
                    ));
                    Ok(UndoResult::Kept)
                } else {
                    let mut res = Ok(UndoResult::NothingToDo);
                    for image in &e.created {
                        let snaps = match w.image_status(image).await {
                            Ok(Some(s)) => s.snapshot_ids,
                            Ok(None) => continue,
                            Err(err) => {
                                res = Err(err.to_string());
                                break;
                            }
                        };
                        if let Err(err) = w.deregister_image(image).await {
                            res = Err(err.to_string());
                            break;
                        }
                        for s in snaps {
                            if let Err(err) = w.delete_snapshot(&s).await {
                                if !err.is_not_found() {
                                    res = Err(err.to_string());
                                }
                            }
                        }
                        if res.is_ok() {
                            res = Ok(UndoResult::Undone);
                        }
                    }
                    res
                }
            }
            Action::WaitCopy { .. }
            | Action::TestLaunch { .. }
            | Action::RemoveLaunchPermission { .. }
            | Action::RemoveCreateVolumePermission { .. }
            | Action::RevokeKeyUsers { .. } => Ok(UndoResult::NothingToDo),
        };
        match outcome {
            Ok(r) => {
                u.result = r;
                if r == UndoResult::Undone {
                    let id = step.id.clone();
                    live.update(|j| {
                        if let Some(x) = j.entries.get_mut(&id) {
                            x.state = StepState::RolledBack;
                        }
                    })?;
                }
            }
            Err(msg) => {
                if u.result != UndoResult::Refused {
                    u.result = UndoResult::Failed;
                }
                u.detail = Some(msg);
            }
        }
        events.emit(Event::StepFinished {
            step: u.step.clone(),
            ok: u.result.settled(),
            detail: u.detail.clone(),
        });
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
