//! One undo per kind of change a run journals. Each says what became of the change
//! ([`UndoResult`]) and why, in words for the report.

use super::UndoResult;
use crate::policy;
use crate::workflow::copy::apply::change::same_json;
use crate::workflow::copy::apply::lifecycle::cooldown_note;
use crate::workflow::journal::{JournalEntry, StepState};
use crate::workflow::plan::{Action, LifecycleBefore};
use crate::workflow::ports::{AwsError, Reader, Seen};
use crate::workflow::ports_write::Writer;
use crate::workflow::world::Conn;

/// What became of one change, and the detail the report shows.
pub struct Outcome {
    pub result: UndoResult,
    pub detail: Option<String>,
}

impl Outcome {
    fn is(result: UndoResult) -> Self {
        Self {
            result,
            detail: None,
        }
    }

    fn failed(detail: impl ToString) -> Self {
        Self {
            result: UndoResult::Failed,
            detail: Some(detail.to_string()),
        }
    }

    /// `Undone` when the call succeeded.
    fn of(call: Result<(), AwsError>) -> Self {
        match call {
            Ok(()) => Self::is(UndoResult::Undone),
            Err(e) => Self::failed(e),
        }
    }

    /// `Undone`, or `NothingToDo` when what was to be removed is gone already.
    fn unless_gone(call: Result<(), AwsError>) -> Self {
        match call {
            Err(e) if e.is_not_found() => Self::is(UndoResult::NothingToDo),
            other => Self::of(other),
        }
    }
}

/// Undo the change journalled in `e`.
pub async fn undo_step<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    e: &JournalEntry,
    delete_copies: bool,
) -> Outcome {
    let w = &conn.writer;
    match &e.step.action {
        Action::PutKeyPolicy {
            key_arn, before, ..
        }
        | Action::PutTargetKeyPolicy {
            key_arn, before, ..
        } => restore_key_policy(conn, e, key_arn, before).await,
        Action::CreateGrant { key_arn, .. } => match e.created.first() {
            None => Outcome::is(UndoResult::NothingToDo),
            Some(grant_id) => Outcome::unless_gone(w.retire_grant(key_arn, grant_id).await),
        },
        Action::CreateServiceLinkedRole { role_arn, .. } => Outcome {
            result: UndoResult::Kept,
            detail: Some(format!(
                "service-linked role {role_arn} kept: every Auto Scaling group of the account launches with it (`aws iam delete-service-linked-role` once no group needs it)"
            )),
        },
        Action::AddLaunchPermission { image_id, account } => {
            Outcome::of(w.set_launch_permission(image_id, account, false).await)
        }
        Action::AddCreateVolumePermission {
            snapshot_id,
            account,
        } => Outcome::of(
            w.set_create_volume_permission(snapshot_id, account, false)
                .await,
        ),
        Action::AttachPolicy {
            policy_arn,
            principal_arn,
        } => Outcome::unless_gone(
            w.set_policy_attachment(principal_arn, policy_arn, false)
                .await,
        ),
        Action::CreatePolicy { .. } => match e.created.first() {
            None => Outcome::is(UndoResult::NothingToDo),
            Some(arn) => Outcome::unless_gone(w.delete_policy(arn).await),
        },
        Action::CreatePolicyVersion {
            policy_arn,
            previous_version,
            ..
        } => match e.created.first() {
            None => Outcome::is(UndoResult::NothingToDo),
            Some(v) => Outcome::of(
                w.restore_policy_version(policy_arn, previous_version, v)
                    .await,
            ),
        },
        Action::CopyImage { .. } | Action::ReencryptImage { .. } if !delete_copies => Outcome {
            result: UndoResult::Kept,
            detail: Some(format!(
                "copy {} kept (pass `--delete-copies` to deregister it)",
                e.created.join(", ")
            )),
        },
        Action::CopyImage { .. } | Action::ReencryptImage { .. } => {
            delete_copies_of(w, &e.created).await
        }
        Action::DeprecateImage { image_id, .. } => {
            if delete_copies && image_id.is_none() {
                Outcome {
                    result: UndoResult::NothingToDo,
                    detail: Some("the copy itself is deregistered by this rollback".into()),
                }
            } else {
                restore_deprecation(w, e).await
            }
        }
        Action::ProtectImage { with_cooldown, .. } => unprotect(w, e, *with_cooldown).await,
        Action::PublishImageId { name, .. } => restore_parameter(w, e, name).await,
        Action::WaitCopy { .. }
        | Action::TestLaunch { .. }
        | Action::TestLaunchAs { .. }
        | Action::RemoveLaunchPermission { .. }
        | Action::RemoveCreateVolumePermission { .. }
        | Action::RevokeKeyUsers { .. } => Outcome::is(UndoResult::NothingToDo),
    }
}

/// Put back the key policy amishare replaced, only if it is still what amishare wrote; refuse
/// (showing the difference) when someone changed it since.
async fn restore_key_policy<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    e: &JournalEntry,
    key_arn: &str,
    before: &str,
) -> Outcome {
    if e.state != StepState::Done {
        return Outcome::is(UndoResult::NothingToDo);
    }
    let written = e.after.clone().unwrap_or_default();
    let current = match conn.reader.get_key_policy(key_arn).await {
        Ok(Seen::Visible(current)) => current,
        Ok(Seen::NotVisible(err)) | Err(err) => return Outcome::failed(err),
    };
    if same_json(&current, before) {
        Outcome::is(UndoResult::NothingToDo)
    } else if same_json(&current, &written) {
        Outcome::of(conn.writer.put_key_policy(key_arn, before).await)
    } else {
        Outcome {
            result: UndoResult::Refused,
            detail: Some(format!(
                "the key policy of `{key_arn}` changed since amishare wrote it; not restoring it. Difference (what amishare wrote -> what is there now):\n{}",
                policy::diff::unified_diff(&written, &current)
            )),
        }
    }
}

/// What the lifecycle step recorded before changing anything (`None`: it changed nothing).
fn lifecycle_before(e: &JournalEntry) -> Option<LifecycleBefore> {
    LifecycleBefore::from_journal(e.before.as_deref())
}

/// Put back the deprecation time the copy had (or none), unless someone changed it since.
async fn restore_deprecation<W: Writer>(w: &W, e: &JournalEntry) -> Outcome {
    let Some(before) = lifecycle_before(e) else {
        return Outcome::is(UndoResult::NothingToDo);
    };
    let image = &before.image_id;
    let now = match w.image_lifecycle(image).await {
        Ok(Some(l)) => l,
        Ok(None) => return Outcome::is(UndoResult::NothingToDo),
        Err(err) => return Outcome::failed(err),
    };
    if now.deprecation_time == before.deprecation_time {
        return Outcome::is(UndoResult::NothingToDo);
    }
    let written = e.after.as_deref();
    if written.is_some() && now.deprecation_time.as_deref() != written {
        return Outcome {
            result: UndoResult::Refused,
            detail: Some(format!(
                "the deprecation time of {image} changed since amishare set it ({} -> {}); not restoring it",
                written.unwrap_or("-"),
                now.deprecation_time.as_deref().unwrap_or("none")
            )),
        };
    }
    Outcome::of(
        w.set_image_deprecation(image, before.deprecation_time.as_deref())
            .await,
    )
}

/// Disable the deregistration protection amishare enabled (not one the copy had before); with
/// cooldown, say when AWS lets the copy go.
async fn unprotect<W: Writer>(w: &W, e: &JournalEntry, with_cooldown: bool) -> Outcome {
    let Some(before) = lifecycle_before(e) else {
        return Outcome::is(UndoResult::NothingToDo);
    };
    let image = &before.image_id;
    let was_protected = before
        .deregistration_protection
        .as_deref()
        .is_some_and(|p| p.starts_with("enabled"));
    if was_protected {
        return Outcome {
            result: UndoResult::NothingToDo,
            detail: Some(format!("{image} was protected before this run")),
        };
    }
    match w.image_lifecycle(image).await {
        Ok(Some(l)) if l.protected() => {}
        Ok(_) => return Outcome::is(UndoResult::NothingToDo),
        Err(err) => return Outcome::failed(err),
    }
    match w.set_deregistration_protection(image, false, false).await {
        Err(err) => Outcome::failed(err),
        Ok(()) if with_cooldown => Outcome {
            result: UndoResult::Undone,
            detail: Some(cooldown_note(image, chrono::Utc::now())),
        },
        Ok(()) => Outcome::is(UndoResult::Undone),
    }
}

/// Put back the SSM parameter's previous value, or delete the parameter amishare created;
/// refused when it no longer holds what amishare wrote.
async fn restore_parameter<W: Writer>(w: &W, e: &JournalEntry, name: &str) -> Outcome {
    let Some(before) = lifecycle_before(e) else {
        return Outcome::is(UndoResult::NothingToDo);
    };
    let now = match w.get_parameter(name).await {
        Ok(Some(p)) => p,
        Ok(None) => return Outcome::is(UndoResult::NothingToDo),
        Err(err) => return Outcome::failed(err),
    };
    if now.value != before.image_id {
        let unchanged = before
            .parameter
            .as_ref()
            .is_some_and(|p| p.value == now.value);
        if unchanged {
            return Outcome::is(UndoResult::NothingToDo);
        }
        return Outcome {
            result: UndoResult::Refused,
            detail: Some(format!(
                "SSM parameter {name} holds `{}`, not `{}` that amishare wrote; not restoring it",
                now.value, before.image_id
            )),
        };
    }
    match &before.parameter {
        Some(prev) => match w.put_parameter(name, &prev.value, &prev.data_type).await {
            Ok(()) => Outcome {
                result: UndoResult::Undone,
                detail: Some(format!("{name} is `{}` again", prev.value)),
            },
            Err(err) => Outcome::failed(err),
        },
        None => match w.delete_parameter(name).await {
            Err(err) if err.code.as_deref() == Some("ParameterNotFound") => {
                Outcome::is(UndoResult::NothingToDo)
            }
            other => Outcome::of(other),
        },
    }
}

/// `--delete-copies`: deregister each copy and delete its snapshots (a copy already gone is
/// nothing to do).
async fn delete_copies_of<W: Writer>(w: &W, images: &[String]) -> Outcome {
    let mut res = Outcome::is(UndoResult::NothingToDo);
    for image in images {
        let snaps = match w.image_status(image).await {
            Ok(Some(s)) => s.snapshot_ids,
            Ok(None) => continue,
            Err(err) => return Outcome::failed(err),
        };
        if let Err(err) = w.deregister_image(image).await {
            return match w.image_lifecycle(image).await {
                Ok(Some(l)) if l.deregistration_protection.as_deref().unwrap_or("disabled") != "disabled" => {
                    Outcome::failed(format!(
                        "{err}; {image} is still protected from deregistration (AWS says `{}`): deregister it once the protection has ended",
                        l.deregistration_protection.unwrap_or_default()
                    ))
                }
                _ => Outcome::failed(err),
            };
        }
        for s in snaps {
            if let Err(err) = w.delete_snapshot(&s).await {
                if !err.is_not_found() {
                    res = Outcome::failed(err);
                }
            }
        }
        if res.result != UndoResult::Failed {
            res = Outcome::is(UndoResult::Undone);
        }
    }
    res
}
