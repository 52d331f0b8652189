//! One change (not a copy or a launch), journalled before and after: the key policy edit and its
//! revocation (converging under concurrent writers, every attempt journalled:
//! `workflow::key_policy`), sharing and unsharing, the `KmsKeyUsagePolicy` and its attachments.

use std::sync::Mutex;

use super::error::{for_journal, StepError, StepResult};
use super::usage_policy::{create_usage_policy, extend_usage_policy};
use super::Run;
use crate::workflow::copy::report::ChangeRecord;
use crate::workflow::copy::CopyError;
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::{EditAttempt, JournalStore, LiveJournal};
pub use crate::workflow::key_policy::same_json;
use crate::workflow::key_policy::{converge, AttemptLog, KeyEdit};
use crate::workflow::plan::{Action, Plan, Step};
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::{GrantRequest, Writer};
use crate::workflow::world::{Conn, World};

/// Run one step that is a single change, journalled before and after.
pub async fn run_simple_step<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    plan: &Plan,
    step: &Step,
) -> Result<ChangeRecord, CopyError> {
    let mut rec = ChangeRecord::started(step);
    run.ctx.events.emit(Event::StepStarted {
        step: step.id.clone(),
        summary: rec.summary.clone(),
    });
    let Some(conn) = conn_for(run.ctx.world, plan, step) else {
        rec.error = Some(format!("no credentials for account {}", step.account));
        return Ok(rec);
    };
    let before = match &step.action {
        Action::PutKeyPolicy { before, .. } | Action::PutTargetKeyPolicy { before, .. } => {
            Some(before.clone())
        }
        Action::CreatePolicyVersion {
            previous_version, ..
        } => Some(previous_version.clone()),
        _ => None,
    };
    run.journal.begin(step, before)?;
    let log = JournalLog {
        journal: run.journal,
        events: run.ctx.events,
        step_id: &step.id,
        notes: Mutex::new(Vec::new()),
        retries: Mutex::new(0),
    };
    let outcome = exec_simple(run, &log, conn, step).await;
    rec.notes = log.notes.into_inner().unwrap_or_default();
    rec.retries = log.retries.into_inner().unwrap_or_default();
    match outcome {
        Ok((after, created)) => {
            for c in &created {
                run.journal.created(&step.id, c)?;
            }
            run.journal.finish(&step.id, Ok(after))?;
            rec.ok = true;
            rec.created = created;
        }
        Err(e) => {
            run.journal.finish(&step.id, for_journal(&Err(e.clone())))?;
            rec.error = Some(e.to_string());
        }
    }
    run.ctx.events.emit(Event::StepFinished {
        step: step.id.clone(),
        ok: rec.ok,
        detail: rec.error.clone(),
    });
    Ok(rec)
}

/// The connection a step runs on: the source's, or the target account's in the step's region
/// (IAM is global: any region of the account will do).
fn conn_for<'a, R, W>(world: &'a World<R, W>, plan: &Plan, step: &Step) -> Option<&'a Conn<R, W>> {
    if step.account == plan.source.account {
        Some(&world.source)
    } else {
        world.target(&step.account).and_then(|t| {
            t.regions
                .get(&step.region)
                .or_else(|| t.regions.values().next())
        })
    }
}

/// Execute a single-change step: `(after, created ids)`.
async fn exec_simple<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    log: &JournalLog<'_, S, E>,
    conn: &Conn<R, W>,
    step: &Step,
) -> StepResult<(Option<String>, Vec<String>)> {
    let w = &conn.writer;
    match &step.action {
        Action::PutKeyPolicy {
            key_arn,
            before,
            after,
            added,
            ..
        }
        | Action::PutTargetKeyPolicy {
            key_arn,
            before,
            after,
            added,
            ..
        } => {
            let edit = KeyEdit::Add {
                before,
                after,
                added,
            };
            edit_key_policy(run, log, conn, key_arn, edit).await
        }
        Action::CreateGrant {
            key_arn,
            grantee_principal,
            operations,
            retiring_principal,
            name,
        } => {
            let id = w
                .create_grant(&GrantRequest {
                    key_arn: key_arn.clone(),
                    grantee_principal: grantee_principal.clone(),
                    operations: operations.clone(),
                    retiring_principal: retiring_principal.clone(),
                    name: name.clone(),
                })
                .await?;
            Ok((None, vec![id]))
        }
        Action::CreateServiceLinkedRole { service, .. } => {
            let created = w.create_service_linked_role(service).await?;
            Ok((None, created.into_iter().collect()))
        }
        Action::RevokeKeyUsers { key_arn, added } => {
            edit_key_policy(run, log, conn, key_arn, KeyEdit::Remove { added }).await
        }
        Action::AddLaunchPermission { image_id, account } => {
            w.set_launch_permission(image_id, account, true).await?;
            Ok((None, vec![]))
        }
        Action::RemoveLaunchPermission { image_id, account } => {
            w.set_launch_permission(image_id, account, false).await?;
            Ok((None, vec![]))
        }
        Action::AddCreateVolumePermission {
            snapshot_id,
            account,
        } => {
            w.set_create_volume_permission(snapshot_id, account, true)
                .await?;
            Ok((None, vec![]))
        }
        Action::RemoveCreateVolumePermission {
            snapshot_id,
            account,
        } => {
            w.set_create_volume_permission(snapshot_id, account, false)
                .await?;
            Ok((None, vec![]))
        }
        Action::CreatePolicy { name, document } => {
            create_usage_policy(run, conn, &step.id, &step.account, name, document).await
        }
        Action::CreatePolicyVersion {
            policy_arn,
            previous_version,
            document,
        } => extend_usage_policy(run, conn, &step.id, policy_arn, previous_version, document).await,
        Action::AttachPolicy {
            policy_arn,
            principal_arn,
        } => {
            w.set_policy_attachment(principal_arn, policy_arn, true)
                .await?;
            Ok((None, vec![]))
        }
        Action::CopyImage { .. }
        | Action::ReencryptImage { .. }
        | Action::WaitCopy { .. }
        | Action::TestLaunch { .. }
        | Action::TestLaunchAs { .. }
        | Action::DeprecateImage { .. }
        | Action::ProtectImage { .. }
        | Action::PublishImageId { .. } => Err(StepError::Internal(
            "copy, launch and lifecycle steps run in their own pipeline".into(),
        )),
    }
}

/// A key policy edit, converging while other runs edit the same policy: `after` is the policy
/// as last read (holding the edit).
async fn edit_key_policy<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    log: &JournalLog<'_, S, E>,
    conn: &Conn<R, W>,
    key_arn: &str,
    edit: KeyEdit<'_>,
) -> StepResult<(Option<String>, Vec<String>)> {
    let done = converge(
        &conn.reader,
        &conn.writer,
        key_arn,
        edit,
        &run.ctx.contention,
        log,
        Some(&run.ctx.cancel),
    )
    .await?;
    if let Ok(mut r) = log.retries.lock() {
        *r = done.retries;
    }
    Ok((Some(done.policy), vec![]))
}

/// A step's attempts go into the run journal, its notes into the report and the events.
struct JournalLog<'a, S: JournalStore + ?Sized, E: Events + ?Sized> {
    journal: &'a LiveJournal<'a, S>,
    events: &'a E,
    step_id: &'a str,
    notes: Mutex<Vec<String>>,
    retries: Mutex<u32>,
}

impl<S: JournalStore + ?Sized, E: Events + ?Sized> AttemptLog for JournalLog<'_, S, E> {
    fn begun(&self, attempt: EditAttempt) -> Result<(), String> {
        self.journal
            .attempt_begun(self.step_id, attempt)
            .map_err(|e| format!("the journal cannot record the key policy edit: {e}"))
    }

    fn read_back(&self, attempt: u32, text: &str) {
        if let Err(e) = self.journal.attempt_read_back(self.step_id, attempt, text) {
            self.note(format!(
                "the journal does not record the key policy read back after attempt {attempt}: {e}"
            ));
        }
    }

    fn note(&self, message: String) {
        self.events.emit(Event::Note {
            message: message.clone(),
        });
        if let Ok(mut n) = self.notes.lock() {
            n.push(message);
        }
    }
}
