//! The copy's lifecycle steps, after its test launch: deprecation, deregistration protection and
//! the SSM parameter publishing its id. Each reads what it is about to replace and records it in
//! the journal entry's `before` (a [`LifecycleBefore`]) BEFORE changing anything, then makes the
//! change and reads it back: rollback restores exactly what was there.
//!
//! SSM validates `aws:ec2:image` values after PutParameter has answered (SSM API reference,
//! PutParameter `DataType`): the parameter is read back until it holds the copy's id, a bounded
//! number of times; a refused value fails the step with the likely cause.
//!
//! `--copy-duration` also bounds the copy's wait ([`copy_wait_timing`]): AWS completes a
//! time-based copy within the duration, and amishare waits that long plus a margin.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::{StepError, StepResult};
use super::Run;
use crate::workflow::copy::report::ChangeRecord;
use crate::workflow::events::Events;
use crate::workflow::journal::JournalStore;
use crate::workflow::plan::{
    Action, LifecycleBefore, ParameterValue, Step, PROTECTION_COOLDOWN_HOURS, SSM_IMAGE_DATA_TYPE,
};
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::{ImageLifecycle, Writer};
use crate::workflow::waiters::{next_delay, sleep_or_cancel, Timing};
use crate::workflow::world::Conn;

/// What amishare waits for a time-based copy beyond its completion duration (the AMI is
/// registered after its snapshots are copied).
pub const COPY_DURATION_MARGIN: Duration = Duration::from_secs(15 * 60);

/// How many times a published parameter is read back before the step gives up.
pub const PARAMETER_READS: u32 = 10;

/// The copy wait's bound: with `--copy-duration MINUTES`, MINUTES plus
/// [`COPY_DURATION_MARGIN`]; otherwise `timing`'s.
pub fn copy_wait_timing(timing: Timing, completion_minutes: Option<u32>) -> Timing {
    match completion_minutes {
        Some(m) => Timing {
            copy_timeout: Duration::from_secs(u64::from(m) * 60) + COPY_DURATION_MARGIN,
            ..timing
        },
        None => timing,
    }
}

/// Run one lifecycle step on `image` (the copy of the step's account and region).
pub async fn run_lifecycle<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    step: &Step,
    image: &str,
    rec: &mut ChangeRecord,
) -> StepResult {
    match &step.action {
        Action::DeprecateImage { days, .. } => {
            let at = deprecate_at(Utc::now(), *days);
            rec.summary = format!("{} (at {at})", step.action.summary());
            deprecate(run, conn, step, image, &at).await
        }
        Action::ProtectImage { with_cooldown, .. } => {
            protect(run, conn, step, image, *with_cooldown).await
        }
        Action::PublishImageId { name, .. } => publish(run, conn, step, image, name).await,
        _ => Err(StepError::Internal("not a lifecycle step".into())),
    }
}

/// `now + days`, to the minute (EC2 rounds DeprecateAt to the minute), RFC 3339 UTC.
pub fn deprecate_at(now: DateTime<Utc>, days: u32) -> String {
    let at = now + chrono::Duration::days(i64::from(days));
    at.format("%Y-%m-%dT%H:%M:00Z").to_string()
}

/// Record what the step is about to replace, before replacing it.
fn record_before<R, W, S: JournalStore + ?Sized, E: ?Sized>(
    run: &Run<'_, R, W, S, E>,
    step: &Step,
    before: &LifecycleBefore,
) -> StepResult<()> {
    let text = before.to_json();
    run.journal
        .update(|j| {
            if let Some(e) = j.entries.get_mut(&step.id) {
                e.before = Some(text);
            }
        })
        .map_err(|e| StepError::Journal(e.to_string()))
}

async fn current<W: Writer>(w: &W, image: &str) -> StepResult<ImageLifecycle> {
    w.image_lifecycle(image)
        .await?
        .ok_or_else(|| StepError::Gone(format!("copy {image} disappeared")))
}

async fn deprecate<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    step: &Step,
    image: &str,
    at: &str,
) -> StepResult {
    let w = &conn.writer;
    let now = current(w, image).await?;
    let before = LifecycleBefore {
        image_id: image.to_string(),
        deprecation_time: now.deprecation_time,
        ..LifecycleBefore::default()
    };
    record_before(run, step, &before)?;
    w.set_image_deprecation(image, Some(at)).await?;
    let back = current(w, image).await?;
    match back.deprecation_time.as_deref() {
        Some(t) if same_minute(t, at) => Ok(Some(t.to_string())),
        other => Err(StepError::Drift(format!(
            "{image}: deprecation time read back is {}, not {at}",
            other.unwrap_or("unset")
        ))),
    }
}

/// Two RFC 3339 times within the same minute (AWS answers with milliseconds).
fn same_minute(a: &str, b: &str) -> bool {
    match (
        DateTime::parse_from_rfc3339(a),
        DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(x), Ok(y)) => (x - y).num_seconds().abs() < 60,
        _ => a == b,
    }
}

async fn protect<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    step: &Step,
    image: &str,
    with_cooldown: bool,
) -> StepResult {
    let w = &conn.writer;
    let now = current(w, image).await?;
    let before = LifecycleBefore {
        image_id: image.to_string(),
        deregistration_protection: now.deregistration_protection,
        ..LifecycleBefore::default()
    };
    record_before(run, step, &before)?;
    w.set_deregistration_protection(image, true, with_cooldown)
        .await?;
    let back = current(w, image).await?;
    if !back.protected() {
        return Err(StepError::Drift(format!(
            "{image}: deregistration protection reads back as {}",
            back.deregistration_protection.as_deref().unwrap_or("unset")
        )));
    }
    Ok(back.deregistration_protection)
}

async fn publish<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    step: &Step,
    image: &str,
    name: &str,
) -> StepResult {
    let w = &conn.writer;
    let previous = w.get_parameter(name).await?;
    if let Some(p) = previous.as_ref().filter(|p| p.kind != "String") {
        return Err(StepError::Precondition(format!(
            "SSM parameter {name} exists as a {}; amishare publishes image ids only as String parameters (pick another `--ssm-parameter` name)",
            p.kind
        )));
    }
    let before = LifecycleBefore {
        image_id: image.to_string(),
        parameter: previous.map(|p| ParameterValue {
            value: p.value,
            data_type: p.data_type,
        }),
        ..LifecycleBefore::default()
    };
    record_before(run, step, &before)?;
    w.put_parameter(name, image, SSM_IMAGE_DATA_TYPE).await?;
    let mut delay = run.ctx.timing.poll_start;
    let mut rx = run.ctx.cancel.clone();
    for _ in 0..PARAMETER_READS {
        if let Some(p) = w.get_parameter(name).await? {
            if p.value == image && p.data_type == SSM_IMAGE_DATA_TYPE {
                return Ok(Some(format!("{name}={image} (version {})", p.version)));
            }
        }
        if !sleep_or_cancel(delay, &mut rx).await {
            return Err(StepError::Interrupted(format!(
                "interrupted while reading back SSM parameter {name}"
            )));
        }
        delay = next_delay(delay, run.ctx.timing.poll_max);
    }
    Err(StepError::Failed(format!(
        "SSM parameter {name} does not hold {image} after PutParameter: Parameter Store validates `{SSM_IMAGE_DATA_TYPE}` values after answering and dropped this one (is {image} available in {}/{}?)",
        step.account, step.region
    )))
}

/// What rollback says about a protection enabled with cooldown: AWS keeps the image protected
/// for 24 hours after it is disabled.
pub fn cooldown_note(image: &str, disabled_at: DateTime<Utc>) -> String {
    let until = disabled_at + chrono::Duration::hours(i64::from(PROTECTION_COOLDOWN_HOURS));
    format!(
        "{image} was protected with AWS's {PROTECTION_COOLDOWN_HOURS}-hour cooldown: disabling the protection takes effect at {}; until then it cannot be deregistered (run the rollback with `--delete-copies` again after that)",
        until.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deprecation_time_is_days_ahead_to_the_minute() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T00:35:42Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(deprecate_at(now, 30), "2027-01-01T00:35:00Z");
        assert!(same_minute(
            "2027-01-01T00:35:00.000Z",
            "2027-01-01T00:35:00Z"
        ));
        assert!(!same_minute("2027-01-01T00:37:00Z", "2027-01-01T00:35:00Z"));
    }

    #[test]
    fn copy_duration_sets_the_wait_bound() {
        let t = copy_wait_timing(Timing::default(), Some(60));
        assert_eq!(
            t.copy_timeout,
            Duration::from_secs(3600) + COPY_DURATION_MARGIN
        );
        assert_eq!(
            copy_wait_timing(Timing::default(), None).copy_timeout,
            Timing::default().copy_timeout
        );
    }
}
