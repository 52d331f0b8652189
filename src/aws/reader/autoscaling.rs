//! [`GroupReader`] with the AWS SDK (`amishare diagnose --asg`): an Auto Scaling group, the AMI of
//! its launch template version, and its scaling activities.

use crate::aws::error::{aws_err, AwsError};
use crate::aws::session::AwsSession;
use crate::workflow::diagnose::group::{Activity, GroupFacts, GroupReader};

/// Auto Scaling and EC2 clients of one account and region.
#[derive(Debug, Clone)]
pub struct SdkGroupReader {
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
}

impl SdkGroupReader {
    pub fn new(session: &AwsSession) -> Self {
        Self {
            autoscaling: session.autoscaling(),
            ec2: session.ec2(),
        }
    }

    /// The AMI of a launch template version (`$Default` when the group names none).
    async fn template_image(
        &self,
        id: Option<&str>,
        name: Option<&str>,
        version: &str,
    ) -> Result<Option<String>, AwsError> {
        let out = self
            .ec2
            .describe_launch_template_versions()
            .set_launch_template_id(id.map(str::to_string))
            .set_launch_template_name(name.map(str::to_string))
            .versions(version)
            .send()
            .await
            .map_err(aws_err("ec2", "DescribeLaunchTemplateVersions"))?;
        Ok(out
            .launch_template_versions()
            .first()
            .and_then(|v| v.launch_template_data())
            .and_then(|d| d.image_id())
            .map(str::to_string))
    }
}

impl GroupReader for SdkGroupReader {
    async fn group_facts(&self, name: &str) -> Result<Option<GroupFacts>, AwsError> {
        let groups = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(aws_err("autoscaling", "DescribeAutoScalingGroups"))?;
        let Some(g) = groups.auto_scaling_groups().first() else {
            return Ok(None);
        };
        let spec = g.launch_template().or_else(|| {
            g.mixed_instances_policy()
                .and_then(|m| m.launch_template())
                .and_then(|t| t.launch_template_specification())
        });
        let mut facts = GroupFacts {
            name: name.to_string(),
            ..GroupFacts::default()
        };
        if let Some(spec) = spec {
            let version = spec.version().unwrap_or("$Default").to_string();
            let (id, tname) = (spec.launch_template_id(), spec.launch_template_name());
            facts.launch_template = tname.or(id).map(str::to_string);
            facts.image_id = self.template_image(id, tname, &version).await?;
            facts.launch_template_version = Some(version);
        }
        let acts = self
            .autoscaling
            .describe_scaling_activities()
            .auto_scaling_group_name(name)
            .send()
            .await
            .map_err(aws_err("autoscaling", "DescribeScalingActivities"))?;
        facts.activities = acts
            .activities()
            .iter()
            .map(|a| Activity {
                status_code: a
                    .status_code()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
                status_message: a.status_message().map(str::to_string),
                description: a.description().map(str::to_string),
                start_time: a.start_time().map(ToString::to_string),
            })
            .collect();
        Ok(Some(facts))
    }
}
