//! Progress of the workflows as events: the workflow emits them, the CLI renders them (indicatif
//! progress bars on stderr), tests collect them.

use std::sync::Mutex;

use serde::Serialize;

/// Something the user may want to see happen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A phase started: `discover`, `plan`, `apply`, `copy`, `test-launch`, `rollback`.
    Phase { name: String },
    /// A plan step started.
    StepStarted { step: String, summary: String },
    /// A plan step finished (ok or not).
    StepFinished {
        step: String,
        ok: bool,
        detail: Option<String>,
    },
    /// A copy's progress in a target account and region.
    CopyProgress {
        account: String,
        region: String,
        image_id: String,
        state: String,
        percent: Option<u8>,
    },
    /// A copy finished (available or failed).
    CopyFinished {
        account: String,
        region: String,
        image_id: String,
        state: String,
    },
    /// A test instance changed state.
    LaunchState {
        account: String,
        region: String,
        instance_id: String,
        state: String,
    },
    /// Something worth a line on stderr.
    Note { message: String },
}

/// Where events go.
pub trait Events: Send + Sync {
    fn emit(&self, event: Event);
}

/// Drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEvents;

impl Events for NoEvents {
    fn emit(&self, _event: Event) {}
}

/// Keeps every event (tests).
#[derive(Debug, Default)]
pub struct CollectEvents {
    pub events: Mutex<Vec<Event>>,
}

impl CollectEvents {
    pub fn take(&self) -> Vec<Event> {
        match self.events.lock() {
            Ok(mut guard) => std::mem::take(&mut *guard),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl Events for CollectEvents {
    fn emit(&self, event: Event) {
        match self.events.lock() {
            Ok(mut guard) => guard.push(event),
            Err(poisoned) => poisoned.into_inner().push(event),
        }
    }
}
