//! One undo per kind of change a run journals. Each says what became of the change
//! ([`UndoResult`]) and why, in words for the report.

use super::UndoResult;
use crate::policy;
use crate::workflow::copy::apply::change::same_json;
use crate::workflow::journal::{JournalEntry, StepState};
use crate::workflow::plan::Action;
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
            return Outcome::failed(err);
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
