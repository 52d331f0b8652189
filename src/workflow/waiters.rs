//! Waiting on AWS: the poll schedule ([`Timing`], backoff), cancellation (Ctrl-C), which errors
//! are worth polling again for, waiting for an image copy, and terminate-and-confirm. Shared by
//! the copy workflow and rollback.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::ports::AwsError;
use super::ports_write::{ImageStatus, Writer};
use crate::domain::states::{ImageState, InstanceState};

/// Timing of the waiters: AWS's pace by default (an AMI copy takes minutes, an instance tens of
/// seconds), every delay multiplied by [`POLL_SCALE_VAR`] when it is set (tests against the
/// local emulator, whose copies take a second or two).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Image copies (and a pending source AMI): the first poll delay, and the most it grows to.
    pub poll_start: Duration,
    pub poll_max: Duration,
    pub copy_timeout: Duration,
    pub terminate_timeout: Duration,
    /// Test instances (launch and termination): the first poll delay, and the most it grows to.
    pub instance_poll_start: Duration,
    pub instance_poll_max: Duration,
}

/// The environment variable that scales every poll delay (a positive number; e.g. `0.05` turns
/// the copies' 5 s into 250 ms). Not a flag: it is for tests, not for people.
pub const POLL_SCALE_VAR: &str = "AMISHARE_POLL_SCALE";

impl Default for Timing {
    fn default() -> Self {
        let aws = Self {
            poll_start: Duration::from_secs(5),
            poll_max: Duration::from_secs(15),
            copy_timeout: Duration::from_secs(3 * 3600),
            terminate_timeout: Duration::from_secs(300),
            instance_poll_start: Duration::from_secs(2),
            instance_poll_max: Duration::from_secs(5),
        };
        match std::env::var(POLL_SCALE_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            Some(f) if f.is_finite() && f > 0.0 => aws.scaled(f),
            _ => aws,
        }
    }
}

impl Timing {
    /// Every poll delay multiplied by `factor` (timeouts unchanged).
    #[must_use]
    pub fn scaled(self, factor: f64) -> Self {
        Self {
            poll_start: self.poll_start.mul_f64(factor),
            poll_max: self.poll_max.mul_f64(factor),
            instance_poll_start: self.instance_poll_start.mul_f64(factor),
            instance_poll_max: self.instance_poll_max.mul_f64(factor),
            ..self
        }
    }
}

/// Has Ctrl-C been pressed?
pub fn cancelled(rx: &watch::Receiver<bool>) -> bool {
    *rx.borrow()
}

/// Sleep `d`, or return `false` early when cancelled.
pub async fn sleep_or_cancel(d: Duration, rx: &mut watch::Receiver<bool>) -> bool {
    if cancelled(rx) {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => !cancelled(rx),
        changed = rx.changed() => match changed {
            Ok(()) => !cancelled(rx),
            // the sender is gone: nobody can cancel any more; finish the sleep
            Err(_) => { tokio::time::sleep(d).await; true }
        },
    }
}

/// Await a READ-ONLY call (a poll), or give up on it as soon as Ctrl-C is pressed (`None`): the
/// SDK retries a throttled call for minutes (adaptive mode, 10 attempts, backoff up to 20 s), and
/// a cancelled run must get on with its clean-up at once. Dropping the call is safe because it
/// changes nothing.
pub async fn or_cancel<T>(
    call: impl std::future::Future<Output = T>,
    rx: &mut watch::Receiver<bool>,
) -> Option<T> {
    if cancelled(rx) {
        return None;
    }
    tokio::pin!(call);
    loop {
        tokio::select! {
            out = &mut call => return Some(out),
            changed = rx.changed() => match changed {
                Ok(()) if cancelled(rx) => return None,
                Ok(()) => {}
                // the sender is gone: nobody can cancel any more
                Err(_) => return Some(call.await),
            },
        }
    }
}

/// An error worth polling again for (after the SDK's own retries): throttling or a 5xx.
pub fn transient(e: &AwsError) -> bool {
    let code = e.code.as_deref().unwrap_or("");
    code.contains("Throttl")
        || code == "RequestLimitExceeded"
        || code.ends_with("InternalError")
        || code.contains("ServiceUnavailable")
        || code.contains("Unavailable")
        || e.http_status.is_some_and(|s| s >= 500)
}

/// Polls in a row that may fail transiently before a waiter gives up.
pub const MAX_TRANSIENT_POLLS: u32 = 8;

/// The next poll delay: 1.5 times the last, at most `max`.
pub fn next_delay(d: Duration, max: Duration) -> Duration {
    std::cmp::min(d.mul_f64(1.5), max)
}

/// Why waiting for an image ended without it being available.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageWaitError {
    /// Ctrl-C.
    Interrupted,
    /// AWS no longer knows the image.
    Gone,
    /// The image reached a state other than `available` (e.g. `failed`).
    Failed {
        state: ImageState,
        reason: Option<String>,
    },
    /// Still in `state` after the copy timeout.
    Timeout { state: ImageState, secs: u64 },
    /// A call failed (not transiently, or too often in a row).
    Aws(AwsError),
}

/// Poll an image until it is `available` (Ok) or anything else final (Err), calling `seen` with
/// every status read (for progress). Transient errors are polled through, up to
/// [`MAX_TRANSIENT_POLLS`] in a row.
pub async fn wait_for_image<W: Writer>(
    writer: &W,
    image_id: &str,
    timing: Timing,
    cancel: &watch::Receiver<bool>,
    mut seen: impl FnMut(&ImageStatus, &ImageState),
) -> Result<(), ImageWaitError> {
    let started = Instant::now();
    let mut delay = timing.poll_start;
    let mut rx = cancel.clone();
    let mut transient_errors = 0;
    loop {
        let Some(read) = or_cancel(writer.image_status(image_id), &mut rx).await else {
            return Err(ImageWaitError::Interrupted);
        };
        let status = match read {
            Ok(s) => {
                transient_errors = 0;
                s
            }
            Err(e) if transient(&e) && transient_errors < MAX_TRANSIENT_POLLS => {
                transient_errors += 1;
                if !sleep_or_cancel(delay, &mut rx).await {
                    return Err(ImageWaitError::Interrupted);
                }
                delay = next_delay(delay, timing.poll_max);
                continue;
            }
            Err(e) => return Err(ImageWaitError::Aws(e)),
        };
        let Some(status) = status else {
            return Err(ImageWaitError::Gone);
        };
        let state = status.state.clone().unwrap_or_else(unknown_image_state);
        seen(&status, &state);
        match &status.state {
            Some(ImageState::Available) => return Ok(()),
            Some(ImageState::Pending | ImageState::Transient) | None => {}
            Some(_) => {
                return Err(ImageWaitError::Failed {
                    state,
                    reason: status.state_reason,
                })
            }
        }
        if started.elapsed() > timing.copy_timeout {
            return Err(ImageWaitError::Timeout {
                state,
                secs: timing.copy_timeout.as_secs(),
            });
        }
        if !sleep_or_cancel(delay, &mut rx).await {
            return Err(ImageWaitError::Interrupted);
        }
        delay = next_delay(delay, timing.poll_max);
    }
}

/// What an image without a state (AWS did not say) is reported as.
pub fn unknown_image_state() -> ImageState {
    ImageState::Other("unknown".into())
}

/// Terminate an instance and wait until AWS says it is terminated (or gone).
pub async fn terminate_and_confirm<W: Writer>(
    w: &W,
    instance_id: &str,
    timing: Timing,
) -> Result<(), String> {
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        match w.terminate_instance(instance_id).await {
            Ok(()) => break,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => {
                attempts += 1;
                if attempts >= 5 || started.elapsed() > timing.terminate_timeout {
                    return Err(format!("cannot terminate {instance_id}: {e}"));
                }
                tokio::time::sleep(timing.instance_poll_start * attempts).await;
            }
        }
    }
    // TerminateInstances has just answered (`shutting-down`): look again only after a pause.
    let mut delay = timing.instance_poll_start;
    loop {
        tokio::time::sleep(delay).await;
        delay = next_delay(delay, timing.instance_poll_max);
        match w.instance_status(instance_id).await {
            Ok(s) => match s.state {
                Some(InstanceState::Terminated) | None => return Ok(()),
                _ => {}
            },
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => {
                if started.elapsed() > timing.terminate_timeout {
                    return Err(format!("cannot confirm termination of {instance_id}: {e}"));
                }
            }
        }
        if started.elapsed() > timing.terminate_timeout {
            return Err(format!(
                "{instance_id} not terminated after {} s",
                timing.terminate_timeout.as_secs()
            ));
        }
    }
}

#[cfg(test)]
mod timing_tests {
    use super::*;

    #[test]
    fn aws_pace_scaled() {
        let t = Timing {
            poll_start: Duration::from_secs(5),
            poll_max: Duration::from_secs(15),
            copy_timeout: Duration::from_secs(60),
            terminate_timeout: Duration::from_secs(30),
            instance_poll_start: Duration::from_secs(2),
            instance_poll_max: Duration::from_secs(5),
        }
        .scaled(0.1);
        assert_eq!(t.poll_start, Duration::from_millis(500));
        assert_eq!(t.poll_max, Duration::from_millis(1500));
        assert_eq!(t.instance_poll_start, Duration::from_millis(200));
        assert_eq!(t.instance_poll_max, Duration::from_millis(500));
        assert_eq!(t.copy_timeout, Duration::from_secs(60));
    }
}
