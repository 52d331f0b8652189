//! In-memory fakes of the workflow's ports: one [`Cloud`] (every account and region, shared) and,
//! per account and region, a [`FakeReader`] (the read port, `reader.rs`) and a [`FakeWriter`] (the
//! write port, `writer.rs`) that read and change it. No network, no emulator.
//!
//! The fake keeps AWS's shape where the workflow depends on it: an image is visible to its owner
//! and to the accounts it is shared with, only the key's own account reads its key policy, an
//! attached managed policy shows up in the principal's identity policies, copies carry their
//! tags, instances stay terminated. It makes no access decisions (that is the policy engine's and
//! the emulator's job). Every call is logged ([`Cloud::calls`]) and any call can be made to fail
//! ([`Cloud::fail`]).
//!
//! Compiled only for tests: the crate's own unit tests (`cfg(test)`) and, through the `test-util`
//! feature (which the crate's dev-dependency on itself turns on), the integration tests. Never in a
//! release build.
// Test code: a broken fixture or a poisoned lock should fail the test at once and loudly, so
// unwrap/expect/panic are allowed here (and only here in src).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod guardrails;
mod lifecycle;
pub mod org;
mod reader;
mod writer;

pub use self::guardrails::GuardrailState;
pub use self::lifecycle::LifecycleState;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::states::ImageState;
use crate::workflow::copy::{Conn, TargetAccess, World};
use crate::workflow::inventory::{
    CallerIdentity, GrantInfo, IdentityPolicies, ImageInfo, KeyDescription, SnapshotInfo,
};
use crate::workflow::ports::AwsError;
use crate::workflow::ports_write::ManagedPolicy;

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
    "CreateGrant",
    "RetireGrant",
    "ModifyImageAttribute",
    "ModifySnapshotAttribute",
    "CreatePolicy",
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    "DeletePolicy",
    "AttachPolicy",
    "DetachPolicy",
    "CreateServiceLinkedRole",
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
    /// Only calls whose argument contains this (e.g. the account a share adds).
    pub arg: Option<String>,
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
    /// (key ARN, grant) of the grants CreateGrant made.
    pub grants: Vec<(String, GrantInfo)>,
    /// Image deprecation and deregistration protection; SSM parameters.
    pub lifecycle: LifecycleState,
    /// Permissions boundaries and Allowed AMIs settings.
    pub guardrails: GuardrailState,
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
            grants: Vec::new(),
            lifecycle: LifecycleState::default(),
            guardrails: GuardrailState::default(),
            next_id: 1,
        })))
    }
}

fn aws_error(api: &'static str, code: &str, message: impl Into<String>) -> AwsError {
    let service = match api {
        "PutKeyPolicy" | "GetKeyPolicy" | "DescribeKey" | "ListGrants" | "ListAliases"
        | "CreateGrant" | "RetireGrant" => "kms",
        "CreatePolicy"
        | "CreatePolicyVersion"
        | "GetPolicy"
        | "AttachPolicy"
        | "DetachPolicy"
        | "DeletePolicy"
        | "SetDefaultPolicyVersion"
        | "CreateServiceLinkedRole"
        | "GetPrincipalPolicies"
        | "GetRole" => "iam",
        "LookupEvents" => "cloudtrail",
        "GetParameter" | "PutParameter" | "DeleteParameter" => "ssm",
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
            arg: None,
        });
    }

    /// Fail every call of `api` whose argument contains `arg` (e.g. sharing with one account:
    /// `ModifyImageAttribute` with an account AWS does not know).
    pub fn fail_for(&self, api: &'static str, arg: &str, code: &str) {
        self.lock().faults.push(Fault {
            account: None,
            api,
            code: code.to_string(),
            remaining: None,
            arg: Some(arg.to_string()),
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
    /// in every region of `regions`, or none (hand-off). A target identity's role that the
    /// test did not register is an administrator (inline `AdministratorAccess`), as the roles
    /// amishare is given on AWS usually are (and as the emulator's seed makes them).
    pub fn world(
        &self,
        source_arn: &str,
        region: &str,
        targets: &[(&str, Option<&str>)],
        regions: &[&str],
    ) -> World<FakeReader, FakeWriter> {
        for arn in targets.iter().filter_map(|(_, arn)| *arn) {
            let role = role_of(arn);
            let name = role.rsplit('/').next().map(str::to_string);
            self.lock()
                .principals
                .entry(role.clone())
                .or_insert_with(|| IdentityPolicies {
                    principal_arn: role,
                    kind: crate::domain::arn::PrincipalKind::Role,
                    name,
                    groups: vec![],
                    policies: vec![crate::workflow::inventory::IdentityPolicyDoc {
                        source: crate::workflow::inventory::PolicySource::Inline,
                        name: "AdministratorAccess".into(),
                        arn: None,
                        version_id: None,
                        group: None,
                        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#.into(),
                    }],
                });
        }
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
                && f.arg.as_deref().is_none_or(|a| arg.contains(a))
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
