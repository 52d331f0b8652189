//! [`Reader`] implemented with the AWS SDK: one account, one region.
//!
//! Only SDK calls and translation to plain data here: no decisions (what a missing permission
//! means is the workflow's business). Every list call reads all pages.

use std::collections::HashMap;

use aws_smithy_types::DateTime as SmithyDateTime;
use serde_json::Value;

use super::clients::AwsSession;
use super::error::{aws_err, AwsError};
use crate::workflow::inventory::{
    AliasEntry, CallerIdentity, CreateVolumePermission, EventFilter, EventQuery, GrantInfo,
    IdentityPolicies, IdentityPolicyDoc, ImageBlockDevice, ImageInfo, InstanceInfo, KeyDescription,
    LaunchPermission, PolicySource, PrincipalKind, SnapshotInfo, StateReason, Tag, TrailEvent,
    VolumeInfo,
};
use crate::workflow::ports::{Reader, Seen};

/// SDK clients for one account and region, with who they are.
#[derive(Debug, Clone)]
pub struct SdkReader {
    identity: CallerIdentity,
    region: String,
    ec2: aws_sdk_ec2::Client,
    kms: aws_sdk_kms::Client,
    iam: aws_sdk_iam::Client,
    cloudtrail: aws_sdk_cloudtrail::Client,
}

/// The clients a [`SdkReader`] uses (e.g. mock clients in tests).
#[derive(Debug, Clone)]
pub struct ReaderClients {
    pub ec2: aws_sdk_ec2::Client,
    pub kms: aws_sdk_kms::Client,
    pub iam: aws_sdk_iam::Client,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
}

impl SdkReader {
    pub fn new(session: &AwsSession) -> Self {
        Self::from_clients(
            session.identity(),
            &session.region,
            ReaderClients {
                ec2: session.ec2(),
                kms: session.kms(),
                iam: session.iam(),
                cloudtrail: session.cloudtrail(),
            },
        )
    }

    pub fn from_clients(identity: CallerIdentity, region: &str, clients: ReaderClients) -> Self {
        Self {
            identity,
            region: region.to_string(),
            ec2: clients.ec2,
            kms: clients.kms,
            iam: clients.iam,
            cloudtrail: clients.cloudtrail,
        }
    }
}

fn smithy_time(t: Option<&SmithyDateTime>) -> Option<String> {
    t.and_then(|t| {
        chrono::DateTime::<chrono::Utc>::from_timestamp(t.secs(), t.subsec_nanos())
            .map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    })
}

fn to_smithy(t: chrono::DateTime<chrono::Utc>) -> SmithyDateTime {
    SmithyDateTime::from_secs(t.timestamp())
}

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
        state: img.state().map(|s| s.as_str().to_string()),
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
pub(super) async fn describe_one_instance(
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

/// `%7B%22Version...` -> `{"Version...`: IAM returns policy documents URL-encoded.
pub fn decode_policy_document(doc: &str) -> String {
    let trimmed = doc.trim_start();
    if trimmed.starts_with('{') || !trimmed.contains('%') {
        return doc.to_string();
    }
    let bytes = doc.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A principal ARN split into what IAM calls need.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParsedPrincipal {
    kind: PrincipalKind,
    /// User/role/group name without path (IAM APIs take the bare name).
    name: Option<String>,
}

fn parse_principal(arn: &str) -> Option<ParsedPrincipal> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return None;
    }
    let (service, resource) = (parts[2], parts[5]);
    let last = |r: &str| r.rsplit('/').next().map(str::to_string);
    match service {
        "iam" if resource == "root" => Some(ParsedPrincipal {
            kind: PrincipalKind::Root,
            name: None,
        }),
        "iam" if resource.starts_with("user/") => Some(ParsedPrincipal {
            kind: PrincipalKind::User,
            name: last(resource),
        }),
        "iam" if resource.starts_with("role/") => Some(ParsedPrincipal {
            kind: PrincipalKind::Role,
            name: last(resource),
        }),
        "iam" if resource.starts_with("group/") => Some(ParsedPrincipal {
            kind: PrincipalKind::Group,
            name: last(resource),
        }),
        "sts" if resource.starts_with("assumed-role/") => {
            let mut it = resource.split('/');
            it.next();
            it.next().map(|role| ParsedPrincipal {
                kind: PrincipalKind::AssumedRole,
                name: Some(role.to_string()),
            })
        }
        _ => None,
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn collect_instance_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                if k == "instanceId" {
                    if let Some(s) = val.as_str() {
                        if !out.iter().any(|o| o == s) {
                            out.push(s.to_string());
                        }
                    }
                } else {
                    collect_instance_ids(val, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_instance_ids(i, out)),
        _ => {}
    }
}

/// Parse one LookupEvents entry (its `CloudTrailEvent` JSON record) into a [`TrailEvent`].
pub fn parse_trail_event(
    event_id: Option<&str>,
    event_name: Option<&str>,
    event_time: Option<String>,
    record: Option<&str>,
) -> TrailEvent {
    let v: Value = record
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let mut instance_ids = Vec::new();
    if let Some(req) = v.get("requestParameters") {
        collect_instance_ids(req, &mut instance_ids);
    }
    if let Some(resp) = v.get("responseElements") {
        collect_instance_ids(resp, &mut instance_ids);
    }
    let s = |path: &[&str]| str_at(&v, path).map(str::to_string);
    TrailEvent {
        event_id: event_id.map(str::to_string).or_else(|| s(&["eventID"])),
        event_name: event_name
            .map(str::to_string)
            .or_else(|| s(&["eventName"]))
            .unwrap_or_default(),
        event_time: event_time.or_else(|| s(&["eventTime"])),
        event_source: s(&["eventSource"]),
        aws_region: s(&["awsRegion"]),
        error_code: s(&["errorCode"]),
        error_message: s(&["errorMessage"]),
        user_arn: s(&["userIdentity", "arn"]),
        user_type: s(&["userIdentity", "type"]),
        session_issuer_arn: s(&["userIdentity", "sessionContext", "sessionIssuer", "arn"]),
        invoked_by: s(&["userIdentity", "invokedBy"]),
        source_ip: s(&["sourceIPAddress"]),
        key_id: s(&["requestParameters", "keyId"]),
        grantee_principal: s(&["requestParameters", "granteePrincipal"]),
        instance_ids,
        ebs_id: s(&[
            "requestParameters",
            "constraints",
            "encryptionContextSubset",
            "aws:ebs:id",
        ])
        .or_else(|| s(&["requestParameters", "encryptionContext", "aws:ebs:id"])),
        resources: v
            .get("resources")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| r.get("ARN").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

impl SdkReader {
    async fn launch_permissions(&self, image_id: &str) -> Result<Vec<LaunchPermission>, AwsError> {
        let out = self
            .ec2
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
        &self,
        snapshot_id: &str,
    ) -> Result<Vec<CreateVolumePermission>, AwsError> {
        let out = self
            .ec2
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

    async fn aliases_of(&self, key_id: &str) -> Result<Vec<String>, AwsError> {
        let mut pages = self
            .kms
            .list_aliases()
            .key_id(key_id)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("kms", "ListAliases"))?;
            out.extend(
                page.aliases()
                    .iter()
                    .filter_map(|a| a.alias_name().map(str::to_string)),
            );
        }
        Ok(out)
    }

    async fn managed_policy(
        &self,
        source: PolicySource,
        name: &str,
        arn: &str,
        group: Option<&str>,
    ) -> Result<IdentityPolicyDoc, AwsError> {
        let pol = self
            .iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(aws_err("iam", "GetPolicy"))?;
        let version = pol
            .policy()
            .and_then(|p| p.default_version_id())
            .ok_or_else(|| {
                AwsError::new(
                    "iam",
                    "GetPolicy",
                    format!("policy `{arn}` has no default version"),
                )
            })?
            .to_string();
        let v = self
            .iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(&version)
            .send()
            .await
            .map_err(aws_err("iam", "GetPolicyVersion"))?;
        let doc = v
            .policy_version()
            .and_then(|p| p.document())
            .unwrap_or_default();
        Ok(IdentityPolicyDoc {
            source,
            name: name.to_string(),
            arn: Some(arn.to_string()),
            version_id: Some(version),
            group: group.map(str::to_string),
            document: decode_policy_document(doc),
        })
    }

    /// Attached managed policies of a user, role or group: (name, arn).
    async fn attached(
        &self,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        let mut out = Vec::new();
        let mut push = |ps: &[aws_sdk_iam::types::AttachedPolicy]| {
            for p in ps {
                if let Some(arn) = p.policy_arn() {
                    out.push((p.policy_name().unwrap_or(arn).to_string(), arn.to_string()));
                }
            }
        };
        match kind {
            PrincipalKind::User => {
                let mut pages = self
                    .iam
                    .list_attached_user_policies()
                    .user_name(name)
                    .into_paginator()
                    .send();
                while let Some(p) = pages.next().await {
                    push(
                        p.map_err(aws_err("iam", "ListAttachedUserPolicies"))?
                            .attached_policies(),
                    );
                }
            }
            PrincipalKind::Role | PrincipalKind::AssumedRole => {
                let mut pages = self
                    .iam
                    .list_attached_role_policies()
                    .role_name(name)
                    .into_paginator()
                    .send();
                while let Some(p) = pages.next().await {
                    push(
                        p.map_err(aws_err("iam", "ListAttachedRolePolicies"))?
                            .attached_policies(),
                    );
                }
            }
            PrincipalKind::Group => {
                let mut pages = self
                    .iam
                    .list_attached_group_policies()
                    .group_name(name)
                    .into_paginator()
                    .send();
                while let Some(p) = pages.next().await {
                    push(
                        p.map_err(aws_err("iam", "ListAttachedGroupPolicies"))?
                            .attached_policies(),
                    );
                }
            }
            PrincipalKind::Root => {}
        }
        Ok(out)
    }

    /// Inline policies of a user, role or group: (name, document).
    async fn inline(
        &self,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        let mut names: Vec<String> = Vec::new();
        match kind {
            PrincipalKind::User => {
                let mut pages = self
                    .iam
                    .list_user_policies()
                    .user_name(name)
                    .into_paginator()
                    .send();
                while let Some(p) = pages.next().await {
                    names.extend_from_slice(
                        p.map_err(aws_err("iam", "ListUserPolicies"))?
                            .policy_names(),
                    );
                }
            }
            PrincipalKind::Role | PrincipalKind::AssumedRole => {
                let mut pages = self
                    .iam
                    .list_role_policies()
                    .role_name(name)
                    .into_paginator()
                    .send();
                while let Some(p) = pages.next().await {
                    names.extend_from_slice(
                        p.map_err(aws_err("iam", "ListRolePolicies"))?
                            .policy_names(),
                    );
                }
            }
            PrincipalKind::Group => {
                let mut pages = self
                    .iam
                    .list_group_policies()
                    .group_name(name)
                    .into_paginator()
                    .send();
                while let Some(p) = pages.next().await {
                    names.extend_from_slice(
                        p.map_err(aws_err("iam", "ListGroupPolicies"))?
                            .policy_names(),
                    );
                }
            }
            PrincipalKind::Root => {}
        }
        let mut out = Vec::new();
        for pname in names {
            let doc = match kind {
                PrincipalKind::User => self
                    .iam
                    .get_user_policy()
                    .user_name(name)
                    .policy_name(&pname)
                    .send()
                    .await
                    .map_err(aws_err("iam", "GetUserPolicy"))?
                    .policy_document
                    .clone(),
                PrincipalKind::Role | PrincipalKind::AssumedRole => self
                    .iam
                    .get_role_policy()
                    .role_name(name)
                    .policy_name(&pname)
                    .send()
                    .await
                    .map_err(aws_err("iam", "GetRolePolicy"))?
                    .policy_document
                    .clone(),
                PrincipalKind::Group => self
                    .iam
                    .get_group_policy()
                    .group_name(name)
                    .policy_name(&pname)
                    .send()
                    .await
                    .map_err(aws_err("iam", "GetGroupPolicy"))?
                    .policy_document
                    .clone(),
                PrincipalKind::Root => String::new(),
            };
            out.push((pname, decode_policy_document(&doc)));
        }
        Ok(out)
    }

    async fn own_policies(
        &self,
        kind: PrincipalKind,
        name: &str,
        group: Option<&str>,
    ) -> Result<Vec<IdentityPolicyDoc>, AwsError> {
        let (attached_src, inline_src) = if group.is_some() {
            (PolicySource::GroupAttached, PolicySource::GroupInline)
        } else {
            (PolicySource::Attached, PolicySource::Inline)
        };
        let mut docs = Vec::new();
        for (pname, arn) in self.attached(kind, name).await? {
            docs.push(
                self.managed_policy(attached_src, &pname, &arn, group)
                    .await?,
            );
        }
        for (pname, document) in self.inline(kind, name).await? {
            docs.push(IdentityPolicyDoc {
                source: inline_src,
                name: pname,
                arn: None,
                version_id: None,
                group: group.map(str::to_string),
                document,
            });
        }
        Ok(docs)
    }

    async fn identity_policies(&self, principal_arn: &str) -> Result<IdentityPolicies, AwsError> {
        let parsed = parse_principal(principal_arn).ok_or_else(|| AwsError {
            code: Some("InvalidPrincipal".to_string()),
            ..AwsError::new(
                "iam",
                "ListAttachedPolicies",
                format!("`{principal_arn}` is not a user, role, assumed-role, group or root ARN"),
            )
        })?;
        let mut result = IdentityPolicies {
            principal_arn: principal_arn.to_string(),
            kind: parsed.kind,
            name: parsed.name.clone(),
            groups: Vec::new(),
            policies: Vec::new(),
        };
        let Some(name) = parsed.name else {
            return Ok(result);
        };
        result.policies = self.own_policies(parsed.kind, &name, None).await?;
        if parsed.kind == PrincipalKind::User {
            let mut pages = self
                .iam
                .list_groups_for_user()
                .user_name(&name)
                .into_paginator()
                .send();
            while let Some(p) = pages.next().await {
                let p = p.map_err(aws_err("iam", "ListGroupsForUser"))?;
                result
                    .groups
                    .extend(p.groups().iter().map(|g| g.group_name().to_string()));
            }
            for g in result.groups.clone() {
                let docs = self
                    .own_policies(PrincipalKind::Group, &g, Some(&g))
                    .await?;
                result.policies.extend(docs);
            }
        }
        Ok(result)
    }
}

impl Reader for SdkReader {
    fn identity(&self) -> &CallerIdentity {
        &self.identity
    }

    fn region(&self) -> &str {
        &self.region
    }

    fn in_region(&self, region: &str) -> Option<Self> {
        if region.is_empty() {
            return None;
        }
        let r = || aws_config::Region::new(region.to_string());
        Some(Self {
            identity: self.identity.clone(),
            region: region.to_string(),
            ec2: aws_sdk_ec2::Client::from_conf(self.ec2.config().to_builder().region(r()).build()),
            kms: aws_sdk_kms::Client::from_conf(self.kms.config().to_builder().region(r()).build()),
            iam: self.iam.clone(),
            cloudtrail: aws_sdk_cloudtrail::Client::from_conf(
                self.cloudtrail.config().to_builder().region(r()).build(),
            ),
        })
    }

    async fn describe_image(&self, image_id: &str) -> Result<ImageInfo, AwsError> {
        let out = self
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
                    self.identity.account
                ),
            )
        })?;
        let mut info = image_info(img);
        if info.owner.as_deref() == Some(self.identity.account.as_str()) {
            info.launch_permissions = self.launch_permissions(image_id).await.ok();
        }
        Ok(info)
    }

    async fn list_own_images(&self) -> Result<Vec<ImageInfo>, AwsError> {
        let mut pages = self
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

    async fn describe_snapshots(
        &self,
        snapshot_ids: &[String],
    ) -> Result<Vec<SnapshotInfo>, AwsError> {
        if snapshot_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pages = self
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
                if s.owner.as_deref() == Some(self.identity.account.as_str()) {
                    s.create_volume_permissions = self.create_volume_permissions(id).await.ok();
                }
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn describe_key(&self, key: &str) -> Result<KeyDescription, AwsError> {
        let out = self
            .kms
            .describe_key()
            .key_id(key)
            .send()
            .await
            .map_err(aws_err("kms", "DescribeKey"))?;
        let m = out
            .key_metadata()
            .ok_or_else(|| AwsError::new("kms", "DescribeKey", "the answer has no key metadata"))?;
        let arn = m.arn().unwrap_or_default().to_string();
        let mut arn_parts = arn.split(':');
        let region = arn_parts.nth(3).unwrap_or_default().to_string();
        let account = m
            .aws_account_id()
            .map(str::to_string)
            .or_else(|| arn.split(':').nth(4).map(str::to_string))
            .unwrap_or_default();
        let aliases = if account == self.identity.account {
            self.aliases_of(m.key_id()).await.ok()
        } else {
            None
        };
        Ok(KeyDescription {
            arn,
            key_id: m.key_id().to_string(),
            account,
            region,
            key_manager: m.key_manager().map(|k| k.as_str().to_string()),
            key_state: m.key_state().map(|k| k.as_str().to_string()),
            multi_region: m.multi_region(),
            description: m.description().map(str::to_string),
            origin: m.origin().map(|o| o.as_str().to_string()),
            aliases,
        })
    }

    async fn get_key_policy(&self, key: &str) -> Result<Seen<String>, AwsError> {
        let r = self
            .kms
            .get_key_policy()
            .key_id(key)
            .policy_name("default")
            .send()
            .await
            .map_err(aws_err("kms", "GetKeyPolicy"))
            .map(|o| o.policy().unwrap_or_default().to_string());
        Seen::from_result(r)
    }

    async fn list_grants(&self, key: &str) -> Result<Seen<Vec<GrantInfo>>, AwsError> {
        let mut pages = self.kms.list_grants().key_id(key).into_paginator().send();
        let mut out = Vec::new();
        while let Some(p) = pages.next().await {
            let p = match p.map_err(aws_err("kms", "ListGrants")) {
                Ok(p) => p,
                Err(e) => return Seen::from_result(Err(e)),
            };
            for g in p.grants() {
                let constraints = g.constraints().map(|c| {
                    let mut obj = serde_json::Map::new();
                    if let Some(m) = c.encryption_context_subset() {
                        obj.insert("EncryptionContextSubset".into(), serde_json::json!(m));
                    }
                    if let Some(m) = c.encryption_context_equals() {
                        obj.insert("EncryptionContextEquals".into(), serde_json::json!(m));
                    }
                    Value::Object(obj).to_string()
                });
                out.push(GrantInfo {
                    grant_id: g.grant_id().map(str::to_string),
                    name: g.name().map(str::to_string),
                    grantee_principal: g.grantee_principal().map(str::to_string),
                    retiring_principal: g.retiring_principal().map(str::to_string),
                    issuing_account: g.issuing_account().map(str::to_string),
                    operations: g
                        .operations()
                        .iter()
                        .map(|o| o.as_str().to_string())
                        .collect(),
                    constraints,
                    creation_date: smithy_time(g.creation_date()),
                });
            }
        }
        Ok(Seen::Visible(out))
    }

    async fn list_aliases(&self) -> Result<Seen<Vec<AliasEntry>>, AwsError> {
        let mut pages = self.kms.list_aliases().into_paginator().send();
        let mut out = Vec::new();
        while let Some(p) = pages.next().await {
            let p = match p.map_err(aws_err("kms", "ListAliases")) {
                Ok(p) => p,
                Err(e) => return Seen::from_result(Err(e)),
            };
            for a in p.aliases() {
                if let Some(name) = a.alias_name() {
                    out.push(AliasEntry {
                        name: name.to_string(),
                        target_key_id: a.target_key_id().map(str::to_string),
                    });
                }
            }
        }
        Ok(Seen::Visible(out))
    }

    async fn principal_policies(
        &self,
        principal_arn: &str,
    ) -> Result<Seen<IdentityPolicies>, AwsError> {
        Seen::from_result(self.identity_policies(principal_arn).await)
    }

    async fn describe_instance(&self, instance_id: &str) -> Result<InstanceInfo, AwsError> {
        let inst = describe_one_instance(&self.ec2, instance_id)
            .await?
            .ok_or_else(|| AwsError {
                code: Some("InvalidInstanceID.NotFound".to_string()),
                ..AwsError::new(
                    "ec2",
                    "DescribeInstances",
                    format!(
                        "the instance `{instance_id}` does not exist in {}",
                        self.region
                    ),
                )
            })?;
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
            let described = self
                .ec2
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
        Ok(InstanceInfo {
            id: inst.instance_id().unwrap_or(instance_id).to_string(),
            state: inst
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string()),
            state_reason: inst.state_reason().map(|r| StateReason {
                code: r.code().map(str::to_string),
                message: r.message().map(str::to_string),
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

    async fn lookup_events(&self, query: &EventQuery) -> Result<Seen<Vec<TrailEvent>>, AwsError> {
        use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
        let (key, value) = match &query.filter {
            EventFilter::EventName(n) => (LookupAttributeKey::EventName, n.as_str()),
            EventFilter::ResourceName(n) => (LookupAttributeKey::ResourceName, n.as_str()),
        };
        let attr = LookupAttribute::builder()
            .attribute_key(key)
            .attribute_value(value)
            .build()
            .map_err(|e| AwsError::new("cloudtrail", "LookupEvents", e.to_string()))?;
        let mut pages = self
            .cloudtrail
            .lookup_events()
            .lookup_attributes(attr)
            .start_time(to_smithy(query.start))
            .end_time(to_smithy(query.end))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        'pages: while let Some(p) = pages.next().await {
            let p = match p.map_err(aws_err("cloudtrail", "LookupEvents")) {
                Ok(p) => p,
                Err(e) => return Seen::from_result(Err(e)),
            };
            for e in p.events() {
                if out.len() >= query.max_events {
                    break 'pages;
                }
                let mut ev = parse_trail_event(
                    e.event_id(),
                    e.event_name(),
                    smithy_time(e.event_time()),
                    e.cloud_trail_event(),
                );
                for name in e.resources().iter().filter_map(|r| r.resource_name()) {
                    if !ev.resources.iter().any(|x| x == name) {
                        ev.resources.push(name.to_string());
                    }
                }
                out.push(ev);
            }
        }
        out.sort_by(|a, b| a.event_time.cmp(&b.event_time));
        Ok(Seen::Visible(out))
    }

    async fn ebs_default_kms_key_id(&self) -> Result<String, AwsError> {
        let out = self
            .ec2
            .get_ebs_default_kms_key_id()
            .send()
            .await
            .map_err(aws_err("ec2", "GetEbsDefaultKmsKeyId"))?;
        Ok(out.kms_key_id().unwrap_or("alias/aws/ebs").to_string())
    }

    async fn ebs_encryption_by_default(&self) -> Result<bool, AwsError> {
        let out = self
            .ec2
            .get_ebs_encryption_by_default()
            .send()
            .await
            .map_err(aws_err("ec2", "GetEbsEncryptionByDefault"))?;
        Ok(out.ebs_encryption_by_default().unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_url_encoded_policy() {
        assert_eq!(
            decode_policy_document("%7B%22Version%22%3A%222012-10-17%22%7D"),
            r#"{"Version":"2012-10-17"}"#
        );
        assert_eq!(decode_policy_document(r#"{"a":"50%"}"#), r#"{"a":"50%"}"#);
    }

    #[test]
    fn parses_principals() {
        let p = |a| parse_principal(a).map(|p| (p.kind, p.name));
        assert_eq!(
            p("arn:aws:iam::1:user/dev/alice"),
            Some((PrincipalKind::User, Some("alice".into())))
        );
        assert_eq!(
            p("arn:aws:sts::1:assumed-role/Admin/sess"),
            Some((PrincipalKind::AssumedRole, Some("Admin".into())))
        );
        assert_eq!(
            p("arn:aws:iam::1:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"),
            Some((PrincipalKind::Role, Some("AWSServiceRoleForAutoScaling".into())))
        );
        assert_eq!(p("arn:aws:iam::1:root"), Some((PrincipalKind::Root, None)));
        assert_eq!(p("alice"), None);
    }

    #[test]
    fn parses_a_creategrant_denial() {
        let rec = r#"{"eventName":"CreateGrant","eventTime":"2024-01-01T00:00:00Z","errorCode":"AccessDenied",
          "errorMessage":"User: arn:aws:iam::123456789012:user/test is not authorized to perform: kms:CreateGrant",
          "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/test","invokedBy":"ec2.amazonaws.com"},
          "requestParameters":{"keyId":"arn:aws:kms:eu-west-1:123456789012:key/k","granteePrincipal":"123456789012:aws:ec2-infrastructure"}}"#;
        let e = parse_trail_event(Some("e1"), None, None, Some(rec));
        assert_eq!(e.event_name, "CreateGrant");
        assert_eq!(e.error_code.as_deref(), Some("AccessDenied"));
        assert_eq!(
            e.user_arn.as_deref(),
            Some("arn:aws:iam::123456789012:user/test")
        );
        assert_eq!(
            e.key_id.as_deref(),
            Some("arn:aws:kms:eu-west-1:123456789012:key/k")
        );
        assert_eq!(e.invoked_by.as_deref(), Some("ec2.amazonaws.com"));
        assert_eq!(e.event_time.as_deref(), Some("2024-01-01T00:00:00Z"));
    }

    #[test]
    fn collects_instance_ids_of_run_instances() {
        let rec = r#"{"eventName":"RunInstances","responseElements":{"instancesSet":{"items":[{"instanceId":"i-1"},{"instanceId":"i-2"}]}}}"#;
        let e = parse_trail_event(None, None, None, Some(rec));
        assert_eq!(e.instance_ids, vec!["i-1".to_string(), "i-2".to_string()]);
    }
}
