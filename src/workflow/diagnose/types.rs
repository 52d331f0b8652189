//! The values of a diagnosis: what to diagnose and how, and what comes back (outcome, causes with
//! evidence and fixes, what could not be read, what was found about each key).

use serde::Serialize;
use serde_json::Value;

use super::code::CauseCode;
use crate::policy::{Analysis, Finding, Operation};
use crate::workflow::inventory::{
    ImageInfo, InstanceInfo, KeyDescription, PolicySource, TrailEvent,
};
use crate::workflow::ports::AwsError;

/// What to diagnose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DiagnoseTarget {
    /// An instance that failed to launch (or start). `principal`: who launched it, when known
    /// (the copy workflow knows); otherwise read from CloudTrail.
    Instance {
        instance_id: String,
        principal: Option<String>,
    },
    /// Before launching: can `principal` launch `image_id`?
    Ami { image_id: String, principal: String },
}

/// Knobs of the diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagnoseOptions {
    /// CloudTrail window around the launch time.
    pub trail_before: chrono::Duration,
    pub trail_after: chrono::Duration,
    /// At most this many events per CloudTrail lookup.
    pub max_events: usize,
    /// What the principal does with the AMI.
    pub operation: Operation,
    /// The time used when the instance has no launch time (AMI mode: now).
    pub now: chrono::DateTime<chrono::Utc>,
    /// The SCPs on the launch account's path (`--org-profile`); `None`: not read.
    pub scps: Option<crate::workflow::guardrail_facts::PathFact>,
}

impl Default for DiagnoseOptions {
    fn default() -> Self {
        Self {
            trail_before: chrono::Duration::minutes(15),
            trail_after: chrono::Duration::minutes(60),
            max_events: 500,
            operation: Operation::Launch,
            now: chrono::Utc::now(),
            scps: None,
        }
    }
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiagnosisOutcome {
    /// Nothing is wrong (a healthy instance, or a launch that will work): exit 0.
    NoProblem,
    /// At least one cause was found: exit 1.
    CauseFound,
    /// It could not decide (something needed could not be read): exit 3.
    Undecided,
}

/// Where the principal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalSource {
    /// Given by the caller (`--principal`, or the copy workflow).
    Given,
    /// The instance's RunInstances/StartInstances event in CloudTrail.
    Cloudtrail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrincipalInfo {
    pub arn: String,
    pub source: PrincipalSource,
    /// `userIdentity.invokedBy` of the launch event (e.g. `autoscaling.amazonaws.com`).
    pub invoked_by: Option<String>,
    /// Identity policies read (names/ARNs); `None` when not read.
    pub identity_policies: Option<Vec<PolicyName>>,
}

impl PrincipalInfo {
    /// A principal given by the caller, its identity policies not read yet.
    pub(super) fn given(arn: &str) -> Self {
        Self {
            arn: arn.to_string(),
            source: PrincipalSource::Given,
            invoked_by: None,
            identity_policies: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyName {
    pub source: PolicySource,
    pub name: String,
    pub arn: Option<String>,
    pub group: Option<String>,
}

/// One piece of evidence for a cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Evidence {
    /// The instance's StateReason.
    StateReason {
        instance_id: String,
        code: Option<String>,
        message: Option<String>,
    },
    /// A CloudTrail event (a KMS denial).
    Event {
        event_name: String,
        event_time: Option<String>,
        error_code: Option<String>,
        error_message: Option<String>,
        user_arn: Option<String>,
        event_id: Option<String>,
    },
    /// A policy statement (as written).
    Statement {
        policy: String,
        sid: Option<String>,
        index: usize,
        statement: Option<Value>,
    },
    /// What DescribeKey says.
    Key {
        key_arn: String,
        key_manager: Option<String>,
        key_state: Option<String>,
        account: String,
    },
}

/// A file to write and pass to a command (`file://NAME`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixDocument {
    pub file_name: String,
    /// Which account the document is for.
    pub account: String,
    pub content: Value,
}

/// How to fix one cause: documents to write and commands that apply them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CauseFix {
    pub summary: String,
    /// Key policy statements to add (or to put in place of `remove`d ones).
    pub key_policy_statements: Vec<Value>,
    /// Statements for the principal's identity policy.
    pub identity_policy_statements: Vec<Value>,
    /// What to remove or replace, in words.
    pub remove: Vec<String>,
    /// Complete documents, ready to pass to the commands.
    pub documents: Vec<FixDocument>,
    /// aws CLI (or amishare) commands, in order.
    pub commands: Vec<String>,
}

/// One cause of the failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cause {
    pub rank: usize,
    /// A finding code (docs/DESIGN.md), or `key-disabled`, `key-pending-deletion`,
    /// `kms-access-denied` (a denial seen in CloudTrail that the policies read do not explain).
    pub code: CauseCode,
    pub key_arn: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    pub evidence: Vec<Evidence>,
    pub fix: Option<CauseFix>,
}

/// Something that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unseen {
    /// What, e.g. "key policy of arn:aws:kms:...".
    pub what: String,
    /// What AWS answered.
    pub error: Option<AwsError>,
    /// What that means for the verdict.
    pub meaning: String,
    /// How to see it.
    pub how_to_see: String,
}

/// What was found about one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyReport {
    /// As referenced by the volume/snapshot.
    pub key_id: String,
    pub description: Option<KeyDescription>,
    /// The volumes/snapshots encrypted with it.
    pub used_by: Vec<String>,
    pub policy_read: bool,
    pub grants_read: Option<usize>,
    pub analysis: Option<Analysis>,
}

/// The result of [`diagnose_launch`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    pub target: DiagnoseTarget,
    pub outcome: DiagnosisOutcome,
    /// One line.
    pub summary: String,
    pub account: String,
    pub region: String,
    pub instance: Option<InstanceInfo>,
    pub image: Option<ImageInfo>,
    pub principal: Option<PrincipalInfo>,
    pub keys: Vec<KeyReport>,
    pub causes: Vec<Cause>,
    /// Findings that are not causes (warnings, lints), and causes that could not be confirmed.
    pub warnings: Vec<Finding>,
    pub denials: Vec<TrailEvent>,
    pub unseen: Vec<Unseen>,
}

/// A failure of the diagnosis itself (not a finding): AWS answered something unexpected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiagnoseError {
    #[error("instance `{instance_id}` not found in {region}")]
    InstanceNotFound {
        instance_id: String,
        region: String,
        source: AwsError,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl DiagnoseError {
    pub fn hint(&self) -> Option<String> {
        match self {
            DiagnoseError::InstanceNotFound { .. } => Some(
                "check the instance id and pass the instance's account (`--profile`) and region (`--region`)".to_string(),
            ),
            DiagnoseError::Aws(e) if e.is_access_denied() => Some(format!(
                "the credentials need `{}:{}`",
                e.service, e.operation
            )),
            DiagnoseError::Aws(_) => None,
        }
    }
}
