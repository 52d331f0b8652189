//! EC2 reads: images and their launch permissions, snapshots and their createVolumePermission,
//! instances with their volumes, and the account's EBS encryption defaults.

use std::collections::HashMap;

use super::{smithy_time, SdkReader};
use crate::aws::error::{aws_err, AwsError};
use crate::domain::states::{ImageState, InstanceState};
use crate::workflow::inventory::{
    CreateVolumePermission, ImageBlockDevice, ImageInfo, InstanceInfo, LaunchPermission,
    SnapshotInfo, StateReason, Tag, VolumeInfo,
};

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Vec<Tag> {
    tags.iter()
        .map(|t| Tag {
            key: t.key().unwrap_or_default().to_string(),
            value: t.value().unwrap_or_default().to_string(),
        })
        .collect()
}

fn image_info(img: &aws_sdk_ec2::types::Image) -> ImageInfo {
    ImageInfo {
        id: img.image_id().unwrap_or_default().to_string(),
        name: img.name().map(str::to_string),
        owner: img.owner_id().map(str::to_string),
        state: img.state().map(|s| ImageState::parse(s.as_str())),
        architecture: img.architecture().map(|a| a.as_str().to_string()),
        creation_date: img.creation_date().map(str::to_string),
        block_devices: img
            .block_device_mappings()
            .iter()
            .map(|m| {
                let ebs = m.ebs();
                ImageBlockDevice {
                    device: m.device_name().map(str::to_string),
                    snapshot_id: ebs.and_then(|e| e.snapshot_id()).map(str::to_string),
                    encrypted: ebs.and_then(|e| e.encrypted()),
                    kms_key_id: ebs.and_then(|e| e.kms_key_id()).map(str::to_string),
                    volume_size: ebs.and_then(|e| e.volume_size()),
                    volume_type: ebs
                        .and_then(|e| e.volume_type())
                        .map(|v| v.as_str().to_string()),
                }
            })
            .collect(),
        launch_permissions: None,
        tags: ec2_tags(img.tags()),
    }
}

/// DescribeInstances of one instance: the instance with that id in the answer, if any (shared by
/// the reader and the writer).
pub(in crate::aws) async fn describe_one_instance(
    ec2: &aws_sdk_ec2::Client,
    instance_id: &str,
) -> Result<Option<aws_sdk_ec2::types::Instance>, AwsError> {
    let out = ec2
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .map_err(aws_err("ec2", "DescribeInstances"))?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(|i| i.instance_id() == Some(instance_id))
        .cloned())
}

async fn launch_permissions(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
) -> Result<Vec<LaunchPermission>, AwsError> {
    let out = ec2
        .describe_image_attribute()
        .image_id(image_id)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .map_err(aws_err("ec2", "DescribeImageAttribute"))?;
    Ok(out
        .launch_permissions()
        .iter()
        .map(|p| LaunchPermission {
            user_id: p.user_id().map(str::to_string),
            group: p.group().map(|g| g.as_str().to_string()),
            organization_arn: p.organization_arn().map(str::to_string),
            organizational_unit_arn: p.organizational_unit_arn().map(str::to_string),
        })
        .collect())
}

async fn create_volume_permissions(
    ec2: &aws_sdk_ec2::Client,
    snapshot_id: &str,
) -> Result<Vec<CreateVolumePermission>, AwsError> {
    let out = ec2
        .describe_snapshot_attribute()
        .snapshot_id(snapshot_id)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .map_err(aws_err("ec2", "DescribeSnapshotAttribute"))?;
    Ok(out
        .create_volume_permissions()
        .iter()
        .map(|p| CreateVolumePermission {
            user_id: p.user_id().map(str::to_string),
            group: p.group().map(|g| g.as_str().to_string()),
        })
        .collect())
}

pub(super) async fn describe_image(r: &SdkReader, image_id: &str) -> Result<ImageInfo, AwsError> {
    let out = r
        .ec2
        .describe_images()
        .image_ids(image_id)
        .send()
        .await
        .map_err(aws_err("ec2", "DescribeImages"))?;
    let img = out.images().first().ok_or_else(|| AwsError {
        code: Some("InvalidAMIID.NotFound".to_string()),
        ..AwsError::new(
            "ec2",
            "DescribeImages",
            format!(
                "the image `{image_id}` is not visible to account {}",
                r.identity.account
            ),
        )
    })?;
    let mut info = image_info(img);
    if info.owner.as_deref() == Some(r.identity.account.as_str()) {
        info.launch_permissions = launch_permissions(&r.ec2, image_id).await.ok();
    }
    Ok(info)
}

pub(super) async fn list_own_images(r: &SdkReader) -> Result<Vec<ImageInfo>, AwsError> {
    let mut pages = r
        .ec2
        .describe_images()
        .owners("self")
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(p) = pages.next().await {
        let p = p.map_err(aws_err("ec2", "DescribeImages"))?;
        out.extend(p.images().iter().map(image_info));
    }
    out.sort_by(|a, b| b.creation_date.cmp(&a.creation_date));
    Ok(out)
}

pub(super) async fn describe_snapshots(
    r: &SdkReader,
    snapshot_ids: &[String],
) -> Result<Vec<SnapshotInfo>, AwsError> {
    if snapshot_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pages = r
        .ec2
        .describe_snapshots()
        .set_snapshot_ids(Some(snapshot_ids.to_vec()))
        .into_paginator()
        .send();
    let mut found: HashMap<String, SnapshotInfo> = HashMap::new();
    while let Some(p) = pages.next().await {
        let p = p.map_err(aws_err("ec2", "DescribeSnapshots"))?;
        for s in p.snapshots() {
            let id = s.snapshot_id().unwrap_or_default().to_string();
            found.insert(
                id.clone(),
                SnapshotInfo {
                    id,
                    encrypted: s.encrypted(),
                    kms_key_id: s.kms_key_id().map(str::to_string),
                    owner: s.owner_id().map(str::to_string),
                    state: s.state().map(|st| st.as_str().to_string()),
                    progress: s.progress().map(str::to_string),
                    volume_size: s.volume_size(),
                    create_volume_permissions: None,
                },
            );
        }
    }
    let mut out = Vec::new();
    for id in snapshot_ids {
        if let Some(mut s) = found.remove(id) {
            if s.owner.as_deref() == Some(r.identity.account.as_str()) {
                s.create_volume_permissions = create_volume_permissions(&r.ec2, id).await.ok();
            }
            out.push(s);
        }
    }
    Ok(out)
}

/// The volumes attached to an instance, with what DescribeVolumes says of them.
async fn instance_volumes(
    ec2: &aws_sdk_ec2::Client,
    inst: &aws_sdk_ec2::types::Instance,
) -> Vec<VolumeInfo> {
    let mut volumes: Vec<VolumeInfo> = inst
        .block_device_mappings()
        .iter()
        .filter_map(|m| {
            m.ebs().and_then(|e| e.volume_id()).map(|v| VolumeInfo {
                volume_id: v.to_string(),
                device: m.device_name().map(str::to_string),
                encrypted: None,
                kms_key_id: None,
                snapshot_id: None,
            })
        })
        .collect();
    if !volumes.is_empty() {
        let ids: Vec<String> = volumes.iter().map(|v| v.volume_id.clone()).collect();
        let described = ec2
            .describe_volumes()
            .set_volume_ids(Some(ids))
            .send()
            .await
            .map_err(aws_err("ec2", "DescribeVolumes"));
        // A volume deleted with a terminated instance is not an error of this read.
        if let Ok(d) = described {
            for vol in d.volumes() {
                if let Some(v) = volumes
                    .iter_mut()
                    .find(|v| Some(v.volume_id.as_str()) == vol.volume_id())
                {
                    v.encrypted = vol.encrypted();
                    v.kms_key_id = vol.kms_key_id().map(str::to_string);
                    v.snapshot_id = vol.snapshot_id().map(str::to_string);
                }
            }
        }
    }
    volumes
}

pub(super) async fn describe_instance(
    r: &SdkReader,
    instance_id: &str,
) -> Result<InstanceInfo, AwsError> {
    let inst = describe_one_instance(&r.ec2, instance_id)
        .await?
        .ok_or_else(|| AwsError {
            code: Some("InvalidInstanceID.NotFound".to_string()),
            ..AwsError::new(
                "ec2",
                "DescribeInstances",
                format!(
                    "the instance `{instance_id}` does not exist in {}",
                    r.region
                ),
            )
        })?;
    let volumes = instance_volumes(&r.ec2, &inst).await;
    Ok(InstanceInfo {
        id: inst.instance_id().unwrap_or(instance_id).to_string(),
        state: inst
            .state()
            .and_then(|s| s.name())
            .map(|n| InstanceState::parse(n.as_str())),
        state_reason: inst.state_reason().map(|why| StateReason {
            code: why.code().map(str::to_string),
            message: why.message().map(str::to_string),
        }),
        state_transition_reason: inst
            .state_transition_reason()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        image_id: inst.image_id().map(str::to_string),
        instance_type: inst.instance_type().map(|t| t.as_str().to_string()),
        launch_time: smithy_time(inst.launch_time()),
        volumes,
        iam_instance_profile: inst
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .map(str::to_string),
        tags: ec2_tags(inst.tags()),
    })
}

pub(super) async fn ebs_default_kms_key_id(r: &SdkReader) -> Result<String, AwsError> {
    let out = r
        .ec2
        .get_ebs_default_kms_key_id()
        .send()
        .await
        .map_err(aws_err("ec2", "GetEbsDefaultKmsKeyId"))?;
    Ok(out.kms_key_id().unwrap_or("alias/aws/ebs").to_string())
}

pub(super) async fn ebs_encryption_by_default(r: &SdkReader) -> Result<bool, AwsError> {
    let out = r
        .ec2
        .get_ebs_encryption_by_default()
        .send()
        .await
        .map_err(aws_err("ec2", "GetEbsEncryptionByDefault"))?;
    Ok(out.ebs_encryption_by_default().unwrap_or(false))
}
