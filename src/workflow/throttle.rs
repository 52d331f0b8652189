//! Adaptive concurrency under throttling (issue 12): how many operations (steps of the target
//! account/region units) run at once, lowered when AWS throttles hard and raised back when it
//! stops, on top of the SDK's per-call retries.
//!
//! The arithmetic is [`Aimd`] (additive increase, multiplicative decrease, as TCP's congestion
//! control), pure and unit-tested. It judges windows of [`Counts`] read from a [`ThrottleSignal`]
//! (a port: the AWS layer counts attempts and throttling answers; the workflow never sees the
//! SDK), and [`Gate`] admits operations while fewer than the current limit are in flight.
//!
//! What counts as "throttled hard": a throttling error the SDK's retries did not absorb (it
//! reached amishare), or more than half the attempts of a window of at least
//! [`MIN_WINDOW_CALLS`] throttled. Any other judged window raises the limit by one: a steady
//! share of throttled attempts below that is what a busy account looks like whatever amishare
//! does (AWS throttles per account and region, and other workloads share the bucket); the SDK's
//! backoff absorbs it, and a smaller fan-out would only make the run slower. Throttling that
//! grows with amishare's own rate crosses the threshold and halves the fan-out until it stops.
//! The window is large enough that chance alone does not cross it: with 30 % of the attempts
//! throttled at random (the bench's fault injection), more than half of 50 happens about once
//! in a thousand windows (once in 60 for a window of 20).

use std::sync::Mutex;

use tokio::sync::Notify;

/// Attempts and throttling answers counted so far (monotonic totals) or within a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Attempts sent (retries included).
    pub calls: u64,
    /// Attempts answered with a throttling error (retried by the SDK or not).
    pub throttled: u64,
    /// Throttling errors that reached amishare (the SDK's retries gave up).
    pub surfaced: u64,
}

impl Counts {
    /// What happened since `earlier` (totals are monotonic; saturating all the same).
    #[must_use]
    pub fn since(self, earlier: Counts) -> Counts {
        Counts {
            calls: self.calls.saturating_sub(earlier.calls),
            throttled: self.throttled.saturating_sub(earlier.throttled),
            surfaced: self.surfaced.saturating_sub(earlier.surfaced),
        }
    }
}

/// Where the throttling counts come from (the AWS layer's call counter; zeros in tests).
pub trait ThrottleSignal: Send + Sync {
    /// The totals so far.
    fn totals(&self) -> Counts;
}

/// No signal: the limit stays where it starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSignal;

impl ThrottleSignal for NoSignal {
    fn totals(&self) -> Counts {
        Counts::default()
    }
}

/// A window smaller than this is not judged by its ratio (a few unlucky attempts say nothing);
/// a surfaced throttling error is judged at once.
pub const MIN_WINDOW_CALLS: u64 = 50;

/// What [`Aimd::observe`] made of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Too few calls to judge: keep accumulating the window.
    Undecided,
    /// Throttled hard: the limit was halved (not below the minimum).
    Decreased,
    /// Not throttled hard: the limit grew by one (not above the maximum).
    Increased,
}

/// Additive-increase / multiplicative-decrease limit between `min` and `max`.
#[derive(Debug, Clone, PartialEq)]
pub struct Aimd {
    limit: f64,
    min: f64,
    max: f64,
}

impl Aimd {
    /// Starts at `max` (at least 1); never goes below `min` (at least 1, at most `max`).
    #[must_use]
    pub fn new(min: usize, max: usize) -> Self {
        let max = max.max(1) as f64;
        Self {
            limit: max,
            min: (min.max(1) as f64).min(max),
            max,
        }
    }

    /// How many operations may be in flight now.
    #[must_use]
    pub fn limit(&self) -> usize {
        // limit is finite and within [1, max]: the cast cannot truncate a meaningful value
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = self.limit.floor() as usize;
        n.max(1)
    }

    /// Judge a window (counts since the last judged one).
    pub fn observe(&mut self, w: Counts) -> Verdict {
        if w.surfaced > 0 || (w.calls >= MIN_WINDOW_CALLS && w.throttled * 2 > w.calls) {
            self.limit = (self.limit / 2.0).max(self.min);
            return Verdict::Decreased;
        }
        if w.calls == 0 || (w.calls < MIN_WINDOW_CALLS && w.throttled > 0) {
            return Verdict::Undecided;
        }
        self.limit = (self.limit + 1.0).min(self.max);
        Verdict::Increased
    }
}

struct GateState {
    aimd: Aimd,
    in_flight: usize,
    /// The totals when the last window was judged.
    mark: Counts,
}

/// Admits operations while fewer than the [`Aimd`] limit are in flight; every finished
/// operation judges the window since the last judged one.
pub struct Gate<'a> {
    state: Mutex<GateState>,
    notify: Notify,
    signal: &'a dyn ThrottleSignal,
}

/// One admitted operation; dropping it lets the next one in.
pub struct Permit<'g, 'a> {
    gate: &'g Gate<'a>,
}

impl<'a> Gate<'a> {
    /// A gate between `min` and `max` operations in flight (starting at `max`).
    pub fn new(min: usize, max: usize, signal: &'a dyn ThrottleSignal) -> Self {
        Self {
            state: Mutex::new(GateState {
                aimd: Aimd::new(min, max),
                in_flight: 0,
                mark: signal.totals(),
            }),
            notify: Notify::new(),
            signal,
        }
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.state.lock().map_or(1, |s| s.aimd.limit())
    }

    /// Wait until fewer operations than the limit are in flight, then take a place.
    pub async fn acquire(&self) -> Permit<'_, 'a> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check: a release between the check and the await wakes it.
            notified.as_mut().enable();
            if let Ok(mut s) = self.state.lock() {
                if s.in_flight < s.aimd.limit() {
                    s.in_flight += 1;
                    return Permit { gate: self };
                }
            } else {
                // A poisoned lock (a panic elsewhere): do not block the run on it.
                return Permit { gate: self };
            }
            notified.await;
        }
    }

    fn release(&self) {
        let now = self.signal.totals();
        if let Ok(mut s) = self.state.lock() {
            s.in_flight = s.in_flight.saturating_sub(1);
            let window = now.since(s.mark);
            if s.aimd.observe(window) != Verdict::Undecided {
                s.mark = now;
            }
        }
        self.notify.notify_waiters();
    }
}

impl Drop for Permit<'_, '_> {
    fn drop(&mut self) {
        self.gate.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn w(calls: u64, throttled: u64, surfaced: u64) -> Counts {
        Counts {
            calls,
            throttled,
            surfaced,
        }
    }

    #[test]
    fn halves_on_hard_throttling_and_grows_back_by_one() {
        let mut a = Aimd::new(2, 64);
        assert_eq!(a.limit(), 64);
        assert_eq!(a.observe(w(60, 31, 0)), Verdict::Decreased);
        assert_eq!(a.limit(), 32);
        assert_eq!(a.observe(w(1, 1, 1)), Verdict::Decreased);
        assert_eq!(a.limit(), 16);
        for _ in 0..10 {
            a.observe(w(50, 50, 0));
        }
        assert_eq!(a.limit(), 2, "never below the minimum");
        assert_eq!(a.observe(w(5, 0, 0)), Verdict::Increased);
        assert_eq!(a.limit(), 3);
        for _ in 0..100 {
            a.observe(w(5, 0, 0));
        }
        assert_eq!(a.limit(), 64, "never above the maximum");
    }

    #[test]
    fn a_steady_minority_of_throttled_attempts_raises_the_limit_again() {
        let mut a = Aimd::new(1, 64);
        a.observe(w(0, 0, 1));
        assert_eq!(a.limit(), 32);
        assert_eq!(a.observe(w(100, 30, 0)), Verdict::Increased);
        assert_eq!(
            a.observe(w(100, 50, 0)),
            Verdict::Increased,
            "half is not more than half"
        );
        assert_eq!(a.limit(), 34);
    }

    #[test]
    fn small_windows_with_throttling_are_not_judged() {
        let mut a = Aimd::new(1, 8);
        assert_eq!(a.observe(w(3, 3, 0)), Verdict::Undecided);
        assert_eq!(
            a.observe(w(49, 40, 0)),
            Verdict::Undecided,
            "49 attempts are too few"
        );
        assert_eq!(a.observe(w(0, 0, 0)), Verdict::Undecided);
        assert_eq!(a.limit(), 8);
    }

    #[test]
    fn bounds_are_sane() {
        assert_eq!(Aimd::new(0, 0).limit(), 1);
        let mut a = Aimd::new(10, 4);
        a.observe(w(0, 0, 1));
        assert_eq!(a.limit(), 4, "the minimum is at most the maximum");
    }

    #[test]
    fn since_is_the_window() {
        assert_eq!(w(10, 4, 1).since(w(7, 1, 1)), w(3, 3, 0));
        assert_eq!(w(1, 0, 0).since(w(7, 1, 1)), w(0, 0, 0));
    }

    struct Fake(AtomicU64, AtomicU64, AtomicU64);

    impl ThrottleSignal for Fake {
        fn totals(&self) -> Counts {
            w(
                self.0.load(Ordering::SeqCst),
                self.1.load(Ordering::SeqCst),
                self.2.load(Ordering::SeqCst),
            )
        }
    }

    /// The gate admits up to the limit, and a surfaced throttling error seen when an operation
    /// ends halves it: the next operation waits for a place.
    #[tokio::test]
    async fn gate_admits_up_to_the_limit_and_lowers_it() {
        let signal = Fake(AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
        let gate = Gate::new(1, 4, &signal);
        let mut held: Vec<_> = futures::future::join_all((0..4).map(|_| gate.acquire())).await;
        let fifth = gate.acquire();
        tokio::pin!(fifth);
        assert!(futures::poll!(fifth.as_mut()).is_pending(), "4 in flight");
        signal.2.store(1, Ordering::SeqCst);
        drop(held.pop());
        assert_eq!(gate.limit(), 2);
        assert!(
            futures::poll!(fifth.as_mut()).is_pending(),
            "3 in flight, limit 2"
        );
        drop(held.pop());
        assert!(futures::poll!(fifth.as_mut()).is_pending(), "2 in flight");
        drop(held.pop());
        let _fifth = fifth.await;
        let later = Gate::new(1, 4, &signal);
        let p = later.acquire().await;
        drop(p);
        assert_eq!(
            later.limit(),
            4,
            "totals before the gate existed are not held against it"
        );
    }

    #[tokio::test]
    async fn a_released_place_wakes_a_waiter() {
        let gate = Gate::new(1, 1, &NoSignal);
        let first = gate.acquire().await;
        let second = gate.acquire();
        tokio::pin!(second);
        assert!(futures::poll!(second.as_mut()).is_pending());
        drop(first);
        let _second = second.await;
    }
}
