//! `--reencrypt-with`'s first step: copy the AMI inside the source account re-encrypted with a
//! customer managed key (or wait for the copy an earlier run started), journalled like any step.

use super::error::{for_journal, StepError, StepResult};
use super::pipeline::wait_copy;
use super::Run;
use crate::workflow::copy::report::{ChangeRecord, TargetReport, TargetStatus};
use crate::workflow::copy::CopyError;
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::JournalStore;
use crate::workflow::plan::{Action, Plan, Step};
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::{CopyImageRequest, Writer};

/// Make the re-encrypted copy in the source account (or wait for the one an earlier run
/// started): the change record and the image id once it is available.
pub async fn reencrypt<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    plan: &Plan,
    step: &Step,
) -> Result<(ChangeRecord, Option<String>), CopyError> {
    let Action::ReencryptImage {
        source_image_id,
        name,
        kms_key_id,
        tags,
        existing_image_id,
    } = &step.action
    else {
        return Err(CopyError::input(
            format!("step `{}` is not a re-encrypting copy", step.id),
            "make the plan again",
        ));
    };
    let mut rec = ChangeRecord::started(step);
    run.ctx.events.emit(Event::StepStarted {
        step: step.id.clone(),
        summary: rec.summary.clone(),
    });
    run.journal.begin(step, None)?;
    let conn = &run.ctx.world.source;
    let image: StepResult<String> = match existing_image_id {
        Some(id) => Ok(id.clone()),
        None => {
            let req = CopyImageRequest {
                source_image_id: source_image_id.clone(),
                source_region: plan.source.region.clone(),
                name: name.clone(),
                description: format!(
                    "{source_image_id} re-encrypted with {kms_key_id} by amishare run {}",
                    plan.run_id
                ),
                kms_key_id: Some(kms_key_id.clone()),
                client_token: format!("{}-{}", plan.run_id, step.id),
                tags: tags.clone(),
                completion_minutes: None,
            };
            conn.writer.copy_image(&req).await.map_err(StepError::from)
        }
    };
    let outcome: StepResult = match image {
        Err(e) => Err(e),
        Ok(image) => {
            if existing_image_id.is_none() {
                run.journal.created(&step.id, &image)?;
                rec.created.push(image.clone());
            }
            let mut scratch = TargetReport::new(&step.account, &step.region, TargetStatus::Ok);
            scratch.image_id = Some(image.clone());
            wait_copy(run, conn, &image, &mut scratch).await
        }
    };
    rec.ok = outcome.is_ok();
    rec.error = outcome.as_ref().err().map(ToString::to_string);
    run.journal.finish(&step.id, for_journal(&outcome))?;
    run.ctx.events.emit(Event::StepFinished {
        step: step.id.clone(),
        ok: rec.ok,
        detail: rec.error.clone(),
    });
    Ok((rec, outcome.ok().flatten()))
}
