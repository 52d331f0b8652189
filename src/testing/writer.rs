//! The write port of the fake cloud: the changes one account makes in one region.

use super::{
    aws_error, find_key, image_visible, not_found, FakeImage, FakeInstance, FakeSnapshot,
    FakeWriter, LaunchOutcome, State,
};
use crate::domain::states::{ImageState, InstanceState};
use crate::workflow::inventory::{
    GrantInfo, IdentityPolicies, ImageBlockDevice, ImageInfo, SnapshotInfo, Tag,
};
use crate::workflow::ports::AwsError;
use crate::workflow::ports_write::{
    CopyImageRequest, GrantRequest, ImageLifecycle, ImageStatus, InstanceStatus, LaunchRequest,
    ManagedPolicy, SsmParameter, Writer, TAG_SOURCE_IMAGE,
};

fn image_status(s: &State, i: &FakeImage) -> ImageStatus {
    let snapshot_ids: Vec<String> = i.info.snapshot_ids();
    ImageStatus {
        image_id: i.info.id.clone(),
        state: i.info.state.clone(),
        state_reason: i.state_reason.clone(),
        progress_percent: s
            .snapshots
            .iter()
            .filter(|x| snapshot_ids.contains(&x.info.id))
            .map(|_| 100)
            .min(),
        snapshot_ids,
        lifecycle: s
            .lifecycle
            .images
            .get(&i.info.id)
            .cloned()
            .unwrap_or_default(),
        tags: i
            .info
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect(),
    }
}

impl Writer for FakeWriter {
    fn account(&self) -> &str {
        self.0.account()
    }

    fn region(&self) -> &str {
        &self.0.region
    }

    /// A writer acting as a session of `role_arn` (`AssumeRole` faults can be injected).
    async fn assume_role(&self, role_arn: &str) -> Result<Self, AwsError> {
        drop(self.0.call("AssumeRole", role_arn)?);
        let account = role_arn.split(':').nth(4).unwrap_or_default().to_string();
        let name = role_arn.rsplit('/').next().unwrap_or_default();
        Ok(FakeWriter(super::Port {
            cloud: self.0.cloud.clone(),
            identity: crate::workflow::inventory::CallerIdentity {
                arn: format!("arn:aws:sts::{account}:assumed-role/{name}/amishare-test-launch"),
                account,
            },
            region: self.0.region.clone(),
        }))
    }

    async fn put_key_policy(&self, key_arn: &str, policy: &str) -> Result<(), AwsError> {
        let mut s = self.0.call("PutKeyPolicy", key_arn)?;
        let region = self.0.region.clone();
        let arn = find_key(&s, key_arn, &region)
            .map(|k| k.description.arn.clone())
            .ok_or_else(|| not_found("PutKeyPolicy", key_arn))?;
        serde_json::from_str::<serde_json::Value>(policy).map_err(|e| {
            aws_error(
                "PutKeyPolicy",
                "MalformedPolicyDocumentException",
                e.to_string(),
            )
        })?;
        if let Some(k) = s.keys.iter_mut().find(|k| k.description.arn == arn) {
            k.policy = policy.to_string();
        }
        Ok(())
    }

    async fn create_grant(&self, request: &GrantRequest) -> Result<String, AwsError> {
        let mut s = self.0.call("CreateGrant", &request.key_arn)?;
        if let Some((_, g)) = s.grants.iter().find(|(k, g)| {
            k == &request.key_arn && g.name.as_deref() == Some(request.name.as_str())
        }) {
            return Ok(g.grant_id.clone().unwrap_or_default());
        }
        s.next_id += 1;
        let id = format!("grant-{:017x}", s.next_id);
        let grant = GrantInfo {
            grant_id: Some(id.clone()),
            name: Some(request.name.clone()),
            grantee_principal: Some(request.grantee_principal.clone()),
            retiring_principal: request.retiring_principal.clone(),
            issuing_account: Some(self.0.account().to_string()),
            operations: request.operations.clone(),
            constraints: None,
            creation_date: None,
        };
        s.grants.push((request.key_arn.clone(), grant));
        Ok(id)
    }

    async fn retire_grant(&self, key_arn: &str, grant_id: &str) -> Result<(), AwsError> {
        let mut s = self.0.call("RetireGrant", grant_id)?;
        let before = s.grants.len();
        s.grants
            .retain(|(k, g)| !(k == key_arn && g.grant_id.as_deref() == Some(grant_id)));
        if s.grants.len() == before {
            return Err(not_found("RetireGrant", grant_id));
        }
        Ok(())
    }

    async fn set_launch_permission(
        &self,
        image_id: &str,
        account: &str,
        add: bool,
    ) -> Result<(), AwsError> {
        let mut s = self.0.call(
            "ModifyImageAttribute",
            &format!("{image_id} {account} {add}"),
        )?;
        let me = self.0.account().to_string();
        let i = s
            .images
            .iter_mut()
            .find(|i| i.info.id == image_id && i.account == me)
            .ok_or_else(|| not_found("ModifyImageAttribute", image_id))?;
        i.launch_permissions.retain(|a| a != account);
        if add {
            i.launch_permissions.push(account.to_string());
        }
        Ok(())
    }

    async fn set_create_volume_permission(
        &self,
        snapshot_id: &str,
        account: &str,
        add: bool,
    ) -> Result<(), AwsError> {
        let mut s = self.0.call(
            "ModifySnapshotAttribute",
            &format!("{snapshot_id} {account} {add}"),
        )?;
        let me = self.0.account().to_string();
        let x = s
            .snapshots
            .iter_mut()
            .find(|x| x.info.id == snapshot_id && x.account == me)
            .ok_or_else(|| not_found("ModifySnapshotAttribute", snapshot_id))?;
        x.create_volume_permissions.retain(|a| a != account);
        if add {
            x.create_volume_permissions.push(account.to_string());
        }
        Ok(())
    }

    async fn get_managed_policy(
        &self,
        policy_arn: &str,
    ) -> Result<Option<ManagedPolicy>, AwsError> {
        let s = self.0.call("GetPolicy", policy_arn)?;
        Ok(s.managed.get(policy_arn).cloned())
    }

    async fn create_policy(
        &self,
        name: &str,
        document: &str,
        _description: &str,
    ) -> Result<String, AwsError> {
        let mut s = self.0.call("CreatePolicy", name)?;
        let arn = format!("arn:aws:iam::{}:policy/{name}", self.0.account());
        if s.managed.contains_key(&arn) {
            return Err(aws_error(
                "CreatePolicy",
                "EntityAlreadyExists",
                format!("{arn} exists"),
            ));
        }
        s.managed.insert(
            arn.clone(),
            ManagedPolicy {
                arn: arn.clone(),
                default_version: "v1".into(),
                document: document.to_string(),
                versions: vec!["v1".into()],
            },
        );
        Ok(arn)
    }

    async fn create_policy_version(
        &self,
        policy_arn: &str,
        document: &str,
    ) -> Result<String, AwsError> {
        let mut s = self.0.call("CreatePolicyVersion", policy_arn)?;
        let p = s
            .managed
            .get_mut(policy_arn)
            .ok_or_else(|| aws_error("CreatePolicyVersion", "NoSuchEntity", policy_arn))?;
        let v = format!("v{}", p.versions.len() + 1);
        p.versions.push(v.clone());
        p.default_version = v.clone();
        p.document = document.to_string();
        Ok(v)
    }

    async fn restore_policy_version(
        &self,
        policy_arn: &str,
        default_version: &str,
        delete_version: &str,
    ) -> Result<(), AwsError> {
        let mut s = self.0.call("SetDefaultPolicyVersion", policy_arn)?;
        let p = s
            .managed
            .get_mut(policy_arn)
            .ok_or_else(|| aws_error("SetDefaultPolicyVersion", "NoSuchEntity", policy_arn))?;
        p.default_version = default_version.to_string();
        p.versions.retain(|v| v != delete_version);
        Ok(())
    }

    async fn delete_policy(&self, policy_arn: &str) -> Result<(), AwsError> {
        let mut s = self.0.call("DeletePolicy", policy_arn)?;
        if s.attachments.iter().any(|(_, p)| p == policy_arn) {
            return Err(aws_error(
                "DeletePolicy",
                "DeleteConflict",
                "policy is attached",
            ));
        }
        s.managed.remove(policy_arn);
        Ok(())
    }

    async fn set_policy_attachment(
        &self,
        principal_arn: &str,
        policy_arn: &str,
        attach: bool,
    ) -> Result<(), AwsError> {
        let api = if attach {
            "AttachPolicy"
        } else {
            "DetachPolicy"
        };
        let mut s = self.0.call(api, &format!("{policy_arn} {principal_arn}"))?;
        if !s.principals.contains_key(principal_arn) {
            return Err(aws_error(api, "NoSuchEntity", principal_arn));
        }
        let pair = (principal_arn.to_string(), policy_arn.to_string());
        s.attachments.retain(|a| *a != pair);
        if attach {
            s.attachments.push(pair);
        }
        Ok(())
    }

    async fn create_service_linked_role(&self, service: &str) -> Result<Option<String>, AwsError> {
        let mut s = self.0.call("CreateServiceLinkedRole", service)?;
        let name = service.split('.').next().unwrap_or(service);
        let role = if name == "autoscaling" {
            "AWSServiceRoleForAutoScaling".to_string()
        } else {
            format!("AWSServiceRoleFor{name}")
        };
        let arn = format!(
            "arn:aws:iam::{}:role/aws-service-role/{service}/{role}",
            self.0.account()
        );
        if s.principals.contains_key(&arn) {
            return Ok(None);
        }
        s.principals.insert(
            arn.clone(),
            IdentityPolicies {
                principal_arn: arn.clone(),
                kind: crate::domain::arn::PrincipalKind::Role,
                name: Some(role),
                groups: vec![],
                policies: vec![],
            },
        );
        Ok(Some(arn))
    }

    async fn copy_image(&self, request: &CopyImageRequest) -> Result<String, AwsError> {
        let image_id = self.0.cloud.next("ami");
        let snap_base = self.0.cloud.next("snap");
        let mut s = self.0.call("CopyImage", &request.source_image_id)?;
        let me = self.0.account().to_string();
        let source = s
            .images
            .iter()
            .find(|i| {
                i.info.id == request.source_image_id
                    && image_visible(i, &me, &request.source_region)
            })
            .cloned()
            .ok_or_else(|| not_found("CopyImage", &request.source_image_id))?;
        let key = request.kms_key_id.clone().or_else(|| {
            s.ebs_default_keys
                .get(&format!("{me}/{}", self.0.region))
                .cloned()
        });
        let mut devices = Vec::new();
        for (n, d) in source.info.block_devices.iter().enumerate() {
            let id = format!("{snap_base}{n}");
            s.snapshots.push(FakeSnapshot {
                account: me.clone(),
                region: self.0.region.clone(),
                info: SnapshotInfo {
                    id: id.clone(),
                    encrypted: Some(true),
                    kms_key_id: key.clone(),
                    owner: Some(me.clone()),
                    state: Some("completed".into()),
                    progress: Some("100%".into()),
                    volume_size: d.volume_size,
                    create_volume_permissions: None,
                },
                create_volume_permissions: vec![],
            });
            devices.push(ImageBlockDevice {
                snapshot_id: Some(id),
                encrypted: Some(true),
                kms_key_id: key.clone(),
                ..d.clone()
            });
        }
        s.images.push(FakeImage {
            account: me.clone(),
            region: self.0.region.clone(),
            info: ImageInfo {
                id: image_id.clone(),
                name: Some(request.name.clone()),
                owner: Some(me),
                state: Some("available".into()),
                architecture: source.info.architecture.clone(),
                creation_date: None,
                block_devices: devices,
                launch_permissions: None,
                tags: request
                    .tags
                    .iter()
                    .map(|(k, v)| Tag {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
            },
            launch_permissions: vec![],
            state_reason: None,
        });
        Ok(image_id)
    }

    async fn tag(&self, resource_id: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        let mut s = self.0.call("CreateTags", resource_id)?;
        if let Some(i) = s.images.iter_mut().find(|i| i.info.id == resource_id) {
            for (k, v) in tags {
                i.info.tags.retain(|t| &t.key != k);
                i.info.tags.push(Tag {
                    key: k.clone(),
                    value: v.clone(),
                });
            }
        }
        Ok(())
    }

    async fn find_copies(&self, source_image_id: &str) -> Result<Vec<ImageStatus>, AwsError> {
        let s = self
            .0
            .call("DescribeImages", &format!("copies of {source_image_id}"))?;
        Ok(s.images
            .iter()
            .filter(|i| {
                i.account == self.0.account()
                    && i.region == self.0.region
                    && i.info.state != Some(ImageState::Deregistered)
                    && i.info
                        .tags
                        .iter()
                        .any(|t| t.key == TAG_SOURCE_IMAGE && t.value == source_image_id)
            })
            .map(|i| image_status(&s, i))
            .collect())
    }

    async fn image_status(&self, image_id: &str) -> Result<Option<ImageStatus>, AwsError> {
        let s = self.0.call("DescribeImages", image_id)?;
        Ok(s.images
            .iter()
            .find(|i| {
                i.info.id == image_id && i.account == self.0.account() && i.region == self.0.region
            })
            .map(|i| image_status(&s, i)))
    }

    async fn run_instance(&self, request: &LaunchRequest) -> Result<String, AwsError> {
        let id = self.0.cloud.next("i");
        let mut s = self.0.call("RunInstances", &request.image_id)?;
        let (state, reason) = match &s.launch {
            LaunchOutcome::Runs => ("running".to_string(), None),
            LaunchOutcome::StaysPending => ("pending".to_string(), None),
            LaunchOutcome::Fails(c, m) => ("terminated".to_string(), Some((c.clone(), m.clone()))),
        };
        s.instances.insert(
            id.clone(),
            FakeInstance {
                account: self.0.account().to_string(),
                region: self.0.region.clone(),
                image_id: request.image_id.clone(),
                instance_type: request.instance_type.clone(),
                state,
                reason,
            },
        );
        Ok(id)
    }

    async fn instance_status(&self, instance_id: &str) -> Result<InstanceStatus, AwsError> {
        let s = self.0.call("DescribeInstances", instance_id)?;
        let i = s
            .instances
            .get(instance_id)
            .ok_or_else(|| not_found("DescribeInstances", instance_id))?;
        Ok(InstanceStatus {
            instance_id: instance_id.to_string(),
            state: Some(InstanceState::parse(&i.state)),
            reason_code: i.reason.as_ref().map(|r| r.0.clone()),
            reason_message: i.reason.as_ref().map(|r| r.1.clone()),
        })
    }

    async fn terminate_instance(&self, instance_id: &str) -> Result<(), AwsError> {
        let mut s = self.0.call("TerminateInstances", instance_id)?;
        let i = s
            .instances
            .get_mut(instance_id)
            .ok_or_else(|| not_found("TerminateInstances", instance_id))?;
        i.state = "terminated".into();
        i.reason = Some((
            "Client.UserInitiatedShutdown".into(),
            "Client.UserInitiatedShutdown: User initiated shutdown".into(),
        ));
        Ok(())
    }

    async fn deregister_image(&self, image_id: &str) -> Result<(), AwsError> {
        let mut s = self.0.call("DeregisterImage", image_id)?;
        if let Some(refused) = super::lifecycle::refuses_deregistration(&s, image_id) {
            return Err(refused);
        }
        let i = s
            .images
            .iter_mut()
            .find(|i| i.info.id == image_id)
            .ok_or_else(|| not_found("DeregisterImage", image_id))?;
        i.info.state = Some("deregistered".into());
        Ok(())
    }

    async fn delete_snapshot(&self, snapshot_id: &str) -> Result<(), AwsError> {
        let mut s = self.0.call("DeleteSnapshot", snapshot_id)?;
        s.snapshots.retain(|x| x.info.id != snapshot_id);
        Ok(())
    }

    async fn set_image_deprecation(
        &self,
        image_id: &str,
        deprecate_at: Option<&str>,
    ) -> Result<(), AwsError> {
        super::lifecycle::set_deprecation(self, image_id, deprecate_at)
    }

    async fn set_deregistration_protection(
        &self,
        image_id: &str,
        enable: bool,
        with_cooldown: bool,
    ) -> Result<(), AwsError> {
        super::lifecycle::set_protection(self, image_id, enable, with_cooldown)
    }

    async fn image_lifecycle(&self, image_id: &str) -> Result<Option<ImageLifecycle>, AwsError> {
        super::lifecycle::lifecycle(self, image_id)
    }

    async fn get_parameter(&self, name: &str) -> Result<Option<SsmParameter>, AwsError> {
        super::lifecycle::get_parameter(self, name)
    }

    async fn put_parameter(
        &self,
        name: &str,
        value: &str,
        data_type: &str,
    ) -> Result<(), AwsError> {
        super::lifecycle::put_parameter(self, name, value, data_type)
    }

    async fn delete_parameter(&self, name: &str) -> Result<(), AwsError> {
        super::lifecycle::delete_parameter(self, name)
    }
}
