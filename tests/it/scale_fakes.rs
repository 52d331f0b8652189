//! Issue 12's robustness over the in-memory fakes: the throttling gate never stalls a run, and
//! a batched share that one bad account makes AWS refuse fails only that account's steps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};

use amishare::workflow::copy::{apply, Apply, Report};
use amishare::workflow::events::CollectEvents;
use amishare::workflow::journal::{Journal, JournalStore, MemoryJournalStore, StepState};
use amishare::workflow::plan::{Action, Plan};
use amishare::workflow::throttle::{Counts, NoSignal, ThrottleSignal};

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
        contention: amishare::workflow::contention::Contention::seeded(1),
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

fn share_steps(plan: &Plan, account: &str) -> Vec<String> {
    plan.steps
        .iter()
        .filter(|s| {
            matches!(
                &s.action,
                Action::AddLaunchPermission { account: a, .. }
                    | Action::AddCreateVolumePermission { account: a, .. } if a == account
            )
        })
        .map(|s| s.id.clone())
        .collect()
}

/// AWS refuses the whole ModifyImageAttribute when one account is bad (an unknown account:
/// InvalidAMIAttributeItemValue): amishare shares with each account alone, so only the bad
/// account's step fails, its other shares and its copy are not attempted, and the other
/// account goes on to its copy and test launch. Each step is begun and finished once.
#[tokio::test]
async fn a_share_refused_for_one_account_fails_only_that_account() {
    let cloud = cloud(KEY);
    let w = world(&cloud, &[T1, T2]);
    let plan = plan(&w, &options(&[T1, T2]), "run-1").await;
    cloud.fail_for("ModifyImageAttribute", T1, "InvalidAMIAttributeItemValue");
    let store = MemoryJournalStore::default();
    let report = run_with(&w, &store, &plan, 64, &NoSignal).await;

    assert_eq!(report.status, "failed");
    let t1 = report.targets.iter().find(|t| t.account == T1).unwrap();
    let t2 = report.targets.iter().find(|t| t.account == T2).unwrap();
    assert_eq!(t1.status, "failed", "{t1:#?}");
    let why = t1.error.as_deref().unwrap();
    assert!(
        why.contains("sharing with the account failed")
            && why.contains("InvalidAMIAttributeItemValue"),
        "{why}"
    );
    assert_eq!(t2.status, "ok", "{t2:#?}");
    assert_eq!(t2.test_launch.as_ref().unwrap().result, "running");

    let journal = store.load("run-1").unwrap();
    let t1_shares = share_steps(&plan, T1);
    let t2_shares = share_steps(&plan, T2);
    assert_eq!(t1_shares.len(), 2, "an image and a snapshot share each");
    let state = |id: &str| journal.entry(id).map(|e| e.state);
    assert_eq!(state(&t1_shares[0]), Some(StepState::Failed));
    assert_eq!(
        state(&t1_shares[1]),
        None,
        "T1's snapshot share not attempted"
    );
    assert!(t2_shares
        .iter()
        .all(|id| state(id) == Some(StepState::Done)));
    for id in t1_shares.iter().chain(&t2_shares) {
        let n = report.changes.iter().filter(|c| &c.step == id).count();
        assert!(n <= 1, "step {id} recorded {n} times");
    }
    let muts = cloud.mutations();
    assert!(
        !muts
            .iter()
            .any(|m| m.starts_with("CopyImage") && m.contains(T1)),
        "{muts:?}"
    );
    assert!(
        muts.iter()
            .any(|m| m.starts_with("ModifyImageAttribute") && m.contains(T2)),
        "{muts:?}"
    );
}

/// When every account of the batch is refused, the failure is not one account's: the run
/// stops before any target, as for any failed source step.
#[tokio::test]
async fn a_share_refused_for_every_account_stops_the_run() {
    let cloud = cloud(KEY);
    let w = world(&cloud, &[T1, T2]);
    let plan = plan(&w, &options(&[T1, T2]), "run-1").await;
    for t in [T1, T2] {
        cloud.fail_for("ModifyImageAttribute", t, "InvalidAMIAttributeItemValue");
    }
    let store = MemoryJournalStore::default();
    let report = run_with(&w, &store, &plan, 64, &NoSignal).await;
    assert_eq!(report.status, "failed");
    assert!(report
        .targets
        .iter()
        .all(|t| t.error.as_deref() == Some("not attempted: a source-account step failed")));
    assert!(!cloud.mutations().iter().any(|m| m.starts_with("CopyImage")));
}
