//! A key-policy edit that converges while other runs edit the same policy. KMS `PutKeyPolicy` has
//! no conditional write (KMS API reference, "PutKeyPolicy": the call replaces the whole policy),
//! so this is optimistic and verified:
//!
//! 1. read the current policy;
//! 2. apply this run's edit to IT (the planned text when the policy is still what the plan saw,
//!    else exactly this run's additions merged again with `policy::edit::reapply_additions`, or
//!    its removals with `remove_key_users`); nothing to do when the edit is already there;
//! 3. journal the attempt (what it writes), PutKeyPolicy, read back, journal what was read;
//! 4. the edit counts as done only when the read back holds it AND a second read, one settle
//!    window later ([`Retry::settle`], twice this run's own write-and-read round trip: time for
//!    a writer that read the policy before this run's write to land its own write), still does;
//! 5. otherwise pause (jittered exponential backoff) and go again from 1, at most
//!    [`Retry::attempts`] times.
//!
//! Other writers' statements and principals are never removed: every write is the current
//! document plus this run's additions (or minus exactly its own). A statement this run adds to
//! that another writer removed or rewrote stops the edit with an error naming it.

use std::time::Instant;

use tokio::sync::watch;

use super::contention::{Contention, Retry};
use super::journal::EditAttempt;
use super::ports::{AwsError, Reader, Seen};
use super::ports_write::Writer;
use super::waiters::sleep_or_cancel;
use crate::policy;
use crate::policy::edit::{AddedPrincipal, KeyPolicyEdit, PolicyEditError};

/// Why a key-policy edit stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The policy cannot be read, or the edit is refused (a conflict, lock-out, size).
    #[error("{0}")]
    Refused(String),
    /// Other writers kept changing the policy: the edit did not hold after every attempt.
    #[error("{0}")]
    Drift(String),
    /// The journal could not record an attempt (it was not written).
    #[error("{0}")]
    Journal(String),
    #[error("interrupted while editing the key policy")]
    Interrupted,
}

type StepResult<T> = Result<T, EditError>;

/// What the edit is: this run's additions (planned as `before` -> `after`), or the removal of
/// exactly `added` (rollback, `--revoke-after-copy`).
#[derive(Debug, Clone, Copy)]
pub enum KeyEdit<'a> {
    Add {
        before: &'a str,
        after: &'a str,
        added: &'a [AddedPrincipal],
    },
    Remove {
        added: &'a [AddedPrincipal],
    },
}

/// Where the attempts are recorded (the run journal, or nothing) and where notes go.
pub trait AttemptLog: Sync {
    /// Before the write; an error stops the edit before it writes.
    fn begun(&self, attempt: EditAttempt) -> Result<(), String>;
    /// After the read back (a failure to record it is only a warning).
    fn read_back(&self, attempt: u32, text: &str);
    /// Something people should know (the edit was merged again into a changed policy).
    fn note(&self, message: String);
}

/// The outcome of a converged edit.
#[derive(Debug, Clone, PartialEq)]
pub struct Converged {
    /// The policy as last read (holding the edit).
    pub policy: String,
    /// Attempts after the first that wrote (0: the first write held).
    pub retries: u32,
    /// Whether anything was written.
    pub wrote: bool,
}

/// Apply `edit` to the key policy of `key_arn` until it holds (see the module doc).
pub async fn converge<R: Reader, W: Writer>(
    reader: &R,
    writer: &W,
    key_arn: &str,
    edit: KeyEdit<'_>,
    contention: &Contention,
    log: &dyn AttemptLog,
    cancel: Option<&watch::Receiver<bool>>,
) -> StepResult<Converged> {
    let editor = reader.identity().arn.clone();
    let retry: Retry = contention.retry;
    let mut wrote = 0u32;
    for attempt in 1..=retry.attempts.max(1) {
        let current = read_policy(reader, key_arn).await?;
        let Some(next) = next_write(&current, key_arn, edit, &editor)? else {
            if wrote == 0 {
                // Recorded so that rollback knows this run added nothing here.
                log.begun(EditAttempt {
                    attempt,
                    started_at: super::journal::now(),
                    added: Vec::new(),
                    removed: Vec::new(),
                    keys: Vec::new(),
                    written: String::new(),
                    merged: false,
                    read_back: Some(current.clone()),
                })
                .map_err(EditError::Journal)?;
                return Ok(Converged {
                    policy: current,
                    retries: 0,
                    wrote: false,
                });
            }
            // A write of an earlier attempt (or another writer's merge) holds it now: settled
            // the same way as a read back.
            if settled(reader, key_arn, edit, &editor, contention, None, cancel).await? {
                return Ok(converged(current, wrote));
            }
            pause(&retry, attempt, contention, cancel).await?;
            continue;
        };
        if next.merged {
            log.note(format!(
                "the key policy of `{key_arn}` changed since this run read it; this run's edit was merged into the current policy (attempt {attempt}), writing:\n{}",
                pretty_diff(&current, &next.text)
            ));
        }
        log.begun(EditAttempt {
            attempt,
            started_at: super::journal::now(),
            added: next.added,
            removed: next.removed,
            keys: Vec::new(),
            written: next.text.clone(),
            merged: next.merged,
            read_back: None,
        })
        .map_err(EditError::Journal)?;
        let t0 = Instant::now();
        writer.put_key_policy(key_arn, &next.text).await?;
        wrote += 1;
        let back = read_policy(reader, key_arn).await?;
        log.read_back(attempt, &back);
        if holds(&back, key_arn, edit, &editor)?
            && settled(reader, key_arn, edit, &editor, contention, Some(t0), cancel).await?
        {
            return Ok(converged(back, wrote));
        }
        if attempt < retry.attempts {
            log.note(format!(
                "the key policy of `{key_arn}` was changed by another writer right after this run wrote it; merging again (attempt {} of {})",
                attempt + 1,
                retry.attempts
            ));
            pause(&retry, attempt, contention, cancel).await?;
        }
    }
    Err(EditError::Drift(format!(
        "the key policy of `{key_arn}` kept changing under other writers: this run's edit did not hold after {} attempts (nothing other writers added was removed); run the command again",
        retry.attempts
    )))
}

fn converged(policy: String, wrote: u32) -> Converged {
    Converged {
        policy,
        retries: wrote.saturating_sub(1),
        wrote: true,
    }
}

/// The text one attempt writes, and what it adds or removes.
struct NextWrite {
    text: String,
    added: Vec<AddedPrincipal>,
    removed: Vec<AddedPrincipal>,
    merged: bool,
}

/// What to write on `current` (`None`: the edit is there already).
fn next_write(
    current: &str,
    key_arn: &str,
    edit: KeyEdit<'_>,
    editor: &str,
) -> StepResult<Option<NextWrite>> {
    match edit {
        KeyEdit::Add {
            before,
            after,
            added,
        } if same_json(current, before) => Ok(Some(NextWrite {
            text: after.to_string(),
            added: added.to_vec(),
            removed: Vec::new(),
            merged: false,
        })),
        _ => {
            let e = apply_edit(current, key_arn, edit, editor)?;
            if !e.changed {
                return Ok(None);
            }
            Ok(Some(NextWrite {
                text: e.text,
                added: e.added,
                removed: e.removed,
                merged: matches!(edit, KeyEdit::Add { .. }),
            }))
        }
    }
}

fn apply_edit(
    current: &str,
    key_arn: &str,
    edit: KeyEdit<'_>,
    editor: &str,
) -> StepResult<KeyPolicyEdit> {
    let out = match edit {
        KeyEdit::Add {
            before,
            after,
            added,
        } => policy::edit::reapply_additions(current, key_arn, before, after, added, editor),
        KeyEdit::Remove { added } => {
            policy::edit::remove_key_users(current, key_arn, added, editor)
        }
    };
    out.map_err(|e| refused(key_arn, &e))
}

/// A refused edit, with its hint: one message for the report and the journal.
fn refused(key_arn: &str, e: &PolicyEditError) -> EditError {
    let hint = e
        .hint()
        .map(|h| format!(" (hint: {h})"))
        .unwrap_or_default();
    EditError::Refused(format!("the key policy of `{key_arn}`: {e}{hint}"))
}

/// Whether `policy` holds the edit (applying it again would change nothing).
fn holds(policy: &str, key_arn: &str, edit: KeyEdit<'_>, editor: &str) -> StepResult<bool> {
    Ok(!apply_edit(policy, key_arn, edit, editor)?.changed)
}

/// Wait one settle window (measured from `since`, the write, when given) and read again: the
/// edit still holds.
async fn settled<R: Reader>(
    reader: &R,
    key_arn: &str,
    edit: KeyEdit<'_>,
    editor: &str,
    contention: &Contention,
    since: Option<Instant>,
    cancel: Option<&watch::Receiver<bool>>,
) -> StepResult<bool> {
    let round_trip = since.map(|t| t.elapsed()).unwrap_or_default();
    let window = contention
        .retry
        .settle(round_trip, contention.jitter.unit());
    sleep(window, cancel).await?;
    let again = read_policy(reader, key_arn).await?;
    holds(&again, key_arn, edit, editor)
}

async fn pause(
    retry: &Retry,
    attempt: u32,
    contention: &Contention,
    cancel: Option<&watch::Receiver<bool>>,
) -> StepResult<()> {
    sleep(retry.pause(attempt, contention.jitter.unit()), cancel).await
}

async fn sleep(d: std::time::Duration, cancel: Option<&watch::Receiver<bool>>) -> StepResult<()> {
    match cancel {
        None => {
            tokio::time::sleep(d).await;
            Ok(())
        }
        Some(rx) => {
            let mut rx = rx.clone();
            if sleep_or_cancel(d, &mut rx).await {
                Ok(())
            } else {
                Err(EditError::Interrupted)
            }
        }
    }
}

/// The diff of two policies as pretty JSON (KMS may return a compact one-line document).
fn pretty_diff(before: &str, after: &str) -> String {
    let pretty = |t: &str| {
        serde_json::from_str::<serde_json::Value>(t)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .map(|p| p + "\n")
            .unwrap_or_else(|| t.to_string())
    };
    policy::diff::unified_diff(&pretty(before), &pretty(after))
}

/// The key policy as KMS returns it.
pub async fn read_policy<R: Reader>(r: &R, key_arn: &str) -> StepResult<String> {
    match r.get_key_policy(key_arn).await? {
        Seen::Visible(p) => Ok(p),
        Seen::NotVisible(e) => Err(EditError::Refused(format!(
            "cannot read the key policy: {e}"
        ))),
    }
}

/// Equal as JSON (KMS may reformat a policy), or as text when either is not JSON.
pub fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Records nothing (rollback records the undo itself, before and after).
pub struct NoLog;

impl AttemptLog for NoLog {
    fn begun(&self, _: EditAttempt) -> Result<(), String> {
        Ok(())
    }
    fn read_back(&self, _: u32, _: &str) {}
    fn note(&self, _: String) {}
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::testing::{Cloud, FakeKey};
    use crate::workflow::contention::SeededJitter;
    use crate::workflow::inventory::KeyDescription;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const EDITOR: &str = "arn:aws:sts::111122223333:assumed-role/admin/amishare";
    const BASE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

    fn cloud() -> Cloud {
        let c = Cloud::default();
        c.lock().keys.push(FakeKey {
            description: KeyDescription {
                arn: KEY.into(),
                key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
                account: "111122223333".into(),
                region: "us-east-1".into(),
                key_manager: Some("CUSTOMER".into()),
                key_state: Some("Enabled".into()),
                multi_region: Some(false),
                description: None,
                origin: None,
                key_spec: None,
                aliases: Some(vec![]),
            },
            policy: BASE.into(),
        });
        c
    }

    fn fast(seed: u64) -> Contention {
        Contention {
            retry: Retry {
                attempts: 40,
                base: Duration::from_millis(4),
                cap: Duration::from_millis(20),
                settle_min: Duration::from_millis(5),
                settle_max: Duration::from_millis(20),
            },
            jitter: Box::new(SeededJitter::new(seed)),
        }
    }

    #[derive(Default)]
    struct Recorded(Mutex<Vec<EditAttempt>>);

    impl AttemptLog for Recorded {
        fn begun(&self, attempt: EditAttempt) -> Result<(), String> {
            self.0.lock().unwrap().push(attempt);
            Ok(())
        }
        fn read_back(&self, attempt: u32, text: &str) {
            if let Some(a) = self
                .0
                .lock()
                .unwrap()
                .iter_mut()
                .find(|a| a.attempt == attempt)
            {
                a.read_back = Some(text.to_string());
            }
        }
        fn note(&self, _: String) {}
    }

    fn set_policy(c: &Cloud, text: &str) {
        c.lock().keys[0].policy = text.to_string();
    }

    fn names(c: &Cloud, account: &str) -> bool {
        c.key_policy(KEY)
            .contains(&format!("arn:aws:iam::{account}:root"))
    }

    /// Another writer keeps putting back its own older document (a lost update each time);
    /// the edit retries, every attempt journalled, and holds once the other writer stops;
    /// the other writer's statement stays.
    #[tokio::test]
    async fn retries_through_a_writer_that_keeps_overwriting_and_keeps_its_statement() {
        let c = cloud();
        let conn = c.conn(EDITOR, "us-east-1");
        let mine =
            policy::edit::add_key_users(BASE, KEY, &["444455556666".into()], EDITOR).unwrap();
        let theirs = BASE.replace(
            "]}",
            r#",{"Sid":"Other","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"kms:Decrypt","Resource":"*"}]}"#,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (c2, stop2, theirs2) = (c.clone(), stop.clone(), theirs.clone());
        let clobber = tokio::spawn(async move {
            while !stop2.load(Ordering::SeqCst) {
                set_policy(&c2, &theirs2);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let stopper = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(60)).await;
                stop.store(true, Ordering::SeqCst);
            })
        };
        let log = Recorded::default();
        let edit = KeyEdit::Add {
            before: BASE,
            after: &mine.text,
            added: &mine.added,
        };
        let done = converge(&conn.reader, &conn.writer, KEY, edit, &fast(3), &log, None)
            .await
            .unwrap();
        stopper.await.unwrap();
        clobber.await.unwrap();
        assert!(names(&c, "444455556666"));
        assert!(c.key_policy(KEY).contains("\"Other\""));
        let attempts = log.0.lock().unwrap().clone();
        assert!(attempts.len() >= 2, "{attempts:?}");
        assert_eq!(done.retries as usize, attempts.len() - 1);
        assert!(attempts.iter().skip(1).all(|a| a.merged));
        assert!(attempts.iter().all(|a| a.read_back.is_some()));
    }

    /// Two runs planned on the same policy at once: both hold their additions at the end.
    #[tokio::test]
    async fn two_concurrent_edits_both_hold() {
        let c = cloud();
        let conn = c.conn(EDITOR, "us-east-1");
        let a = policy::edit::add_key_users(BASE, KEY, &["444455556666".into()], EDITOR).unwrap();
        let b = policy::edit::add_key_users(BASE, KEY, &["777788889999".into()], EDITOR).unwrap();
        let (ca, cb) = (fast(1), fast(2));
        let (la, lb) = (Recorded::default(), Recorded::default());
        let ea = KeyEdit::Add {
            before: BASE,
            after: &a.text,
            added: &a.added,
        };
        let eb = KeyEdit::Add {
            before: BASE,
            after: &b.text,
            added: &b.added,
        };
        let (ra, rb) = tokio::join!(
            converge(&conn.reader, &conn.writer, KEY, ea, &ca, &la, None),
            converge(&conn.reader, &conn.writer, KEY, eb, &cb, &lb, None),
        );
        ra.unwrap();
        rb.unwrap();
        assert!(names(&c, "444455556666") && names(&c, "777788889999"));
        // Rolling back one (the inverse edit, converging) keeps the other.
        let undo = KeyEdit::Remove { added: &a.added };
        let out = converge(
            &conn.reader,
            &conn.writer,
            KEY,
            undo,
            &fast(4),
            &NoLog,
            None,
        )
        .await
        .unwrap();
        assert!(out.wrote);
        assert!(!names(&c, "444455556666") && names(&c, "777788889999"));
    }

    /// A statement this run adds to, rewritten by someone else: a clear error naming it, and
    /// nothing written.
    #[tokio::test]
    async fn a_conflicting_change_stops_with_the_statement_named() {
        let c = cloud();
        let conn = c.conn(EDITOR, "us-east-1");
        let with = policy::edit::add_key_users(BASE, KEY, &["777788889999".into()], EDITOR)
            .unwrap()
            .text;
        let mine =
            policy::edit::add_key_users(&with, KEY, &["444455556666".into()], EDITOR).unwrap();
        set_policy(&c, &with.replace("\"kms:ReEncrypt*\",", ""));
        let edit = KeyEdit::Add {
            before: &with,
            after: &mine.text,
            added: &mine.added,
        };
        let err = converge(
            &conn.reader,
            &conn.writer,
            KEY,
            edit,
            &fast(5),
            &NoLog,
            None,
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("statement `Allow use of the key`"),
            "{err}"
        );
        assert!(!names(&c, "444455556666"));
    }
}
