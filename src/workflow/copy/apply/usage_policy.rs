//! A new default version of a `KmsKeyUsagePolicy` (`CreatePolicyVersion`) while other runs may
//! extend the same policy: IAM has no conditional write either (a new default version replaces
//! what another run just made the default, and the five-version limit makes a concurrent create
//! fail with `LimitExceeded`). The same discipline as the key policy (`workflow::key_policy`):
//!
//! 1. read the default version; done when it covers every key the plan's document covers;
//! 2. the document to write: the planned one when the default is still the version the plan saw,
//!    else the keys of the current default plus the plan's (nothing another run added is dropped);
//! 3. create the version (recorded in the journal at once: rollback knows every version this run
//!    made), read back, and count it done only when the default still covers the keys one settle
//!    window later;
//! 4. else, or when IAM refused the create for the version limit or a concurrent modification,
//!    pause (jittered) and go again.
//!
//! IAM user guide, "Versioning IAM policies": at most five versions; CreatePolicyVersion with
//! `SetAsDefault` makes the new version the default at once.

use std::collections::BTreeSet;
use std::time::Instant;

use super::error::{StepError, StepResult};
use super::Run;
use crate::domain::arn::{partition_of, policy_arn};
use crate::workflow::copy::build::targets::{covered_keys, usage_policy_document};
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::{now, EditAttempt, JournalStore};
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::Writer;
use crate::workflow::waiters::sleep_or_cancel;
use crate::workflow::world::Conn;

/// CreatePolicyVersion converging with other writers: `(after, created version ids)`.
pub async fn extend_usage_policy<
    R: Reader,
    W: Writer,
    S: JournalStore + ?Sized,
    E: Events + ?Sized,
>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    step_id: &str,
    policy_arn: &str,
    previous_version: &str,
    document: &str,
) -> StepResult<(Option<String>, Vec<String>)> {
    let w = &conn.writer;
    let contention = &run.ctx.contention;
    let retry = contention.retry;
    let wanted = covered_keys(document);
    let mut created = Vec::new();
    for attempt in 1..=retry.attempts.max(1) {
        let Some(current) = w.get_managed_policy(policy_arn).await? else {
            return Err(StepError::Drift(format!(
                "IAM policy `{policy_arn}` was deleted since the plan; run the copy again"
            )));
        };
        let have = covered_keys(&current.document);
        if wanted.is_subset(&have) {
            return Ok((Some(current.document), created));
        }
        let text = if current.default_version == previous_version {
            document.to_string()
        } else {
            merged_document(&have, &wanted).ok_or_else(|| {
                StepError::Precondition(format!(
                    "cannot write a KmsKeyUsagePolicy for `{policy_arn}` covering the keys"
                ))
            })?
        };
        run.journal
            .attempt_begun(
                step_id,
                EditAttempt {
                    attempt,
                    started_at: now(),
                    added: Vec::new(),
                    removed: Vec::new(),
                    keys: wanted.difference(&have).cloned().collect(),
                    written: text.clone(),
                    merged: current.default_version != previous_version,
                    read_back: None,
                },
            )
            .map_err(|e| StepError::Journal(e.to_string()))?;
        let t0 = Instant::now();
        match w.create_policy_version(policy_arn, &text).await {
            Ok(v) => {
                run.recorded(
                    &format!("version {v} of {policy_arn}"),
                    run.journal.created(step_id, &v),
                );
                created.push(v);
            }
            Err(e) if contended(e.code.as_deref()) && attempt < retry.attempts => {
                pause(run, attempt).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        let holds = |doc: &str| wanted.is_subset(&covered_keys(doc));
        let back = w.get_managed_policy(policy_arn).await?;
        if let Some(b) = &back {
            run.recorded(
                &format!("what {policy_arn} read back"),
                run.journal.attempt_read_back(step_id, attempt, &b.document),
            );
        }
        if back.as_ref().is_some_and(|p| holds(&p.document)) {
            let settle = retry.settle(t0.elapsed(), contention.jitter.unit());
            sleep(run, settle).await?;
            if let Some(again) = w.get_managed_policy(policy_arn).await? {
                if holds(&again.document) {
                    return Ok((Some(again.document), created));
                }
            }
        }
        run.ctx.events.emit(Event::Note {
            message: format!(
                "the default version of `{policy_arn}` was replaced by another writer; merging again (attempt {} of {})",
                attempt + 1,
                retry.attempts
            ),
        });
        pause(run, attempt).await?;
    }
    Err(StepError::Drift(format!(
        "the default version of `{policy_arn}` kept changing under other writers: it did not cover this run's keys after {} attempts; run the command again",
        retry.attempts
    )))
}

/// CreatePolicy of a `KmsKeyUsagePolicy*`: `(after, [policy ARN])`. When another run created it
/// between plan and apply (IAM `EntityAlreadyExists`), this run extends it instead like a
/// CreatePolicyVersion that must merge: the created ids are then versions, which rollback takes
/// as such (this run's keys out of the current default), never deleting the other run's policy.
pub async fn create_usage_policy<
    R: Reader,
    W: Writer,
    S: JournalStore + ?Sized,
    E: Events + ?Sized,
>(
    run: &Run<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    step_id: &str,
    account: &str,
    name: &str,
    document: &str,
) -> StepResult<(Option<String>, Vec<String>)> {
    let made = conn
        .writer
        .create_policy(
            name,
            document,
            "Use of the KMS keys of AMIs shared with this account (written by amishare)",
        )
        .await;
    match made {
        Ok(arn) => Ok((Some(document.to_string()), vec![arn])),
        Err(e) if e.code.as_deref() == Some("EntityAlreadyExists") => {
            let arn = existing_policy_arn(account, name, document);
            // No version can be named "": the document written merges the current default's keys.
            extend_usage_policy(run, conn, step_id, &arn, "", document).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The ARN of the policy `name` of `account` that another run created first
/// (`arn:PARTITION:iam::ACCOUNT:policy/NAME`, the partition of the keys it covers).
pub fn existing_policy_arn(account: &str, name: &str, document: &str) -> String {
    let keys = covered_keys(document);
    let partition = keys.iter().next().map_or("aws", |k| partition_of(k));
    policy_arn(partition, account, name)
}

/// The keys of the current default plus the plan's, as one document.
fn merged_document(have: &BTreeSet<String>, wanted: &BTreeSet<String>) -> Option<String> {
    let all: Vec<String> = have.union(wanted).cloned().collect();
    usage_policy_document(&all)
}

/// IAM refused the create because of another writer: the version limit reached meanwhile, or a
/// concurrent modification.
fn contended(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("LimitExceeded" | "LimitExceededException" | "ConcurrentModification")
            | Some("ConcurrentModificationException")
    )
}

async fn pause<R, W, S: JournalStore + ?Sized, E: ?Sized>(
    run: &Run<'_, R, W, S, E>,
    attempt: u32,
) -> StepResult<()> {
    let c = &run.ctx.contention;
    sleep(run, c.retry.pause(attempt, c.jitter.unit())).await
}

async fn sleep<R, W, S: JournalStore + ?Sized, E: ?Sized>(
    run: &Run<'_, R, W, S, E>,
    d: std::time::Duration,
) -> StepResult<()> {
    let mut rx = run.ctx.cancel.clone();
    if sleep_or_cancel(d, &mut rx).await {
        Ok(())
    } else {
        Err(StepError::Interrupted(
            "interrupted while extending the KmsKeyUsagePolicy".into(),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tokio::sync::watch;

    use super::super::{Apply, Run};
    use super::*;
    use crate::testing::{Cloud, FakeReader, FakeWriter};
    use crate::workflow::contention::Contention;
    use crate::workflow::events::NoEvents;
    use crate::workflow::journal::{Journal, LiveJournal, MemoryJournalStore, StepState};
    use crate::workflow::plan::{Action, Plan, Step};
    use crate::workflow::ports_write::ManagedPolicy;
    use crate::workflow::rollback::undo_step_for_tests as undo_step;
    use crate::workflow::throttle::NoSignal;
    use crate::workflow::waiters::Timing;
    use crate::workflow::world::World;

    const TGT: &str = "444455556666";
    const ROLE: &str = "arn:aws:sts::444455556666:assumed-role/amishare-target/s";
    const PLAN_V1: &str = include_str!("../../../../tests/fixtures/golden/plan-v1.json");

    fn key(n: u32) -> String {
        format!("arn:aws:kms:us-east-1:111122223333:key/0000000{n}-12ab-34cd-56ef-1234567890ab")
    }

    fn doc(keys: &[String]) -> String {
        usage_policy_document(keys).unwrap()
    }

    fn apply_ctx<'a>(
        world: &'a World<FakeReader, FakeWriter>,
        store: &'a MemoryJournalStore,
    ) -> Apply<'a, FakeReader, FakeWriter, MemoryJournalStore, NoEvents> {
        Apply {
            world,
            store,
            events: &NoEvents,
            cancel: watch::channel(false).1,
            timing: Timing::default(),
            max_concurrency: 1,
            throttle: &NoSignal,
            contention: Contention::seeded(9),
        }
    }

    /// Another run made a new default version (its key C) after this run planned on v1: this
    /// run's version keeps C and adds B; rolling this run back takes out B only.
    #[tokio::test]
    async fn a_version_made_meanwhile_is_merged_and_rollback_takes_out_only_this_runs_key() {
        let cloud = Cloud::default();
        let arn = format!("arn:aws:iam::{TGT}:policy/KmsKeyUsagePolicy");
        cloud.lock().managed.insert(
            arn.clone(),
            ManagedPolicy {
                arn: arn.clone(),
                default_version: "v2".into(),
                document: doc(&[key(1), key(3)]),
                versions: vec!["v1".into(), "v2".into()],
            },
        );
        let world = cloud.world(
            "arn:aws:sts::111122223333:assumed-role/admin/s",
            "us-east-1",
            &[(TGT, Some(ROLE))],
            &["us-east-1"],
        );
        let store = MemoryJournalStore::default();
        let ctx = apply_ctx(&world, &store);
        let plan: Plan = serde_json::from_str(PLAN_V1).unwrap();
        let live = LiveJournal::new(&store, Journal::new(plan)).unwrap();
        let run = Run::new(&ctx, &live);
        let step = Step {
            id: "s9".into(),
            account: TGT.into(),
            region: "us-east-1".into(),
            action: Action::CreatePolicyVersion {
                policy_arn: arn.clone(),
                previous_version: "v1".into(),
                document: doc(&[key(1), key(2)]),
            },
        };
        live.begin(&step, Some("v1".into())).unwrap();
        let conn = world.target_conn(TGT, "us-east-1").unwrap();
        let Action::CreatePolicyVersion { document, .. } = &step.action else {
            unreachable!()
        };
        let (after, created) = extend_usage_policy(&run, conn, "s9", &arn, "v1", document)
            .await
            .unwrap();
        let keys = covered_keys(&after.unwrap());
        assert_eq!(keys, [key(1), key(2), key(3)].into_iter().collect());
        assert_eq!(created, vec!["v3".to_string()]);
        live.finish("s9", Ok(None)).unwrap();
        let entry = live.snapshot().entries["s9"].clone();
        assert_eq!(entry.state, StepState::Done);
        assert_eq!(entry.attempts[0].keys, vec![key(2)]);
        assert!(entry.attempts[0].merged);
        // Rollback: the current default minus this run's key.
        let out = undo_step(conn, &entry, false).await;
        assert_eq!(out.result, crate::workflow::rollback::UndoResult::Undone);
        let now = cloud.lock().managed[&arn].document.clone();
        assert_eq!(covered_keys(&now), [key(1), key(3)].into_iter().collect());
    }

    /// Another run created the `KmsKeyUsagePolicy` (its key C) between this run's plan and apply:
    /// this run's CreatePolicy meets `EntityAlreadyExists`, extends the policy instead (the
    /// default covers both runs' keys), and its rollback takes out its own key only, never
    /// deleting the other run's policy.
    #[tokio::test]
    async fn a_policy_created_meanwhile_is_extended_and_rollback_keeps_it() {
        let cloud = Cloud::default();
        let world = cloud.world(
            "arn:aws:sts::111122223333:assumed-role/admin/s",
            "us-east-1",
            &[(TGT, Some(ROLE))],
            &["us-east-1"],
        );
        let store = MemoryJournalStore::default();
        let ctx = apply_ctx(&world, &store);
        let mut plan: Plan = serde_json::from_str(PLAN_V1).unwrap();
        let step = Step {
            id: "s9".into(),
            account: TGT.into(),
            region: "us-east-1".into(),
            action: Action::CreatePolicy {
                name: "KmsKeyUsagePolicy".into(),
                document: doc(&[key(1), key(2)]),
            },
        };
        plan.steps = vec![step.clone()];
        let live = LiveJournal::new(&store, Journal::new(plan.clone())).unwrap();
        let run = Run::new(&ctx, &live);
        // The other run, after this one planned.
        let conn = world.target_conn(TGT, "us-east-1").unwrap();
        let arn = conn
            .writer
            .create_policy("KmsKeyUsagePolicy", &doc(&[key(1), key(3)]), "other run")
            .await
            .unwrap();
        assert_eq!(
            arn,
            existing_policy_arn(TGT, "KmsKeyUsagePolicy", &doc(&[key(2)]))
        );
        let rec = super::super::change::run_simple_step(&run, &plan, &step)
            .await
            .unwrap();
        assert!(rec.ok, "{:?}", rec.error);
        let now = cloud.lock().managed[&arn].clone();
        assert_eq!(
            covered_keys(&now.document),
            [key(1), key(2), key(3)].into_iter().collect()
        );
        let entry = live.snapshot().entries["s9"].clone();
        assert_eq!(entry.state, StepState::Done);
        assert_eq!(entry.created, vec![now.default_version.clone()]);
        let out = undo_step(conn, &entry, false).await;
        assert_eq!(out.result, crate::workflow::rollback::UndoResult::Undone);
        let after = cloud.lock().managed.get(&arn).cloned();
        let after = after.expect("the other run's policy is kept");
        assert_eq!(
            covered_keys(&after.document),
            [key(1), key(3)].into_iter().collect()
        );
    }
}
