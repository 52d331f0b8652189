//! The test launch as Auto Scaling's service-linked role (issue 11): a temporary launch template
//! and an Auto Scaling group of one instance (min = max = desired = 1), both named
//! `amishare-test-RUN-STEP`; wait for an instance InService or a `Failed` scaling activity (its
//! StatusMessage is the cause); then ALWAYS delete the group (ForceDelete), confirm its instances
//! are terminated, and delete the template, also on error, timeout and Ctrl-C. The name is in
//! the journal before anything is created, so an interrupted run's resume and `amishare
//! rollback` delete whatever is left ([`delete_group_and_template`]).
//!
//! AWS: Auto Scaling user guide "Verify a scaling activity" and "Required AWS KMS key policy for
//! use with encrypted volumes"; API reference "DescribeScalingActivities", "DeleteAutoScalingGroup".

use std::time::{Duration, Instant};

use super::Run;
use crate::workflow::copy::report::{LauncherReport, LauncherResult};
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::JournalStore;
use crate::workflow::plan::{LaunchHow, Plan};
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::{GroupLaunchRequest, Writer, TAG_PURPOSE, TAG_RUN_ID};
use crate::workflow::waiters::{
    next_delay, or_cancel, sleep_or_cancel, terminate_and_confirm, transient, Timing,
    MAX_TRANSIENT_POLLS,
};
use crate::workflow::world::Conn;

/// The name of a step's temporary group and launch template.
pub fn group_name(run_id: &str, step_id: &str) -> String {
    format!("amishare-test-{run_id}-{step_id}")
}

/// What the group's test launch is.
pub struct GroupLaunch<'a> {
    pub step_id: &'a str,
    pub launcher: &'a str,
    pub image_id: &'a str,
    pub instance_type: String,
    pub subnet_id: Option<String>,
}

/// Launch `g.image_id` through a temporary group; the outcome as the launcher's report row.
pub async fn group_launch<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    plan: &Plan,
    g: &GroupLaunch<'_>,
) -> LauncherReport {
    let mut row = LauncherReport::new(
        g.launcher,
        LaunchHow::AutoScalingGroup,
        LauncherResult::Error,
    );
    if run.cancelled() {
        row.result = LauncherResult::Interrupted;
        return row;
    }
    let name = group_name(&plan.run_id, g.step_id);
    row.group = Some(name.clone());
    let (account, region) = (conn.writer.account(), conn.writer.region());
    // Before any call: an interrupted run knows what to delete.
    run.recorded(
        &format!("test group and launch template {name}"),
        run.journal
            .group_created(&name, account, region)
            .and_then(|()| run.journal.created(g.step_id, &name)),
    );
    let req = GroupLaunchRequest {
        name: name.clone(),
        image_id: g.image_id.to_string(),
        instance_type: g.instance_type.clone(),
        subnet_id: g.subnet_id.clone(),
        tags: vec![
            (TAG_RUN_ID.to_string(), plan.run_id.clone()),
            (TAG_PURPOSE.to_string(), "test-launch".to_string()),
            (
                "Name".to_string(),
                format!("amishare test of {}", g.image_id),
            ),
        ],
    };
    let created = match conn.writer.create_launch_template(&req).await {
        Ok(_) => conn.writer.create_test_group(&req).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(()) => {
            emit(run, conn, &name, "created");
            let timeout = Duration::from_secs(plan.options.launch_timeout_secs);
            wait_in_service(run, conn, &name, timeout, &mut row).await;
        }
        Err(e) => row.reason = Some(e.to_string()),
    }
    match delete_group_and_template(&conn.writer, &name, run.ctx.timing).await {
        Ok(()) => {
            row.cleaned_up = true;
            run.recorded(
                &format!("that test group {name} is deleted"),
                run.journal.group_deleted(&name),
            );
            emit(run, conn, &name, "deleted");
        }
        Err(e) => {
            row.reason = Some(match row.reason.take() {
                Some(prev) => format!("{prev}; {e}"),
                None => e,
            });
        }
    }
    row
}

fn emit<R, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    name: &str,
    state: &str,
) {
    run.ctx.events.emit(Event::Note {
        message: format!(
            "{}/{}: test group {name} {state}",
            conn.writer.account(),
            conn.writer.region()
        ),
    });
}

/// Poll the group until an instance is InService, an activity failed, the timeout or Ctrl-C.
async fn wait_in_service<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    name: &str,
    timeout: Duration,
    row: &mut LauncherReport,
) {
    let started = Instant::now();
    let mut delay = run.ctx.timing.poll_start;
    let mut rx = run.ctx.cancel.clone();
    let mut transient_errors = 0;
    loop {
        if !sleep_or_cancel(delay, &mut rx).await {
            row.result = LauncherResult::Interrupted;
            row.reason = Some(format!("interrupted while waiting for test group {name}"));
            return;
        }
        delay = next_delay(delay, run.ctx.timing.poll_max);
        let Some(read) = or_cancel(conn.writer.test_group_status(name), &mut rx).await else {
            row.result = LauncherResult::Interrupted;
            row.reason = Some(format!("interrupted while waiting for test group {name}"));
            return;
        };
        match read {
            Ok(s) => {
                transient_errors = 0;
                if let Some(message) = s.failed_activity {
                    row.result = LauncherResult::Failed;
                    row.reason = Some(message);
                    return;
                }
                if s.in_service && s.activities_done {
                    row.result = LauncherResult::Passed;
                    return;
                }
                if !s.exists {
                    row.result = LauncherResult::Error;
                    row.reason = Some(format!("test group {name} disappeared"));
                    return;
                }
            }
            Err(e) if transient(&e) && transient_errors < MAX_TRANSIENT_POLLS => {
                transient_errors += 1;
            }
            Err(e) => {
                row.result = LauncherResult::Error;
                row.reason = Some(e.to_string());
                return;
            }
        }
        if started.elapsed() > timeout {
            row.result = LauncherResult::Timeout;
            row.reason = Some(format!(
                "no instance of test group {name} InService after {} s",
                timeout.as_secs()
            ));
            return;
        }
    }
}

/// Delete a test group (ForceDelete), wait until it is gone, confirm its instances are
/// terminated, then delete its launch template. Every part runs even when an earlier one failed;
/// the failures are collected into one message. Also used by resume and rollback.
pub async fn delete_group_and_template<W: Writer>(
    w: &W,
    name: &str,
    timing: Timing,
) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut instances = w
        .test_group_instances(name)
        .await
        .map(|s| s.instance_ids)
        .unwrap_or_default();
    if let Err(e) = w.delete_test_group(name).await {
        errors.push(format!("cannot delete test group {name}: {e}"));
    }
    let started = Instant::now();
    let mut delay = timing.poll_start;
    loop {
        match w.test_group_instances(name).await {
            Ok(s) if !s.exists => break,
            Ok(s) => {
                for id in s.instance_ids {
                    if !instances.contains(&id) {
                        instances.push(id);
                    }
                }
            }
            Err(e) if transient(&e) => {}
            Err(e) => {
                errors.push(format!("cannot confirm test group {name} is deleted: {e}"));
                break;
            }
        }
        if started.elapsed() > timing.terminate_timeout {
            errors.push(format!(
                "test group {name} still exists after {} s",
                timing.terminate_timeout.as_secs()
            ));
            break;
        }
        tokio::time::sleep(delay).await;
        delay = next_delay(delay, timing.poll_max);
    }
    for id in &instances {
        if let Err(e) = terminate_and_confirm(w, id, timing).await {
            errors.push(e);
        }
    }
    if let Err(e) = w.delete_launch_template(name).await {
        errors.push(format!("cannot delete launch template {name}: {e}"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}
