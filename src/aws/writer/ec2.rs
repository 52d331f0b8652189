//! EC2 writes: launch and createVolume permissions, CopyImage and its progress, tags, the test
//! instance (RunInstances, status, terminate), deregistering copies, and the DryRun probes.

use aws_sdk_ec2::types::{
    Filter, InstanceNetworkInterfaceSpecification, InstanceType, LaunchPermission,
    LaunchPermissionModifications, OperationType, ResourceType, SnapshotAttributeName, Tag,
    TagSpecification,
};

use crate::aws::error::{aws_err, AwsError};
use crate::aws::reader::describe_one_instance;
use crate::domain::states::{ImageState, InstanceState};
use crate::workflow::ports_write::{
    CopyImageRequest, DryRunOutcome, DryRunProbe, ImageLifecycle, ImageStatus, InstanceStatus,
    LaunchRequest, TAG_SOURCE_IMAGE,
};

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

fn percent(progress: Option<&str>) -> Option<u8> {
    progress
        .map(|p| p.trim().trim_end_matches('%'))
        .and_then(|p| p.parse::<f64>().ok())
        .map(|p| p.clamp(0.0, 100.0) as u8)
}

async fn snapshot_progress(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
) -> Result<Option<u8>, AwsError> {
    if ids.is_empty() {
        return Ok(None);
    }
    let out = ec2
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
        state: img.state().map(|s| ImageState::parse(s.as_str())),
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
        lifecycle: ImageLifecycle {
            deprecation_time: img.deprecation_time().map(str::to_string),
            deregistration_protection: img.deregistration_protection().map(str::to_string),
        },
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

/// The launch permission for `who`: an account id (`UserId`), an organization ARN
/// (`arn:...:organizations::MGMT:organization/o-x`, `OrganizationArn`) or an OU ARN
/// (`...:ou/o-x/ou-y`, `OrganizationalUnitArn`) (EC2 user guide, "Share an AMI with
/// organizations or OUs"; API reference, LaunchPermission).
fn launch_permission(who: &str) -> LaunchPermission {
    let b = LaunchPermission::builder();
    if !who.starts_with("arn:") {
        return b.user_id(who).build();
    }
    match who.rsplit(':').next() {
        Some(r) if r.starts_with("organization/") => b.organization_arn(who).build(),
        Some(r) if r.starts_with("ou/") => b.organizational_unit_arn(who).build(),
        _ => b.user_id(who).build(),
    }
}

pub(super) async fn set_launch_permission(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
    account: &str,
    add: bool,
) -> Result<(), AwsError> {
    let perm = launch_permission(account);
    let mods = if add {
        LaunchPermissionModifications::builder().add(perm).build()
    } else {
        LaunchPermissionModifications::builder()
            .remove(perm)
            .build()
    };
    ec2.modify_image_attribute()
        .image_id(image_id)
        .launch_permission(mods)
        .send()
        .await
        .map_err(aws_err("ec2", "ModifyImageAttribute"))?;
    Ok(())
}

/// Ids per ModifyImageAttribute / ModifySnapshotAttribute call when adding many accounts: the
/// API reference sets no per-call number; a modest batch keeps a request small and a refusal
/// local.
const SHARE_BATCH: usize = 50;

/// ModifyImageAttribute adding launch permissions for `accounts`, [`SHARE_BATCH`] a call.
pub(super) async fn add_launch_permissions(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
    accounts: &[String],
) -> Result<(), AwsError> {
    for chunk in accounts.chunks(SHARE_BATCH) {
        let mut mods = LaunchPermissionModifications::builder();
        for a in chunk {
            mods = mods.add(launch_permission(a));
        }
        ec2.modify_image_attribute()
            .image_id(image_id)
            .launch_permission(mods.build())
            .send()
            .await
            .map_err(aws_err("ec2", "ModifyImageAttribute"))?;
    }
    Ok(())
}

/// ModifySnapshotAttribute adding createVolumePermission for `accounts` (AWS shares snapshots
/// with account ids only), [`SHARE_BATCH`] a call.
pub(super) async fn add_create_volume_permissions(
    ec2: &aws_sdk_ec2::Client,
    snapshot_id: &str,
    accounts: &[String],
) -> Result<(), AwsError> {
    for chunk in accounts.chunks(SHARE_BATCH) {
        ec2.modify_snapshot_attribute()
            .snapshot_id(snapshot_id)
            .attribute(SnapshotAttributeName::CreateVolumePermission)
            .operation_type(OperationType::Add)
            .set_user_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(aws_err("ec2", "ModifySnapshotAttribute"))?;
    }
    Ok(())
}

pub(super) async fn set_create_volume_permission(
    ec2: &aws_sdk_ec2::Client,
    snapshot_id: &str,
    account: &str,
    add: bool,
) -> Result<(), AwsError> {
    ec2.modify_snapshot_attribute()
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

pub(super) async fn copy_image(
    ec2: &aws_sdk_ec2::Client,
    request: &CopyImageRequest,
) -> Result<String, AwsError> {
    let out = ec2
        .copy_image()
        .source_image_id(&request.source_image_id)
        .source_region(&request.source_region)
        .name(&request.name)
        .description(&request.description)
        .encrypted(true)
        .set_kms_key_id(request.kms_key_id.clone())
        .set_snapshot_copy_completion_duration_minutes(request.completion_minutes.map(i64::from))
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

pub(super) async fn tag(
    ec2: &aws_sdk_ec2::Client,
    resource_id: &str,
    tags: &[(String, String)],
) -> Result<(), AwsError> {
    if tags.is_empty() {
        return Ok(());
    }
    ec2.create_tags()
        .resources(resource_id)
        .set_tags(Some(ec2_tags(tags)))
        .send()
        .await
        .map_err(aws_err("ec2", "CreateTags"))?;
    Ok(())
}

pub(super) async fn find_copies(
    ec2: &aws_sdk_ec2::Client,
    source_image_id: &str,
) -> Result<Vec<ImageStatus>, AwsError> {
    let out = ec2
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
        .map(image_to_status)
        .filter(|s| s.state != Some(ImageState::Deregistered))
        .collect())
}

pub(super) async fn image_status(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
) -> Result<Option<ImageStatus>, AwsError> {
    let out = match ec2.describe_images().image_ids(image_id).send().await {
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
    let mut status = image_to_status(img);
    if status.state == Some(ImageState::Pending) {
        status.progress_percent = snapshot_progress(ec2, &status.snapshot_ids).await?;
    } else if status.state == Some(ImageState::Available) {
        status.progress_percent = Some(100);
    }
    Ok(Some(status))
}

pub(super) async fn run_instance(
    ec2: &aws_sdk_ec2::Client,
    request: &LaunchRequest,
) -> Result<String, AwsError> {
    let nic = test_nic(request.subnet_id.clone());
    let out = ec2
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

pub(super) async fn instance_status(
    ec2: &aws_sdk_ec2::Client,
    instance_id: &str,
) -> Result<InstanceStatus, AwsError> {
    let inst = describe_one_instance(ec2, instance_id).await?;
    let inst = inst.as_ref();
    Ok(InstanceStatus {
        instance_id: instance_id.to_string(),
        state: inst
            .and_then(|i| i.state())
            .and_then(|s| s.name())
            .map(|n| InstanceState::parse(n.as_str())),
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

pub(super) async fn terminate_instance(
    ec2: &aws_sdk_ec2::Client,
    instance_id: &str,
) -> Result<(), AwsError> {
    ec2.terminate_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .map_err(aws_err("ec2", "TerminateInstances"))?;
    Ok(())
}

pub(super) async fn deregister_image(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
) -> Result<(), AwsError> {
    ec2.deregister_image()
        .image_id(image_id)
        .send()
        .await
        .map_err(aws_err("ec2", "DeregisterImage"))?;
    Ok(())
}

pub(super) async fn delete_snapshot(
    ec2: &aws_sdk_ec2::Client,
    snapshot_id: &str,
) -> Result<(), AwsError> {
    ec2.delete_snapshot()
        .snapshot_id(snapshot_id)
        .send()
        .await
        .map_err(aws_err("ec2", "DeleteSnapshot"))?;
    Ok(())
}

/// EnableImageDeprecation at `deprecate_at` (RFC 3339), or DisableImageDeprecation.
pub(super) async fn set_image_deprecation(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
    deprecate_at: Option<&str>,
) -> Result<(), AwsError> {
    let Some(at) = deprecate_at else {
        ec2.disable_image_deprecation()
            .image_id(image_id)
            .send()
            .await
            .map_err(aws_err("ec2", "DisableImageDeprecation"))?;
        return Ok(());
    };
    let at =
        aws_smithy_types::DateTime::from_str(at, aws_smithy_types::date_time::Format::DateTime)
            .map_err(|e| {
                AwsError::new(
                    "ec2",
                    "EnableImageDeprecation",
                    format!("`{at}` is not an RFC 3339 time: {e}"),
                )
            })?;
    ec2.enable_image_deprecation()
        .image_id(image_id)
        .deprecate_at(at)
        .send()
        .await
        .map_err(aws_err("ec2", "EnableImageDeprecation"))?;
    Ok(())
}

/// EnableImageDeregistrationProtection (with or without cooldown), or its Disable.
pub(super) async fn set_deregistration_protection(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
    enable: bool,
    with_cooldown: bool,
) -> Result<(), AwsError> {
    if enable {
        ec2.enable_image_deregistration_protection()
            .image_id(image_id)
            .with_cooldown(with_cooldown)
            .send()
            .await
            .map_err(aws_err("ec2", "EnableImageDeregistrationProtection"))?;
    } else {
        ec2.disable_image_deregistration_protection()
            .image_id(image_id)
            .send()
            .await
            .map_err(aws_err("ec2", "DisableImageDeregistrationProtection"))?;
    }
    Ok(())
}

/// DescribeImages of one image, its lifecycle fields only.
pub(super) async fn image_lifecycle(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
) -> Result<Option<ImageLifecycle>, AwsError> {
    let out = match ec2.describe_images().image_ids(image_id).send().await {
        Ok(o) => o,
        Err(e) => {
            let e = aws_err("ec2", "DescribeImages")(e);
            return if e.is_not_found() { Ok(None) } else { Err(e) };
        }
    };
    Ok(out.images().first().map(|img| ImageLifecycle {
        deprecation_time: img.deprecation_time().map(str::to_string),
        deregistration_protection: img.deregistration_protection().map(str::to_string),
    }))
}

pub(super) async fn dry_run(ec2: &aws_sdk_ec2::Client, probe: &DryRunProbe) -> DryRunOutcome {
    match probe {
        DryRunProbe::ModifyImageAttribute { image_id, account } => dry_run_outcome(
            ec2.modify_image_attribute()
                .image_id(image_id)
                .launch_permission(
                    LaunchPermissionModifications::builder()
                        .add(launch_permission(account))
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
            ec2.copy_image()
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
            ec2.run_instances()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_percentages() {
        assert_eq!(percent(Some("57%")), Some(57));
        assert_eq!(percent(Some("100%")), Some(100));
        assert_eq!(percent(Some("")), None);
        assert_eq!(percent(None), None);
    }

    #[test]
    fn launch_permissions_for_accounts_organizations_and_ous() {
        let p = launch_permission("444455556666");
        assert_eq!(p.user_id(), Some("444455556666"));
        let org = "arn:aws:organizations::111122223333:organization/o-a1b2c3d4e5";
        assert_eq!(launch_permission(org).organization_arn(), Some(org));
        let ou = "arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-22222222";
        let p = launch_permission(ou);
        assert_eq!(p.organizational_unit_arn(), Some(ou));
        assert_eq!(p.user_id(), None);
    }
}
