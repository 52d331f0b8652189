//! Resuming an interrupted run: which journal a `copy` resumes (and so its run id and attempt),
//! whether the plan is applied at all (blocked, dry run, nothing to do). Once applying, the test
//! instances the earlier run left are terminated first (`apply::leftovers`).

use super::report::ReportStatus;
use crate::workflow::journal::{Journal, JournalStore, RunStatus};
use crate::workflow::plan::{Plan, PlanOptions};

/// A resumable journal of an earlier run of the same copy (same image, same target accounts and
/// regions, in any order) that did not complete: running, interrupted or failed. A store that
/// cannot be listed has none.
pub fn resumable<S: JournalStore + ?Sized>(
    store: &S,
    opts: &PlanOptions,
    image_id: &str,
) -> Option<Journal> {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let accounts = sorted(&opts.target_accounts);
    let regions = sorted(&opts.target_regions);
    store.list().ok()?.into_iter().find(|j| {
        j.plan.source.image_id == image_id
            && sorted(&j.plan.options.target_accounts) == accounts
            && sorted(&j.plan.options.target_regions) == regions
            && matches!(
                j.status,
                RunStatus::Running | RunStatus::Interrupted | RunStatus::Failed
            )
    })
}

/// The run a `copy` makes: a new one, or the continuation of an earlier run's journal.
#[derive(Debug, Clone)]
pub struct RunStart {
    pub run_id: String,
    /// 1 for a new run; a resumed run's next attempt.
    pub attempt: u32,
    /// The journal of the run this one resumes.
    pub resumed: Option<Journal>,
}

impl RunStart {
    /// The run for a copy of `image_id` with `opts`: the resumable journal's, unless this is a
    /// dry run (which never resumes) or there is none; then a new run.
    pub fn choose<S: JournalStore + ?Sized>(
        store: &S,
        opts: &PlanOptions,
        image_id: &str,
        dry_run: bool,
    ) -> Self {
        let resumed = if dry_run {
            None
        } else {
            resumable(store, opts, image_id)
        };
        Self::new(resumed, new_run_id)
    }

    /// The run continuing `resumed` (its run id, the next attempt), or a new run with the id
    /// `fresh_id` makes.
    pub fn new(resumed: Option<Journal>, fresh_id: impl FnOnce() -> String) -> Self {
        match resumed {
            Some(j) => Self {
                run_id: j.run_id.clone(),
                attempt: j.attempt.max(1) + 1,
                resumed: Some(j),
            },
            None => Self {
                run_id: fresh_id(),
                attempt: 1,
                resumed: None,
            },
        }
    }

    /// Why `plan` is shown and not applied: `blocked`, `dry-run`, or `nothing-to-do` (no step,
    /// and no test instance of a resumed run left to confirm terminated); `None`: apply it.
    pub fn unapplied_status(&self, plan: &Plan, dry_run: bool) -> Option<ReportStatus> {
        if !plan.blockers.is_empty() {
            Some(ReportStatus::Blocked)
        } else if dry_run {
            Some(ReportStatus::DryRun)
        } else if plan.is_empty()
            && self
                .resumed
                .as_ref()
                .is_none_or(|j| j.unconfirmed_instances().is_empty())
        {
            Some(ReportStatus::NothingToDo)
        } else {
            None
        }
    }

    /// The journal to apply `plan` with: the resumed one (its entries kept, the new plan and
    /// attempt, running again), or a new one.
    pub fn into_journal(self, plan: &Plan) -> Journal {
        match self.resumed {
            Some(mut j) => {
                j.plan = plan.clone();
                j.attempt = self.attempt;
                j.status = RunStatus::Running;
                j
            }
            None => Journal::new(plan.clone()),
        }
    }
}

/// A new run id: the UTC time and 8 random hex digits (`20260101T120000Z-0123abcd`).
pub fn new_run_id() -> String {
    let t = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("{t}-{}", &u[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::plan::{Blocker, BlockerCode};

    const PLAN_V1: &str = include_str!("../../../tests/fixtures/golden/plan-v1.json");
    const JOURNAL_V1: &str = include_str!("../../../tests/fixtures/golden/journal-v1.json");

    fn plan() -> Plan {
        serde_json::from_str(PLAN_V1).unwrap()
    }

    /// The golden journal with `status`, under `run_id`.
    fn journal(run_id: &str, status: RunStatus) -> Journal {
        let mut j: Journal = serde_json::from_str(JOURNAL_V1).unwrap();
        j.run_id = run_id.into();
        j.status = status;
        j
    }

    fn store(journals: Vec<Journal>) -> crate::workflow::journal::MemoryJournalStore {
        let s = crate::workflow::journal::MemoryJournalStore::default();
        for j in journals {
            s.save(&j).unwrap();
        }
        s
    }

    #[test]
    fn only_an_unfinished_run_of_the_same_copy_is_resumed() {
        let j = journal("old", RunStatus::Interrupted);
        let image = j.plan.source.image_id.clone();
        let mut opts = j.plan.options.clone();
        opts.target_regions.reverse(); // the order does not matter
        let s = store(vec![journal("done", RunStatus::Completed), j]);
        assert_eq!(
            resumable(&s, &opts, &image).map(|j| j.run_id),
            Some("old".into())
        );
        assert!(resumable(&s, &opts, "ami-other").is_none());
        opts.target_regions.pop();
        assert!(resumable(&s, &opts, &image).is_none(), "other regions");
        let rb = journal("rb", RunStatus::RolledBack);
        let opts = rb.plan.options.clone();
        assert!(resumable(&store(vec![rb]), &opts, &image).is_none());
    }

    #[test]
    fn a_dry_run_never_resumes() {
        let j = journal("old", RunStatus::Failed);
        let s = store(vec![j.clone()]);
        let (opts, image) = (&j.plan.options, &j.plan.source.image_id);
        assert_eq!(RunStart::choose(&s, opts, image, false).run_id, "old");
        let dry = RunStart::choose(&s, opts, image, true);
        assert!(dry.resumed.is_none());
        assert_eq!(dry.attempt, 1);
        assert_ne!(dry.run_id, "old");
    }

    #[test]
    fn a_resumed_run_keeps_its_id_and_plans_the_next_attempt() {
        let fresh = RunStart::new(None, || "new-id".into());
        assert_eq!((fresh.run_id.as_str(), fresh.attempt), ("new-id", 1));
        let mut j = journal("old", RunStatus::Failed);
        j.attempt = 0; // written before attempts were counted: the first
        let resumed = RunStart::new(Some(j), String::new);
        assert_eq!((resumed.run_id.as_str(), resumed.attempt), ("old", 2));
    }

    #[test]
    fn blocked_then_dry_run_then_nothing_to_do() {
        let fresh = RunStart::new(None, || "r".into());
        let mut p = plan();
        assert_eq!(fresh.unapplied_status(&p, false), None);
        assert_eq!(fresh.unapplied_status(&p, true), Some(ReportStatus::DryRun));
        p.blockers.push(Blocker {
            code: BlockerCode::KeyDisabled,
            account: None,
            message: String::new(),
            fix: String::new(),
        });
        assert_eq!(
            fresh.unapplied_status(&p, true),
            Some(ReportStatus::Blocked)
        );
        p.blockers.clear();
        p.steps.clear();
        assert_eq!(
            fresh.unapplied_status(&p, false),
            Some(ReportStatus::NothingToDo)
        );
        // A resumed run with a test instance still to confirm terminated has work left.
        let mut j = journal("old", RunStatus::Interrupted);
        if let Some(rec) = j.instances.values_mut().next() {
            rec.terminated = false;
        }
        let resumed = RunStart::new(Some(j), String::new);
        assert_eq!(resumed.unapplied_status(&p, false), None);
    }

    #[test]
    fn the_resumed_journal_keeps_its_entries_with_the_new_plan() {
        let j = journal("old", RunStatus::Failed);
        let entries = j.entries.clone();
        let mut p = plan();
        p.run_id = "old".into();
        p.steps.truncate(1);
        let start = RunStart::new(Some(j), String::new);
        let out = start.into_journal(&p);
        assert_eq!(out.status, RunStatus::Running);
        assert_eq!(out.attempt, 2);
        assert_eq!(out.plan, p);
        assert_eq!(out.entries, entries);
        let new = RunStart::new(None, || "n".into()).into_journal(&p);
        assert!(new.entries.is_empty());
        assert_eq!(new.attempt, 1);
    }
}
