//! The WRITE port: every change the copy and rollback workflows make in AWS, plus the few reads
//! that only they need (a managed policy by ARN, a copy's progress, an instance's state, the copies
//! amishare made earlier).
//!
//! Implemented with the AWS SDK by [`crate::aws::writer::SdkWriter`] and by in-memory fakes in the
//! workflow's unit tests. Same async style as the read port ([`super::ports::Reader`]):
//! return-position `impl Future + Send`, so take it as a generic (`W: Writer`).
//!
//! Adapters make no decisions: the workflow decides what to change and checks the results.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::ports::AwsError;
use crate::domain::states::{ImageState, InstanceState};

/// The tag key amishare puts on every copy it makes: the source image id.
pub const TAG_SOURCE_IMAGE: &str = "amishare:source-image";
/// The tag key naming the source account of a copy.
pub const TAG_SOURCE_ACCOUNT: &str = "amishare:source-account";
/// The tag key naming the run that made a copy or a test instance.
pub const TAG_RUN_ID: &str = "amishare:run-id";
/// The tag on a copy whose test launch succeeded (value `passed`), so a rerun need not launch again.
pub const TAG_TEST_LAUNCH: &str = "amishare:test-launch";
/// The tag on a test instance (value `test-launch`).
pub const TAG_PURPOSE: &str = "amishare:purpose";

/// A customer managed IAM policy (GetPolicy + GetPolicyVersion of its default version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub arn: String,
    pub default_version: String,
    /// The default version's document, URL-decoded.
    pub document: String,
    /// Every version id (IAM keeps at most five).
    pub versions: Vec<String>,
}

/// CopyImage, made by the target account in the target region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyImageRequest {
    pub source_image_id: String,
    pub source_region: String,
    pub name: String,
    pub description: String,
    /// Encrypt the copy with this key; `None`: the account's EBS default key (still encrypted).
    pub kms_key_id: Option<String>,
    /// Idempotency token: the same token gives the same copy.
    pub client_token: String,
    /// Tags of the new image, set by CopyImage itself (so a copy is never untagged, even when
    /// amishare is killed right after the call).
    pub tags: Vec<(String, String)>,
}

/// An image amishare copied (or is copying), with what its progress looks like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageStatus {
    pub image_id: String,
    /// `pending`, `available`, `failed`, ...
    pub state: Option<ImageState>,
    pub state_reason: Option<String>,
    /// Snapshot ids of the image's EBS block devices (known once AWS has created them).
    pub snapshot_ids: Vec<String>,
    /// Progress of the slowest snapshot, 0..=100, when AWS reports one.
    pub progress_percent: Option<u8>,
    pub tags: Vec<(String, String)>,
}

impl ImageStatus {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// RunInstances of one test instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchRequest {
    pub image_id: String,
    pub instance_type: String,
    pub subnet_id: Option<String>,
    pub tags: Vec<(String, String)>,
    pub client_token: String,
}

/// One instance's state (DescribeInstances).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub instance_id: String,
    /// `pending`, `running`, `shutting-down`, `terminated`, `stopping`, `stopped`; `None` when
    /// AWS no longer knows the instance.
    pub state: Option<InstanceState>,
    pub reason_code: Option<String>,
    pub reason_message: Option<String>,
}

/// An EC2 call made with `DryRun=true` (`--dry-run`): AWS checks the caller's permission for it
/// and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "api")]
pub enum DryRunProbe {
    /// Adding a launch permission for `account` on the source image.
    ModifyImageAttribute { image_id: String, account: String },
    /// CopyImage of the source image into this writer's region.
    CopyImage {
        source_image_id: String,
        source_region: String,
        kms_key_id: Option<String>,
    },
    /// RunInstances of the test instance.
    RunInstances {
        image_id: String,
        instance_type: String,
        subnet_id: Option<String>,
    },
}

impl DryRunProbe {
    pub fn api(&self) -> &'static str {
        match self {
            DryRunProbe::ModifyImageAttribute { .. } => "ec2:ModifyImageAttribute",
            DryRunProbe::CopyImage { .. } => "ec2:CopyImage",
            DryRunProbe::RunInstances { .. } => "ec2:RunInstances",
        }
    }
}

/// What AWS answered a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum DryRunOutcome {
    /// `DryRunOperation`: the call would have been allowed.
    Allowed,
    /// `UnauthorizedOperation` (or another access denial): the caller may not make it.
    Denied { message: String },
    /// Any other answer (e.g. the image is not visible yet): the permission is not known.
    Inconclusive { message: String },
    /// This writer makes no probes.
    NotProbed,
}

/// Everything the copy and rollback workflows change in one account and region.
pub trait Writer: Send + Sync {
    /// The account these credentials act in.
    fn account(&self) -> &str;

    /// The region this writer writes to (IAM is global).
    fn region(&self) -> &str;

    /// KMS PutKeyPolicy (policy name `default`; never bypasses the lockout safety check).
    fn put_key_policy(
        &self,
        key_arn: &str,
        policy: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// ModifyImageAttribute launchPermission: add (or remove) `account`.
    fn set_launch_permission(
        &self,
        image_id: &str,
        account: &str,
        add: bool,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// ModifySnapshotAttribute createVolumePermission: add (or remove) `account`.
    fn set_create_volume_permission(
        &self,
        snapshot_id: &str,
        account: &str,
        add: bool,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// ModifyImageAttribute launchPermission adding every one of `accounts` in one call (the
    /// default: one call per account, for implementations without a batch form).
    fn add_launch_permissions(
        &self,
        image_id: &str,
        accounts: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        async move {
            for a in accounts {
                self.set_launch_permission(image_id, a, true).await?;
            }
            Ok(())
        }
    }

    /// ModifySnapshotAttribute createVolumePermission adding every one of `accounts` in one
    /// call (the default: one call per account).
    fn add_create_volume_permissions(
        &self,
        snapshot_id: &str,
        accounts: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        async move {
            for a in accounts {
                self.set_create_volume_permission(snapshot_id, a, true)
                    .await?;
            }
            Ok(())
        }
    }

    /// GetPolicy + GetPolicyVersion + ListPolicyVersions; `None` when it does not exist.
    fn get_managed_policy(
        &self,
        policy_arn: &str,
    ) -> impl Future<Output = Result<Option<ManagedPolicy>, AwsError>> + Send;

    /// CreatePolicy; returns the policy ARN.
    fn create_policy(
        &self,
        name: &str,
        document: &str,
        description: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// CreatePolicyVersion as the default version (deleting the oldest non-default version first
    /// when five exist); returns the new version id.
    fn create_policy_version(
        &self,
        policy_arn: &str,
        document: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// SetDefaultPolicyVersion then DeletePolicyVersion of `delete_version` (rollback of a version).
    fn restore_policy_version(
        &self,
        policy_arn: &str,
        default_version: &str,
        delete_version: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// DeletePolicy (its non-default versions first). The policy must be detached everywhere.
    fn delete_policy(&self, policy_arn: &str) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Attach (or detach) a managed policy to the user, role or group named by `principal_arn`.
    fn set_policy_attachment(
        &self,
        principal_arn: &str,
        policy_arn: &str,
        attach: bool,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// CopyImage into this writer's region; returns the new image id.
    fn copy_image(
        &self,
        request: &CopyImageRequest,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// CreateTags on an image, snapshot or instance.
    fn tag(
        &self,
        resource_id: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The caller's own images tagged `amishare:source-image = source_image_id` (not
    /// deregistered), with their state.
    fn find_copies(
        &self,
        source_image_id: &str,
    ) -> impl Future<Output = Result<Vec<ImageStatus>, AwsError>> + Send;

    /// DescribeImages of one image and DescribeSnapshots of its snapshots (for the progress).
    /// Not found: `Ok(None)`.
    fn image_status(
        &self,
        image_id: &str,
    ) -> impl Future<Output = Result<Option<ImageStatus>, AwsError>> + Send;

    /// RunInstances of one instance; returns the instance id.
    fn run_instance(
        &self,
        request: &LaunchRequest,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// DescribeInstances of one instance.
    fn instance_status(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<InstanceStatus, AwsError>> + Send;

    /// TerminateInstances of one instance.
    fn terminate_instance(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// DeregisterImage.
    fn deregister_image(&self, image_id: &str)
        -> impl Future<Output = Result<(), AwsError>> + Send;

    /// DeleteSnapshot.
    fn delete_snapshot(
        &self,
        snapshot_id: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The call `probe` describes, with `DryRun=true`. Writers that cannot probe say so.
    fn dry_run(&self, probe: &DryRunProbe) -> impl Future<Output = DryRunOutcome> + Send {
        let _ = probe;
        async { DryRunOutcome::NotProbed }
    }
}
