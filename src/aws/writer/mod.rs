//! [`Writer`] implemented with the AWS SDK: one account, one region (IAM is global).
//!
//! Only SDK calls and translation here; the workflow decides what to call and checks results.
//! One file per AWS service ([`ec2`], [`kms`], [`iam`], [`autoscaling`]); this file holds the clients and the
//! port's glue.

mod autoscaling;
mod ec2;
mod iam;
mod kms;
mod ssm;

use super::error::AwsError;
use super::session::AwsSession;
use crate::workflow::ports_write::{
    CopyImageRequest, DryRunOutcome, DryRunProbe, GrantRequest, GroupLaunchRequest, GroupStatus,
    ImageLifecycle, ImageStatus, InstanceStatus, LaunchRequest, ManagedPolicy, SsmParameter,
    Writer,
};

/// SDK clients for one account and region.
#[derive(Debug, Clone)]
pub struct SdkWriter {
    account: String,
    region: String,
    ec2: aws_sdk_ec2::Client,
    kms: aws_sdk_kms::Client,
    iam: aws_sdk_iam::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    /// The session the clients come from (a launcher role is assumed with it).
    session: AwsSession,
    ssm: aws_sdk_ssm::Client,
}

impl SdkWriter {
    pub fn new(session: &AwsSession) -> Self {
        Self {
            account: session.account.clone(),
            region: session.region.clone(),
            ec2: session.ec2(),
            kms: session.kms(),
            iam: session.iam(),
            autoscaling: session.autoscaling(),
            session: session.clone(),
            ssm: session.ssm(),
        }
    }
}

impl Writer for SdkWriter {
    fn account(&self) -> &str {
        &self.account
    }

    fn region(&self) -> &str {
        &self.region
    }

    async fn put_key_policy(&self, key_arn: &str, policy: &str) -> Result<(), AwsError> {
        kms::put_key_policy(&self.kms, key_arn, policy).await
    }

    async fn create_grant(&self, request: &GrantRequest) -> Result<String, AwsError> {
        kms::create_grant(&self.kms, request).await
    }

    async fn retire_grant(&self, key_arn: &str, grant_id: &str) -> Result<(), AwsError> {
        kms::retire_grant(&self.kms, key_arn, grant_id).await
    }

    async fn set_launch_permission(
        &self,
        image_id: &str,
        account: &str,
        add: bool,
    ) -> Result<(), AwsError> {
        ec2::set_launch_permission(&self.ec2, image_id, account, add).await
    }

    async fn set_create_volume_permission(
        &self,
        snapshot_id: &str,
        account: &str,
        add: bool,
    ) -> Result<(), AwsError> {
        ec2::set_create_volume_permission(&self.ec2, snapshot_id, account, add).await
    }

    async fn add_launch_permissions(
        &self,
        image_id: &str,
        accounts: &[String],
    ) -> Result<(), AwsError> {
        ec2::add_launch_permissions(&self.ec2, image_id, accounts).await
    }

    async fn add_create_volume_permissions(
        &self,
        snapshot_id: &str,
        accounts: &[String],
    ) -> Result<(), AwsError> {
        ec2::add_create_volume_permissions(&self.ec2, snapshot_id, accounts).await
    }

    async fn get_managed_policy(
        &self,
        policy_arn: &str,
    ) -> Result<Option<ManagedPolicy>, AwsError> {
        iam::get_managed_policy(&self.iam, policy_arn).await
    }

    async fn create_policy(
        &self,
        name: &str,
        document: &str,
        description: &str,
    ) -> Result<String, AwsError> {
        iam::create_policy(&self.iam, name, document, description).await
    }

    async fn create_policy_version(
        &self,
        policy_arn: &str,
        document: &str,
    ) -> Result<String, AwsError> {
        iam::create_policy_version(&self.iam, policy_arn, document).await
    }

    async fn restore_policy_version(
        &self,
        policy_arn: &str,
        default_version: &str,
        delete_version: &str,
    ) -> Result<(), AwsError> {
        iam::restore_policy_version(&self.iam, policy_arn, default_version, delete_version).await
    }

    async fn delete_policy(&self, policy_arn: &str) -> Result<(), AwsError> {
        iam::delete_policy(&self.iam, policy_arn).await
    }

    async fn set_policy_attachment(
        &self,
        principal_arn: &str,
        policy_arn: &str,
        attach: bool,
    ) -> Result<(), AwsError> {
        iam::set_policy_attachment(&self.iam, principal_arn, policy_arn, attach).await
    }

    async fn create_service_linked_role(&self, service: &str) -> Result<Option<String>, AwsError> {
        iam::create_service_linked_role(&self.iam, service).await
    }

    async fn copy_image(&self, request: &CopyImageRequest) -> Result<String, AwsError> {
        ec2::copy_image(&self.ec2, request).await
    }

    async fn tag(&self, resource_id: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        ec2::tag(&self.ec2, resource_id, tags).await
    }

    async fn find_copies(&self, source_image_id: &str) -> Result<Vec<ImageStatus>, AwsError> {
        ec2::find_copies(&self.ec2, source_image_id).await
    }

    async fn image_status(&self, image_id: &str) -> Result<Option<ImageStatus>, AwsError> {
        ec2::image_status(&self.ec2, image_id).await
    }

    async fn run_instance(&self, request: &LaunchRequest) -> Result<String, AwsError> {
        ec2::run_instance(&self.ec2, request).await
    }

    async fn instance_status(&self, instance_id: &str) -> Result<InstanceStatus, AwsError> {
        ec2::instance_status(&self.ec2, instance_id).await
    }

    async fn terminate_instance(&self, instance_id: &str) -> Result<(), AwsError> {
        ec2::terminate_instance(&self.ec2, instance_id).await
    }

    async fn deregister_image(&self, image_id: &str) -> Result<(), AwsError> {
        ec2::deregister_image(&self.ec2, image_id).await
    }

    async fn delete_snapshot(&self, snapshot_id: &str) -> Result<(), AwsError> {
        ec2::delete_snapshot(&self.ec2, snapshot_id).await
    }

    async fn assume_role(&self, role_arn: &str) -> Result<Self, AwsError> {
        let s = self.session.assume_launcher(role_arn).await?;
        Ok(SdkWriter::new(&s))
    }

    async fn create_launch_template(
        &self,
        request: &GroupLaunchRequest,
    ) -> Result<String, AwsError> {
        autoscaling::create_launch_template(&self.ec2, request).await
    }

    async fn delete_launch_template(&self, name: &str) -> Result<(), AwsError> {
        autoscaling::delete_launch_template(&self.ec2, name).await
    }

    async fn create_test_group(&self, request: &GroupLaunchRequest) -> Result<(), AwsError> {
        autoscaling::create_group(&self.autoscaling, &self.ec2, request).await
    }

    async fn test_group_status(&self, name: &str) -> Result<GroupStatus, AwsError> {
        autoscaling::group_status(&self.autoscaling, name).await
    }

    async fn test_group_instances(&self, name: &str) -> Result<GroupStatus, AwsError> {
        autoscaling::group_instances(&self.autoscaling, name).await
    }

    async fn delete_test_group(&self, name: &str) -> Result<(), AwsError> {
        autoscaling::delete_group(&self.autoscaling, name).await
    }

    async fn set_image_deprecation(
        &self,
        image_id: &str,
        deprecate_at: Option<&str>,
    ) -> Result<(), AwsError> {
        ec2::set_image_deprecation(&self.ec2, image_id, deprecate_at).await
    }

    async fn set_deregistration_protection(
        &self,
        image_id: &str,
        enable: bool,
        with_cooldown: bool,
    ) -> Result<(), AwsError> {
        ec2::set_deregistration_protection(&self.ec2, image_id, enable, with_cooldown).await
    }

    async fn image_lifecycle(&self, image_id: &str) -> Result<Option<ImageLifecycle>, AwsError> {
        ec2::image_lifecycle(&self.ec2, image_id).await
    }

    async fn get_parameter(&self, name: &str) -> Result<Option<SsmParameter>, AwsError> {
        ssm::get_parameter(&self.ssm, name).await
    }

    async fn put_parameter(
        &self,
        name: &str,
        value: &str,
        data_type: &str,
    ) -> Result<(), AwsError> {
        ssm::put_parameter(&self.ssm, name, value, data_type).await
    }

    async fn delete_parameter(&self, name: &str) -> Result<(), AwsError> {
        ssm::delete_parameter(&self.ssm, name).await
    }

    async fn dry_run(&self, probe: &DryRunProbe) -> DryRunOutcome {
        ec2::dry_run(&self.ec2, probe).await
    }
}
