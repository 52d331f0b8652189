//! Sharing made once for every target: the plan keeps one step per account (each journalled and
//! undone on its own, so plans and journals keep their format), but all the launch permissions
//! of an image go out in ONE ModifyImageAttribute, and all the createVolumePermissions of a
//! snapshot in ONE ModifySnapshotAttribute (AWS shares snapshots with account ids only). Every
//! step of a batch is journalled as begun before the call and as finished after it, with the
//! call's outcome.

use super::Run;
use crate::workflow::copy::report::ChangeRecord;
use crate::workflow::copy::CopyError;
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::JournalStore;
use crate::workflow::plan::{Action, Step};
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::Writer;

/// What a share step adds: (image or snapshot, is-image) and the account.
fn share_of(step: &Step) -> Option<((&str, bool), &str)> {
    match &step.action {
        Action::AddLaunchPermission { image_id, account } => {
            Some(((image_id.as_str(), true), account.as_str()))
        }
        Action::AddCreateVolumePermission {
            snapshot_id,
            account,
        } => Some(((snapshot_id.as_str(), false), account.as_str())),
        _ => None,
    }
}

/// Is this step one that [`run_batch`] runs?
pub fn is_share(step: &Step) -> bool {
    share_of(step).is_some()
}

/// The share steps of `steps` grouped by the image or snapshot they share, in the order the
/// resources first appear.
pub fn batches<'a>(steps: &[&'a Step]) -> Vec<Vec<&'a Step>> {
    let mut out: Vec<((&str, bool), Vec<&Step>)> = Vec::new();
    for s in steps {
        let Some((res, _)) = share_of(s) else {
            continue;
        };
        match out.iter_mut().find(|(r, _)| *r == res) {
            Some((_, v)) => v.push(s),
            None => out.push((res, vec![s])),
        }
    }
    out.into_iter().map(|(_, v)| v).collect()
}

/// Run one batch (share steps of one image or one snapshot, in the source account): every step
/// journalled as begun, one call, every step finished with its outcome.
pub async fn run_batch<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    steps: &[&Step],
) -> Result<Vec<ChangeRecord>, CopyError> {
    let Some(((resource, image), _)) = steps.first().and_then(|s| share_of(s)) else {
        return Ok(Vec::new());
    };
    let accounts: Vec<String> = steps
        .iter()
        .filter_map(|s| share_of(s).map(|(_, a)| a.to_string()))
        .collect();
    for step in steps {
        run.ctx.events.emit(Event::StepStarted {
            step: step.id.clone(),
            summary: step.action.summary(),
        });
        run.journal.begin(step, None)?;
    }
    let w = &run.ctx.world.source.writer;
    let outcome = if image {
        w.add_launch_permissions(resource, &accounts).await
    } else {
        w.add_create_volume_permissions(resource, &accounts).await
    };
    let mut records = Vec::new();
    for step in steps {
        let mut rec = ChangeRecord::started(step);
        match &outcome {
            Ok(()) => {
                run.journal.finish(&step.id, Ok(None))?;
                rec.ok = true;
            }
            Err(e) => {
                run.journal.finish(&step.id, Err(e.to_string()))?;
                rec.error = Some(e.to_string());
            }
        }
        run.ctx.events.emit(Event::StepFinished {
            step: step.id.clone(),
            ok: rec.ok,
            detail: rec.error.clone(),
        });
        records.push(rec);
    }
    Ok(records)
}
