//! Applying a plan, journalled before and after every step:
//!
//! 1. the source account, one step after the other ([`change`]); a failure stops the run (the
//!    targets depend on the sharing and the key policy);
//! 2. each target account's IAM, accounts concurrently ([`change`]);
//! 3. every target account and region concurrently: copy -> wait -> test launch -> diagnosis on
//!    failure ([`pipeline`], [`launch`]) -> the copy's lifecycle settings ([`lifecycle`]);
//! 4. `--revoke-after-copy`, only when every copy is there;
//! 5. what was left behind, and the run's status.
//!
//! `--reencrypt-with` first makes the re-encrypted copy in the source account ([`reencrypt`]),
//! then plans the rest on it and applies that plan in the same journal.

pub mod asg;
pub mod change;
pub mod error;
pub mod launch;
pub mod launch_as;
pub mod leftovers;
pub mod lifecycle;
pub mod pipeline;
pub mod reencrypt;
pub mod share;
pub mod usage_policy;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use futures::stream::{self, StreamExt};
use tokio::sync::watch;

use self::change::run_simple_step;
use self::leftovers::terminate_leftovers;
use self::pipeline::run_unit;
use super::build::build_plan_with_prefix;
use super::discover::discover;
use super::report::{ChangeRecord, Report, ReportStatus, TargetReport, TargetStatus};
use super::CopyError;
use crate::domain::states::ImageState;
use crate::workflow::contention::Contention;
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::{now, Journal, JournalError, JournalStore, LiveJournal, RunStatus};
use crate::workflow::plan::{Action, Plan, PlanOptions, Step};
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::Writer;
use crate::workflow::throttle::{Gate, ThrottleSignal};
use crate::workflow::waiters::{cancelled, Timing};
use crate::workflow::world::World;

/// How many target account/region pipelines run at once unless `--max-concurrency` says
/// otherwise: enough for 20 accounts x 3 regions all at once. AWS bounds concurrent AMI copies
/// per destination account and region ("Destination Regions are limited to 50 concurrent AMI
/// copies at a time, with no more than 25 of those coming from a single source Region", EC2 user
/// guide, "Copy an AMI"; Image Builder: "50 concurrent AMI copies for each destination Region");
/// a run makes one copy per destination account and region (the units below are distinct
/// pairs), so it stays within that bound whatever the overall limit; throttling is met by the
/// SDK's retries (`aws::session`) and, when AWS throttles hard, by fewer operations in flight
/// ([`Run::gate`], `workflow::throttle`).
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;

/// Everything [`apply`] needs besides the plan.
pub struct Apply<'a, R, W, S: ?Sized, E: ?Sized> {
    pub world: &'a World<R, W>,
    pub store: &'a S,
    pub events: &'a E,
    /// Becomes `true` on Ctrl-C: running waits stop, test instances are terminated.
    pub cancel: watch::Receiver<bool>,
    pub timing: Timing,
    /// How many target accounts (IAM) and account/region pipelines run at once (at least 1).
    pub max_concurrency: usize,
    /// Throttling seen by the AWS layer: lowers the operations in flight below
    /// `max_concurrency` while AWS throttles hard ([`crate::workflow::throttle`]).
    pub throttle: &'a dyn ThrottleSignal,
    /// Attempts and jittered pauses of the key-policy edits other runs may race
    /// ([`crate::workflow::contention`]).
    pub contention: Contention,
}

/// The fewest operations the throttling gate lowers the fan-out to.
pub const MIN_CONCURRENCY: usize = 4;

/// One run being applied: the context, its open journal, and the warnings collected on the way
/// (journal writes that failed after the change they record was made).
pub struct Run<'a, R, W, S: JournalStore + ?Sized, E: ?Sized> {
    pub ctx: &'a Apply<'a, R, W, S, E>,
    pub journal: &'a LiveJournal<'a, S>,
    warnings: Mutex<Vec<String>>,
    /// Admits the target-side operations (an account's IAM, each step of a unit).
    pub gate: Gate<'a>,
}

impl<'a, R, W, S: JournalStore + ?Sized, E: ?Sized> Run<'a, R, W, S, E> {
    fn new(ctx: &'a Apply<'a, R, W, S, E>, journal: &'a LiveJournal<'a, S>) -> Self {
        Self {
            ctx,
            journal,
            warnings: Mutex::new(Vec::new()),
            gate: Gate::new(
                MIN_CONCURRENCY.min(ctx.max_concurrency.max(1)),
                ctx.max_concurrency.max(1),
                ctx.throttle,
            ),
        }
    }

    /// A journal write made after the change it records: its failure cannot undo the change,
    /// so it becomes a warning of the report (naming what the journal misses).
    pub fn recorded(&self, what: &str, written: Result<(), JournalError>) {
        if let Err(e) = written {
            self.warn(format!(
                "the journal does not record {what} ({e}): `amishare rollback` will not know of it"
            ));
        }
    }

    pub fn warn(&self, message: String) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(message);
        }
    }

    fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    pub fn cancelled(&self) -> bool {
        cancelled(&self.ctx.cancel)
    }
}

/// Apply a plan. The journal is `journal` (new, or resumed with this plan). Returns the report;
/// per-target failures are in the report, not errors.
pub async fn apply<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    ctx: &Apply<'_, R, W, S, E>,
    plan: &Plan,
    journal: Journal,
) -> Result<Report, CopyError> {
    let live = LiveJournal::new(ctx.store, journal)?;
    let run = Run::new(ctx, &live);
    let mut report = Report::unapplied(plan, ReportStatus::Ok);
    report.left_behind = terminate_leftovers(&run).await;
    ctx.events.emit(Event::Phase {
        name: "apply".into(),
    });
    let reencrypting = plan
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::ReencryptImage { .. }));
    let mut report = match reencrypting {
        None => apply_plan(&run, plan, report).await?,
        Some(step) => apply_reencrypting(&run, plan, step, report).await?,
    };
    report.warnings.extend(run.take_warnings());
    Ok(report)
}

/// `--reencrypt-with`: make (or wait for) the re-encrypted copy in the source account, then
/// plan the rest on it and apply that plan in the same journal.
async fn apply_reencrypting<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    plan: &Plan,
    step: &Step,
    mut report: Report,
) -> Result<Report, CopyError> {
    let (rec, image) = reencrypt::reencrypt(run, plan, step).await?;
    let ok = rec.ok;
    report.changes.push(rec);
    let Some(image) = image.filter(|_| ok) else {
        let interrupted = run.cancelled();
        run.journal.set_status(if interrupted {
            RunStatus::Interrupted
        } else {
            RunStatus::Failed
        })?;
        report.status = if interrupted {
            ReportStatus::Interrupted
        } else {
            ReportStatus::Failed
        };
        for t in &mut report.targets {
            t.error =
                Some("not attempted: the re-encrypting copy in the source account failed".into());
        }
        return Ok(report);
    };
    // Applying never probes: the DryRun probes belong to `--dry-run`, whose saved plan keeps
    // `probe: true`.
    let discover_opts = PlanOptions {
        probe: false,
        ..plan.options.clone()
    };
    let d = discover(run.ctx.world, &image, &discover_opts, run.ctx.events).await?;
    let prefix = format!("{}r", step.id);
    let next = build_plan_with_prefix(&d, &plan.options, &plan.run_id, &prefix, &now())?;
    let mut next_report = Report::unapplied(&next, ReportStatus::Ok);
    next_report.changes = std::mem::take(&mut report.changes);
    next_report.left_behind = std::mem::take(&mut report.left_behind);
    next_report.warnings.splice(0..0, report.warnings.drain(..));
    next_report.reencrypted_image = Some(image);
    if !next.blockers.is_empty() {
        run.journal.set_status(RunStatus::Failed)?;
        next_report.status = ReportStatus::Blocked;
        next_report.plan_on_copy = Some(Box::new(next));
        return Ok(next_report);
    }
    let mut out = apply_plan(run, &next, next_report).await?;
    out.plan_on_copy = Some(Box::new(next));
    Ok(out)
}

/// Apply the steps of `plan` (no re-encrypting copy among them) in an open journal.
async fn apply_plan<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    plan: &Plan,
    mut report: Report,
) -> Result<Report, CopyError> {
    // 1. The source account (a share refused for one account fails that account only).
    let mut failed_accounts = FailedAccounts::new();
    if let Some(stopped) = apply_source(run, plan, &mut report, &mut failed_accounts).await? {
        run.journal.set_status(stopped)?;
        return Ok(report);
    }
    // 2. Target accounts' IAM.
    apply_target_iam(run, plan, &mut report, &mut failed_accounts).await;
    // 3. Every target account and region: copy -> wait -> test launch.
    apply_units(run, plan, &failed_accounts, &mut report).await;
    // 4. Revoke after copy, when every copy is there.
    apply_revokes(run, plan, &mut report).await?;
    // 5. Anything left behind, and the run's status.
    left_behind(run, plan, &mut report);
    let status = final_status(run, &mut report);
    run.journal.set_status(status)?;
    Ok(report)
}

/// Target accounts that are not attempted any further, with why (for their targets' rows).
type FailedAccounts = BTreeMap<String, String>;

/// The source account's steps, one after the other. `Some(status)` when the run stops here.
/// A share that AWS refused for some accounts only (retried one account at a time, see
/// [`share::run_batch`]) does not stop the run: those accounts go into `failed_accounts`
/// (their later shares, IAM and units are not attempted) and the others go on.
async fn apply_source<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    plan: &Plan,
    report: &mut Report,
    failed_accounts: &mut FailedAccounts,
) -> Result<Option<RunStatus>, CopyError> {
    let steps: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| !s.action.is_target_side() && !s.action.is_revoke())
        .collect();
    // The shares go out batched (one call per image / snapshot), where the first one was.
    let mut shares = Some(share::batches(&steps));
    for step in &steps {
        if run.cancelled() {
            report.status = ReportStatus::Interrupted;
            return Ok(Some(RunStatus::Interrupted));
        }
        let (recs, ok) = if share::is_share(step) {
            let batches = shares.take().unwrap_or_default();
            run_share_batches(run, plan, batches, failed_accounts).await?
        } else {
            let rec = run_simple_step(run, plan, step).await?;
            let ok = rec.ok;
            (vec![rec], ok)
        };
        report.changes.extend(recs);
        if !ok {
            report.status = ReportStatus::Failed;
            for t in &mut report.targets {
                if t.status == TargetStatus::Skipped {
                    t.error = Some("not attempted: a source-account step failed".into());
                }
            }
            return Ok(Some(RunStatus::Failed));
        }
    }
    Ok(None)
}

/// The share batches, each without the accounts already failed: `(records, ok)`. A failure
/// that is not one account's own (the batch was not retried per account, or every target
/// account failed) stops the run (`ok` false); an account's own failure puts it into
/// `failed_accounts` and the run goes on.
async fn run_share_batches<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    plan: &Plan,
    batches: Vec<Vec<&Step>>,
    failed_accounts: &mut FailedAccounts,
) -> Result<(Vec<ChangeRecord>, bool), CopyError> {
    let mut recs = Vec::new();
    for batch in batches {
        let batch: Vec<&Step> = batch
            .into_iter()
            .filter(|s| share::account_of(s).is_none_or(|a| !failed_accounts.contains_key(a)))
            .collect();
        let done = share::run_batch(run, &batch).await?;
        let failed: Vec<(&Step, &ChangeRecord)> = batch
            .iter()
            .copied()
            .zip(&done.records)
            .filter(|(_, r)| !r.ok)
            .collect();
        let all_targets_failed = plan.options.target_accounts.iter().all(|a| {
            failed_accounts.contains_key(a)
                || failed
                    .iter()
                    .any(|(s, _)| share::account_of(s) == Some(a.as_str()))
        });
        let stop = !failed.is_empty() && (!done.per_account || all_targets_failed);
        if !stop {
            for (step, rec) in &failed {
                if let Some(a) = share::account_of(step) {
                    failed_accounts.insert(
                        a.to_string(),
                        format!(
                            "not attempted: sharing with the account failed: {}",
                            rec.error.clone().unwrap_or_default()
                        ),
                    );
                }
            }
        }
        recs.extend(done.records);
        if stop {
            return Ok((recs, false));
        }
    }
    Ok((recs, true))
}

/// Each target account's IAM steps (accounts concurrently, an account's steps in order, stopping
/// at its first failure); the accounts already failed are not attempted. Adds the accounts
/// whose IAM failed to `failed_accounts`.
async fn apply_target_iam<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    plan: &Plan,
    report: &mut Report,
    failed_accounts: &mut FailedAccounts,
) {
    let skip: BTreeSet<&String> = failed_accounts.keys().collect();
    let iam_results: Vec<(String, Vec<ChangeRecord>)> = stream::iter(
        plan.options
            .target_accounts
            .iter()
            .filter(|account| !skip.contains(account))
            .map(|account| async move {
                let _permit = run.gate.acquire().await;
                let mut recs = Vec::new();
                for step in plan
                    .steps
                    .iter()
                    .filter(|s| &s.account == account && s.action.is_target_access())
                {
                    let rec = match run_simple_step(run, plan, step).await {
                        Ok(rec) => rec,
                        Err(e) => ChangeRecord::failed(step, e.to_string()),
                    };
                    let ok = rec.ok;
                    recs.push(rec);
                    if !ok {
                        break;
                    }
                }
                (account.clone(), recs)
            }),
    )
    .buffer_unordered(run.ctx.max_concurrency.max(1))
    .collect()
    .await;
    for (account, recs) in iam_results {
        if recs.iter().any(|r| !r.ok) {
            failed_accounts.insert(account, "the account's IAM step failed".into());
        }
        report.changes.extend(recs);
    }
}

/// Every target account and region's copy -> wait -> test launch (bounded concurrency); the
/// accounts whose IAM (or share) failed are not attempted.
async fn apply_units<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    plan: &Plan,
    failed_accounts: &FailedAccounts,
    report: &mut Report,
) {
    let mut units: Vec<(String, String)> = Vec::new();
    for s in plan.steps.iter().filter(|s| s.action.is_unit_step()) {
        let u = (s.account.clone(), s.region.clone());
        if !units.contains(&u) {
            units.push(u);
        }
    }
    let unit_results: Vec<(TargetReport, Vec<ChangeRecord>)> =
        stream::iter(units.into_iter().map(|(account, region)| {
            let failed = failed_accounts.get(&account);
            async move {
                if let Some(why) = failed {
                    let mut tr = TargetReport::new(&account, &region, TargetStatus::Failed);
                    tr.error = Some(if why.starts_with("not attempted") {
                        why.clone()
                    } else {
                        format!("not attempted: {why}")
                    });
                    return (tr, Vec::new());
                }
                run_unit(run, plan, &account, &region).await
            }
        }))
        .buffer_unordered(run.ctx.max_concurrency.max(1))
        .collect()
        .await;
    for (tr, recs) in unit_results {
        report.changes.extend(recs);
        if let Some(slot) = report
            .targets
            .iter_mut()
            .find(|t| t.account == tr.account && t.region == tr.region)
        {
            *slot = tr;
        } else {
            report.targets.push(tr);
        }
    }
    for t in &mut report.targets {
        if t.status != TargetStatus::Skipped {
            continue;
        }
        if let Some(why) = failed_accounts.get(&t.account) {
            t.status = TargetStatus::Failed;
            t.error = Some(why.clone());
        }
    }
}

/// `--revoke-after-copy`'s steps, when every copy succeeded; else a warning.
async fn apply_revokes<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    plan: &Plan,
    report: &mut Report,
) -> Result<(), CopyError> {
    let revokes: Vec<&Step> = plan.steps.iter().filter(|s| s.action.is_revoke()).collect();
    if revokes.is_empty() {
        return Ok(());
    }
    let all_ok = report.targets.iter().all(|t| {
        matches!(
            t.status,
            TargetStatus::Ok | TargetStatus::Exists | TargetStatus::HandOff
        )
    });
    if all_ok && !run.cancelled() {
        for step in revokes {
            let rec = run_simple_step(run, plan, step).await?;
            report.changes.push(rec);
        }
    } else {
        report.warnings.push(
            "`--revoke-after-copy` skipped: not every copy succeeded; the shares stay in place"
                .into(),
        );
    }
    Ok(())
}

/// Test instances whose termination was not confirmed, and failed copies.
fn left_behind<R, W, S: JournalStore + ?Sized, E: ?Sized>(
    run: &Run<'_, R, W, S, E>,
    plan: &Plan,
    report: &mut Report,
) {
    for (id, rec) in run.journal.snapshot().unconfirmed_instances() {
        report.left_behind.push(format!(
            "test instance {id} in {}/{}: termination not confirmed",
            rec.account, rec.region
        ));
    }
    for (name, rec) in run.journal.snapshot().undeleted_groups() {
        report.left_behind.push(format!(
            "test group and launch template {name} in {}/{}: deletion not confirmed (`amishare rollback {}` deletes them)",
            rec.account, rec.region, plan.run_id
        ));
    }
    for t in &report.targets {
        if t.copy_state == Some(ImageState::Failed) {
            if let Some(img) = &t.image_id {
                report.left_behind.push(format!(
                    "failed copy {img} in {}/{} (deregister it, or `amishare rollback {} --delete-copies`)",
                    t.account, t.region, plan.run_id
                ));
            }
        }
    }
}

/// `interrupted`, `failed` or `ok`, into the report; the journal's status to match.
fn final_status<R, W, S: JournalStore + ?Sized, E: ?Sized>(
    run: &Run<'_, R, W, S, E>,
    report: &mut Report,
) -> RunStatus {
    let interrupted = run.cancelled();
    let failed = report.changes.iter().any(|c| !c.ok)
        || report
            .targets
            .iter()
            .any(|t| t.status == TargetStatus::Failed);
    let (status, journal) = if interrupted {
        (ReportStatus::Interrupted, RunStatus::Interrupted)
    } else if failed {
        (ReportStatus::Failed, RunStatus::Failed)
    } else {
        (ReportStatus::Ok, RunStatus::Completed)
    };
    report.status = status;
    journal
}
