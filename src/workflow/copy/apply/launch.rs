//! The test launch: one instance of the smallest type, no public IP, tagged; wait until it runs
//! or fails; ALWAYS terminate it and confirm the termination (also on error and Ctrl-C), with
//! the launch and the termination in the journal so an interrupted run can finish the job.

use std::time::{Duration, Instant};

use super::Run;
use crate::domain::states::InstanceState;
use crate::workflow::copy::report::{LaunchReport, LaunchResult};
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::JournalStore;
use crate::workflow::plan::{Action, Plan, Step};
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::{
    LaunchRequest, Writer, TAG_PURPOSE, TAG_RUN_ID, TAG_TEST_LAUNCH,
};
use crate::workflow::waiters::{
    next_delay, or_cancel, sleep_or_cancel, terminate_and_confirm, transient, MAX_TRANSIENT_POLLS,
};
use crate::workflow::world::Conn;

/// Launch one test instance of `image_id` as `step` says, wait until running or failed, ALWAYS
/// terminate it.
pub async fn test_launch<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    plan: &Plan,
    step: &Step,
    image_id: &str,
) -> LaunchReport {
    let (instance_type, subnet_id) = match &step.action {
        Action::TestLaunch {
            instance_type,
            subnet_id,
            ..
        }
        | Action::TestLaunchAs {
            instance_type,
            subnet_id,
            ..
        } => (instance_type.clone(), subnet_id.clone()),
        _ => (String::new(), None),
    };
    let launch = Launch {
        step_id: &step.id,
        image_id,
        instance_type,
        subnet_id,
    };
    launch_and_terminate(run, conn, &conn.writer, plan, &launch).await
}

/// What one test instance is.
pub struct Launch<'a> {
    pub step_id: &'a str,
    pub image_id: &'a str,
    pub instance_type: String,
    pub subnet_id: Option<String>,
}

/// RunInstances as `runner` (the target role, or a launcher role assumed from it); the waiting
/// and the ALWAYS-terminate with the target role's writer (`conn`), which a launcher may lack
/// the rights for.
pub async fn launch_and_terminate<
    R: Reader,
    W: Writer,
    S: JournalStore + ?Sized,
    E: Events + ?Sized,
>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    runner: &W,
    plan: &Plan,
    l: &Launch<'_>,
) -> LaunchReport {
    let image_id = l.image_id;
    let mut report = LaunchReport {
        instance_id: None,
        instance_type: l.instance_type.clone(),
        result: LaunchResult::Error,
        state: None,
        state_reason_code: None,
        state_reason_message: None,
        seconds_to_running: None,
        terminated: false,
        error: None,
    };
    if run.cancelled() {
        report.result = LaunchResult::Interrupted;
        return report;
    }
    let req = LaunchRequest {
        image_id: image_id.to_string(),
        instance_type: l.instance_type.clone(),
        subnet_id: l.subnet_id.clone(),
        tags: vec![
            (TAG_RUN_ID.to_string(), plan.run_id.clone()),
            (TAG_PURPOSE.to_string(), "test-launch".to_string()),
            ("Name".to_string(), format!("amishare test of {image_id}")),
        ],
        client_token: format!("{}-{}", plan.run_id, l.step_id),
    };
    let started = Instant::now();
    let instance_id = match runner.run_instance(&req).await {
        Ok(id) => id,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    report.instance_id = Some(instance_id.clone());
    let (account, region) = (conn.writer.account(), conn.writer.region());
    run.recorded(
        &format!("test instance {instance_id}"),
        run.journal
            .instance_launched(&instance_id, account, region)
            .and_then(|()| run.journal.created(l.step_id, &instance_id)),
    );
    let timeout = Duration::from_secs(plan.options.launch_timeout_secs);
    wait_running(run, conn, &instance_id, started, timeout, &mut report).await;
    terminate(run, conn, &instance_id, &mut report).await;
    report
}

/// Poll the instance until it runs, fails, times out or Ctrl-C; the outcome goes into `report`.
async fn wait_running<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    instance_id: &str,
    started: Instant,
    timeout: Duration,
    report: &mut LaunchReport,
) {
    let (account, region) = (conn.writer.account(), conn.writer.region());
    let emit = |state: &str| {
        run.ctx.events.emit(Event::LaunchState {
            account: account.to_string(),
            region: region.to_string(),
            instance_id: instance_id.to_string(),
            state: state.to_string(),
        })
    };
    emit(InstanceState::Pending.as_str());
    let mut delay = run.ctx.timing.instance_poll_start;
    let mut rx = run.ctx.cancel.clone();
    let mut last_state = InstanceState::Pending;
    let mut transient_errors = 0;
    loop {
        // RunInstances has just answered `pending`: every look comes after a pause.
        if !sleep_or_cancel(delay, &mut rx).await {
            report.result = LaunchResult::Interrupted;
            return;
        }
        delay = next_delay(delay, run.ctx.timing.instance_poll_max);
        let Some(read) = or_cancel(conn.writer.instance_status(instance_id), &mut rx).await else {
            report.result = LaunchResult::Interrupted;
            return;
        };
        match read {
            Ok(s) => {
                transient_errors = 0;
                let state = s
                    .state
                    .clone()
                    .unwrap_or_else(|| InstanceState::Other("unknown".into()));
                if state != last_state {
                    emit(state.as_str());
                    last_state = state.clone();
                }
                report.state = Some(state.clone());
                report.state_reason_code = s.reason_code.clone();
                report.state_reason_message = s.reason_message.clone();
                match state {
                    InstanceState::Running => {
                        report.result = LaunchResult::Running;
                        report.seconds_to_running =
                            Some((started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
                        return;
                    }
                    InstanceState::Pending => {}
                    _ => {
                        report.result = LaunchResult::Failed;
                        return;
                    }
                }
            }
            Err(e) if transient(&e) && transient_errors < MAX_TRANSIENT_POLLS => {
                transient_errors += 1;
            }
            Err(e) => {
                report.error = Some(e.to_string());
                report.result = LaunchResult::Error;
                return;
            }
        }
        if started.elapsed() > timeout {
            report.result = LaunchResult::Timeout;
            return;
        }
    }
}

/// Always terminate, whatever happened before (a Ctrl-C included). An instance AWS already
/// shows terminated (a failed launch) is confirmed as it is: terminating it again would replace
/// its StateReason, which the diagnosis reads.
async fn terminate<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    instance_id: &str,
    report: &mut LaunchReport,
) {
    let confirmed = if report.state == Some(InstanceState::Terminated) {
        Ok(())
    } else {
        terminate_and_confirm(&conn.writer, instance_id, run.ctx.timing).await
    };
    match confirmed {
        Ok(()) => {
            report.terminated = true;
            run.recorded(
                &format!("that test instance {instance_id} is terminated"),
                run.journal.instance_terminated(instance_id),
            );
            run.ctx.events.emit(Event::LaunchState {
                account: conn.writer.account().to_string(),
                region: conn.writer.region().to_string(),
                instance_id: instance_id.to_string(),
                state: InstanceState::Terminated.to_string(),
            });
        }
        Err(e) => {
            report.error = Some(match report.error.take() {
                Some(prev) => format!("{prev}; {e}"),
                None => e,
            });
        }
    }
}

/// Tag the copy `amishare:test-launch = passed`, so a rerun need not launch it again.
pub async fn tag_tested<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    image: &str,
) {
    let tag = [(TAG_TEST_LAUNCH.to_string(), "passed".to_string())];
    if let Err(e) = conn.writer.tag(image, &tag).await {
        run.warn(format!(
            "{image} launched but could not be tagged as tested ({e}): a rerun tests it again"
        ));
    }
}
