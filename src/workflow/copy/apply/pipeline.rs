//! One target account and region: copy (or wait for an earlier copy) -> test launch -> the copy's
//! lifecycle settings ([`super::lifecycle`]), each step journalled; on a failed copy or launch,
//! the diagnosis.

use super::error::{for_journal, StepError, StepResult};
use super::launch::{tag_tested, test_launch};
use super::launch_as::{launch_as_step, launcher_launches};
use super::lifecycle::{copy_wait_timing, run_lifecycle};
use super::Run;
use crate::domain::states::ImageState;
use crate::policy;
use crate::workflow::copy::diagnosis::diagnose;
use crate::workflow::copy::report::{ChangeRecord, LaunchResult, TargetReport, TargetStatus};
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::JournalStore;
use crate::workflow::plan::{Action, Plan, Step};
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::{CopyImageRequest, Writer};
use crate::workflow::waiters::{sleep_or_cancel, wait_for_image, ImageWaitError, Timing};
use crate::workflow::world::Conn;

/// Run the copy, wait and test-launch steps of one target account and region.
pub async fn run_unit<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    plan: &Plan,
    account: &str,
    region: &str,
) -> (TargetReport, Vec<ChangeRecord>) {
    let mut tr = TargetReport::new(account, region, TargetStatus::Ok);
    let mut recs = Vec::new();
    let Some(conn) = run.ctx.world.target_conn(account, region) else {
        tr.status = TargetStatus::Failed;
        tr.error = Some(format!("no credentials for {account} in {region}"));
        return (tr, recs);
    };
    let steps = plan
        .steps
        .iter()
        .filter(|s| s.account == account && s.region == region && s.action.is_unit_step());
    for step in steps {
        if run.cancelled() {
            tr.status = TargetStatus::Interrupted;
            break;
        }
        let mut rec = ChangeRecord::started(step);
        run.ctx.events.emit(Event::StepStarted {
            step: step.id.clone(),
            summary: rec.summary.clone(),
        });
        if let Err(e) = run.journal.begin(step, None) {
            let e = StepError::Journal(e.to_string());
            rec.error = Some(e.to_string());
            recs.push(rec);
            tr.status = TargetStatus::Failed;
            tr.error = Some(e.to_string());
            break;
        }
        // One operation in flight for the throttling gate (fewer at once while AWS throttles).
        let permit = run.gate.acquire().await;
        let outcome = run_step(run, conn, plan, step, &mut tr, &mut rec).await;
        drop(permit);
        rec.ok = outcome.is_ok();
        rec.error = outcome.as_ref().err().map(ToString::to_string);
        run.recorded(
            &format!("the outcome of step {}", step.id),
            run.journal.finish(&step.id, for_journal(&outcome)),
        );
        run.ctx.events.emit(Event::StepFinished {
            step: step.id.clone(),
            ok: rec.ok,
            detail: rec.error.clone(),
        });
        let ok = rec.ok;
        recs.push(rec);
        if !ok {
            failed(run, conn, plan, &mut tr, recs.last()).await;
            break;
        }
    }
    (tr, recs)
}

/// The unit stops at a failed step: its status, error and (for a failed copy) diagnosis.
async fn failed<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    plan: &Plan,
    tr: &mut TargetReport,
    last: Option<&ChangeRecord>,
) {
    tr.status = if run.cancelled() {
        TargetStatus::Interrupted
    } else {
        TargetStatus::Failed
    };
    if tr.error.is_none() {
        tr.error = last.and_then(|r| r.error.clone());
    }
    if tr.copy_state == Some(ImageState::Failed) && tr.diagnosis.is_none() {
        tr.diagnosis = Some(diagnose(run.ctx, conn, plan, policy::Operation::Copy, None).await);
    }
}

/// One step of the unit.
async fn run_step<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    plan: &Plan,
    step: &Step,
    tr: &mut TargetReport,
    rec: &mut ChangeRecord,
) -> StepResult {
    match &step.action {
        Action::CopyImage {
            source_image_id,
            source_region,
            name,
            kms_key_id,
            tags,
            completion_minutes,
        } => {
            let req = CopyImageRequest {
                source_image_id: source_image_id.clone(),
                source_region: source_region.clone(),
                name: name.clone(),
                description: format!(
                    "Copy of {source_image_id} from {}/{source_region} made by amishare run {}",
                    plan.source.account, plan.run_id
                ),
                kms_key_id: kms_key_id.clone(),
                client_token: format!("{}-{}", plan.run_id, step.id),
                tags: tags.clone(),
                completion_minutes: *completion_minutes,
            };
            let image_id = conn.writer.copy_image(&req).await?;
            run.recorded(
                &format!("the copy {image_id}"),
                run.journal.created(&step.id, &image_id),
            );
            rec.created.push(image_id.clone());
            tr.image_id = Some(image_id.clone());
            let timing = copy_wait_timing(run.ctx.timing, *completion_minutes);
            // A copy just started is never done at once: the first read waits one poll delay
            // (a DescribeImages and a DescribeSnapshots fewer per account and region; a
            // Ctrl-C meanwhile is seen by the wait).
            let mut rx = run.ctx.cancel.clone();
            sleep_or_cancel(timing.poll_start, &mut rx).await;
            wait_copy_within(run, conn, &image_id, tr, timing).await
        }
        Action::WaitCopy { image_id } => {
            tr.image_id = Some(image_id.clone());
            let minutes = plan.options.lifecycle.copy_duration_minutes;
            let timing = copy_wait_timing(run.ctx.timing, minutes);
            wait_copy_within(run, conn, image_id, tr, timing).await
        }
        Action::TestLaunch { image_id, .. } => {
            let Some(image) = image_id.clone().or_else(|| tr.image_id.clone()) else {
                return Err(StepError::Precondition("no image to launch".into()));
            };
            if tr.image_id.is_none() {
                tr.image_id = Some(image.clone());
            }
            launch_step(run, conn, plan, step, &image, tr, rec).await
        }
        Action::TestLaunchAs { image_id, .. } => {
            let Some(image) = image_id.clone().or_else(|| tr.image_id.clone()) else {
                return Err(StepError::Precondition("no image to launch".into()));
            };
            // Never launch more while a test instance is not confirmed terminated.
            if let Some(id) = tr
                .test_launch
                .as_ref()
                .filter(|l| !l.terminated)
                .and_then(|l| l.instance_id.clone())
            {
                return Err(StepError::Precondition(format!(
                    "not attempted: test instance {id} is not confirmed terminated"
                )));
            }
            launch_as_step(run, conn, plan, step, &image, tr, rec).await
        }
        Action::DeprecateImage { image_id, .. }
        | Action::ProtectImage { image_id, .. }
        | Action::PublishImageId { image_id, .. } => {
            let Some(image) = image_id.clone().or_else(|| tr.image_id.clone()) else {
                return Err(StepError::Precondition("no copy to set this on".into()));
            };
            run_lifecycle(run, conn, step, &image, rec).await
        }
        _ => Err(StepError::Internal("not a copy or launch step".into())),
    }
}

/// Test-launch `image`; tag the copy `passed` when it ran, diagnose when it failed.
async fn launch_step<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    plan: &Plan,
    step: &Step,
    image: &str,
    tr: &mut TargetReport,
    rec: &mut ChangeRecord,
) -> StepResult {
    let report = test_launch(run, conn, plan, step, image).await;
    if let Some(id) = &report.instance_id {
        rec.created.push(id.clone());
    }
    let (ok, failed_launch) = (
        report.result == LaunchResult::Running,
        report.result == LaunchResult::Failed,
    );
    let message = format!(
        "test launch {}: {}",
        report.result,
        report
            .state_reason_message
            .clone()
            .or_else(|| report.error.clone())
            .unwrap_or_default()
    );
    let error = match report.result {
        LaunchResult::Timeout => StepError::Timeout(message),
        LaunchResult::Interrupted => StepError::Interrupted(message),
        LaunchResult::Running | LaunchResult::Failed | LaunchResult::Error => {
            StepError::Failed(message)
        }
    };
    tr.test_launch = Some(report);
    if ok {
        // With launchers to test as, the last of them tags the copy (`launch_as`).
        if !plan.options.share_only
            && launcher_launches(plan, &step.account, &step.region).is_empty()
        {
            tag_tested(run, conn, image).await;
        }
        return Ok(None);
    }
    if failed_launch {
        let launch = tr.test_launch.as_ref();
        tr.diagnosis = Some(diagnose(run.ctx, conn, plan, policy::Operation::Launch, launch).await);
    }
    Err(error)
}

/// Poll the copy until it is available or failed, with progress events.
pub async fn wait_copy<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    image_id: &str,
    tr: &mut TargetReport,
) -> StepResult {
    wait_copy_within(run, conn, image_id, tr, run.ctx.timing).await
}

/// [`wait_copy`] bounded by `timing` (a time-based copy's own bound).
pub async fn wait_copy_within<
    R: Reader,
    W: Writer,
    S: JournalStore + ?Sized,
    E: Events + ?Sized,
>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    image_id: &str,
    tr: &mut TargetReport,
    timing: Timing,
) -> StepResult {
    let (account, region) = (tr.account.clone(), tr.region.clone());
    let events = run.ctx.events;
    let waited = wait_for_image(
        &conn.writer,
        image_id,
        timing,
        &run.ctx.cancel,
        |status, state| {
            tr.copy_state = Some(state.clone());
            tr.copy_state_reason = status.state_reason.clone();
            events.emit(Event::CopyProgress {
                account: account.clone(),
                region: region.clone(),
                image_id: image_id.into(),
                state: state.to_string(),
                percent: status.progress_percent,
            });
        },
    )
    .await;
    let finished = |state: &str| {
        events.emit(Event::CopyFinished {
            account: account.clone(),
            region: region.clone(),
            image_id: image_id.into(),
            state: state.into(),
        })
    };
    match waited {
        Ok(()) => {
            finished(ImageState::Available.as_str());
            Ok(Some(image_id.to_string()))
        }
        Err(e) => {
            match &e {
                ImageWaitError::Failed { state, .. } => finished(state.as_str()),
                ImageWaitError::Gone => tr.copy_state = Some(ImageState::Other("missing".into())),
                _ => {}
            }
            Err(StepError::from_copy_wait(image_id, e))
        }
    }
}
