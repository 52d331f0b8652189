//! In-memory fakes of the workflow's ports: one [`Cloud`] (every account and region, shared) and,
//! per account and region, a [`FakeReader`] (the read port) and a [`FakeWriter`] (the write
//! port) that read and change it. No network, no emulator.
//!
//! The fake keeps AWS's shape where the workflow depends on it: an image is visible to its owner
//! and to the accounts it is shared with, only the key's own account reads its key policy, an
//! attached managed policy shows up in the principal's identity policies, copies carry their
//! tags, instances stay terminated. It makes no access decisions (that is the policy engine's and
//! the emulator's job). Every call is logged ([`Cloud::calls`]) and any call can be made to fail
//! ([`Cloud::fail`]).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use amishare::domain::states::{ImageState, InstanceState};
use amishare::workflow::copy::{Conn, TargetAccess, World};
use amishare::workflow::inventory::{
    AliasEntry, CallerIdentity, CreateVolumePermission, EventQuery, GrantInfo, IdentityPolicies,
    IdentityPolicyDoc, ImageBlockDevice, ImageInfo, InstanceInfo, KeyDescription, LaunchPermission,
    PolicySource, PrincipalKind, SnapshotInfo, StateReason, Tag, TrailEvent,
};
use amishare::workflow::ports::{AwsError, Reader, Seen};
use amishare::workflow::ports_write::{
    CopyImageRequest, ImageStatus, InstanceStatus, LaunchRequest, ManagedPolicy, Writer,
};

/// One logged call: who made it where, the API, and its main argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub account: String,
    pub region: String,
    pub api: &'static str,
    pub arg: String,
}

/// APIs that change state (for "made no change" assertions).
pub const MUTATING: &[&str] = &[
    "PutKeyPolicy",
    "ModifyImageAttribute",
    "ModifySnapshotAttribute",
    "CreatePolicy",
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    "DeletePolicy",
    "AttachPolicy",
    "DetachPolicy",
    "CopyImage",
    "CreateTags",
    "RunInstances",
    "TerminateInstances",
    "DeregisterImage",
    "DeleteSnapshot",
];

/// A failure injected for `api` called by `account` (any account: `None`), `remaining` times
/// (`None`: every time).
#[derive(Debug, Clone)]
pub struct Fault {
    pub account: Option<String>,
    pub api: &'static str,
    pub code: String,
    pub remaining: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct FakeImage {
    pub account: String,
    pub region: String,
    pub info: ImageInfo,
    pub launch_permissions: Vec<String>,
    pub state_reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FakeSnapshot {
    pub account: String,
    pub region: String,
    pub info: SnapshotInfo,
    pub create_volume_permissions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FakeKey {
    pub description: KeyDescription,
    pub policy: String,
}

#[derive(Debug, Clone)]
pub struct FakeInstance {
    pub account: String,
    pub region: String,
    pub image_id: String,
    pub instance_type: String,
    pub state: String,
    pub reason: Option<(String, String)>,
}

/// What a new test instance does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchOutcome {
    /// `running` at the first look.
    Runs,
    /// `pending` until terminated.
    StaysPending,
    /// `terminated` at once with this state reason (code, message): a failed launch.
    Fails(String, String),
}

#[derive(Debug)]
pub struct State {
    pub images: Vec<FakeImage>,
    pub snapshots: Vec<FakeSnapshot>,
    pub keys: Vec<FakeKey>,
    /// `account/region` -> EBS default key ARN.
    pub ebs_default_keys: BTreeMap<String, String>,
    /// Users, roles and groups (ARN -> its own policies, without managed attachments).
    pub principals: BTreeMap<String, IdentityPolicies>,
    pub managed: BTreeMap<String, ManagedPolicy>,
    /// (principal ARN, policy ARN).
    pub attachments: Vec<(String, String)>,
    pub instances: BTreeMap<String, FakeInstance>,
    pub launch: LaunchOutcome,
    pub calls: Vec<Call>,
    pub faults: Vec<Fault>,
    next_id: u64,
}

/// Every account and region of the fake AWS.
#[derive(Debug, Clone)]
pub struct Cloud(Arc<Mutex<State>>);

impl Default for Cloud {
    fn default() -> Self {
        Cloud(Arc::new(Mutex::new(State {
            images: Vec::new(),
            snapshots: Vec::new(),
            keys: Vec::new(),
            ebs_default_keys: BTreeMap::new(),
            principals: BTreeMap::new(),
            managed: BTreeMap::new(),
            attachments: Vec::new(),
            instances: BTreeMap::new(),
            launch: LaunchOutcome::Runs,
            calls: Vec::new(),
            faults: Vec::new(),
            next_id: 1,
        })))
    }
}

fn aws_error(api: &'static str, code: &str, message: impl Into<String>) -> AwsError {
    let service = match api {
        "PutKeyPolicy" | "GetKeyPolicy" | "DescribeKey" | "ListGrants" | "ListAliases" => "kms",
        "CreatePolicy"
        | "CreatePolicyVersion"
        | "GetPolicy"
        | "AttachPolicy"
        | "DetachPolicy"
        | "DeletePolicy"
        | "SetDefaultPolicyVersion"
        | "GetPrincipalPolicies" => "iam",
        "LookupEvents" => "cloudtrail",
        _ => "ec2",
    };
    AwsError {
        service,
        operation: api,
        code: Some(code.to_string()),
        message: message.into(),
        request_id: Some("fake-request".into()),
        http_status: Some(400),
    }
}

fn not_found(api: &'static str, what: &str) -> AwsError {
    let code = match api {
        "GetPrincipalPolicies" => "NoSuchEntity".to_string(),
        "DescribeKey" | "GetKeyPolicy" => "NotFoundException".to_string(),
        _ => format!(
            "Invalid{}.NotFound",
            if what.starts_with("snap-") {
                "Snapshot"
            } else if what.starts_with("i-") {
                "InstanceID"
            } else {
                "AMIID"
            }
        ),
    };
    aws_error(api, &code, format!("`{what}` does not exist"))
}

/// `arn:aws:iam::ACCT:role/NAME` for `arn:aws:sts::ACCT:assumed-role/NAME/SESSION`.
fn role_of(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        [_, partition, "sts", _, account, resource] if resource.starts_with("assumed-role/") => {
            let name = resource
                .trim_start_matches("assumed-role/")
                .split('/')
                .next()
                .unwrap_or("");
            format!("arn:{partition}:iam::{account}:role/{name}")
        }
        _ => arn.to_string(),
    }
}

impl Cloud {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// `API account/region` of the calls that change state.
    pub fn mutations(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| MUTATING.contains(&c.api))
            .map(|c| format!("{} {}/{} {}", c.api, c.account, c.region, c.arg))
            .collect()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Make `api` fail with `code` for `account` (every account: `None`), `times` times
    /// (`None`: always).
    pub fn fail(&self, account: Option<&str>, api: &'static str, code: &str, times: Option<u32>) {
        self.lock().faults.push(Fault {
            account: account.map(str::to_string),
            api,
            code: code.to_string(),
            remaining: times,
        });
    }

    pub fn key_policy(&self, key_arn: &str) -> String {
        self.lock()
            .keys
            .iter()
            .find(|k| k.description.arn == key_arn)
            .map(|k| k.policy.clone())
            .unwrap()
    }

    pub fn instance(&self, id: &str) -> FakeInstance {
        self.lock().instances.get(id).cloned().unwrap()
    }

    fn next(&self, prefix: &str) -> String {
        let mut s = self.lock();
        s.next_id += 1;
        format!("{prefix}-{:017x}", s.next_id)
    }

    /// Reader and writer of `arn`'s account in `region`.
    pub fn conn(&self, arn: &str, region: &str) -> Conn<FakeReader, FakeWriter> {
        let port = Port {
            cloud: self.clone(),
            identity: CallerIdentity {
                account: arn.split(':').nth(4).unwrap().to_string(),
                arn: arn.to_string(),
            },
            region: region.to_string(),
        };
        Conn {
            reader: FakeReader(port.clone()),
            writer: FakeWriter(port),
        }
    }

    /// The source as `source_arn` in `region`; each target with its credentials (`Some(arn)`)
    /// in every region of `regions`, or none (hand-off).
    pub fn world(
        &self,
        source_arn: &str,
        region: &str,
        targets: &[(&str, Option<&str>)],
        regions: &[&str],
    ) -> World<FakeReader, FakeWriter> {
        World {
            source: self.conn(source_arn, region),
            targets: targets
                .iter()
                .map(|(account, arn)| TargetAccess {
                    account: (*account).to_string(),
                    identity: arn.map(|a| CallerIdentity {
                        account: (*account).to_string(),
                        arn: a.to_string(),
                    }),
                    regions: arn
                        .map(|a| {
                            regions
                                .iter()
                                .map(|r| ((*r).to_string(), self.conn(a, r)))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// One account (credentials) in one region.
#[derive(Debug, Clone)]
pub struct Port {
    cloud: Cloud,
    identity: CallerIdentity,
    region: String,
}

impl Port {
    fn account(&self) -> &str {
        &self.identity.account
    }

    /// Log the call; the injected fault for it, if any.
    fn call(&self, api: &'static str, arg: &str) -> Result<MutexGuard<'_, State>, AwsError> {
        let mut s = self.cloud.lock();
        s.calls.push(Call {
            account: self.identity.account.clone(),
            region: self.region.clone(),
            api,
            arg: arg.to_string(),
        });
        let account = self.identity.account.clone();
        if let Some(f) = s.faults.iter_mut().find(|f| {
            f.api == api
                && f.account.as_deref().is_none_or(|a| a == account)
                && f.remaining != Some(0)
        }) {
            if let Some(n) = f.remaining.as_mut() {
                *n -= 1;
            }
            let code = f.code.clone();
            return Err(aws_error(api, &code, format!("injected {code} for {arg}")));
        }
        Ok(s)
    }
}

/// The read port of one account in one region.
#[derive(Debug, Clone)]
pub struct FakeReader(pub Port);

/// The write port of one account in one region.
#[derive(Debug, Clone)]
pub struct FakeWriter(pub Port);

fn image_visible(i: &FakeImage, account: &str, region: &str) -> bool {
    i.region == region
        && i.info.state != Some(ImageState::Deregistered)
        && (i.account == account || i.launch_permissions.iter().any(|a| a == account))
}

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

fn find_key<'a>(s: &'a State, key: &str, region: &str) -> Option<&'a FakeKey> {
    s.keys.iter().find(|k| {
        let d = &k.description;
        d.arn == key
            || (d.region == region && d.key_id == key)
            || d.aliases
                .iter()
                .flatten()
                .any(|a| a == key || (key.starts_with("arn:") && key.ends_with(&format!(":{a}"))))
    })
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
        let _s = self.0.call("ListGrants", key)?;
        Ok(Seen::Visible(Vec::new()))
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
}

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
                    && i.info.tags.iter().any(|t| {
                        t.key == amishare::workflow::ports_write::TAG_SOURCE_IMAGE
                            && t.value == source_image_id
                    })
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
}
