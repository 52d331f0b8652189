//! [`Writer`] implemented with the AWS SDK: one account, one region (IAM is global).
//!
//! Only SDK calls and translation here; the workflow decides what to call and checks results.

use aws_sdk_ec2::types::{
    Filter, InstanceNetworkInterfaceSpecification, InstanceType, LaunchPermission,
    LaunchPermissionModifications, OperationType, ResourceType, SnapshotAttributeName, Tag,
    TagSpecification,
};

use super::clients::AwsSession;
use super::error::{aws_err, AwsError};
use super::reader::{decode_policy_document, describe_one_instance};
use crate::workflow::ports_write::{
    CopyImageRequest, DryRunOutcome, DryRunProbe, ImageStatus, InstanceStatus, LaunchRequest,
    ManagedPolicy, Writer, TAG_SOURCE_IMAGE,
};

/// SDK clients for one account and region.
#[derive(Debug, Clone)]
pub struct SdkWriter {
    account: String,
    region: String,
    ec2: aws_sdk_ec2::Client,
    kms: aws_sdk_kms::Client,
    iam: aws_sdk_iam::Client,
}

impl SdkWriter {
    pub fn new(session: &AwsSession) -> Self {
        Self {
            account: session.account.clone(),
            region: session.region.clone(),
            ec2: session.ec2(),
            kms: session.kms(),
            iam: session.iam(),
        }
    }
}

/// A `DryRun=true` answer: AWS always answers with an error, `DryRunOperation` meaning allowed.
fn dry_run_outcome<T>(answer: Result<T, AwsError>) -> DryRunOutcome {
    match answer {
        Ok(_) => DryRunOutcome::Inconclusive {
            message: "AWS answered the dry run as a real call".into(),
        },
        Err(e) if e.code.as_deref() == Some("DryRunOperation") => DryRunOutcome::Allowed,
        Err(e) if e.is_access_denied() => DryRunOutcome::Denied {
            message: e.to_string(),
        },
        Err(e) => DryRunOutcome::Inconclusive {
            message: e.to_string(),
        },
    }
}

/// The test instance's only network interface: no public IP.
fn test_nic(subnet_id: Option<String>) -> InstanceNetworkInterfaceSpecification {
    InstanceNetworkInterfaceSpecification::builder()
        .device_index(0)
        .associate_public_ip_address(false)
        .delete_on_termination(true)
        .set_subnet_id(subnet_id)
        .build()
}

fn ec2_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// `(kind, name)` of an IAM user/role/group ARN (the name without its path).
fn principal_kind_name(arn: &str) -> Result<(&'static str, String), AwsError> {
    let resource = arn.split(':').nth(5).unwrap_or_default();
    let (kind, rest) = resource.split_once('/').unwrap_or((resource, ""));
    let name = rest.rsplit('/').next().unwrap_or_default().to_string();
    let kind = match kind {
        "user" => "user",
        "role" => "role",
        "group" => "group",
        _ => "",
    };
    if kind.is_empty() || name.is_empty() {
        return Err(AwsError {
            code: Some("InvalidPrincipal".into()),
            ..AwsError::new(
                "iam",
                "AttachPolicy",
                format!("`{arn}` is not an IAM user, role or group ARN"),
            )
        });
    }
    Ok((kind, name))
}

fn percent(progress: Option<&str>) -> Option<u8> {
    progress
        .map(|p| p.trim().trim_end_matches('%'))
        .and_then(|p| p.parse::<f64>().ok())
        .map(|p| p.clamp(0.0, 100.0) as u8)
}

impl SdkWriter {
    async fn snapshot_progress(&self, ids: &[String]) -> Result<Option<u8>, AwsError> {
        if ids.is_empty() {
            return Ok(None);
        }
        let out = self
            .ec2
            .describe_snapshots()
            .set_snapshot_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(aws_err("ec2", "DescribeSnapshots"))?;
        Ok(out
            .snapshots()
            .iter()
            .filter_map(|s| percent(s.progress()))
            .min())
    }

    fn image_to_status(img: &aws_sdk_ec2::types::Image) -> ImageStatus {
        ImageStatus {
            image_id: img.image_id().unwrap_or_default().to_string(),
            state: img.state().map(|s| s.as_str().to_string()),
            state_reason: img
                .state_reason()
                .and_then(|r| r.message().or(r.code()))
                .map(str::to_string),
            snapshot_ids: img
                .block_device_mappings()
                .iter()
                .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
                .collect(),
            progress_percent: None,
            tags: img
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
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
        self.kms
            .put_key_policy()
            .key_id(key_arn)
            .policy_name("default")
            .policy(policy)
            .send()
            .await
            .map_err(aws_err("kms", "PutKeyPolicy"))?;
        Ok(())
    }

    async fn set_launch_permission(
        &self,
        image_id: &str,
        account: &str,
        add: bool,
    ) -> Result<(), AwsError> {
        let perm = LaunchPermission::builder().user_id(account).build();
        let mods = if add {
            LaunchPermissionModifications::builder().add(perm).build()
        } else {
            LaunchPermissionModifications::builder()
                .remove(perm)
                .build()
        };
        self.ec2
            .modify_image_attribute()
            .image_id(image_id)
            .launch_permission(mods)
            .send()
            .await
            .map_err(aws_err("ec2", "ModifyImageAttribute"))?;
        Ok(())
    }

    async fn set_create_volume_permission(
        &self,
        snapshot_id: &str,
        account: &str,
        add: bool,
    ) -> Result<(), AwsError> {
        self.ec2
            .modify_snapshot_attribute()
            .snapshot_id(snapshot_id)
            .attribute(SnapshotAttributeName::CreateVolumePermission)
            .operation_type(if add {
                OperationType::Add
            } else {
                OperationType::Remove
            })
            .user_ids(account)
            .send()
            .await
            .map_err(aws_err("ec2", "ModifySnapshotAttribute"))?;
        Ok(())
    }

    async fn get_managed_policy(
        &self,
        policy_arn: &str,
    ) -> Result<Option<ManagedPolicy>, AwsError> {
        let policy = match self.iam.get_policy().policy_arn(policy_arn).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = aws_err("iam", "GetPolicy")(e);
                if e.is_not_found() {
                    return Ok(None);
                }
                return Err(e);
            }
        };
        let default_version = policy
            .policy()
            .and_then(|p| p.default_version_id())
            .unwrap_or("v1")
            .to_string();
        let version = self
            .iam
            .get_policy_version()
            .policy_arn(policy_arn)
            .version_id(&default_version)
            .send()
            .await
            .map_err(aws_err("iam", "GetPolicyVersion"))?;
        let document = version
            .policy_version()
            .and_then(|v| v.document())
            .map(decode_policy_document)
            .unwrap_or_default();
        let versions = self
            .iam
            .list_policy_versions()
            .policy_arn(policy_arn)
            .send()
            .await
            .map_err(aws_err("iam", "ListPolicyVersions"))?
            .versions()
            .iter()
            .filter_map(|v| v.version_id().map(str::to_string))
            .collect();
        Ok(Some(ManagedPolicy {
            arn: policy_arn.to_string(),
            default_version,
            document,
            versions,
        }))
    }

    async fn create_policy(
        &self,
        name: &str,
        document: &str,
        description: &str,
    ) -> Result<String, AwsError> {
        let out = self
            .iam
            .create_policy()
            .policy_name(name)
            .policy_document(document)
            .description(description)
            .send()
            .await
            .map_err(aws_err("iam", "CreatePolicy"))?;
        out.policy()
            .and_then(|p| p.arn())
            .map(str::to_string)
            .ok_or_else(|| AwsError::new("iam", "CreatePolicy", "the answer has no policy ARN"))
    }

    async fn create_policy_version(
        &self,
        policy_arn: &str,
        document: &str,
    ) -> Result<String, AwsError> {
        let versions = self
            .iam
            .list_policy_versions()
            .policy_arn(policy_arn)
            .send()
            .await
            .map_err(aws_err("iam", "ListPolicyVersions"))?;
        let all = versions.versions();
        if all.len() >= 5 {
            // IAM keeps five versions: drop the oldest non-default one.
            let oldest = all
                .iter()
                .filter(|v| !v.is_default_version())
                .min_by_key(|v| v.create_date().map(|d| d.secs()).unwrap_or(i64::MAX));
            if let Some(id) = oldest.and_then(|v| v.version_id()) {
                self.iam
                    .delete_policy_version()
                    .policy_arn(policy_arn)
                    .version_id(id)
                    .send()
                    .await
                    .map_err(aws_err("iam", "DeletePolicyVersion"))?;
            }
        }
        let out = self
            .iam
            .create_policy_version()
            .policy_arn(policy_arn)
            .policy_document(document)
            .set_as_default(true)
            .send()
            .await
            .map_err(aws_err("iam", "CreatePolicyVersion"))?;
        out.policy_version()
            .and_then(|v| v.version_id())
            .map(str::to_string)
            .ok_or_else(|| {
                AwsError::new("iam", "CreatePolicyVersion", "the answer has no version id")
            })
    }

    async fn restore_policy_version(
        &self,
        policy_arn: &str,
        default_version: &str,
        delete_version: &str,
    ) -> Result<(), AwsError> {
        self.iam
            .set_default_policy_version()
            .policy_arn(policy_arn)
            .version_id(default_version)
            .send()
            .await
            .map_err(aws_err("iam", "SetDefaultPolicyVersion"))?;
        self.iam
            .delete_policy_version()
            .policy_arn(policy_arn)
            .version_id(delete_version)
            .send()
            .await
            .map_err(aws_err("iam", "DeletePolicyVersion"))?;
        Ok(())
    }

    async fn delete_policy(&self, policy_arn: &str) -> Result<(), AwsError> {
        let versions = self
            .iam
            .list_policy_versions()
            .policy_arn(policy_arn)
            .send()
            .await
            .map_err(aws_err("iam", "ListPolicyVersions"))?;
        for v in versions
            .versions()
            .iter()
            .filter(|v| !v.is_default_version())
        {
            if let Some(id) = v.version_id() {
                self.iam
                    .delete_policy_version()
                    .policy_arn(policy_arn)
                    .version_id(id)
                    .send()
                    .await
                    .map_err(aws_err("iam", "DeletePolicyVersion"))?;
            }
        }
        self.iam
            .delete_policy()
            .policy_arn(policy_arn)
            .send()
            .await
            .map_err(aws_err("iam", "DeletePolicy"))?;
        Ok(())
    }

    async fn set_policy_attachment(
        &self,
        principal_arn: &str,
        policy_arn: &str,
        attach: bool,
    ) -> Result<(), AwsError> {
        let (kind, name) = principal_kind_name(principal_arn)?;
        let iam = &self.iam;
        // One IAM call per (principal kind, attach or detach): the same request with another
        // builder type each, hence a macro rather than a function.
        macro_rules! call {
            ($op:ident, $name_field:ident, $operation:literal) => {
                iam.$op()
                    .$name_field(name)
                    .policy_arn(policy_arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(aws_err("iam", $operation))
            };
        }
        match (kind, attach) {
            ("user", true) => call!(attach_user_policy, user_name, "AttachUserPolicy"),
            ("user", false) => call!(detach_user_policy, user_name, "DetachUserPolicy"),
            ("role", true) => call!(attach_role_policy, role_name, "AttachRolePolicy"),
            ("role", false) => call!(detach_role_policy, role_name, "DetachRolePolicy"),
            (_, true) => call!(attach_group_policy, group_name, "AttachGroupPolicy"),
            (_, false) => call!(detach_group_policy, group_name, "DetachGroupPolicy"),
        }
    }

    async fn copy_image(&self, request: &CopyImageRequest) -> Result<String, AwsError> {
        let out = self
            .ec2
            .copy_image()
            .source_image_id(&request.source_image_id)
            .source_region(&request.source_region)
            .name(&request.name)
            .description(&request.description)
            .encrypted(true)
            .set_kms_key_id(request.kms_key_id.clone())
            .client_token(&request.client_token)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Image)
                    .set_tags(Some(ec2_tags(&request.tags)))
                    .build(),
            )
            .send()
            .await
            .map_err(aws_err("ec2", "CopyImage"))?;
        out.image_id()
            .map(str::to_string)
            .ok_or_else(|| AwsError::new("ec2", "CopyImage", "the answer has no image id"))
    }

    async fn tag(&self, resource_id: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        if tags.is_empty() {
            return Ok(());
        }
        self.ec2
            .create_tags()
            .resources(resource_id)
            .set_tags(Some(ec2_tags(tags)))
            .send()
            .await
            .map_err(aws_err("ec2", "CreateTags"))?;
        Ok(())
    }

    async fn find_copies(&self, source_image_id: &str) -> Result<Vec<ImageStatus>, AwsError> {
        let out = self
            .ec2
            .describe_images()
            .owners("self")
            .filters(
                Filter::builder()
                    .name(format!("tag:{TAG_SOURCE_IMAGE}"))
                    .values(source_image_id)
                    .build(),
            )
            .send()
            .await
            .map_err(aws_err("ec2", "DescribeImages"))?;
        Ok(out
            .images()
            .iter()
            .map(Self::image_to_status)
            .filter(|s| s.state.as_deref() != Some("deregistered"))
            .collect())
    }

    async fn image_status(&self, image_id: &str) -> Result<Option<ImageStatus>, AwsError> {
        let out = match self.ec2.describe_images().image_ids(image_id).send().await {
            Ok(o) => o,
            Err(e) => {
                let e = aws_err("ec2", "DescribeImages")(e);
                if e.is_not_found() {
                    return Ok(None);
                }
                return Err(e);
            }
        };
        let Some(img) = out.images().first() else {
            return Ok(None);
        };
        let mut status = Self::image_to_status(img);
        if status.state.as_deref() == Some("pending") {
            status.progress_percent = self.snapshot_progress(&status.snapshot_ids).await?;
        } else if status.state.as_deref() == Some("available") {
            status.progress_percent = Some(100);
        }
        Ok(Some(status))
    }

    async fn run_instance(&self, request: &LaunchRequest) -> Result<String, AwsError> {
        let nic = test_nic(request.subnet_id.clone());
        let out = self
            .ec2
            .run_instances()
            .image_id(&request.image_id)
            .instance_type(InstanceType::from(request.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .network_interfaces(nic)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(ec2_tags(&request.tags)))
                    .build(),
            )
            .client_token(&request.client_token)
            .send()
            .await
            .map_err(aws_err("ec2", "RunInstances"))?;
        out.instances()
            .first()
            .and_then(|i| i.instance_id())
            .map(str::to_string)
            .ok_or_else(|| AwsError::new("ec2", "RunInstances", "the answer has no instance id"))
    }

    async fn instance_status(&self, instance_id: &str) -> Result<InstanceStatus, AwsError> {
        let inst = describe_one_instance(&self.ec2, instance_id).await?;
        let inst = inst.as_ref();
        Ok(InstanceStatus {
            instance_id: instance_id.to_string(),
            state: inst
                .and_then(|i| i.state())
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string()),
            reason_code: inst
                .and_then(|i| i.state_reason())
                .and_then(|r| r.code())
                .map(str::to_string),
            reason_message: inst
                .and_then(|i| i.state_reason())
                .and_then(|r| r.message())
                .map(str::to_string),
        })
    }

    async fn terminate_instance(&self, instance_id: &str) -> Result<(), AwsError> {
        self.ec2
            .terminate_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .map_err(aws_err("ec2", "TerminateInstances"))?;
        Ok(())
    }

    async fn deregister_image(&self, image_id: &str) -> Result<(), AwsError> {
        self.ec2
            .deregister_image()
            .image_id(image_id)
            .send()
            .await
            .map_err(aws_err("ec2", "DeregisterImage"))?;
        Ok(())
    }

    async fn delete_snapshot(&self, snapshot_id: &str) -> Result<(), AwsError> {
        self.ec2
            .delete_snapshot()
            .snapshot_id(snapshot_id)
            .send()
            .await
            .map_err(aws_err("ec2", "DeleteSnapshot"))?;
        Ok(())
    }

    async fn dry_run(&self, probe: &DryRunProbe) -> DryRunOutcome {
        match probe {
            DryRunProbe::ModifyImageAttribute { image_id, account } => dry_run_outcome(
                self.ec2
                    .modify_image_attribute()
                    .image_id(image_id)
                    .launch_permission(
                        LaunchPermissionModifications::builder()
                            .add(LaunchPermission::builder().user_id(account).build())
                            .build(),
                    )
                    .dry_run(true)
                    .send()
                    .await
                    .map_err(aws_err("ec2", "ModifyImageAttribute")),
            ),
            DryRunProbe::CopyImage {
                source_image_id,
                source_region,
                kms_key_id,
            } => dry_run_outcome(
                self.ec2
                    .copy_image()
                    .source_image_id(source_image_id)
                    .source_region(source_region)
                    .name("amishare-dry-run")
                    .encrypted(true)
                    .set_kms_key_id(kms_key_id.clone())
                    .dry_run(true)
                    .send()
                    .await
                    .map_err(aws_err("ec2", "CopyImage")),
            ),
            DryRunProbe::RunInstances {
                image_id,
                instance_type,
                subnet_id,
            } => dry_run_outcome(
                self.ec2
                    .run_instances()
                    .image_id(image_id)
                    .instance_type(InstanceType::from(instance_type.as_str()))
                    .min_count(1)
                    .max_count(1)
                    .network_interfaces(test_nic(subnet_id.clone()))
                    .dry_run(true)
                    .send()
                    .await
                    .map_err(aws_err("ec2", "RunInstances")),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_names_drop_the_path() {
        assert_eq!(
            principal_kind_name("arn:aws:iam::444455556666:role/ops/Deployer").unwrap(),
            ("role", "Deployer".to_string())
        );
        assert_eq!(
            principal_kind_name("arn:aws:iam::444455556666:user/alice").unwrap(),
            ("user", "alice".to_string())
        );
        assert!(principal_kind_name("arn:aws:iam::444455556666:root").is_err());
    }

    #[test]
    fn progress_percentages() {
        assert_eq!(percent(Some("57%")), Some(57));
        assert_eq!(percent(Some("100%")), Some(100));
        assert_eq!(percent(Some("")), None);
        assert_eq!(percent(None), None);
    }
}
