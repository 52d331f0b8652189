//! One change (not a copy or a launch), journalled before and after: the key policy edit (re-read
//! first and refused when it changed since discovery, read back after), its revocation, sharing
//! and unsharing, the `KmsKeyUsagePolicy` and its attachments.

use serde_json::Value;

use super::error::{for_journal, StepError, StepResult};
use super::Run;
use crate::policy;
use crate::workflow::copy::report::ChangeRecord;
use crate::workflow::copy::CopyError;
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::JournalStore;
use crate::workflow::plan::{Action, Plan, Step};
use crate::workflow::ports::{Reader, Seen};
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
    let outcome = exec_simple(conn, step).await;
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
async fn exec_simple<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    step: &Step,
) -> StepResult<(Option<String>, Vec<String>)> {
    let w = &conn.writer;
    match &step.action {
        Action::PutKeyPolicy {
            key_arn,
            before,
            after,
            ..
        }
        | Action::PutTargetKeyPolicy {
            key_arn,
            before,
            after,
            ..
        } => put_key_policy(conn, key_arn, before, after).await,
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
            let r = &conn.reader;
            let current = read_policy(r, key_arn).await?;
            let edit = policy::edit::remove_key_users(&current, key_arn, added, &r.identity().arn)
                .map_err(|e| StepError::Precondition(e.to_string()))?;
            if edit.changed {
                w.put_key_policy(key_arn, &edit.text).await?;
            }
            Ok((Some(edit.text), vec![]))
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
            let arn = w
                .create_policy(
                    name,
                    document,
                    "Use of the KMS keys of AMIs shared with this account (written by amishare)",
                )
                .await?;
            Ok((Some(document.clone()), vec![arn]))
        }
        Action::CreatePolicyVersion {
            policy_arn,
            document,
            ..
        } => {
            let v = w.create_policy_version(policy_arn, document).await?;
            Ok((Some(document.clone()), vec![v]))
        }
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

/// The key policy edit: refused when the policy changed since discovery, read back after.
async fn put_key_policy<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    key_arn: &str,
    before: &str,
    after: &str,
) -> StepResult<(Option<String>, Vec<String>)> {
    let current = read_policy(&conn.reader, key_arn).await?;
    if !same_json(&current, before) {
        let diff = policy::diff::unified_diff(before, &current);
        return Err(StepError::Drift(format!(
            "the key policy of `{key_arn}` changed since discovery; refusing to overwrite it (run `amishare copy` again to plan on the new policy):\n{diff}"
        )));
    }
    conn.writer.put_key_policy(key_arn, after).await?;
    let back = read_policy(&conn.reader, key_arn).await?;
    if !same_json(&back, after) {
        return Err(StepError::Drift(format!(
            "the key policy of `{key_arn}` read back differs from what was written"
        )));
    }
    Ok((Some(back), vec![]))
}

async fn read_policy<R: Reader>(r: &R, key_arn: &str) -> StepResult<String> {
    match r.get_key_policy(key_arn).await? {
        Seen::Visible(p) => Ok(p),
        Seen::NotVisible(e) => Err(StepError::Precondition(format!(
            "cannot read the key policy: {e}"
        ))),
    }
}

/// Equal as JSON (KMS may reformat a policy), or as text when either is not JSON.
pub fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
