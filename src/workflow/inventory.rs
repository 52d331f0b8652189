//! Plain data read from AWS: what the read port ([`super::ports::Reader`]) returns.
//!
//! Values only (Serialize, Clone): no SDK types, no decisions. Optional fields are `None` when AWS
//! did not return them, which is itself information (e.g. a shared image has no launch
//! permissions visible to its borrower).

use serde::Serialize;

use crate::domain::states::{ImageState, InstanceState, KeyManager, KeyState};

/// Who a set of credentials is (STS GetCallerIdentity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
}

/// One AMI (DescribeImages, plus DescribeImageAttribute launchPermission when we own it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageInfo {
    pub id: String,
    pub name: Option<String>,
    pub owner: Option<String>,
    /// `available`, `pending`, `failed`, `deregistered`, ...
    pub state: Option<ImageState>,
    pub architecture: Option<String>,
    pub creation_date: Option<String>,
    pub block_devices: Vec<ImageBlockDevice>,
    /// Read only when the caller owns the image; `None` when not owned or not readable.
    pub launch_permissions: Option<Vec<LaunchPermission>>,
    pub tags: Vec<Tag>,
}

impl ImageInfo {
    /// Snapshot ids of every EBS block device, in mapping order, without duplicates.
    pub fn snapshot_ids(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for d in &self.block_devices {
            if let Some(s) = &d.snapshot_id {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageBlockDevice {
    pub device: Option<String>,
    pub snapshot_id: Option<String>,
    pub encrypted: Option<bool>,
    /// Rarely returned by DescribeImages; the snapshot's own key is authoritative.
    pub kms_key_id: Option<String>,
    pub volume_size: Option<i32>,
    pub volume_type: Option<String>,
}

/// A launch permission entry (image attribute `launchPermission`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchPermission {
    pub user_id: Option<String>,
    /// `all` for a public image.
    pub group: Option<String>,
    pub organization_arn: Option<String>,
    pub organizational_unit_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// One EBS snapshot (DescribeSnapshots, plus createVolumePermission when we own it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotInfo {
    pub id: String,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    pub owner: Option<String>,
    /// `pending`, `completed`, `error`, ...
    pub state: Option<String>,
    /// e.g. `"100%"`.
    pub progress: Option<String>,
    pub volume_size: Option<i32>,
    /// Read only when the caller owns the snapshot; `None` otherwise.
    pub create_volume_permissions: Option<Vec<CreateVolumePermission>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateVolumePermission {
    pub user_id: Option<String>,
    pub group: Option<String>,
}

/// KMS DescribeKey, plus the key's aliases when they can be listed (own account only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyDescription {
    pub arn: String,
    pub key_id: String,
    pub account: String,
    pub region: String,
    /// `AWS` or `CUSTOMER`.
    pub key_manager: Option<KeyManager>,
    /// `Enabled`, `Disabled`, `PendingDeletion`, `PendingImport`, `Unavailable`, ...
    pub key_state: Option<KeyState>,
    pub multi_region: Option<bool>,
    pub description: Option<String>,
    pub origin: Option<String>,
    /// `SYMMETRIC_DEFAULT`, `RSA_2048`, `HMAC_256`, ... (EBS uses only `SYMMETRIC_DEFAULT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<String>,
    /// `None`: not listable from this account (ListAliases only sees the caller's own aliases).
    pub aliases: Option<Vec<String>>,
}

impl KeyDescription {
    pub fn is_aws_managed(&self) -> bool {
        self.key_manager == Some(KeyManager::Aws)
    }
}

/// One KMS alias (ListAliases).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AliasEntry {
    /// `alias/...`.
    pub name: String,
    pub target_key_id: Option<String>,
}

/// One KMS grant (ListGrants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantInfo {
    pub grant_id: Option<String>,
    pub name: Option<String>,
    pub grantee_principal: Option<String>,
    pub retiring_principal: Option<String>,
    pub issuing_account: Option<String>,
    pub operations: Vec<String>,
    /// Encryption context constraints, as JSON (`{"EncryptionContextSubset": {...}}`), if any.
    pub constraints: Option<String>,
    pub creation_date: Option<String>,
}

pub use crate::domain::arn::PrincipalKind;

/// Where an identity policy document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicySource {
    /// A managed policy attached to the user/role/group itself (its default version).
    Attached,
    /// An inline policy of the user/role/group itself.
    Inline,
    /// A managed policy attached to a group the user is in.
    GroupAttached,
    /// An inline policy of a group the user is in.
    GroupInline,
}

/// One identity policy document, with what identifies it (for evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityPolicyDoc {
    pub source: PolicySource,
    /// Policy name (managed or inline).
    pub name: String,
    /// Managed policy ARN; `None` for inline policies.
    pub arn: Option<String>,
    /// Default version id of a managed policy.
    pub version_id: Option<String>,
    /// The group it came through (for group policies).
    pub group: Option<String>,
    /// The policy JSON, URL-decoded.
    pub document: String,
}

/// Every identity policy that applies to a principal (no permission boundaries, SCPs or session
/// policies: those are reported as unseen by the caller of this port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityPolicies {
    pub principal_arn: String,
    pub kind: PrincipalKind,
    /// User, role or group name (`None` for root).
    pub name: Option<String>,
    /// Groups of a user.
    pub groups: Vec<String>,
    pub policies: Vec<IdentityPolicyDoc>,
}

/// One EC2 instance (DescribeInstances + DescribeVolumes of its volumes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceInfo {
    pub id: String,
    /// `pending`, `running`, `shutting-down`, `terminated`, `stopping`, `stopped`.
    pub state: Option<InstanceState>,
    pub state_reason: Option<StateReason>,
    pub state_transition_reason: Option<String>,
    pub image_id: Option<String>,
    pub instance_type: Option<String>,
    /// RFC 3339.
    pub launch_time: Option<String>,
    pub volumes: Vec<VolumeInfo>,
    /// The instance profile ARN, if any.
    pub iam_instance_profile: Option<String>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateReason {
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeInfo {
    pub volume_id: String,
    pub device: Option<String>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    pub snapshot_id: Option<String>,
}

/// What to look up in CloudTrail's event history (LookupEvents takes one attribute per call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventFilter {
    EventName(String),
    /// A resource name or id, e.g. an instance id or a key ARN.
    ResourceName(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventQuery {
    pub filter: EventFilter,
    pub start: chrono::DateTime<chrono::Utc>,
    pub end: chrono::DateTime<chrono::Utc>,
    /// Stop after this many events (all pages are read up to it).
    pub max_events: usize,
}

/// A CloudTrail event, with the fields diagnosis quotes parsed out of its JSON record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailEvent {
    pub event_id: Option<String>,
    pub event_name: String,
    /// RFC 3339.
    pub event_time: Option<String>,
    pub event_source: Option<String>,
    pub aws_region: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// `userIdentity.arn`.
    pub user_arn: Option<String>,
    /// `userIdentity.type` (`IAMUser`, `AssumedRole`, `AWSService`, ...).
    pub user_type: Option<String>,
    /// `userIdentity.sessionContext.sessionIssuer.arn` (the role behind a session).
    pub session_issuer_arn: Option<String>,
    /// `userIdentity.invokedBy` (e.g. `autoscaling.amazonaws.com`, `ec2.amazonaws.com`).
    pub invoked_by: Option<String>,
    pub source_ip: Option<String>,
    /// `requestParameters.keyId`.
    pub key_id: Option<String>,
    /// `requestParameters.granteePrincipal`.
    pub grantee_principal: Option<String>,
    /// Instance ids named in the request or response.
    pub instance_ids: Vec<String>,
    /// The `aws:ebs:id` of the request's encryption context (grant constraint or
    /// `encryptionContext`): the volume, snapshot or instance EC2 used the key for.
    pub ebs_id: Option<String>,
    /// The event's resources (record `resources[].ARN`, LookupEvents `Resources[].ResourceName`).
    pub resources: Vec<String>,
}
