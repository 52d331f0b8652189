//! Issue 12's robustness over the in-memory fakes: the throttling gate never stalls a run, and
//! a batched share that one bad account makes AWS refuse fails only that account's steps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};

use amishare::workflow::copy::{apply, Apply, Report};
use amishare::workflow::events::CollectEvents;
use amishare::workflow::journal::{Journal, MemoryJournalStore};
use amishare::workflow::plan::Plan;
use amishare::workflow::throttle::{Counts, ThrottleSignal};

use super::workflow_fakes::{cloud, fast, options, plan, world, FakeWorld, KEY, T1, T2};

/// A signal that reports a throttling error past the SDK's retries every time it is read: the
/// gate halves its limit at every finished operation, down to its minimum.
#[derive(Default)]
struct AlwaysThrottled(AtomicU64);

impl ThrottleSignal for AlwaysThrottled {
    fn totals(&self) -> Counts {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Counts {
            calls: n,
            throttled: n,
            surfaced: n,
        }
    }
}

async fn run_with(
    world: &FakeWorld,
    store: &MemoryJournalStore,
    plan: &Plan,
    max_concurrency: usize,
    throttle: &dyn ThrottleSignal,
) -> Report {
    let (_tx, cancel) = tokio::sync::watch::channel(false);
    let events = CollectEvents::default();
    let ctx = Apply {
        world,
        store,
        events: &events,
        cancel,
        timing: fast(),
        max_concurrency,
        throttle,
    };
    apply(&ctx, plan, Journal::new(plan.clone())).await.unwrap()
}

/// Hard throttling lowers the fan-out, it never fails or stalls a run: every target ends ok,
/// with the gate down to one operation at a time as well as at its default.
#[tokio::test]
async fn hard_throttling_lowers_the_fan_out_and_every_target_still_ends_ok() {
    for max in [1, 64] {
        let cloud = cloud(KEY);
        let w = world(&cloud, &[T1, T2]);
        let plan = plan(&w, &options(&[T1, T2]), "run-1").await;
        let store = MemoryJournalStore::default();
        let signal = AlwaysThrottled::default();
        let report = run_with(&w, &store, &plan, max, &signal).await;
        assert_eq!(report.status, "ok", "max {max}: {report:#?}");
        assert_eq!(report.targets.len(), 2);
        assert!(report.targets.iter().all(|t| t.status == "ok"));
        assert!(
            signal.0.load(Ordering::SeqCst) > 2,
            "the gate read the signal at every finished operation"
        );
    }
}
