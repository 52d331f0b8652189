//! The read port of the fake cloud: what one account sees in one region.

use super::{aws_error, find_key, image_visible, not_found, role_of, FakeImage, FakeReader};
use crate::domain::states::InstanceState;
use crate::workflow::inventory::{
    AliasEntry, CallerIdentity, CreateVolumePermission, EventQuery, GrantInfo, IdentityPolicies,
    IdentityPolicyDoc, ImageInfo, InstanceInfo, KeyDescription, LaunchPermission, PolicySource,
    PrincipalKind, SnapshotInfo, StateReason, TrailEvent,
};
use crate::workflow::ports::{AwsError, Reader, Seen};

fn image_info(i: &FakeImage, account: &str) -> ImageInfo {
    let mut info = i.info.clone();
    info.launch_permissions = (i.account == account).then(|| {
        i.launch_permissions
            .iter()
            .map(|a| LaunchPermission {
                user_id: Some(a.clone()),
                group: None,
                organization_arn: None,
                organizational_unit_arn: None,
            })
            .collect()
    });
    info
}

impl Reader for FakeReader {
    fn identity(&self) -> &CallerIdentity {
        &self.0.identity
    }

    fn region(&self) -> &str {
        &self.0.region
    }

    fn in_region(&self, region: &str) -> Option<Self> {
        let mut p = self.0.clone();
        p.region = region.to_string();
        Some(FakeReader(p))
    }

    async fn describe_image(&self, image_id: &str) -> Result<ImageInfo, AwsError> {
        let s = self.0.call("DescribeImages", image_id)?;
        s.images
            .iter()
            .find(|i| i.info.id == image_id && image_visible(i, self.0.account(), &self.0.region))
            .map(|i| image_info(i, self.0.account()))
            .ok_or_else(|| not_found("DescribeImages", image_id))
    }

    async fn list_own_images(&self) -> Result<Vec<ImageInfo>, AwsError> {
        let s = self.0.call("DescribeImages", "owner=self")?;
        Ok(s.images
            .iter()
            .filter(|i| {
                i.account == self.0.account()
                    && image_visible(i, i.account.as_str(), &self.0.region)
            })
            .map(|i| image_info(i, self.0.account()))
            .collect())
    }

    async fn describe_snapshots(
        &self,
        snapshot_ids: &[String],
    ) -> Result<Vec<SnapshotInfo>, AwsError> {
        if snapshot_ids.is_empty() {
            return Ok(Vec::new());
        }
        let s = self.0.call("DescribeSnapshots", &snapshot_ids.join(","))?;
        snapshot_ids
            .iter()
            .map(|id| {
                let snap = s
                    .snapshots
                    .iter()
                    .find(|x| {
                        &x.info.id == id
                            && x.region == self.0.region
                            && (x.account == self.0.account()
                                || x.create_volume_permissions
                                    .iter()
                                    .any(|a| a == self.0.account()))
                    })
                    .ok_or_else(|| not_found("DescribeSnapshots", id))?;
                let mut info = snap.info.clone();
                info.create_volume_permissions = (snap.account == self.0.account()).then(|| {
                    snap.create_volume_permissions
                        .iter()
                        .map(|a| CreateVolumePermission {
                            user_id: Some(a.clone()),
                            group: None,
                        })
                        .collect()
                });
                Ok(info)
            })
            .collect()
    }

    async fn describe_key(&self, key: &str) -> Result<KeyDescription, AwsError> {
        let s = self.0.call("DescribeKey", key)?;
        let k = find_key(&s, key, &self.0.region).ok_or_else(|| not_found("DescribeKey", key))?;
        let mut d = k.description.clone();
        if d.account != self.0.account() {
            d.aliases = None;
        }
        Ok(d)
    }

    async fn get_key_policy(&self, key: &str) -> Result<Seen<String>, AwsError> {
        let s = self.0.call("GetKeyPolicy", key)?;
        let k = find_key(&s, key, &self.0.region).ok_or_else(|| not_found("GetKeyPolicy", key))?;
        if k.description.account != self.0.account() {
            return Ok(Seen::NotVisible(aws_error(
                "GetKeyPolicy",
                "AccessDeniedException",
                "only the key's account reads its policy",
            )));
        }
        Ok(Seen::Visible(k.policy.clone()))
    }

    async fn list_grants(&self, key: &str) -> Result<Seen<Vec<GrantInfo>>, AwsError> {
        let s = self.0.call("ListGrants", key)?;
        let arn = find_key(&s, key, &self.0.region)
            .map(|k| k.description.arn.clone())
            .unwrap_or_else(|| key.to_string());
        Ok(Seen::Visible(
            s.grants
                .iter()
                .filter(|(k, _)| k == &arn)
                .map(|(_, g)| g.clone())
                .collect(),
        ))
    }

    async fn list_aliases(&self) -> Result<Seen<Vec<AliasEntry>>, AwsError> {
        let s = self.0.call("ListAliases", "")?;
        Ok(Seen::Visible(
            s.keys
                .iter()
                .filter(|k| k.description.account == self.0.account())
                .flat_map(|k| {
                    k.description.aliases.iter().flatten().map(|a| AliasEntry {
                        name: a.clone(),
                        target_key_id: Some(k.description.key_id.clone()),
                    })
                })
                .collect(),
        ))
    }

    async fn principal_policies(
        &self,
        principal_arn: &str,
    ) -> Result<Seen<IdentityPolicies>, AwsError> {
        let s = self.0.call("GetPrincipalPolicies", principal_arn)?;
        let arn = role_of(principal_arn);
        if arn.ends_with(":root") {
            return Ok(Seen::Visible(IdentityPolicies {
                principal_arn: arn,
                kind: PrincipalKind::Root,
                name: None,
                groups: vec![],
                policies: vec![],
            }));
        }
        let mut p = s
            .principals
            .get(&arn)
            .cloned()
            .ok_or_else(|| not_found("GetPrincipalPolicies", principal_arn))?;
        for (principal, policy_arn) in &s.attachments {
            if *principal == arn {
                if let Some(m) = s.managed.get(policy_arn) {
                    p.policies.push(IdentityPolicyDoc {
                        source: PolicySource::Attached,
                        name: policy_arn.rsplit('/').next().unwrap_or("").to_string(),
                        arn: Some(policy_arn.clone()),
                        version_id: Some(m.default_version.clone()),
                        group: None,
                        document: m.document.clone(),
                    });
                }
            }
        }
        Ok(Seen::Visible(p))
    }

    async fn describe_instance(&self, instance_id: &str) -> Result<InstanceInfo, AwsError> {
        let s = self.0.call("DescribeInstances", instance_id)?;
        let i = s
            .instances
            .get(instance_id)
            .filter(|i| i.account == self.0.account() && i.region == self.0.region)
            .ok_or_else(|| not_found("DescribeInstances", instance_id))?;
        Ok(InstanceInfo {
            id: instance_id.to_string(),
            state: Some(InstanceState::parse(&i.state)),
            state_reason: i.reason.as_ref().map(|(c, m)| StateReason {
                code: Some(c.clone()),
                message: Some(m.clone()),
            }),
            state_transition_reason: None,
            image_id: Some(i.image_id.clone()),
            instance_type: Some(i.instance_type.clone()),
            launch_time: None,
            volumes: vec![],
            iam_instance_profile: None,
            tags: vec![],
        })
    }

    async fn lookup_events(&self, _query: &EventQuery) -> Result<Seen<Vec<TrailEvent>>, AwsError> {
        let _s = self.0.call("LookupEvents", "")?;
        Ok(Seen::Visible(Vec::new()))
    }

    async fn ebs_default_kms_key_id(&self) -> Result<String, AwsError> {
        let s = self.0.call("GetEbsDefaultKmsKeyId", "")?;
        Ok(s.ebs_default_keys
            .get(&format!("{}/{}", self.0.account(), self.0.region))
            .cloned()
            .unwrap_or_else(|| "alias/aws/ebs".into()))
    }

    async fn ebs_encryption_by_default(&self) -> Result<bool, AwsError> {
        let _s = self.0.call("GetEbsEncryptionByDefault", "")?;
        Ok(false)
    }

    async fn permissions_boundary(
        &self,
        principal_arn: &str,
    ) -> Result<Seen<Option<crate::workflow::guardrail_facts::BoundaryDoc>>, AwsError> {
        self.boundary_of(principal_arn)
    }

    async fn allowed_images_settings(
        &self,
    ) -> Result<Seen<crate::workflow::allowed_images::AllowedImagesSettings>, AwsError> {
        self.allowed_images()
    }
}
