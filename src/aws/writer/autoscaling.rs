//! The test launch through Auto Scaling (issue 11): a temporary EC2 launch template and an Auto
//! Scaling group of one instance, their status, and their deletion.
//!
//! AWS: Auto Scaling API reference "CreateAutoScalingGroup", "DescribeScalingActivities"
//! (StatusCode `Failed`/`Cancelled`, StatusMessage), "DeleteAutoScalingGroup" (`ForceDelete`
//! deletes the group with its instances); EC2 API reference "CreateLaunchTemplate",
//! "DeleteLaunchTemplate".

use aws_sdk_autoscaling::types::{
    LaunchTemplateSpecification, LifecycleState, ScalingActivityStatusCode,
};
use aws_sdk_ec2::types::{
    InstanceType, LaunchTemplateInstanceNetworkInterfaceSpecificationRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType,
};

use crate::aws::error::{aws_err, AwsError};
use crate::workflow::ports_write::{GroupLaunchRequest, GroupStatus};

fn ec2_tags(tags: &[(String, String)]) -> Vec<aws_sdk_ec2::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// CreateLaunchTemplate: the image, the instance type, one network interface without a public
/// IP (the group gives the subnet), the tags on the template and on its instances.
pub async fn create_launch_template(
    ec2: &aws_sdk_ec2::Client,
    r: &GroupLaunchRequest,
) -> Result<String, AwsError> {
    let nic = LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
        .device_index(0)
        .associate_public_ip_address(false)
        .delete_on_termination(true)
        .build();
    let data = RequestLaunchTemplateData::builder()
        .image_id(&r.image_id)
        .instance_type(InstanceType::from(r.instance_type.as_str()))
        .network_interfaces(nic)
        .tag_specifications(
            LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(ResourceType::Instance)
                .set_tags(Some(ec2_tags(&r.tags)))
                .build(),
        )
        .build();
    let out = ec2
        .create_launch_template()
        .launch_template_name(&r.name)
        .launch_template_data(data)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(ResourceType::LaunchTemplate)
                .set_tags(Some(ec2_tags(&r.tags)))
                .build(),
        )
        .send()
        .await
        .map_err(aws_err("ec2", "CreateLaunchTemplate"))?;
    Ok(out
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .unwrap_or(&r.name)
        .to_string())
}

/// DeleteLaunchTemplate by name; one that does not exist (already deleted) is fine.
pub async fn delete_launch_template(ec2: &aws_sdk_ec2::Client, name: &str) -> Result<(), AwsError> {
    match ec2
        .delete_launch_template()
        .launch_template_name(name)
        .send()
        .await
        .map_err(aws_err("ec2", "DeleteLaunchTemplate"))
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() || template_missing(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

fn template_missing(e: &AwsError) -> bool {
    e.code
        .as_deref()
        .is_some_and(|c| c.starts_with("InvalidLaunchTemplateName.NotFound"))
        || e.message.contains("does not exist")
}

/// The zone of a group without a subnet: the region's first zone in state `available`.
async fn first_zone(ec2: &aws_sdk_ec2::Client) -> Result<String, AwsError> {
    let out = ec2
        .describe_availability_zones()
        .send()
        .await
        .map_err(aws_err("ec2", "DescribeAvailabilityZones"))?;
    out.availability_zones()
        .iter()
        .filter(|z| {
            z.state()
                .is_none_or(|st| *st == aws_sdk_ec2::types::AvailabilityZoneState::Available)
        })
        .filter_map(|z| z.zone_name())
        .next()
        .map(str::to_string)
        .ok_or_else(|| {
            AwsError::new(
                "ec2",
                "DescribeAvailabilityZones",
                "no availability zone: pass `--subnet-id`",
            )
        })
}

/// CreateAutoScalingGroup of one instance (min = max = desired = 1) from the template
/// `r.name`, in `r.subnet_id` (else the first zone), tagged (not propagated: the template tags the
/// instance).
pub async fn create_group(
    asg: &aws_sdk_autoscaling::Client,
    ec2: &aws_sdk_ec2::Client,
    r: &GroupLaunchRequest,
) -> Result<(), AwsError> {
    let mut call = asg
        .create_auto_scaling_group()
        .auto_scaling_group_name(&r.name)
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name(&r.name)
                .version("$Latest")
                .build(),
        )
        .min_size(1)
        .max_size(1)
        .desired_capacity(1);
    call = match &r.subnet_id {
        Some(subnet) => call.vpc_zone_identifier(subnet),
        None => call.availability_zones(first_zone(ec2).await?),
    };
    for (k, v) in &r.tags {
        call = call.tags(
            aws_sdk_autoscaling::types::Tag::builder()
                .key(k)
                .value(v)
                .propagate_at_launch(false)
                .build(),
        );
    }
    call.send()
        .await
        .map_err(aws_err("autoscaling", "CreateAutoScalingGroup"))?;
    Ok(())
}

/// The group's instances (DescribeAutoScalingGroups only; a group that does not exist has
/// `exists == false`).
pub async fn group_instances(
    asg: &aws_sdk_autoscaling::Client,
    name: &str,
) -> Result<GroupStatus, AwsError> {
    let groups = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(aws_err("autoscaling", "DescribeAutoScalingGroups"))?;
    let mut status = GroupStatus::default();
    if let Some(g) = groups.auto_scaling_groups().first() {
        status.exists = true;
        for i in g.instances() {
            if let Some(id) = i.instance_id() {
                status.instance_ids.push(id.to_string());
            }
            if i.lifecycle_state() == Some(&LifecycleState::InService) {
                status.in_service = true;
            }
        }
    }
    Ok(status)
}

/// The group's instances (DescribeAutoScalingGroups) and scaling activities
/// (DescribeScalingActivities, newest first).
pub async fn group_status(
    asg: &aws_sdk_autoscaling::Client,
    name: &str,
) -> Result<GroupStatus, AwsError> {
    let mut status = group_instances(asg, name).await?;
    if !status.exists {
        status.activities_done = true;
        return Ok(status);
    }
    let acts = asg
        .describe_scaling_activities()
        .auto_scaling_group_name(name)
        .send()
        .await
        .map_err(aws_err("autoscaling", "DescribeScalingActivities"))?;
    status.activities_done = true;
    for a in acts.activities() {
        match a.status_code() {
            Some(ScalingActivityStatusCode::Failed | ScalingActivityStatusCode::Cancelled) => {
                if status.failed_activity.is_none() {
                    status.failed_activity = Some(
                        a.status_message()
                            .or(a.description())
                            .unwrap_or("a scaling activity failed")
                            .to_string(),
                    );
                }
            }
            Some(ScalingActivityStatusCode::Successful) => {}
            _ => status.activities_done = false,
        }
    }
    Ok(status)
}

/// DeleteAutoScalingGroup with ForceDelete; a group that does not exist is fine.
pub async fn delete_group(asg: &aws_sdk_autoscaling::Client, name: &str) -> Result<(), AwsError> {
    match asg
        .delete_auto_scaling_group()
        .auto_scaling_group_name(name)
        .force_delete(true)
        .send()
        .await
        .map_err(aws_err("autoscaling", "DeleteAutoScalingGroup"))
    {
        Ok(_) => Ok(()),
        Err(e) if e.message.contains("not found") => Ok(()),
        Err(e) => Err(e),
    }
}
