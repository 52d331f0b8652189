//! The run journal: what a run planned and, step by step, what it did (written before and after
//! each step), so that `amishare rollback RUN_ID` can undo it and a rerun after an interruption can
//! continue. The data lives here; where it is stored is a port ([`JournalStore`]), implemented on
//! files by [`crate::state::FileJournalStore`] and in memory by [`MemoryJournalStore`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::plan::{Action, Plan, Step};
use crate::policy::edit::AddedPrincipal;

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    /// Written before the call: the call may or may not have happened.
    Started,
    Done,
    Failed,
    /// Undone by a rollback.
    RolledBack,
}

/// One step's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The step as planned (kept whole: a resumed run plans again, with other step ids).
    pub step: Step,
    pub state: StepState,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// What the step changes, before (e.g. the key policy text).
    pub before: Option<String>,
    /// What it wrote (e.g. the key policy as read back).
    pub after: Option<String>,
    /// Resources the step created: image ids, instance ids, policy ARNs, version ids.
    pub created: Vec<String>,
    pub error: Option<String>,
    /// A contended key-policy edit's attempts, each recorded before its PutKeyPolicy and after
    /// its read back (`workflow::copy::apply::key_policy`); absent in journals of earlier
    /// binaries and for every other step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<EditAttempt>,
}

/// One attempt of a key-policy edit: what it wrote (the current policy of the moment with this
/// run's additions, or without them for a revocation), and what it read back. An attempt with
/// no `read_back` may or may not have been written (the run stopped in between): rollback and
/// resume treat its changes as possibly made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditAttempt {
    /// 1-based.
    pub attempt: u32,
    pub started_at: String,
    /// The principals/statements this attempt adds (undone by rollback).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<AddedPrincipal>,
    /// The principals/statements this attempt removes (a revocation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<AddedPrincipal>,
    /// An IAM policy version attempt (`KmsKeyUsagePolicy`): the KMS key ARNs it adds to what
    /// the default version covered (undone by rollback).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// The policy the attempt sent with PutKeyPolicy (or CreatePolicyVersion); empty when the edit was there already
    /// (nothing was written: this run added nothing).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub written: String,
    /// Whether the policy had changed since the plan (or the previous attempt) and this run's
    /// edit was merged again into the current document.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merged: bool,
    /// The policy read back after the write (absent until then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_back: Option<String>,
}

impl JournalEntry {
    /// What a key-policy step may have added, for rollback to remove: every attempt's additions
    /// (an attempt is journalled before its write, so it may have been written); for a journal of
    /// an earlier binary (no attempts), the planned additions when the step was done, started
    /// (the write may have happened) or failed after writing (its read back differed).
    pub fn key_policy_additions(&self) -> Vec<AddedPrincipal> {
        let planned = match &self.step.action {
            Action::PutKeyPolicy { added, .. } | Action::PutTargetKeyPolicy { added, .. } => added,
            _ => return Vec::new(),
        };
        let mut out: Vec<AddedPrincipal> = Vec::new();
        if self.attempts.is_empty() {
            let wrote = match self.state {
                StepState::Done | StepState::Started => true,
                StepState::Failed => self
                    .error
                    .as_deref()
                    .is_some_and(|e| e.contains("read back differs")),
                StepState::RolledBack => false,
            };
            if wrote {
                out.clone_from(planned);
            }
            return out;
        }
        for a in self.attempts.iter().flat_map(|a| &a.added) {
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Running,
    /// Every step done.
    Completed,
    /// Some steps failed (others may be done).
    Failed,
    /// Stopped by Ctrl-C or a crash (status still `running` on disk after a crash).
    Interrupted,
    RolledBack,
}

/// The whole record of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub run_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub status: RunStatus,
    /// 1 for the first run; a resumed run plans again as attempt 2, 3, ...
    #[serde(default)]
    pub attempt: u32,
    pub plan: Plan,
    /// Step id -> record.
    pub entries: BTreeMap<String, JournalEntry>,
    /// Test instances launched and whether their termination was confirmed.
    pub instances: BTreeMap<String, InstanceRecord>,
    /// Temporary launch templates and Auto Scaling groups of launcher test launches (both carry
    /// the same name), recorded before they are created, and whether both are deleted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupRecord>,
}

/// A temporary test group and its launch template (same name): where, and whether both are gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub account: String,
    pub region: String,
    pub deleted: bool,
}

/// A test instance: where it is and whether it is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub account: String,
    pub region: String,
    pub terminated: bool,
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Journal {
    pub fn new(plan: Plan) -> Self {
        let t = now();
        Self {
            run_id: plan.run_id.clone(),
            created_at: t.clone(),
            updated_at: t,
            status: RunStatus::Running,
            attempt: 1,
            plan,
            entries: BTreeMap::new(),
            instances: BTreeMap::new(),
            groups: BTreeMap::new(),
        }
    }

    pub fn entry(&self, step_id: &str) -> Option<&JournalEntry> {
        self.entries.get(step_id)
    }

    pub fn is_done(&self, step_id: &str) -> bool {
        self.entry(step_id).map(|e| e.state) == Some(StepState::Done)
    }

    /// Test instances whose termination was never confirmed.
    pub fn unconfirmed_instances(&self) -> Vec<(String, InstanceRecord)> {
        self.instances
            .iter()
            .filter(|(_, r)| !r.terminated)
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect()
    }
}

impl Journal {
    /// Test groups and templates whose deletion was never confirmed.
    pub fn undeleted_groups(&self) -> Vec<(String, GroupRecord)> {
        self.groups
            .iter()
            .filter(|(_, r)| !r.deleted)
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect()
    }
}

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("no run `{run_id}` in {dir}")]
    NotFound { run_id: String, dir: String },
    #[error("cannot write the journal {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("cannot read the journal {path}: {reason}")]
    Read { path: String, reason: String },
}

/// Where journals are kept.
pub trait JournalStore: Send + Sync {
    fn save(&self, journal: &Journal) -> Result<(), JournalError>;
    fn load(&self, run_id: &str) -> Result<Journal, JournalError>;
    /// Every journal, newest first.
    fn list(&self) -> Result<Vec<Journal>, JournalError>;
}

/// Journals in memory (unit tests).
#[derive(Debug, Default)]
pub struct MemoryJournalStore {
    pub journals: Mutex<BTreeMap<String, Journal>>,
}

impl JournalStore for MemoryJournalStore {
    fn save(&self, journal: &Journal) -> Result<(), JournalError> {
        let mut map = self.journals.lock().map_err(|e| JournalError::Write {
            path: "memory".into(),
            reason: e.to_string(),
        })?;
        map.insert(journal.run_id.clone(), journal.clone());
        Ok(())
    }

    fn load(&self, run_id: &str) -> Result<Journal, JournalError> {
        let map = self.journals.lock().map_err(|e| JournalError::Read {
            path: "memory".into(),
            reason: e.to_string(),
        })?;
        map.get(run_id)
            .cloned()
            .ok_or_else(|| JournalError::NotFound {
                run_id: run_id.to_string(),
                dir: "memory".into(),
            })
    }

    fn list(&self) -> Result<Vec<Journal>, JournalError> {
        let map = self.journals.lock().map_err(|e| JournalError::Read {
            path: "memory".into(),
            reason: e.to_string(),
        })?;
        let mut all: Vec<Journal> = map.values().cloned().collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(all)
    }
}

/// A journal shared by concurrent steps: every update is saved at once.
pub struct LiveJournal<'a, S: JournalStore + ?Sized> {
    store: &'a S,
    journal: Mutex<Journal>,
}

impl<'a, S: JournalStore + ?Sized> LiveJournal<'a, S> {
    pub fn new(store: &'a S, journal: Journal) -> Result<Self, JournalError> {
        store.save(&journal)?;
        Ok(Self {
            store,
            journal: Mutex::new(journal),
        })
    }

    /// Change the journal and save it.
    pub fn update(&self, f: impl FnOnce(&mut Journal)) -> Result<(), JournalError> {
        let mut guard = self.journal.lock().map_err(|e| JournalError::Write {
            path: "journal".into(),
            reason: e.to_string(),
        })?;
        f(&mut guard);
        guard.updated_at = now();
        self.store.save(&guard)
    }

    /// A copy of the journal as it is now.
    pub fn snapshot(&self) -> Journal {
        match self.journal.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Record that a step is about to run.
    pub fn begin(&self, step: &Step, before: Option<String>) -> Result<(), JournalError> {
        let step_id = step.id.clone();
        self.update(|j| {
            let created = j
                .entries
                .get(&step_id)
                .map(|e| e.created.clone())
                .unwrap_or_default();
            j.entries.insert(
                step_id.clone(),
                JournalEntry {
                    step: step.clone(),
                    state: StepState::Started,
                    started_at: now(),
                    finished_at: None,
                    before,
                    after: None,
                    created,
                    error: None,
                    attempts: Vec::new(),
                },
            );
        })
    }

    /// Record a created resource right away (before the step finishes).
    pub fn created(&self, step_id: &str, id: &str) -> Result<(), JournalError> {
        self.update(|j| {
            if let Some(e) = j.entries.get_mut(step_id) {
                if !e.created.iter().any(|c| c == id) {
                    e.created.push(id.to_string());
                }
            }
        })
    }

    /// Record an attempt of a contended edit, before its write.
    pub fn attempt_begun(&self, step_id: &str, attempt: EditAttempt) -> Result<(), JournalError> {
        self.update(|j| {
            if let Some(e) = j.entries.get_mut(step_id) {
                e.attempts.push(attempt);
            }
        })
    }

    /// Record what an attempt read back after its write.
    pub fn attempt_read_back(
        &self,
        step_id: &str,
        attempt: u32,
        read_back: &str,
    ) -> Result<(), JournalError> {
        self.update(|j| {
            if let Some(a) = j
                .entries
                .get_mut(step_id)
                .and_then(|e| e.attempts.iter_mut().rev().find(|a| a.attempt == attempt))
            {
                a.read_back = Some(read_back.to_string());
            }
        })
    }

    /// Record that a step finished.
    pub fn finish(
        &self,
        step_id: &str,
        result: Result<Option<String>, String>,
    ) -> Result<(), JournalError> {
        self.update(|j| {
            if let Some(e) = j.entries.get_mut(step_id) {
                e.finished_at = Some(now());
                match result {
                    Ok(after) => {
                        e.state = StepState::Done;
                        e.after = after;
                    }
                    Err(err) => {
                        e.state = StepState::Failed;
                        e.error = Some(err);
                    }
                }
            }
        })
    }

    pub fn instance_launched(
        &self,
        instance_id: &str,
        account: &str,
        region: &str,
    ) -> Result<(), JournalError> {
        self.update(|j| {
            j.instances.insert(
                instance_id.to_string(),
                InstanceRecord {
                    account: account.to_string(),
                    region: region.to_string(),
                    terminated: false,
                },
            );
        })
    }

    pub fn instance_terminated(&self, instance_id: &str) -> Result<(), JournalError> {
        self.update(|j| {
            if let Some(r) = j.instances.get_mut(instance_id) {
                r.terminated = true;
            }
        })
    }

    /// Record a test group and template about to be created (before the calls).
    pub fn group_created(
        &self,
        name: &str,
        account: &str,
        region: &str,
    ) -> Result<(), JournalError> {
        self.update(|j| {
            j.groups.insert(
                name.to_string(),
                GroupRecord {
                    account: account.to_string(),
                    region: region.to_string(),
                    deleted: false,
                },
            );
        })
    }

    /// Record that a test group and its template are deleted.
    pub fn group_deleted(&self, name: &str) -> Result<(), JournalError> {
        self.update(|j| {
            if let Some(r) = j.groups.get_mut(name) {
                r.deleted = true;
            }
        })
    }

    pub fn set_status(&self, status: RunStatus) -> Result<(), JournalError> {
        self.update(|j| j.status = status)
    }
}
