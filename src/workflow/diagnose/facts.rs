//! What the gathering read, as plain values: the whole input of the (pure) decision.
//!
//! [`super::gather`] fills these from the [`crate::workflow::ports::Reader`] port;
//! [`super::decide`] turns them into a [`super::Diagnosis`] without any I/O, so its tests build
//! them by hand.

use chrono::{DateTime, Utc};

use super::types::{DiagnoseTarget, PrincipalInfo, Unseen};
pub use crate::domain::states::KeyState;
use crate::policy::{Grant, KeyManager, PolicyDocument};
use crate::workflow::inventory::{
    IdentityPolicies, IdentityPolicyDoc, ImageInfo, InstanceInfo, KeyDescription, StateReason,
    TrailEvent,
};

/// Everything read for one diagnosis.
#[derive(Debug, Clone)]
pub struct Facts {
    pub target: DiagnoseTarget,
    /// The launch account and region (those of the reader).
    pub account: String,
    pub region: String,
    /// The instance's launch time, or the options' `now`.
    pub launch_time: DateTime<Utc>,
    /// The instance (instance mode). When it did not fail to launch, nothing else is read.
    pub instance: Option<InstanceInfo>,
    pub image: Option<ImageInfo>,
    /// Who launched (or will launch), with the names of its identity policies when read.
    pub principal: Option<PrincipalInfo>,
    /// The principal's identity policies as read (`None`: not read).
    pub identity: Option<IdentityPolicies>,
    /// Those of them that parse.
    pub identity_docs: Vec<PolicyDocument>,
    /// KMS refusals CloudTrail recorded around the launch, not yet matched to it.
    pub denials: Vec<TrailEvent>,
    /// The keys of the volumes and snapshots, in first-seen order.
    pub keys: Vec<KeyFacts>,
    /// What could not be read, in reading order (up to and including every key's reads).
    pub unseen: Vec<Unseen>,
    /// The principal's permissions boundary as read (`Absent`: none, or not read).
    pub boundary: crate::policy::Known<crate::policy::Boundary>,
}

impl Facts {
    /// Facts with nothing read yet.
    pub fn new(
        target: DiagnoseTarget,
        account: String,
        region: String,
        launch_time: DateTime<Utc>,
    ) -> Self {
        Self {
            target,
            account,
            region,
            launch_time,
            instance: None,
            image: None,
            principal: None,
            identity: None,
            identity_docs: Vec::new(),
            denials: Vec::new(),
            keys: Vec::new(),
            unseen: Vec::new(),
            boundary: crate::policy::Known::Absent,
        }
    }
}

/// One KMS key, with everything read about it.
#[derive(Debug, Clone)]
pub struct KeyFacts {
    /// As referenced by the volume/snapshot.
    pub key_id: String,
    /// The volumes/snapshots encrypted with it.
    pub used_by: Vec<String>,
    /// `None`: DescribeKey failed.
    pub key: Option<DescribedKey>,
    /// Problems with what the analysis uses (the key policy does not parse, grants unreadable):
    /// reported after every key's reads, just before this key's analysis.
    pub unseen: Vec<Unseen>,
}

/// A key DescribeKey answered for.
#[derive(Debug, Clone)]
pub struct DescribedKey {
    pub desc: KeyDescription,
    /// `desc.key_state`, typed (`None`: not shown).
    pub state: Option<KeyState>,
    pub manager: KeyManager,
    /// The key policy as read (`None`: not visible).
    pub policy_text: Option<String>,
    /// The key policy, when read and parsed (only when there is a principal to analyse).
    pub policy: Option<PolicyDocument>,
    /// The grants, when read and understood (only when there is a principal to analyse).
    pub grants: Option<Vec<Grant>>,
    /// Who would run put-key-policy (the key account's caller), when known.
    pub editor: Option<String>,
}

/// StateReason codes of a launch that failed (rather than an instance stopped by someone).
pub fn is_launch_failure(r: &StateReason) -> bool {
    matches!(
        r.code.as_deref(),
        Some("Client.InternalError" | "Server.InternalError" | "Client.InvalidKMSKey")
    ) || r.code.as_deref().is_some_and(|c| {
        c.starts_with("Client.InvalidKMSKey") || c.starts_with("Client.VolumeLimitExceeded")
    })
}

pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How the policy engine names an identity policy (its origin).
pub fn policy_origin(doc: &IdentityPolicyDoc) -> String {
    match (&doc.arn, &doc.group) {
        (Some(arn), _) => arn.clone(),
        (None, Some(g)) => format!("inline policy `{}` of group `{g}`", doc.name),
        (None, None) => format!("inline policy `{}`", doc.name),
    }
}
