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
    /// `SnapshotCopyCompletionDurationMinutes`: a time-based copy (`--copy-duration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_minutes: Option<u32>,
}

/// An image's lifecycle settings as DescribeImages shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLifecycle {
    /// `DeprecationTime` (RFC 3339), when deprecation is enabled.
    pub deprecation_time: Option<String>,
    /// `DeregistrationProtection`: `disabled`, `enabled-without-cooldown`,
    /// `enabled-with-cooldown`, ... as AWS words it.
    pub deregistration_protection: Option<String>,
}

impl ImageLifecycle {
    /// Neither deprecation nor protection is known.
    pub fn is_unset(&self) -> bool {
        self.deprecation_time.is_none() && self.deregistration_protection.is_none()
    }

    /// Protection is on (with or without cooldown).
    pub fn protected(&self) -> bool {
        self.deregistration_protection
            .as_deref()
            .is_some_and(|p| p.starts_with("enabled"))
    }
}

/// An SSM parameter as GetParameter shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsmParameter {
    pub name: String,
    pub value: String,
    /// `String`, `StringList` or `SecureString`.
    pub kind: String,
    /// `text`, `aws:ec2:image`, ...
    pub data_type: String,
    pub version: i64,
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
    /// Deprecation and deregistration protection, as DescribeImages shows them.
    #[serde(default, skip_serializing_if = "ImageLifecycle::is_unset")]
    pub lifecycle: ImageLifecycle,
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

/// KMS CreateGrant, called directly (not by an AWS service) from the writer's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRequest {
    pub key_arn: String,
    pub grantee_principal: String,
    /// Operation names without the `kms:` prefix (`Decrypt`, `CreateGrant`, ...).
    pub operations: Vec<String>,
    pub retiring_principal: Option<String>,
    pub name: String,
}

/// A test launch through Auto Scaling (issue 11): a launch template and a group of one instance
/// (min = max = desired = 1), both named `name`, launched by the account's Auto Scaling
/// service-linked role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupLaunchRequest {
    pub name: String,
    pub image_id: String,
    pub instance_type: String,
    /// The group's subnet; `None`: the region's first available zone (default VPC).
    pub subnet_id: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// What a test group shows (DescribeAutoScalingGroups + DescribeScalingActivities).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStatus {
    /// The group still exists (it may be deleting).
    pub exists: bool,
    pub instance_ids: Vec<String>,
    /// An instance of the group is `InService`.
    pub in_service: bool,
    /// Every scaling activity finished (none `InProgress`/waiting).
    pub activities_done: bool,
    /// The newest `Failed` or `Cancelled` activity: its StatusMessage (else its description).
    pub failed_activity: Option<String>,
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

    /// KMS CreateGrant (direct call); returns the grant id.
    fn create_grant(
        &self,
        request: &GrantRequest,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// KMS RetireGrant of the grant `grant_id` on `key_arn` (rollback of [`Writer::create_grant`]).
    fn retire_grant(
        &self,
        key_arn: &str,
        grant_id: &str,
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

    /// IAM CreateServiceLinkedRole for `service` (e.g. `autoscaling.amazonaws.com`): `Some(role
    /// ARN)` when created, `None` when it exists already.
    fn create_service_linked_role(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;

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

    /// A writer acting as `role_arn`, assumed with this writer's credentials (STS AssumeRole,
    /// chained). Writers that cannot assume roles answer an error.
    fn assume_role(&self, role_arn: &str) -> impl Future<Output = Result<Self, AwsError>> + Send
    where
        Self: Sized,
    {
        let e = unsupported("sts", "AssumeRole", role_arn);
        async move { Err(e) }
    }

    /// EC2 CreateLaunchTemplate for a test group (no public IP); returns the template id.
    fn create_launch_template(
        &self,
        request: &GroupLaunchRequest,
    ) -> impl Future<Output = Result<String, AwsError>> + Send {
        let e = unsupported("ec2", "CreateLaunchTemplate", &request.name);
        async move { Err(e) }
    }

    /// EC2 DeleteLaunchTemplate by name; a template that does not exist is not an error.
    fn delete_launch_template(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        let e = unsupported("ec2", "DeleteLaunchTemplate", name);
        async move { Err(e) }
    }

    /// Auto Scaling CreateAutoScalingGroup of one instance from the template `request.name`.
    fn create_test_group(
        &self,
        request: &GroupLaunchRequest,
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        let e = unsupported("autoscaling", "CreateAutoScalingGroup", &request.name);
        async move { Err(e) }
    }

    /// The test group's instances and scaling activities.
    fn test_group_status(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<GroupStatus, AwsError>> + Send {
        let e = unsupported("autoscaling", "DescribeAutoScalingGroups", name);
        async move { Err(e) }
    }

    /// The test group's instances only (DescribeAutoScalingGroups, not its scaling
    /// activities: `activities_done` and `failed_activity` are not read): what deleting a group
    /// waits on, so a cleanup does not depend on DescribeScalingActivities answering.
    fn test_group_instances(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<GroupStatus, AwsError>> + Send {
        self.test_group_status(name)
    }

    /// Auto Scaling DeleteAutoScalingGroup with ForceDelete (its instances are terminated); a
    /// group that does not exist is not an error.
    fn delete_test_group(&self, name: &str) -> impl Future<Output = Result<(), AwsError>> + Send {
        let e = unsupported("autoscaling", "DeleteAutoScalingGroup", name);
        async move { Err(e) }
    }

    // -- The copy's lifecycle (`--deprecate-in`, `--deregistration-protection`, `--ssm-parameter`).

    /// EnableImageDeprecation at `deprecate_at` (RFC 3339, UTC); `None`: DisableImageDeprecation.
    fn set_image_deprecation(
        &self,
        image_id: &str,
        deprecate_at: Option<&str>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// EnableImageDeregistrationProtection (`WithCooldown` as given), or
    /// DisableImageDeregistrationProtection.
    fn set_deregistration_protection(
        &self,
        image_id: &str,
        enable: bool,
        with_cooldown: bool,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// DescribeImages of one image: its deprecation time and deregistration protection.
    /// Not found: `Ok(None)`.
    fn image_lifecycle(
        &self,
        image_id: &str,
    ) -> impl Future<Output = Result<Option<ImageLifecycle>, AwsError>> + Send;

    /// SSM GetParameter (no decryption); `None` when it does not exist.
    fn get_parameter(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<SsmParameter>, AwsError>> + Send;

    /// SSM PutParameter, `Type=String`, this data type, `Overwrite=true`.
    fn put_parameter(
        &self,
        name: &str,
        value: &str,
        data_type: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// SSM DeleteParameter.
    fn delete_parameter(&self, name: &str) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The call `probe` describes, with `DryRun=true`. Writers that cannot probe say so.
    fn dry_run(&self, probe: &DryRunProbe) -> impl Future<Output = DryRunOutcome> + Send {
        let _ = probe;
        async { DryRunOutcome::NotProbed }
    }
}

/// The answer of a writer that does not implement an optional call.
fn unsupported(service: &'static str, api: &'static str, what: &str) -> AwsError {
    AwsError::new(
        service,
        api,
        format!("this connection cannot call {api} (for `{what}`)"),
    )
}
