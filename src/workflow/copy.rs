//! The copy workflow: discover -> analyse -> plan -> apply -> wait -> test launch -> report.
//!
//! - [`discover`] reads everything the plan depends on (read port + the few reads of the write
//!   port), never changing anything.
//! - [`build_plan`] is pure: it turns a [`Discovery`] into a [`Plan`] with only the changes still
//!   needed (a rerun on a finished state plans nothing), the blockers with their fixes, and the
//!   policy engine's verdicts for the target principals now and after the plan.
//! - [`apply`] runs the plan step by step, journalling before and after each step: the source
//!   side first, then every target account and region concurrently (bounded), each one copy ->
//!   wait -> test launch (always terminated) -> diagnosis on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use super::diagnose::{
    diagnose_launch, DiagnoseOptions, DiagnoseTarget, DiagnosisOutcome, Evidence,
};
use super::events::{Event, Events};
use super::inventory::{
    CallerIdentity, IdentityPolicies, ImageInfo, KeyDescription, PolicySource, SnapshotInfo,
};
use super::journal::{Journal, JournalError, JournalStore, LiveJournal, RunStatus};
use super::plan::{
    AccessCheck, Action, Blocker, Fingerprint, Handoff, PermissionProbe, Plan, PlanOptions,
    SourceImage, SourceKey, SourceSnapshot, Step, PLAN_VERSION,
};
use super::ports::{AwsError, Reader, Seen};
use super::ports_write::{
    CopyImageRequest, DryRunProbe, ImageStatus, LaunchRequest, ManagedPolicy, Writer, TAG_PURPOSE,
    TAG_RUN_ID, TAG_SOURCE_ACCOUNT, TAG_SOURCE_IMAGE, TAG_TEST_LAUNCH,
};
use crate::policy;
use crate::policy::template::KMS_KEY_USAGE_POLICY_NAME;

/// How many target account/region pipelines run at once.
pub const CONCURRENCY: usize = 4;

/// Clients for one account in one region.
pub struct Conn<R, W> {
    pub reader: R,
    pub writer: W,
}

/// A target account: its clients per region (none: no credentials, hand-off only).
pub struct TargetAccess<R, W> {
    pub account: String,
    pub identity: Option<CallerIdentity>,
    pub regions: BTreeMap<String, Conn<R, W>>,
}

/// Every account and region the workflow talks to.
pub struct World<R, W> {
    /// The source account in the source region.
    pub source: Conn<R, W>,
    pub targets: Vec<TargetAccess<R, W>>,
}

impl<R, W> World<R, W> {
    pub fn target(&self, account: &str) -> Option<&TargetAccess<R, W>> {
        self.targets.iter().find(|t| t.account == account)
    }

    pub fn target_conn(&self, account: &str, region: &str) -> Option<&Conn<R, W>> {
        self.target(account).and_then(|t| t.regions.get(region))
    }
}

/// Why the workflow stopped.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{message}")]
    Input { message: String, hint: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the world changed since the plan was made: {}", .0.join("; "))]
    WorldChanged(Vec<String>),
    #[error("interrupted")]
    Interrupted,
}

impl CopyError {
    fn input(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CopyError::Input {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

// ------------------------------------------------------------------------------------ discover

/// One KMS key behind the image, as discovery saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyFacts {
    pub description: KeyDescription,
    /// The key policy; `None` when not readable (see `policy_error`).
    pub policy: Option<String>,
    pub policy_error: Option<String>,
}

/// A principal named by `--grant`, with its identity policies when readable.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrincipalFacts {
    pub arn: String,
    pub policies: Option<IdentityPolicies>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionFacts {
    pub region: String,
    /// The key CopyImage will encrypt with (explicit `--target-key` or the EBS default key).
    pub target_key: Option<String>,
    /// Copies of the source image amishare made earlier (tagged), not deregistered.
    pub copies: Vec<ImageStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetFacts {
    pub account: String,
    /// Who amishare is in the target (`None`: no credentials).
    pub identity: Option<CallerIdentity>,
    pub identity_policies: Option<IdentityPolicies>,
    pub principals: Vec<PrincipalFacts>,
    pub usage_policy: Option<ManagedPolicy>,
    pub regions: Vec<RegionFacts>,
}

/// Everything discovery read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discovery {
    pub source: CallerIdentity,
    pub source_region: String,
    pub image: ImageInfo,
    pub snapshots: Vec<SnapshotInfo>,
    pub keys: Vec<KeyFacts>,
    pub targets: Vec<TargetFacts>,
    /// `--reencrypt-with` on an AMI with AWS managed keys.
    #[serde(default)]
    pub reencrypt: Option<ReencryptFacts>,
    /// `--dry-run`: EC2 `DryRun=true` permission probes.
    #[serde(default)]
    pub probes: Vec<PermissionProbe>,
}

/// What `--reencrypt-with` depends on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReencryptFacts {
    /// The AMI the user named (on AWS managed keys).
    pub original_image_id: String,
    /// The key asked for, as DescribeKey shows it (`None`: not readable, see `key_error`).
    pub key: Option<KeyDescription>,
    pub key_error: Option<String>,
    /// A re-encrypted copy an earlier run started that is still pending (waited for, not made
    /// again). An available one replaces the original: discovery is then of that copy.
    pub pending_copy: Option<String>,
    /// Discovery is of the available re-encrypted copy made earlier.
    pub using_copy: bool,
}

/// The account id of an IAM/STS ARN (`arn:aws:iam::ACCOUNT:...`).
pub fn arn_account(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// The role ARN behind an assumed-role session ARN (`None` for anything else).
pub fn assumed_role_arn(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    let (_, partition, _, _, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let rest = resource.strip_prefix("assumed-role/")?;
    let name = rest.split('/').next()?;
    Some(format!("arn:{partition}:iam::{account}:role/{name}"))
}

/// `arn:aws:iam::ACCOUNT:policy/KmsKeyUsagePolicy`.
pub fn usage_policy_arn(partition: &str, account: &str) -> String {
    format!("arn:{partition}:iam::{account}:policy/{KMS_KEY_USAGE_POLICY_NAME}")
}

fn partition_of(arn: &str) -> &str {
    arn.split(':').nth(1).unwrap_or("aws")
}

/// Read what the plan depends on. Changes nothing.
///
/// With `--reencrypt-with` and an AMI on AWS managed keys, it also reads the key asked for and
/// looks for a re-encrypted copy an earlier run made: an available one is discovered instead of
/// the original (so a rerun continues with it), a pending one is waited for.
pub async fn discover<R: Reader, W: Writer, E: Events + ?Sized>(
    world: &World<R, W>,
    image_id: &str,
    opts: &PlanOptions,
    events: &E,
) -> Result<Discovery, CopyError> {
    events.emit(Event::Phase {
        name: "discover".into(),
    });
    let mut d = discover_image(world, image_id, opts).await?;
    if opts.probe {
        d.probes = probe(world, &d, opts).await;
    }
    let Some(key) = opts.reencrypt_with.as_deref() else {
        return Ok(d);
    };
    if !d.keys.iter().any(|k| k.description.is_aws_managed()) {
        return Ok(d);
    }
    let src = &world.source;
    let (key, key_error) = match src.reader.describe_key(key).await {
        Ok(k) => (Some(k), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let copies = src.writer.find_copies(image_id).await?;
    let available = copies
        .iter()
        .find(|c| c.state.as_deref() == Some("available"));
    let pending = copies
        .iter()
        .find(|c| c.state.as_deref() == Some("pending"));
    let mut facts = ReencryptFacts {
        original_image_id: image_id.to_string(),
        key,
        key_error,
        pending_copy: None,
        using_copy: false,
    };
    if let Some(c) = available {
        events.emit(Event::Note {
            message: format!(
                "using {}, the re-encrypted copy of {image_id} made by an earlier run",
                c.image_id
            ),
        });
        d = discover_image(world, &c.image_id, opts).await?;
        if opts.probe {
            d.probes = probe(world, &d, opts).await;
        }
        facts.using_copy = true;
    } else {
        facts.pending_copy = pending.map(|c| c.image_id.clone());
    }
    d.reencrypt = Some(facts);
    Ok(d)
}

/// `--dry-run`'s EC2 permission probes (`DryRun=true`, no change): sharing the image in the
/// source; CopyImage and RunInstances in each target account's first region.
async fn probe<R: Reader, W: Writer>(
    world: &World<R, W>,
    d: &Discovery,
    opts: &PlanOptions,
) -> Vec<PermissionProbe> {
    let mut out = Vec::new();
    let src = &world.source;
    if let Some(account) = opts.target_accounts.first() {
        let probe = DryRunProbe::ModifyImageAttribute {
            image_id: d.image.id.clone(),
            account: account.clone(),
        };
        out.push(PermissionProbe {
            account: d.source.account.clone(),
            region: d.source_region.clone(),
            outcome: src.writer.dry_run(&probe).await,
            probe,
        });
    }
    let instance_type = opts
        .instance_type
        .clone()
        .unwrap_or_else(|| smallest_instance_type(d.image.architecture.as_deref()).to_string());
    for t in &d.targets {
        let Some(r) = t.regions.first() else { continue };
        let Some(conn) = world.target_conn(&t.account, &r.region) else {
            continue;
        };
        let mut probes = Vec::new();
        if !opts.share_only {
            probes.push(DryRunProbe::CopyImage {
                source_image_id: d.image.id.clone(),
                source_region: d.source_region.clone(),
                kms_key_id: r.target_key.clone(),
            });
        }
        if opts.test_launch {
            probes.push(DryRunProbe::RunInstances {
                image_id: d.image.id.clone(),
                instance_type: instance_type.clone(),
                subnet_id: opts.subnet_id.clone(),
            });
        }
        for probe in probes {
            out.push(PermissionProbe {
                account: t.account.clone(),
                region: r.region.clone(),
                outcome: conn.writer.dry_run(&probe).await,
                probe,
            });
        }
    }
    out
}

async fn discover_image<R: Reader, W: Writer>(
    world: &World<R, W>,
    image_id: &str,
    opts: &PlanOptions,
) -> Result<Discovery, CopyError> {
    let src = &world.source;
    let source = src.reader.identity().clone();
    let image = match src.reader.describe_image(image_id).await {
        Ok(i) => i,
        Err(e) if e.is_not_found() => {
            return Err(CopyError::input(
                format!(
                    "image `{image_id}` not found in account {} region {}",
                    source.account,
                    src.reader.region()
                ),
                "check the AMI id, `--region` and `--profile` (the AMI must be visible to the source credentials)",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let snapshots = src.reader.describe_snapshots(&image.snapshot_ids()).await?;

    let mut key_refs: Vec<String> = Vec::new();
    for s in &snapshots {
        if s.encrypted == Some(true) {
            if let Some(k) = &s.kms_key_id {
                if !key_refs.contains(k) {
                    key_refs.push(k.clone());
                }
            }
        }
    }
    let mut keys = Vec::new();
    for k in &key_refs {
        let description = src.reader.describe_key(k).await?;
        let (policy, policy_error) = if description.account == source.account {
            match src.reader.get_key_policy(&description.arn).await? {
                Seen::Visible(p) => (Some(p), None),
                Seen::NotVisible(e) => (None, Some(e.to_string())),
            }
        } else {
            (
                None,
                Some(format!(
                    "the key belongs to account {}, not the source account",
                    description.account
                )),
            )
        };
        keys.push(KeyFacts {
            description,
            policy,
            policy_error,
        });
    }

    let partition = partition_of(&source.arn).to_string();
    let mut targets = Vec::new();
    for account in &opts.target_accounts {
        let access = world.target(account);
        let principals_arns: Vec<&String> = opts
            .grants
            .iter()
            .filter(|g| arn_account(g) == Some(account.as_str()))
            .collect();
        let mut facts = TargetFacts {
            account: account.clone(),
            identity: access.and_then(|a| a.identity.clone()),
            identity_policies: None,
            principals: Vec::new(),
            usage_policy: None,
            regions: Vec::new(),
        };
        let first = access.and_then(|a| a.regions.values().next());
        match first {
            None => {
                facts.principals = principals_arns
                    .iter()
                    .map(|arn| PrincipalFacts {
                        arn: (*arn).clone(),
                        policies: None,
                        error: Some("no credentials for the target account".into()),
                    })
                    .collect();
            }
            Some(conn) => {
                for arn in principals_arns {
                    let (policies, error) =
                        match conn.reader.principal_policies(arn).await {
                            Ok(Seen::Visible(p)) => (Some(p), None),
                            Ok(Seen::NotVisible(e)) => (None, Some(e.to_string())),
                            Err(e) if e.is_not_found() => return Err(CopyError::input(
                                format!("principal `{arn}` does not exist in account {account}"),
                                "pass the ARN of an existing user, role or group with `--grant`",
                            )),
                            Err(e) => (None, Some(e.to_string())),
                        };
                    facts.principals.push(PrincipalFacts {
                        arn: arn.clone(),
                        policies,
                        error,
                    });
                }
                if let Some(id) = &facts.identity {
                    facts.identity_policies = match conn.reader.principal_policies(&id.arn).await {
                        Ok(Seen::Visible(p)) => Some(p),
                        _ => None,
                    };
                }
                if !keys.is_empty() {
                    facts.usage_policy = conn
                        .writer
                        .get_managed_policy(&usage_policy_arn(&partition, account))
                        .await?;
                }
                for region in &opts.target_regions {
                    let Some(rconn) = access.and_then(|a| a.regions.get(region)) else {
                        continue;
                    };
                    let target_key = match &opts.target_key {
                        Some(k) => Some(k.clone()),
                        None => rconn.reader.ebs_default_kms_key_id().await.ok(),
                    };
                    let copies = if opts.share_only {
                        Vec::new()
                    } else {
                        rconn.writer.find_copies(&image.id).await?
                    };
                    facts.regions.push(RegionFacts {
                        region: region.clone(),
                        target_key,
                        copies,
                    });
                }
            }
        }
        targets.push(facts);
    }
    Ok(Discovery {
        source,
        source_region: src.reader.region().to_string(),
        image,
        snapshots,
        keys,
        targets,
        reencrypt: None,
        probes: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------- plan

/// The smallest general-purpose instance type for an architecture.
pub fn smallest_instance_type(architecture: Option<&str>) -> &'static str {
    match architecture {
        Some("arm64") | Some("arm64_mac") => "t4g.nano",
        Some("i386") => "t2.nano",
        _ => "t3.nano",
    }
}

/// The fingerprint of what discovery saw.
pub fn fingerprint(d: &Discovery) -> Fingerprint {
    let mut launch: Vec<String> = d
        .image
        .launch_permissions
        .iter()
        .flatten()
        .filter_map(|p| p.user_id.clone().or_else(|| p.group.clone()))
        .collect();
    launch.sort();
    let mut snapshot_permissions = BTreeMap::new();
    for s in &d.snapshots {
        let mut v: Vec<String> = s
            .create_volume_permissions
            .iter()
            .flatten()
            .filter_map(|p| p.user_id.clone().or_else(|| p.group.clone()))
            .collect();
        v.sort();
        snapshot_permissions.insert(s.id.clone(), v);
    }
    let mut fp = Fingerprint {
        image_state: d.image.state.clone(),
        launch_permissions: launch,
        snapshot_permissions,
        ..Fingerprint::default()
    };
    for k in &d.keys {
        fp.key_policies
            .insert(k.description.arn.clone(), k.policy.clone());
        fp.key_states
            .insert(k.description.arn.clone(), k.description.key_state.clone());
    }
    for t in &d.targets {
        if t.identity.is_some() && !d.keys.is_empty() {
            fp.usage_policies.insert(
                t.account.clone(),
                t.usage_policy.as_ref().map(|p| p.document.clone()),
            );
        }
        for r in &t.regions {
            let live = r
                .copies
                .iter()
                .find(|c| matches!(c.state.as_deref(), Some("available") | Some("pending")));
            fp.copies.insert(
                format!("{}/{}", t.account, r.region),
                live.map(|c| (c.image_id.clone(), c.state.clone())),
            );
        }
    }
    fp
}

fn shared_with(perms: Option<&Vec<String>>, account: &str) -> bool {
    perms.is_some_and(|v| v.iter().any(|p| p == account || p == "all"))
}

fn verdict_str(v: policy::Verdict) -> String {
    match v {
        policy::Verdict::Allow => "allow",
        policy::Verdict::Deny => "deny",
        policy::Verdict::Undecided => "undecided",
    }
    .to_string()
}

fn identity_docs(p: Option<&IdentityPolicies>) -> Vec<policy::PolicyDocument> {
    p.map(|p| {
        p.policies
            .iter()
            .filter_map(|d| policy::parse_policy(&d.document, &d.name).ok())
            .collect()
    })
    .unwrap_or_default()
}

/// Run the policy engine for `principal` on `key` with the given key policy and identity
/// policies; `(verdict, finding codes)` or `unknown` when the inputs cannot be analysed.
pub fn access_verdict(
    key: &KeyDescription,
    key_policy: Option<&str>,
    principal: &str,
    identity: &[policy::PolicyDocument],
    operation: policy::Operation,
    region: &str,
) -> (String, Vec<String>, Vec<policy::Finding>) {
    let parsed = match key_policy.map(|p| policy::parse_policy(p, "key policy")) {
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => return ("unknown".into(), vec![], vec![]),
        None => None,
    };
    let info = policy::KeyInfo {
        arn: key.arn.clone(),
        manager: if key.is_aws_managed() {
            policy::KeyManager::Aws
        } else {
            policy::KeyManager::Customer
        },
        policy: parsed,
        grants: Vec::new(),
    };
    let ctx = policy::CallerContext {
        region: Some(region.to_string()),
        ..policy::CallerContext::default()
    };
    let req = policy::AnalysisRequest {
        key: &info,
        principal,
        identity_policies: identity,
        operation,
        context: &ctx,
    };
    match policy::analyze(&req) {
        Ok(a) => {
            let codes = a
                .errors()
                .map(|f| {
                    serde_json::to_value(f.code)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_else(|| format!("{:?}", f.code))
                })
                .collect();
            let errors = a.errors().cloned().collect();
            (verdict_str(a.verdict), codes, errors)
        }
        Err(_) => ("unknown".into(), vec![], vec![]),
    }
}

/// Turn a discovery into a plan. Pure.
pub fn build_plan(
    d: &Discovery,
    opts: &PlanOptions,
    run_id: &str,
    attempt: u32,
) -> Result<Plan, CopyError> {
    let prefix = if attempt <= 1 {
        "s".to_string()
    } else {
        format!("a{attempt}s")
    };
    build_plan_with_prefix(d, opts, run_id, &prefix)
}

/// The re-encrypting copy `--reencrypt-with` asks for, or the blocker that stops it.
fn reencrypt_step(d: &Discovery, r: &ReencryptFacts, run_id: &str) -> Result<Action, Blocker> {
    let src_account = &d.source.account;
    let src_region = &d.source_region;
    let asked = r
        .key
        .as_ref()
        .map(|k| k.arn.clone())
        .unwrap_or_else(|| "the key".into());
    let fix = format!(
        "pass a customer managed key of account {src_account} in {src_region} that is enabled: `--reencrypt-with arn:aws:kms:{src_region}:{src_account}:key/KEY-ID` (or its alias)"
    );
    let problem = match &r.key {
        None => Some(format!(
            "cannot read the key given with `--reencrypt-with`: {}",
            r.key_error.as_deref().unwrap_or("unknown reason")
        )),
        Some(k) if k.is_aws_managed() => Some(format!(
            "`--reencrypt-with {asked}` is an AWS managed key: no other account can use it either"
        )),
        Some(k) if &k.account != src_account || &k.region != src_region => Some(format!(
            "`--reencrypt-with {asked}` is in {}/{}, not in the source account and region {src_account}/{src_region}",
            k.account, k.region
        )),
        Some(k) if k.key_state.as_deref().is_some_and(|s| s != "Enabled") => Some(format!(
            "`--reencrypt-with {asked}` is `{}`",
            k.key_state.as_deref().unwrap_or("?")
        )),
        Some(_) => None,
    };
    if let Some(message) = problem {
        return Err(Blocker {
            code: "reencrypt-key".into(),
            message,
            fix,
        });
    }
    let base = d.image.name.clone().unwrap_or_else(|| d.image.id.clone());
    Ok(Action::ReencryptImage {
        source_image_id: d.image.id.clone(),
        name: format!("{base} (re-encrypted by amishare)"),
        kms_key_id: asked,
        tags: vec![
            (TAG_SOURCE_IMAGE.to_string(), d.image.id.clone()),
            (TAG_SOURCE_ACCOUNT.to_string(), src_account.clone()),
            (TAG_RUN_ID.to_string(), run_id.to_string()),
        ],
        existing_image_id: r.pending_copy.clone(),
    })
}

/// [`build_plan`] with the step id prefix given (the plan made after a re-encrypting copy
/// continues the ids of the step that made it).
pub fn build_plan_with_prefix(
    d: &Discovery,
    opts: &PlanOptions,
    run_id: &str,
    prefix: &str,
) -> Result<Plan, CopyError> {
    let mut n = 0;
    let mut next_id = || {
        n += 1;
        format!("{prefix}{n}")
    };
    let src_account = d.source.account.clone();
    let src_region = d.source_region.clone();
    let partition = partition_of(&d.source.arn).to_string();

    let source = SourceImage {
        account: src_account.clone(),
        region: src_region.clone(),
        image_id: d.image.id.clone(),
        name: d.image.name.clone(),
        architecture: d.image.architecture.clone(),
        snapshots: d
            .snapshots
            .iter()
            .map(|s| SourceSnapshot {
                snapshot_id: s.id.clone(),
                encrypted: s.encrypted == Some(true),
                key_arn: s.kms_key_id.as_ref().map(|k| {
                    d.keys
                        .iter()
                        .find(|f| {
                            &f.description.arn == k
                                || &f.description.key_id == k
                                || f.description.aliases.iter().flatten().any(|a| a == k)
                        })
                        .map(|f| f.description.arn.clone())
                        .unwrap_or_else(|| k.clone())
                }),
            })
            .collect(),
        tags: d
            .image
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect(),
    };
    let keys: Vec<SourceKey> = d
        .keys
        .iter()
        .map(|k| SourceKey {
            arn: k.description.arn.clone(),
            account: k.description.account.clone(),
            region: k.description.region.clone(),
            manager: k.description.key_manager.clone(),
            state: k.description.key_state.clone(),
            multi_region: k.description.multi_region,
            aliases: k.description.aliases.clone().unwrap_or_default(),
        })
        .collect();

    let mut blockers = Vec::new();
    let mut warnings = Vec::new();
    if d.image.owner.as_deref() != Some(src_account.as_str()) {
        blockers.push(Blocker {
            code: "image-not-owned".into(),
            message: format!(
                "image {} belongs to account {}, not the source account {src_account}",
                d.image.id,
                d.image.owner.as_deref().unwrap_or("?")
            ),
            fix: "run amishare with credentials of the image's owner, or copy the image into your account first (`aws ec2 copy-image`)".into(),
        });
    }
    if d.image.state.as_deref() != Some("available") {
        blockers.push(Blocker {
            code: "image-not-available".into(),
            message: format!(
                "image {} is `{}`, not `available`",
                d.image.id,
                d.image.state.as_deref().unwrap_or("unknown")
            ),
            fix: "wait until the image is available (`aws ec2 wait image-available --image-ids ...`) and run again".into(),
        });
    }
    let mut reencrypt: Option<Action> = None;
    let reencrypting = d.reencrypt.as_ref().filter(|r| !r.using_copy);
    if let Some(r) = reencrypting {
        match reencrypt_step(d, r, run_id) {
            Ok(a) => reencrypt = Some(a),
            Err(b) => blockers.push(b),
        }
    } else if let Some(r) = &d.reencrypt {
        warnings.push(format!(
            "{} is on AWS managed keys: using {}, its copy re-encrypted by an earlier run",
            r.original_image_id, d.image.id
        ));
    } else if opts.reencrypt_with.is_some() {
        warnings.push(
            "`--reencrypt-with` ignored: no snapshot of the image uses an AWS managed key".into(),
        );
    }
    for k in &d.keys {
        let arn = &k.description.arn;
        if k.description.is_aws_managed() && reencrypting.is_some() {
            continue;
        }
        if k.description.is_aws_managed() {
            blockers.push(Blocker {
                code: "aws-managed-key".into(),
                message: format!(
                    "the snapshots are encrypted with the AWS managed key {arn} (aws/ebs), which no other account can ever use"
                ),
                fix: format!(
                    "let amishare first copy the AMI inside account {src_account}, re-encrypted with a customer managed key, and share that copy: rerun with `--reencrypt-with <customer-key-arn>`; or do it by hand and run amishare on the new AMI: `aws ec2 copy-image --source-image-id {} --source-region {src_region} --region {src_region} --name {}-cmk --encrypted --kms-key-id <customer-key-arn>`",
                    d.image.id,
                    d.image.name.as_deref().unwrap_or("copy")
                ),
            });
            continue;
        }
        match k.description.key_state.as_deref() {
            Some("Disabled") => blockers.push(Blocker {
                code: "key-disabled".into(),
                message: format!("key {arn} is disabled"),
                fix: format!("enable it: `aws kms enable-key --key-id {arn}`"),
            }),
            Some("PendingDeletion") => blockers.push(Blocker {
                code: "key-pending-deletion".into(),
                message: format!("key {arn} is pending deletion"),
                fix: format!("cancel the deletion and enable it: `aws kms cancel-key-deletion --key-id {arn} && aws kms enable-key --key-id {arn}`"),
            }),
            Some("Enabled") | None => {}
            Some(other) => blockers.push(Blocker {
                code: "key-unusable".into(),
                message: format!("key {arn} is `{other}`"),
                fix: "the key must be `Enabled`".into(),
            }),
        }
        if k.description.account != src_account {
            blockers.push(Blocker {
                code: "key-not-owned".into(),
                message: format!(
                    "key {arn} belongs to account {}: amishare cannot edit its policy from {src_account}",
                    k.description.account
                ),
                fix: format!(
                    "ask the admin of {} to add the target accounts to the key policy statements \"Allow use of the key\" and \"Allow attachment of persistent resources\"",
                    k.description.account
                ),
            });
        } else if k.policy.is_none() && !opts.skip_key_policy_edit {
            blockers.push(Blocker {
                code: "key-policy-unreadable".into(),
                message: format!(
                    "cannot read the key policy of {arn}: {}",
                    k.policy_error.as_deref().unwrap_or("unknown reason")
                ),
                fix: "the source credentials need kms:GetKeyPolicy and kms:PutKeyPolicy on the key"
                    .into(),
            });
        }
    }
    for g in &opts.grants {
        if !arn_account(g).is_some_and(|a| opts.target_accounts.iter().any(|t| t == a)) {
            return Err(CopyError::input(
                format!("`--grant {g}` is not a principal of a target account"),
                "pass IAM user, role or group ARNs of the accounts named with `--to`",
            ));
        }
    }

    let customer_keys: Vec<&KeyFacts> = d
        .keys
        .iter()
        .filter(|k| !k.description.is_aws_managed())
        .collect();
    let key_arns: Vec<String> = customer_keys
        .iter()
        .map(|k| k.description.arn.clone())
        .collect();

    // Key policy edits (source account).
    let mut steps = Vec::new();
    let mut edited: BTreeMap<String, String> = BTreeMap::new();
    let mut principals_for_keys: Vec<String> = opts.target_accounts.clone();
    principals_for_keys.extend(opts.grants.iter().cloned());
    if !opts.skip_key_policy_edit {
        for k in &customer_keys {
            if k.description.account != src_account {
                continue;
            }
            let Some(text) = &k.policy else { continue };
            match policy::edit::add_key_users(
                text,
                &k.description.arn,
                &principals_for_keys,
                &d.source.arn,
            ) {
                Ok(edit) => {
                    warnings.extend(edit.warnings.iter().cloned());
                    if edit.changed {
                        edited.insert(k.description.arn.clone(), edit.text.clone());
                        steps.push(Step {
                            id: next_id(),
                            account: src_account.clone(),
                            region: k.description.region.clone(),
                            action: Action::PutKeyPolicy {
                                key_arn: k.description.arn.clone(),
                                before: text.clone(),
                                after: edit.text.clone(),
                                added: edit.added.clone(),
                                diff: edit.diff().unified,
                            },
                        });
                    }
                }
                Err(e) => blockers.push(Blocker {
                    code: "key-policy-edit".into(),
                    message: format!("cannot edit the key policy of {}: {e}", k.description.arn),
                    fix: e
                        .hint()
                        .unwrap_or_else(|| "edit the key policy by hand".into()),
                }),
            }
        }
    } else if !customer_keys.is_empty() {
        warnings.push("`--skip-key-policy-edit`: the key policy is left as it is".into());
    }

    // Sharing (source account).
    for account in &opts.target_accounts {
        let launch: Option<Vec<String>> = d.image.launch_permissions.as_ref().map(|v| {
            v.iter()
                .filter_map(|p| p.user_id.clone().or_else(|| p.group.clone()))
                .collect()
        });
        if !shared_with(launch.as_ref(), account) {
            steps.push(Step {
                id: next_id(),
                account: src_account.clone(),
                region: src_region.clone(),
                action: Action::AddLaunchPermission {
                    image_id: d.image.id.clone(),
                    account: account.clone(),
                },
            });
        }
        for s in &d.snapshots {
            let perms: Option<Vec<String>> = s.create_volume_permissions.as_ref().map(|v| {
                v.iter()
                    .filter_map(|p| p.user_id.clone().or_else(|| p.group.clone()))
                    .collect()
            });
            if !shared_with(perms.as_ref(), account) {
                steps.push(Step {
                    id: next_id(),
                    account: src_account.clone(),
                    region: src_region.clone(),
                    action: Action::AddCreateVolumePermission {
                        snapshot_id: s.id.clone(),
                        account: account.clone(),
                    },
                });
            }
        }
    }

    // The policy engine: every target principal, now and after the plan.
    let mut checks = Vec::new();
    let usage_doc = if key_arns.is_empty() {
        None
    } else {
        policy::template::kms_key_usage_policy(&key_arns)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
    };
    for t in &d.targets {
        let mut who: Vec<(String, Option<&IdentityPolicies>, policy::Operation, bool)> = Vec::new();
        if let Some(id) = &t.identity {
            let op = if opts.share_only {
                policy::Operation::Launch
            } else {
                policy::Operation::Copy
            };
            let role = assumed_role_arn(&id.arn);
            let granted = t
                .principals
                .iter()
                .any(|p| Some(p.arn.as_str()) == role.as_deref() || p.arn == id.arn);
            who.push((id.arn.clone(), t.identity_policies.as_ref(), op, granted));
        }
        for p in &t.principals {
            who.push((
                p.arn.clone(),
                p.policies.as_ref(),
                policy::Operation::Launch,
                true,
            ));
        }
        for k in &customer_keys {
            for (principal, pols, op, gets_usage_policy) in &who {
                let docs_now = identity_docs(*pols);
                let (now, codes, _) = access_verdict(
                    &k.description,
                    k.policy.as_deref(),
                    principal,
                    &docs_now,
                    *op,
                    &k.description.region,
                );
                let mut docs_after = docs_now.clone();
                if *gets_usage_policy {
                    if let Some(doc) = &usage_doc {
                        if let Ok(p) = policy::parse_policy(doc, KMS_KEY_USAGE_POLICY_NAME) {
                            docs_after.push(p);
                        }
                    }
                }
                let after_policy = edited
                    .get(&k.description.arn)
                    .map(String::as_str)
                    .or(k.policy.as_deref());
                let (after, _, _) = access_verdict(
                    &k.description,
                    after_policy,
                    principal,
                    &docs_after,
                    *op,
                    &k.description.region,
                );
                checks.push(AccessCheck {
                    principal: principal.clone(),
                    key_arn: k.description.arn.clone(),
                    operation: op.as_str().to_string(),
                    now,
                    after_plan: after,
                    findings: codes,
                });
            }
        }
    }

    // Target accounts: IAM, copies, test launches; hand-offs without credentials.
    let mut handoffs = Vec::new();
    let mut existing_copies = Vec::new();
    let instance_type = opts
        .instance_type
        .clone()
        .unwrap_or_else(|| smallest_instance_type(d.image.architecture.as_deref()).to_string());
    let base_name = d.image.name.clone().unwrap_or_else(|| d.image.id.clone());
    let copy_name = opts
        .name
        .clone()
        .unwrap_or_else(|| format!("{base_name} (copy of {}/{})", src_account, d.image.id));
    for t in &d.targets {
        let account = &t.account;
        let policy_arn = usage_policy_arn(&partition, account);
        if t.identity.is_none() {
            handoffs.push(handoff(
                d,
                opts,
                t,
                usage_doc.as_deref(),
                &copy_name,
                &instance_type,
            ));
            continue;
        }
        let iam_region = opts
            .target_regions
            .first()
            .cloned()
            .unwrap_or_else(|| src_region.clone());
        if let Some(doc) = &usage_doc {
            if !t.principals.is_empty() {
                match &t.usage_policy {
                    None => steps.push(Step {
                        id: next_id(),
                        account: account.clone(),
                        region: iam_region.clone(),
                        action: Action::CreatePolicy {
                            name: KMS_KEY_USAGE_POLICY_NAME.into(),
                            document: doc.clone(),
                        },
                    }),
                    Some(existing) => {
                        let covered = covered_keys(&existing.document);
                        if !key_arns.iter().all(|k| covered.contains(k)) {
                            let mut all: Vec<String> = covered.into_iter().collect();
                            all.extend(key_arns.iter().cloned());
                            let merged = policy::template::kms_key_usage_policy(&all)
                                .ok()
                                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                                .unwrap_or_else(|| doc.clone());
                            steps.push(Step {
                                id: next_id(),
                                account: account.clone(),
                                region: iam_region.clone(),
                                action: Action::CreatePolicyVersion {
                                    policy_arn: policy_arn.clone(),
                                    previous_version: existing.default_version.clone(),
                                    document: merged,
                                },
                            });
                        }
                    }
                }
            }
            for p in &t.principals {
                let attached = p.policies.as_ref().is_some_and(|pol| {
                    pol.policies.iter().any(|d| {
                        d.source == PolicySource::Attached
                            && d.arn.as_deref() == Some(policy_arn.as_str())
                    })
                });
                let attachable = p.arn.contains(":user/")
                    || p.arn.contains(":role/")
                    || p.arn.contains(":group/");
                if !attachable {
                    warnings.push(format!(
                        "cannot attach {KMS_KEY_USAGE_POLICY_NAME} to `{}`: not a user, role or group",
                        p.arn
                    ));
                } else if !attached {
                    steps.push(Step {
                        id: next_id(),
                        account: account.clone(),
                        region: iam_region.clone(),
                        action: Action::AttachPolicy {
                            policy_arn: policy_arn.clone(),
                            principal_arn: p.arn.clone(),
                        },
                    });
                }
            }
        }
        if t.principals.is_empty() && usage_doc.is_some() {
            warnings.push(format!(
                "no `--grant` for {account}: {KMS_KEY_USAGE_POLICY_NAME} is not created there; only amishare's own identity is tested"
            ));
        }
        for r in &t.regions {
            if opts.share_only {
                if opts.test_launch {
                    steps.push(Step {
                        id: next_id(),
                        account: account.clone(),
                        region: r.region.clone(),
                        action: Action::TestLaunch {
                            image_id: Some(d.image.id.clone()),
                            instance_type: instance_type.clone(),
                            subnet_id: opts.subnet_id.clone(),
                        },
                    });
                }
                continue;
            }
            let live = r
                .copies
                .iter()
                .find(|c| c.state.as_deref() == Some("available"))
                .or_else(|| {
                    r.copies
                        .iter()
                        .find(|c| c.state.as_deref() == Some("pending"))
                });
            for failed in r
                .copies
                .iter()
                .filter(|c| !matches!(c.state.as_deref(), Some("available") | Some("pending")))
            {
                warnings.push(format!(
                    "{account}/{}: an earlier copy {} is `{}`{}",
                    r.region,
                    failed.image_id,
                    failed.state.as_deref().unwrap_or("?"),
                    failed
                        .state_reason
                        .as_deref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                ));
            }
            match live {
                Some(c) => {
                    let tested = c.tag(TAG_TEST_LAUNCH) == Some("passed");
                    if c.state.as_deref() == Some("pending") {
                        steps.push(Step {
                            id: next_id(),
                            account: account.clone(),
                            region: r.region.clone(),
                            action: Action::WaitCopy {
                                image_id: c.image_id.clone(),
                            },
                        });
                    }
                    if opts.test_launch && !tested {
                        steps.push(Step {
                            id: next_id(),
                            account: account.clone(),
                            region: r.region.clone(),
                            action: Action::TestLaunch {
                                image_id: Some(c.image_id.clone()),
                                instance_type: instance_type.clone(),
                                subnet_id: opts.subnet_id.clone(),
                            },
                        });
                    } else if c.state.as_deref() == Some("available") {
                        existing_copies.push((
                            account.clone(),
                            r.region.clone(),
                            c.image_id.clone(),
                        ));
                    }
                }
                None => {
                    let mut tags = vec![
                        (TAG_SOURCE_IMAGE.to_string(), d.image.id.clone()),
                        (TAG_SOURCE_ACCOUNT.to_string(), src_account.clone()),
                        (TAG_RUN_ID.to_string(), run_id.to_string()),
                    ];
                    if opts.copy_tags {
                        for (k, v) in &source.tags {
                            if !k.starts_with("aws:") && !k.starts_with("amishare:") {
                                tags.push((k.clone(), v.clone()));
                            }
                        }
                    }
                    steps.push(Step {
                        id: next_id(),
                        account: account.clone(),
                        region: r.region.clone(),
                        action: Action::CopyImage {
                            source_image_id: d.image.id.clone(),
                            source_region: src_region.clone(),
                            name: copy_name.clone(),
                            kms_key_id: r.target_key.clone(),
                            tags,
                        },
                    });
                    if opts.test_launch {
                        steps.push(Step {
                            id: next_id(),
                            account: account.clone(),
                            region: r.region.clone(),
                            action: Action::TestLaunch {
                                image_id: None,
                                instance_type: instance_type.clone(),
                                subnet_id: opts.subnet_id.clone(),
                            },
                        });
                    }
                }
            }
        }
    }

    // Revoke after copy: undo the sharing and key policy access this plan adds.
    if opts.revoke_after_copy && !opts.share_only {
        let mut revokes = Vec::new();
        for s in &steps {
            let action = match &s.action {
                Action::AddLaunchPermission { image_id, account } => {
                    Action::RemoveLaunchPermission {
                        image_id: image_id.clone(),
                        account: account.clone(),
                    }
                }
                Action::AddCreateVolumePermission {
                    snapshot_id,
                    account,
                } => Action::RemoveCreateVolumePermission {
                    snapshot_id: snapshot_id.clone(),
                    account: account.clone(),
                },
                Action::PutKeyPolicy { key_arn, added, .. } => Action::RevokeKeyUsers {
                    key_arn: key_arn.clone(),
                    added: added.clone(),
                },
                _ => continue,
            };
            revokes.push((s.account.clone(), s.region.clone(), action));
        }
        for (account, region, action) in revokes {
            steps.push(Step {
                id: next_id(),
                account,
                region,
                action,
            });
        }
    }
    if let Some(action) = reencrypt {
        // Everything else is planned on the re-encrypted AMI once it exists.
        steps.clear();
        handoffs.clear();
        checks.clear();
        warnings.push(format!(
            "{} is on AWS managed keys: it is first copied inside {src_account} re-encrypted with `--reencrypt-with`; the key policy edit, sharing, copies and test launches are planned on that copy",
            d.image.id
        ));
        steps.push(Step {
            id: next_id(),
            account: src_account.clone(),
            region: src_region.clone(),
            action,
        });
    }
    if !blockers.is_empty() {
        steps.clear();
    }

    Ok(Plan {
        version: PLAN_VERSION,
        run_id: run_id.to_string(),
        created_at: super::journal::now(),
        source,
        keys,
        options: opts.clone(),
        fingerprint: fingerprint(d),
        blockers,
        checks,
        steps,
        handoffs,
        existing_copies,
        warnings,
        probes: d.probes.clone(),
    })
}

/// Key ARNs named in the `Resource` of an identity policy document.
fn covered_keys(document: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(v) = serde_json::from_str::<Value>(document) else {
        return out;
    };
    let statements = match v.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => Vec::new(),
    };
    for s in statements {
        let resources = match s.get("Resource") {
            Some(Value::String(r)) => vec![r.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        for r in resources {
            if policy::template::validate_key_arn(&r).is_ok() {
                out.insert(r);
            }
        }
    }
    out
}

fn shell_quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./:@=".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn handoff(
    d: &Discovery,
    opts: &PlanOptions,
    t: &TargetFacts,
    usage_doc: Option<&str>,
    copy_name: &str,
    instance_type: &str,
) -> Handoff {
    let account = &t.account;
    let partition = partition_of(&d.source.arn);
    let policy_arn = usage_policy_arn(partition, account);
    let mut commands = Vec::new();
    if usage_doc.is_some() {
        commands.push(format!(
            "aws iam create-policy --policy-name {KMS_KEY_USAGE_POLICY_NAME} --policy-document file://{KMS_KEY_USAGE_POLICY_NAME}.json"
        ));
        let grants: Vec<&String> = opts
            .grants
            .iter()
            .filter(|g| arn_account(g) == Some(account.as_str()))
            .collect();
        if grants.is_empty() {
            commands.push(format!(
                "aws iam attach-role-policy --role-name <ROLE-THAT-LAUNCHES> --policy-arn {policy_arn}"
            ));
        }
        for g in grants {
            let name = g.rsplit('/').next().unwrap_or(g);
            let kind = if g.contains(":user/") {
                "user"
            } else if g.contains(":group/") {
                "group"
            } else {
                "role"
            };
            commands.push(format!(
                "aws iam attach-{kind}-policy --{kind}-name {} --policy-arn {policy_arn}",
                shell_quote(name)
            ));
        }
    }
    for region in &opts.target_regions {
        if opts.share_only {
            continue;
        }
        let key = opts
            .target_key
            .as_deref()
            .map(|k| format!(" --kms-key-id {}", shell_quote(k)))
            .unwrap_or_default();
        commands.push(format!(
            "aws ec2 copy-image --region {region} --source-region {} --source-image-id {} --name {} --encrypted{key}",
            d.source_region,
            d.image.id,
            shell_quote(copy_name)
        ));
        commands.push(format!(
            "aws ec2 run-instances --region {region} --image-id <COPIED-AMI-ID> --instance-type {instance_type} --network-interfaces DeviceIndex=0,AssociatePublicIpAddress=false --tag-specifications 'ResourceType=instance,Tags=[{{Key=amishare:purpose,Value=test-launch}}]'"
        ));
    }
    Handoff {
        account: account.clone(),
        policy_name: KMS_KEY_USAGE_POLICY_NAME.into(),
        policy_document: usage_doc.unwrap_or("{}").to_string(),
        commands,
    }
}

// -------------------------------------------------------------------------------------- report

/// A diagnosis of a failed copy or test launch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    /// One line: the cause.
    pub cause: String,
    /// Finding codes, e.g. `key-policy-no-access`.
    pub codes: Vec<String>,
    /// What to do.
    pub fix: Option<String>,
    /// Key policy statements to add (paste-ready JSON).
    pub key_policy_statements: Vec<Value>,
    /// Evidence: CloudTrail denials, state reasons.
    pub evidence: Vec<String>,
    /// The full shared diagnosis (causes with documents and commands, what could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<super::diagnose::Diagnosis>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LaunchReport {
    pub instance_id: Option<String>,
    pub instance_type: String,
    /// `running`, `failed`, `timeout`, `interrupted`, `error`.
    pub result: String,
    pub state: Option<String>,
    pub state_reason_code: Option<String>,
    pub state_reason_message: Option<String>,
    pub seconds_to_running: Option<f64>,
    /// Termination confirmed.
    pub terminated: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetReport {
    pub account: String,
    pub region: String,
    /// `ok`, `failed`, `hand-off`, `exists`, `skipped`, `interrupted`.
    pub status: String,
    pub image_id: Option<String>,
    pub copy_state: Option<String>,
    pub copy_state_reason: Option<String>,
    pub test_launch: Option<LaunchReport>,
    pub diagnosis: Option<Diagnosis>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeRecord {
    pub step: String,
    pub account: String,
    pub region: String,
    pub summary: String,
    pub ok: bool,
    pub created: Vec<String>,
    pub error: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub run_id: String,
    /// `ok`, `failed`, `blocked`, `nothing-to-do`, `dry-run`, `interrupted`.
    pub status: String,
    pub source_account: String,
    pub source_region: String,
    pub image_id: String,
    pub changes: Vec<ChangeRecord>,
    pub targets: Vec<TargetReport>,
    pub blockers: Vec<Blocker>,
    pub handoffs: Vec<Handoff>,
    pub left_behind: Vec<String>,
    pub warnings: Vec<String>,
    /// `--reencrypt-with`: the re-encrypted copy in the source account that was shared instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reencrypted_image: Option<String>,
    /// `--reencrypt-with`: the plan made on that copy (and applied, unless blocked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_on_copy: Option<Box<Plan>>,
}

impl Report {
    /// A report for a plan that was not applied (dry run, blocked, nothing to do).
    pub fn unapplied(plan: &Plan, status: &str) -> Self {
        let mut targets = Vec::new();
        for account in &plan.options.target_accounts {
            for region in &plan.options.target_regions {
                let handoff = plan.handoffs.iter().any(|h| &h.account == account);
                let existing = plan
                    .existing_copies
                    .iter()
                    .find(|(a, r, _)| a == account && r == region);
                targets.push(TargetReport {
                    account: account.clone(),
                    region: region.clone(),
                    status: if handoff {
                        "hand-off".into()
                    } else if existing.is_some() {
                        "exists".into()
                    } else {
                        "skipped".into()
                    },
                    image_id: existing.map(|(_, _, i)| i.clone()),
                    copy_state: existing.map(|_| "available".to_string()),
                    copy_state_reason: None,
                    test_launch: None,
                    diagnosis: None,
                    error: None,
                });
            }
        }
        Report {
            run_id: plan.run_id.clone(),
            status: status.into(),
            source_account: plan.source.account.clone(),
            source_region: plan.source.region.clone(),
            image_id: plan.source.image_id.clone(),
            changes: Vec::new(),
            targets,
            blockers: plan.blockers.clone(),
            handoffs: plan.handoffs.clone(),
            left_behind: Vec::new(),
            warnings: plan.warnings.clone(),
            reencrypted_image: None,
            plan_on_copy: None,
        }
    }

    /// Any target failed (copy or test launch) or the plan is blocked.
    pub fn failed(&self) -> bool {
        self.status == "failed" || self.status == "blocked"
    }
}

// --------------------------------------------------------------------------------------- apply

/// Timing of the waiters (shortened in unit tests).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub poll_start: Duration,
    pub poll_max: Duration,
    pub copy_timeout: Duration,
    pub terminate_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            poll_start: Duration::from_millis(250),
            poll_max: Duration::from_secs(10),
            copy_timeout: Duration::from_secs(3 * 3600),
            terminate_timeout: Duration::from_secs(300),
        }
    }
}

/// Everything [`apply`] needs besides the plan.
pub struct Apply<'a, R, W, S: ?Sized, E: ?Sized> {
    pub world: &'a World<R, W>,
    pub store: &'a S,
    pub events: &'a E,
    /// Becomes `true` on Ctrl-C: running waits stop, test instances are terminated.
    pub cancel: watch::Receiver<bool>,
    pub timing: Timing,
}

fn cancelled(rx: &watch::Receiver<bool>) -> bool {
    *rx.borrow()
}

/// Sleep `d`, or return `false` early when cancelled.
async fn sleep_or_cancel(d: Duration, rx: &mut watch::Receiver<bool>) -> bool {
    if cancelled(rx) {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => !cancelled(rx),
        changed = rx.changed() => match changed {
            Ok(()) => !cancelled(rx),
            // the sender is gone: nobody can cancel any more; finish the sleep
            Err(_) => { tokio::time::sleep(d).await; true }
        },
    }
}

/// An error worth polling again for (after the SDK's own retries): throttling or a 5xx.
fn transient(e: &AwsError) -> bool {
    let code = e.code.as_deref().unwrap_or("");
    code.contains("Throttl")
        || code == "RequestLimitExceeded"
        || code.ends_with("InternalError")
        || code.contains("ServiceUnavailable")
        || code.contains("Unavailable")
        || e.http_status.is_some_and(|s| s >= 500)
}

/// Polls in a row that may fail transiently before a waiter gives up.
const MAX_TRANSIENT_POLLS: u32 = 8;

fn next_delay(d: Duration, max: Duration) -> Duration {
    std::cmp::min(d.mul_f64(1.5), max)
}

fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Terminate the test instances an earlier (interrupted) run of this journal left unconfirmed.
pub async fn terminate_leftovers<
    R: Reader,
    W: Writer,
    S: JournalStore + ?Sized,
    E: Events + ?Sized,
>(
    ctx: &Apply<'_, R, W, S, E>,
    journal: &LiveJournal<'_, S>,
) -> Vec<String> {
    let mut left = Vec::new();
    for (id, rec) in journal.snapshot().unconfirmed_instances() {
        let Some(conn) = ctx.world.target_conn(&rec.account, &rec.region) else {
            left.push(format!(
                "test instance {id} in {}/{} (no credentials to terminate it)",
                rec.account, rec.region
            ));
            continue;
        };
        match terminate_and_confirm(&conn.writer, &id, ctx.timing).await {
            Ok(()) => {
                let _ = journal.instance_terminated(&id);
                ctx.events.emit(Event::Note {
                    message: format!("terminated test instance {id} left by the interrupted run"),
                });
            }
            Err(e) => left.push(format!("test instance {id}: {e}")),
        }
    }
    left
}

/// Apply a plan. The journal is `journal` (new, or resumed with this plan). Returns the report;
/// per-target failures are in the report, not errors.
pub async fn apply<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    ctx: &Apply<'_, R, W, S, E>,
    plan: &Plan,
    journal: Journal,
) -> Result<Report, CopyError> {
    let live = LiveJournal::new(ctx.store, journal)?;
    let mut report = Report::unapplied(plan, "ok");
    report.left_behind = terminate_leftovers(ctx, &live).await;
    ctx.events.emit(Event::Phase {
        name: "apply".into(),
    });
    let Some(step) = plan
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::ReencryptImage { .. }))
    else {
        return apply_plan(ctx, &live, plan, report).await;
    };

    // `--reencrypt-with`: make (or wait for) the re-encrypted copy in the source account, then
    // plan the rest on it and apply that plan in the same journal.
    let (rec, image) = reencrypt(ctx, &live, plan, step).await?;
    let ok = rec.ok;
    report.changes.push(rec);
    let Some(image) = image.filter(|_| ok) else {
        let interrupted = cancelled(&ctx.cancel);
        live.set_status(if interrupted {
            RunStatus::Interrupted
        } else {
            RunStatus::Failed
        })?;
        report.status = if interrupted { "interrupted" } else { "failed" }.into();
        for t in &mut report.targets {
            t.error =
                Some("not attempted: the re-encrypting copy in the source account failed".into());
        }
        return Ok(report);
    };
    // Applying never probes: the DryRun probes belong to `--dry-run`, whose saved plan keeps
    // `probe: true`.
    let discover_opts = PlanOptions {
        probe: false,
        ..plan.options.clone()
    };
    let d = discover(ctx.world, &image, &discover_opts, ctx.events).await?;
    let next = build_plan_with_prefix(&d, &plan.options, &plan.run_id, &format!("{}r", step.id))?;
    let mut next_report = Report::unapplied(&next, "ok");
    next_report.changes = std::mem::take(&mut report.changes);
    next_report.left_behind = std::mem::take(&mut report.left_behind);
    next_report.warnings.splice(0..0, report.warnings.drain(..));
    next_report.reencrypted_image = Some(image);
    if !next.blockers.is_empty() {
        live.set_status(RunStatus::Failed)?;
        next_report.status = "blocked".into();
        next_report.plan_on_copy = Some(Box::new(next));
        return Ok(next_report);
    }
    let mut out = apply_plan(ctx, &live, &next, next_report).await?;
    out.plan_on_copy = Some(Box::new(next));
    Ok(out)
}

/// Make the re-encrypted copy in the source account (or wait for the one an earlier run
/// started): the change record and the image id once it is available.
async fn reencrypt<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    ctx: &Apply<'_, R, W, S, E>,
    live: &LiveJournal<'_, S>,
    plan: &Plan,
    step: &Step,
) -> Result<(ChangeRecord, Option<String>), CopyError> {
    let Action::ReencryptImage {
        source_image_id,
        name,
        kms_key_id,
        tags,
        existing_image_id,
    } = &step.action
    else {
        return Err(CopyError::input(
            format!("step `{}` is not a re-encrypting copy", step.id),
            "make the plan again",
        ));
    };
    let mut rec = ChangeRecord {
        step: step.id.clone(),
        account: step.account.clone(),
        region: step.region.clone(),
        summary: step.action.summary(),
        ok: false,
        created: Vec::new(),
        error: None,
    };
    ctx.events.emit(Event::StepStarted {
        step: step.id.clone(),
        summary: rec.summary.clone(),
    });
    live.begin(step, None)?;
    let conn = &ctx.world.source;
    let image = match existing_image_id {
        Some(id) => Ok(id.clone()),
        None => {
            let req = CopyImageRequest {
                source_image_id: source_image_id.clone(),
                source_region: plan.source.region.clone(),
                name: name.clone(),
                description: format!(
                    "{source_image_id} re-encrypted with {kms_key_id} by amishare run {}",
                    plan.run_id
                ),
                kms_key_id: Some(kms_key_id.clone()),
                client_token: format!("{}-{}", plan.run_id, step.id),
                tags: tags.clone(),
            };
            conn.writer
                .copy_image(&req)
                .await
                .map_err(|e| e.to_string())
        }
    };
    let outcome = match image {
        Err(e) => Err(e),
        Ok(image) => {
            if existing_image_id.is_none() {
                live.created(&step.id, &image)?;
                rec.created.push(image.clone());
            }
            let mut scratch = TargetReport {
                account: step.account.clone(),
                region: step.region.clone(),
                status: "ok".into(),
                image_id: Some(image.clone()),
                copy_state: None,
                copy_state_reason: None,
                test_launch: None,
                diagnosis: None,
                error: None,
            };
            wait_copy(ctx, conn, &step.account, &step.region, &image, &mut scratch).await
        }
    };
    rec.ok = outcome.is_ok();
    rec.error = outcome.as_ref().err().cloned();
    live.finish(&step.id, outcome.clone())?;
    ctx.events.emit(Event::StepFinished {
        step: step.id.clone(),
        ok: rec.ok,
        detail: rec.error.clone(),
    });
    Ok((rec, outcome.ok().flatten()))
}

/// Apply the steps of `plan` (no re-encrypting copy among them) in an open journal.
async fn apply_plan<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    ctx: &Apply<'_, R, W, S, E>,
    live: &LiveJournal<'_, S>,
    plan: &Plan,
    mut report: Report,
) -> Result<Report, CopyError> {
    // 1. Source account, one step after the other; a failure stops the run (the targets depend
    //    on the sharing and the key policy).
    for step in plan
        .steps
        .iter()
        .filter(|s| !s.action.is_target_side() && !s.action.is_revoke())
    {
        if cancelled(&ctx.cancel) {
            live.set_status(RunStatus::Interrupted)?;
            report.status = "interrupted".into();
            return Ok(report);
        }
        let rec = run_simple_step(ctx, live, plan, step).await?;
        let ok = rec.ok;
        report.changes.push(rec);
        if !ok {
            live.set_status(RunStatus::Failed)?;
            report.status = "failed".into();
            for t in &mut report.targets {
                if t.status == "skipped" {
                    t.error = Some("not attempted: a source-account step failed".into());
                }
            }
            return Ok(report);
        }
    }

    // 2. Target accounts' IAM (concurrently per account).
    let accounts: Vec<&String> = plan.options.target_accounts.iter().collect();
    let iam_results: Vec<(String, Vec<ChangeRecord>)> =
        stream::iter(accounts.into_iter().map(|account| async move {
            let mut recs = Vec::new();
            for step in plan.steps.iter().filter(|s| {
                &s.account == account
                    && matches!(
                        s.action,
                        Action::CreatePolicy { .. }
                            | Action::CreatePolicyVersion { .. }
                            | Action::AttachPolicy { .. }
                    )
            }) {
                match run_simple_step(ctx, live, plan, step).await {
                    Ok(rec) => {
                        let ok = rec.ok;
                        recs.push(rec);
                        if !ok {
                            break;
                        }
                    }
                    Err(e) => {
                        recs.push(ChangeRecord {
                            step: step.id.clone(),
                            account: step.account.clone(),
                            region: step.region.clone(),
                            summary: step.action.summary(),
                            ok: false,
                            created: vec![],
                            error: Some(e.to_string()),
                        });
                        break;
                    }
                }
            }
            (account.clone(), recs)
        }))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut failed_accounts = BTreeSet::new();
    for (account, recs) in iam_results {
        if recs.iter().any(|r| !r.ok) {
            failed_accounts.insert(account);
        }
        report.changes.extend(recs);
    }

    // 3. Every target account and region: copy -> wait -> test launch (bounded concurrency).
    let mut units: Vec<(String, String)> = Vec::new();
    for s in plan.steps.iter().filter(|s| {
        matches!(
            s.action,
            Action::CopyImage { .. } | Action::WaitCopy { .. } | Action::TestLaunch { .. }
        )
    }) {
        let u = (s.account.clone(), s.region.clone());
        if !units.contains(&u) {
            units.push(u);
        }
    }
    let unit_results: Vec<(TargetReport, Vec<ChangeRecord>)> =
        stream::iter(units.into_iter().map(|(account, region)| {
            let failed = failed_accounts.contains(&account);
            async move {
                if failed {
                    return (
                        TargetReport {
                            account,
                            region,
                            status: "failed".into(),
                            image_id: None,
                            copy_state: None,
                            copy_state_reason: None,
                            test_launch: None,
                            diagnosis: None,
                            error: Some("not attempted: the account's IAM step failed".into()),
                        },
                        Vec::new(),
                    );
                }
                run_unit(ctx, live, plan, &account, &region).await
            }
        }))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (tr, recs) in unit_results {
        report.changes.extend(recs);
        if let Some(slot) = report
            .targets
            .iter_mut()
            .find(|t| t.account == tr.account && t.region == tr.region)
        {
            *slot = tr;
        } else {
            report.targets.push(tr);
        }
    }
    for t in &mut report.targets {
        if t.status == "skipped" && failed_accounts.contains(&t.account) {
            t.status = "failed".into();
            t.error = Some("the account's IAM step failed".into());
        }
    }

    // 4. Revoke after copy, when every copy is there.
    let all_ok = report
        .targets
        .iter()
        .all(|t| matches!(t.status.as_str(), "ok" | "exists" | "hand-off"));
    let revokes: Vec<&Step> = plan.steps.iter().filter(|s| s.action.is_revoke()).collect();
    if !revokes.is_empty() {
        if all_ok && !cancelled(&ctx.cancel) {
            for step in revokes {
                let rec = run_simple_step(ctx, live, plan, step).await?;
                report.changes.push(rec);
            }
        } else {
            report.warnings.push(
                "`--revoke-after-copy` skipped: not every copy succeeded; the shares stay in place"
                    .into(),
            );
        }
    }

    // 5. Anything left behind.
    let snapshot = live.snapshot();
    for (id, rec) in snapshot.unconfirmed_instances() {
        report.left_behind.push(format!(
            "test instance {id} in {}/{}: termination not confirmed",
            rec.account, rec.region
        ));
    }
    for t in &report.targets {
        if t.copy_state.as_deref() == Some("failed") {
            if let Some(img) = &t.image_id {
                report.left_behind.push(format!(
                    "failed copy {img} in {}/{} (deregister it, or `amishare rollback {} --delete-copies`)",
                    t.account, t.region, plan.run_id
                ));
            }
        }
    }

    let interrupted = cancelled(&ctx.cancel);
    let failed = report.changes.iter().any(|c| !c.ok)
        || report
            .targets
            .iter()
            .any(|t| matches!(t.status.as_str(), "failed"));
    report.status = if interrupted {
        "interrupted"
    } else if failed {
        "failed"
    } else {
        "ok"
    }
    .into();
    live.set_status(if interrupted {
        RunStatus::Interrupted
    } else if failed {
        RunStatus::Failed
    } else {
        RunStatus::Completed
    })?;
    Ok(report)
}

fn conn_for<'a, R, W>(world: &'a World<R, W>, plan: &Plan, step: &Step) -> Option<&'a Conn<R, W>> {
    if step.account == plan.source.account {
        Some(&world.source)
    } else {
        world.target(&step.account).and_then(|t| {
            t.regions
                .get(&step.region)
                .or_else(|| t.regions.values().next())
        })
    }
}

/// Run one step that is a single change (not copy/launch), journalled before and after.
async fn run_simple_step<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    ctx: &Apply<'_, R, W, S, E>,
    live: &LiveJournal<'_, S>,
    plan: &Plan,
    step: &Step,
) -> Result<ChangeRecord, CopyError> {
    let summary = step.action.summary();
    ctx.events.emit(Event::StepStarted {
        step: step.id.clone(),
        summary: summary.clone(),
    });
    let mut rec = ChangeRecord {
        step: step.id.clone(),
        account: step.account.clone(),
        region: step.region.clone(),
        summary,
        ok: false,
        created: Vec::new(),
        error: None,
    };
    let Some(conn) = conn_for(ctx.world, plan, step) else {
        rec.error = Some(format!("no credentials for account {}", step.account));
        return Ok(rec);
    };
    let before = match &step.action {
        Action::PutKeyPolicy { before, .. } => Some(before.clone()),
        Action::CreatePolicyVersion {
            previous_version, ..
        } => Some(previous_version.clone()),
        _ => None,
    };
    live.begin(step, before)?;
    let result = exec_simple(conn, step).await;
    match result {
        Ok((after, created)) => {
            for c in &created {
                live.created(&step.id, c)?;
            }
            live.finish(&step.id, Ok(after))?;
            rec.ok = true;
            rec.created = created;
        }
        Err(e) => {
            live.finish(&step.id, Err(e.clone()))?;
            rec.error = Some(e);
        }
    }
    ctx.events.emit(Event::StepFinished {
        step: step.id.clone(),
        ok: rec.ok,
        detail: rec.error.clone(),
    });
    Ok(rec)
}

/// Execute a single-change step: `(after, created ids)` or an error message.
async fn exec_simple<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    step: &Step,
) -> Result<(Option<String>, Vec<String>), String> {
    let w = &conn.writer;
    let r = &conn.reader;
    match &step.action {
        Action::PutKeyPolicy {
            key_arn,
            before,
            after,
            ..
        } => {
            let current = read_policy(r, key_arn).await?;
            if !same_json(&current, before) {
                let diff = policy::diff::unified_diff(before, &current);
                return Err(format!(
                    "the key policy of `{key_arn}` changed since discovery; refusing to overwrite it (run `amishare copy` again to plan on the new policy):\n{diff}"
                ));
            }
            w.put_key_policy(key_arn, after)
                .await
                .map_err(|e| e.to_string())?;
            let back = read_policy(r, key_arn).await?;
            if !same_json(&back, after) {
                return Err(format!(
                    "the key policy of `{key_arn}` read back differs from what was written"
                ));
            }
            Ok((Some(back), vec![]))
        }
        Action::RevokeKeyUsers { key_arn, added } => {
            let current = read_policy(r, key_arn).await?;
            let edit = policy::edit::remove_key_users(&current, key_arn, added, &r.identity().arn)
                .map_err(|e| e.to_string())?;
            if edit.changed {
                w.put_key_policy(key_arn, &edit.text)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok((Some(edit.text), vec![]))
        }
        Action::AddLaunchPermission { image_id, account } => w
            .set_launch_permission(image_id, account, true)
            .await
            .map(|()| (None, vec![]))
            .map_err(|e| e.to_string()),
        Action::RemoveLaunchPermission { image_id, account } => w
            .set_launch_permission(image_id, account, false)
            .await
            .map(|()| (None, vec![]))
            .map_err(|e| e.to_string()),
        Action::AddCreateVolumePermission {
            snapshot_id,
            account,
        } => w
            .set_create_volume_permission(snapshot_id, account, true)
            .await
            .map(|()| (None, vec![]))
            .map_err(|e| e.to_string()),
        Action::RemoveCreateVolumePermission {
            snapshot_id,
            account,
        } => w
            .set_create_volume_permission(snapshot_id, account, false)
            .await
            .map(|()| (None, vec![]))
            .map_err(|e| e.to_string()),
        Action::CreatePolicy { name, document } => {
            let arn = w
                .create_policy(
                    name,
                    document,
                    "Use of the KMS keys of AMIs shared with this account (written by amishare)",
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok((Some(document.clone()), vec![arn]))
        }
        Action::CreatePolicyVersion {
            policy_arn,
            document,
            ..
        } => {
            let v = w
                .create_policy_version(policy_arn, document)
                .await
                .map_err(|e| e.to_string())?;
            Ok((Some(document.clone()), vec![v]))
        }
        Action::AttachPolicy {
            policy_arn,
            principal_arn,
        } => w
            .set_policy_attachment(principal_arn, policy_arn, true)
            .await
            .map(|()| (None, vec![]))
            .map_err(|e| e.to_string()),
        Action::CopyImage { .. }
        | Action::ReencryptImage { .. }
        | Action::WaitCopy { .. }
        | Action::TestLaunch { .. } => {
            Err("internal: copy and launch steps run in their own pipeline".into())
        }
    }
}

async fn read_policy<R: Reader>(r: &R, key_arn: &str) -> Result<String, String> {
    match r.get_key_policy(key_arn).await {
        Ok(Seen::Visible(p)) => Ok(p),
        Ok(Seen::NotVisible(e)) => Err(format!("cannot read the key policy: {e}")),
        Err(e) => Err(e.to_string()),
    }
}

/// One target account and region: copy (or wait for an earlier copy) -> test launch.
async fn run_unit<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    ctx: &Apply<'_, R, W, S, E>,
    live: &LiveJournal<'_, S>,
    plan: &Plan,
    account: &str,
    region: &str,
) -> (TargetReport, Vec<ChangeRecord>) {
    let mut tr = TargetReport {
        account: account.to_string(),
        region: region.to_string(),
        status: "ok".into(),
        image_id: None,
        copy_state: None,
        copy_state_reason: None,
        test_launch: None,
        diagnosis: None,
        error: None,
    };
    let mut recs = Vec::new();
    let Some(conn) = ctx.world.target_conn(account, region) else {
        tr.status = "failed".into();
        tr.error = Some(format!("no credentials for {account} in {region}"));
        return (tr, recs);
    };
    let steps: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| s.account == account && s.region == region)
        .filter(|s| {
            matches!(
                s.action,
                Action::CopyImage { .. } | Action::WaitCopy { .. } | Action::TestLaunch { .. }
            )
        })
        .collect();
    for step in steps {
        if cancelled(&ctx.cancel) {
            tr.status = "interrupted".into();
            break;
        }
        let mut rec = ChangeRecord {
            step: step.id.clone(),
            account: account.to_string(),
            region: region.to_string(),
            summary: step.action.summary(),
            ok: false,
            created: vec![],
            error: None,
        };
        ctx.events.emit(Event::StepStarted {
            step: step.id.clone(),
            summary: rec.summary.clone(),
        });
        if let Err(e) = live.begin(step, None) {
            rec.error = Some(e.to_string());
            recs.push(rec);
            tr.status = "failed".into();
            tr.error = Some(e.to_string());
            break;
        }
        let outcome: Result<Option<String>, String> = match &step.action {
            Action::CopyImage {
                source_image_id,
                source_region,
                name,
                kms_key_id,
                tags,
            } => {
                let req = CopyImageRequest {
                    source_image_id: source_image_id.clone(),
                    source_region: source_region.clone(),
                    name: name.clone(),
                    description: format!(
                        "Copy of {source_image_id} from {}/{source_region} made by amishare run {}",
                        plan.source.account, plan.run_id
                    ),
                    kms_key_id: kms_key_id.clone(),
                    client_token: format!("{}-{}", plan.run_id, step.id),
                    tags: tags.clone(),
                };
                match conn.writer.copy_image(&req).await {
                    Err(e) => Err(e.to_string()),
                    Ok(image_id) => {
                        let _ = live.created(&step.id, &image_id);
                        rec.created.push(image_id.clone());
                        tr.image_id = Some(image_id.clone());
                        wait_copy(ctx, conn, account, region, &image_id, &mut tr).await
                    }
                }
            }
            Action::WaitCopy { image_id } => {
                tr.image_id = Some(image_id.clone());
                wait_copy(ctx, conn, account, region, image_id, &mut tr).await
            }
            Action::TestLaunch {
                image_id,
                instance_type,
                subnet_id,
            } => {
                let image = image_id.clone().or_else(|| tr.image_id.clone());
                match image {
                    None => Err("no image to launch".into()),
                    Some(image) => {
                        if tr.image_id.is_none() {
                            tr.image_id = Some(image.clone());
                        }
                        let report = test_launch(
                            ctx,
                            live,
                            conn,
                            plan,
                            step,
                            &image,
                            instance_type,
                            subnet_id.as_deref(),
                        )
                        .await;
                        let ok = report.result == "running";
                        if let Some(id) = &report.instance_id {
                            rec.created.push(id.clone());
                        }
                        let failed_launch = report.result == "failed";
                        tr.test_launch = Some(report);
                        if ok {
                            if !plan.options.share_only {
                                let _ = conn
                                    .writer
                                    .tag(
                                        &image,
                                        &[(TAG_TEST_LAUNCH.to_string(), "passed".to_string())],
                                    )
                                    .await;
                            }
                            Ok(None)
                        } else {
                            if failed_launch {
                                tr.diagnosis = Some(
                                    diagnose(
                                        ctx,
                                        conn,
                                        plan,
                                        policy::Operation::Launch,
                                        tr.test_launch.as_ref(),
                                    )
                                    .await,
                                );
                            }
                            Err(tr
                                .test_launch
                                .as_ref()
                                .map(|l| {
                                    format!(
                                        "test launch {}: {}",
                                        l.result,
                                        l.state_reason_message
                                            .clone()
                                            .or_else(|| l.error.clone())
                                            .unwrap_or_default()
                                    )
                                })
                                .unwrap_or_default())
                        }
                    }
                }
            }
            _ => Err("internal: not a copy or launch step".into()),
        };
        let ok = outcome.is_ok();
        rec.ok = ok;
        rec.error = outcome.as_ref().err().cloned();
        let _ = live.finish(&step.id, outcome);
        ctx.events.emit(Event::StepFinished {
            step: step.id.clone(),
            ok,
            detail: rec.error.clone(),
        });
        recs.push(rec);
        if !ok {
            if cancelled(&ctx.cancel) {
                tr.status = "interrupted".into();
            } else {
                tr.status = "failed".into();
            }
            if tr.error.is_none() {
                tr.error = recs.last().and_then(|r| r.error.clone());
            }
            if tr.copy_state.as_deref() == Some("failed") && tr.diagnosis.is_none() {
                tr.diagnosis = Some(diagnose(ctx, conn, plan, policy::Operation::Copy, None).await);
            }
            break;
        }
    }
    (tr, recs)
}

/// Poll the copy until it is available or failed.
async fn wait_copy<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    ctx: &Apply<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    account: &str,
    region: &str,
    image_id: &str,
    tr: &mut TargetReport,
) -> Result<Option<String>, String> {
    let started = Instant::now();
    let mut delay = ctx.timing.poll_start;
    let mut rx = ctx.cancel.clone();
    let mut transient_errors = 0;
    loop {
        let status = match conn.writer.image_status(image_id).await {
            Ok(s) => {
                transient_errors = 0;
                s
            }
            Err(e) if transient(&e) && transient_errors < MAX_TRANSIENT_POLLS => {
                transient_errors += 1;
                if !sleep_or_cancel(delay, &mut rx).await {
                    return Err(format!("interrupted while waiting for copy {image_id}"));
                }
                delay = next_delay(delay, ctx.timing.poll_max);
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        let Some(status) = status else {
            tr.copy_state = Some("missing".into());
            return Err(format!("copy {image_id} disappeared"));
        };
        let state = status.state.clone().unwrap_or_else(|| "unknown".into());
        tr.copy_state = Some(state.clone());
        tr.copy_state_reason = status.state_reason.clone();
        ctx.events.emit(Event::CopyProgress {
            account: account.into(),
            region: region.into(),
            image_id: image_id.into(),
            state: state.clone(),
            percent: status.progress_percent,
        });
        match state.as_str() {
            "available" => {
                ctx.events.emit(Event::CopyFinished {
                    account: account.into(),
                    region: region.into(),
                    image_id: image_id.into(),
                    state,
                });
                return Ok(Some(image_id.to_string()));
            }
            "pending" | "transient" | "unknown" => {}
            other => {
                ctx.events.emit(Event::CopyFinished {
                    account: account.into(),
                    region: region.into(),
                    image_id: image_id.into(),
                    state: other.into(),
                });
                return Err(format!(
                    "copy {image_id} is `{other}`{}",
                    status
                        .state_reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ));
            }
        }
        if started.elapsed() > ctx.timing.copy_timeout {
            return Err(format!(
                "copy {image_id} still `{state}` after {} s",
                ctx.timing.copy_timeout.as_secs()
            ));
        }
        if !sleep_or_cancel(delay, &mut rx).await {
            return Err(format!("interrupted while waiting for copy {image_id}"));
        }
        delay = next_delay(delay, ctx.timing.poll_max);
    }
}

/// Terminate an instance and wait until AWS says it is terminated (or gone).
pub async fn terminate_and_confirm<W: Writer>(
    w: &W,
    instance_id: &str,
    timing: Timing,
) -> Result<(), String> {
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        match w.terminate_instance(instance_id).await {
            Ok(()) => break,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => {
                attempts += 1;
                if attempts >= 5 || started.elapsed() > timing.terminate_timeout {
                    return Err(format!("cannot terminate {instance_id}: {e}"));
                }
                tokio::time::sleep(timing.poll_start * attempts).await;
            }
        }
    }
    // TerminateInstances has just answered (`shutting-down`): look again only after a pause.
    let mut delay = timing.poll_start;
    loop {
        tokio::time::sleep(delay).await;
        delay = next_delay(delay, timing.poll_max);
        match w.instance_status(instance_id).await {
            Ok(s) => match s.state.as_deref() {
                Some("terminated") | None => return Ok(()),
                _ => {}
            },
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => {
                if started.elapsed() > timing.terminate_timeout {
                    return Err(format!("cannot confirm termination of {instance_id}: {e}"));
                }
            }
        }
        if started.elapsed() > timing.terminate_timeout {
            return Err(format!(
                "{instance_id} not terminated after {} s",
                timing.terminate_timeout.as_secs()
            ));
        }
    }
}

/// Launch one test instance, wait until running or failed, ALWAYS terminate it.
#[allow(clippy::too_many_arguments)]
async fn test_launch<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    ctx: &Apply<'_, R, W, S, E>,
    live: &LiveJournal<'_, S>,
    conn: &Conn<R, W>,
    plan: &Plan,
    step: &Step,
    image_id: &str,
    instance_type: &str,
    subnet_id: Option<&str>,
) -> LaunchReport {
    let mut report = LaunchReport {
        instance_id: None,
        instance_type: instance_type.to_string(),
        result: "error".into(),
        state: None,
        state_reason_code: None,
        state_reason_message: None,
        seconds_to_running: None,
        terminated: false,
        error: None,
    };
    if cancelled(&ctx.cancel) {
        report.result = "interrupted".into();
        return report;
    }
    let account = conn.writer.account().to_string();
    let region = conn.writer.region().to_string();
    let req = LaunchRequest {
        image_id: image_id.to_string(),
        instance_type: instance_type.to_string(),
        subnet_id: subnet_id.map(str::to_string),
        tags: vec![
            (TAG_RUN_ID.to_string(), plan.run_id.clone()),
            (TAG_PURPOSE.to_string(), "test-launch".to_string()),
            ("Name".to_string(), format!("amishare test of {image_id}")),
        ],
        client_token: format!("{}-{}", plan.run_id, step.id),
    };
    let started = Instant::now();
    let instance_id = match conn.writer.run_instance(&req).await {
        Ok(id) => id,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    report.instance_id = Some(instance_id.clone());
    let _ = live.instance_launched(&instance_id, &account, &region);
    let _ = live.created(&step.id, &instance_id);
    ctx.events.emit(Event::LaunchState {
        account: account.clone(),
        region: region.clone(),
        instance_id: instance_id.clone(),
        state: "pending".into(),
    });
    let timeout = Duration::from_secs(plan.options.launch_timeout_secs);
    let mut delay = ctx.timing.poll_start;
    let mut rx = ctx.cancel.clone();
    let mut last_state = "pending".to_string();
    let mut transient_errors = 0;
    loop {
        // RunInstances has just answered `pending`: every look comes after a pause.
        if !sleep_or_cancel(delay, &mut rx).await {
            report.result = "interrupted".into();
            break;
        }
        delay = next_delay(delay, ctx.timing.poll_max);
        match conn.writer.instance_status(&instance_id).await {
            Ok(s) => {
                transient_errors = 0;
                let state = s.state.clone().unwrap_or_else(|| "unknown".into());
                if state != last_state {
                    ctx.events.emit(Event::LaunchState {
                        account: account.clone(),
                        region: region.clone(),
                        instance_id: instance_id.clone(),
                        state: state.clone(),
                    });
                    last_state = state.clone();
                }
                report.state = Some(state.clone());
                report.state_reason_code = s.reason_code.clone();
                report.state_reason_message = s.reason_message.clone();
                match state.as_str() {
                    "running" => {
                        report.result = "running".into();
                        report.seconds_to_running =
                            Some((started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
                        break;
                    }
                    "pending" => {}
                    _ => {
                        report.result = "failed".into();
                        break;
                    }
                }
            }
            Err(e) if transient(&e) && transient_errors < MAX_TRANSIENT_POLLS => {
                transient_errors += 1;
            }
            Err(e) => {
                report.error = Some(e.to_string());
                report.result = "error".into();
                break;
            }
        }
        if started.elapsed() > timeout {
            report.result = "timeout".into();
            break;
        }
    }
    // Always terminate, whatever happened above (a Ctrl-C included). An instance AWS already
    // shows terminated (a failed launch) is confirmed as it is: terminating it again would
    // replace its StateReason, which the diagnosis reads.
    let confirmed = if report.state.as_deref() == Some("terminated") {
        Ok(())
    } else {
        terminate_and_confirm(&conn.writer, &instance_id, ctx.timing).await
    };
    match confirmed {
        Ok(()) => {
            report.terminated = true;
            let _ = live.instance_terminated(&instance_id);
            ctx.events.emit(Event::LaunchState {
                account,
                region,
                instance_id,
                state: "terminated".into(),
            });
        }
        Err(e) => {
            report.error = Some(match report.error.take() {
                Some(prev) => format!("{prev}; {e}"),
                None => e,
            });
        }
    }
    report
}

/// Name the cause of a failed copy or launch with the shared diagnosis
/// ([`super::diagnose::diagnose_launch`]): the target account's reader for the instance and the
/// launching principal, the source account's reader for the key policies; then the report's short
/// form (cause, finding codes, fix, statements to add, evidence) next to the full diagnosis.
async fn diagnose<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    ctx: &Apply<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    plan: &Plan,
    operation: policy::Operation,
    launch: Option<&LaunchReport>,
) -> Diagnosis {
    let principal = conn.reader.identity().arn.clone();
    let options = DiagnoseOptions {
        operation,
        ..DiagnoseOptions::default()
    };
    let ami = DiagnoseTarget::Ami {
        image_id: plan.source.image_id.clone(),
        principal: principal.clone(),
    };
    let source = Some(&ctx.world.source.reader);
    let mut result = match launch.and_then(|l| l.instance_id.clone()) {
        Some(instance_id) => {
            let target = DiagnoseTarget::Instance {
                instance_id,
                principal: Some(principal.clone()),
            };
            diagnose_launch(&conn.reader, source, &target, &options).await
        }
        None => diagnose_launch(&conn.reader, source, &ami, &options).await,
    };
    // The instance no longer shows the failure (or cannot be read): predict from the image.
    if launch.is_some()
        && result
            .as_ref()
            .map_or(true, |d| d.outcome == DiagnosisOutcome::NoProblem)
    {
        if let Ok(d) = diagnose_launch(&conn.reader, source, &ami, &options).await {
            result = Ok(d);
        }
    }
    match result {
        Ok(d) => summarize(plan, conn.writer.account(), launch, d),
        Err(e) => Diagnosis {
            cause: format!("the diagnosis could not run: {e}"),
            codes: Vec::new(),
            fix: e.hint(),
            key_policy_statements: Vec::new(),
            evidence: launch_evidence(launch).into_iter().collect(),
            details: None,
        },
    }
}

fn launch_evidence(launch: Option<&LaunchReport>) -> Option<String> {
    let l = launch?;
    let code = l.state_reason_code.as_deref()?;
    Some(format!(
        "instance {} state reason {code}: {}",
        l.instance_id.as_deref().unwrap_or("?"),
        l.state_reason_message.as_deref().unwrap_or("")
    ))
}

/// The report's short form of a shared diagnosis.
fn summarize(
    plan: &Plan,
    account: &str,
    launch: Option<&LaunchReport>,
    d: super::diagnose::Diagnosis,
) -> Diagnosis {
    let mut out = Diagnosis {
        cause: String::new(),
        codes: Vec::new(),
        fix: None,
        key_policy_statements: Vec::new(),
        evidence: Vec::new(),
        details: None,
    };
    let has_state_reason = d.causes.iter().any(|c| {
        c.evidence
            .iter()
            .any(|e| matches!(e, Evidence::StateReason { .. }))
    });
    if !has_state_reason {
        out.evidence.extend(launch_evidence(launch));
    }
    let mut causes = Vec::new();
    for c in &d.causes {
        causes.push(match &c.key_arn {
            Some(k) if !c.message.contains(k.as_str()) => format!("{k}: {}", c.message),
            _ => c.message.clone(),
        });
        out.codes.push(c.code.to_string());
        if let Some(fix) = &c.fix {
            if out.fix.is_none() {
                out.fix = Some(fix.summary.clone());
            }
            out.key_policy_statements
                .extend(fix.key_policy_statements.iter().cloned());
        }
        for e in &c.evidence {
            let line = match e {
                Evidence::StateReason {
                    instance_id,
                    code,
                    message,
                } => format!(
                    "instance {instance_id} state reason {}: {}",
                    code.as_deref().unwrap_or("?"),
                    message.as_deref().unwrap_or("")
                ),
                Evidence::Event {
                    event_name,
                    event_time,
                    error_code,
                    error_message,
                    ..
                } => format!(
                    "CloudTrail {} {event_name} {}: {}",
                    event_time.as_deref().unwrap_or(""),
                    error_code.as_deref().unwrap_or(""),
                    error_message.as_deref().unwrap_or("")
                ),
                Evidence::Statement { policy, sid, .. } => format!(
                    "{policy}, statement {}",
                    sid.as_deref()
                        .map(|s| format!("`{s}`"))
                        .unwrap_or_else(|| "without Sid".into())
                ),
                Evidence::Key {
                    key_arn,
                    key_manager,
                    key_state,
                    account,
                } => format!(
                    "key {key_arn} in {account}: {} managed, {}",
                    key_manager.as_deref().unwrap_or("?"),
                    key_state.as_deref().unwrap_or("?")
                ),
            };
            if !out.evidence.contains(&line) {
                out.evidence.push(line);
            }
        }
    }
    out.codes.sort();
    out.codes.dedup();
    out.cause = if causes.is_empty() {
        format!("no cause found: {}", d.summary)
    } else {
        causes.join("; ")
    };
    if out.fix.is_none() && !out.codes.is_empty() {
        out.fix = Some(format!(
            "run `amishare copy {} --to {account}` without `--skip-key-policy-edit` to add the account to the key policy",
            plan.source.image_id
        ));
    }
    out.details = Some(Box::new(d));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::inventory::{
        CreateVolumePermission, ImageBlockDevice, LaunchPermission, PrincipalKind,
    };

    const SRC: &str = "111122223333";
    const TGT: &str = "444455556666";
    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1111aaaa-2222-3333-4444-555566667777";

    fn key_policy(extra_principal: Option<&str>) -> String {
        let mut users = vec![format!("arn:aws:iam::{SRC}:role/app")];
        if let Some(p) = extra_principal {
            users.push(p.to_string());
        }
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                 "Principal": {"AWS": format!("arn:aws:iam::{SRC}:root")}, "Action": "kms:*", "Resource": "*"},
                {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": users.clone()},
                 "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                 "Resource": "*"},
                {"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
                 "Principal": {"AWS": users},
                 "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
                 "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
            ]
        })
        .to_string()
    }

    fn discovery(manager: &str, shared: bool, policy: String) -> Discovery {
        let perm = |shared: bool| {
            if shared {
                vec![TGT.to_string()]
            } else {
                vec![]
            }
        };
        Discovery {
            source: CallerIdentity {
                account: SRC.into(),
                arn: format!("arn:aws:sts::{SRC}:assumed-role/admin/amishare"),
            },
            source_region: "us-east-1".into(),
            image: ImageInfo {
                id: "ami-1".into(),
                name: Some("web".into()),
                owner: Some(SRC.into()),
                state: Some("available".into()),
                architecture: Some("arm64".into()),
                creation_date: None,
                block_devices: vec![ImageBlockDevice {
                    device: Some("/dev/xvda".into()),
                    snapshot_id: Some("snap-1".into()),
                    encrypted: Some(true),
                    kms_key_id: None,
                    volume_size: Some(8),
                    volume_type: None,
                }],
                launch_permissions: Some(
                    perm(shared)
                        .into_iter()
                        .map(|a| LaunchPermission {
                            user_id: Some(a),
                            group: None,
                            organization_arn: None,
                            organizational_unit_arn: None,
                        })
                        .collect(),
                ),
                tags: vec![],
            },
            snapshots: vec![SnapshotInfo {
                id: "snap-1".into(),
                encrypted: Some(true),
                kms_key_id: Some(KEY.into()),
                owner: Some(SRC.into()),
                state: Some("completed".into()),
                progress: Some("100%".into()),
                volume_size: Some(8),
                create_volume_permissions: Some(
                    perm(shared)
                        .into_iter()
                        .map(|a| CreateVolumePermission {
                            user_id: Some(a),
                            group: None,
                        })
                        .collect(),
                ),
            }],
            keys: vec![KeyFacts {
                description: KeyDescription {
                    arn: KEY.into(),
                    key_id: "1111aaaa-2222-3333-4444-555566667777".into(),
                    account: SRC.into(),
                    region: "us-east-1".into(),
                    key_manager: Some(manager.into()),
                    key_state: Some("Enabled".into()),
                    multi_region: Some(false),
                    description: None,
                    origin: None,
                    aliases: Some(vec![]),
                },
                policy: Some(policy),
                policy_error: None,
            }],
            targets: vec![TargetFacts {
                account: TGT.into(),
                identity: Some(CallerIdentity {
                    account: TGT.into(),
                    arn: format!("arn:aws:sts::{TGT}:assumed-role/deployer/amishare"),
                }),
                identity_policies: Some(IdentityPolicies {
                    principal_arn: format!("arn:aws:iam::{TGT}:role/deployer"),
                    kind: PrincipalKind::Role,
                    name: Some("deployer".into()),
                    groups: vec![],
                    policies: vec![],
                }),
                principals: vec![],
                usage_policy: None,
                regions: vec![RegionFacts {
                    region: "us-east-1".into(),
                    target_key: None,
                    copies: vec![],
                }],
            }],
            reencrypt: None,
            probes: vec![],
        }
    }

    fn options() -> PlanOptions {
        PlanOptions {
            target_accounts: vec![TGT.into()],
            target_regions: vec!["us-east-1".into()],
            test_launch: true,
            launch_timeout_secs: 60,
            ..PlanOptions::default()
        }
    }

    fn actions(plan: &Plan) -> Vec<&'static str> {
        plan.steps
            .iter()
            .map(|s| match s.action {
                Action::PutKeyPolicy { .. } => "put-key-policy",
                Action::AddLaunchPermission { .. } => "add-launch-permission",
                Action::AddCreateVolumePermission { .. } => "add-create-volume-permission",
                Action::CopyImage { .. } => "copy-image",
                Action::TestLaunch { .. } => "test-launch",
                _ => "other",
            })
            .collect()
    }

    #[test]
    fn a_fresh_copy_plans_key_policy_sharing_copy_and_test_launch() {
        let plan = build_plan(
            &discovery("CUSTOMER", false, key_policy(None)),
            &options(),
            "r",
            1,
        )
        .unwrap();
        assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
        assert_eq!(
            actions(&plan),
            [
                "put-key-policy",
                "add-launch-permission",
                "add-create-volume-permission",
                "copy-image",
                "test-launch"
            ]
        );
        // arm64 image: the smallest Graviton type.
        assert!(plan.steps.iter().any(|s| matches!(
            &s.action,
            Action::TestLaunch { instance_type, .. } if instance_type == "t4g.nano"
        )));
    }

    #[test]
    fn a_finished_state_plans_nothing() {
        let mut d = discovery(
            "CUSTOMER",
            true,
            key_policy(Some(&format!("arn:aws:iam::{TGT}:root"))),
        );
        d.targets[0].regions[0].copies.push(ImageStatus {
            image_id: "ami-copy".into(),
            state: Some("available".into()),
            state_reason: None,
            snapshot_ids: vec![],
            progress_percent: Some(100),
            tags: vec![(TAG_TEST_LAUNCH.into(), "passed".into())],
        });
        let plan = build_plan(&d, &options(), "r", 1).unwrap();
        assert!(plan.is_empty(), "{plan}");
        assert_eq!(plan.existing_copies.len(), 1);
    }

    #[test]
    fn an_aws_managed_key_blocks_with_the_re_encrypting_fix() {
        let plan = build_plan(
            &discovery("AWS", false, key_policy(None)),
            &options(),
            "r",
            1,
        )
        .unwrap();
        assert_eq!(plan.blockers[0].code, "aws-managed-key");
        assert!(plan.blockers[0].fix.contains("--kms-key-id"));
        assert!(plan.steps.is_empty());
    }

    fn reencrypt_facts(d: &Discovery, manager: &str, region: &str) -> ReencryptFacts {
        let mut key = d.keys[0].description.clone();
        key.arn = format!("arn:aws:kms:{region}:{SRC}:key/cmk");
        key.region = region.into();
        key.key_manager = Some(manager.into());
        ReencryptFacts {
            original_image_id: d.image.id.clone(),
            key: Some(key),
            key_error: None,
            pending_copy: None,
            using_copy: false,
        }
    }

    #[test]
    fn reencrypt_with_a_customer_key_plans_only_the_re_encrypting_copy_in_the_source() {
        let mut d = discovery("AWS", false, key_policy(None));
        d.reencrypt = Some(reencrypt_facts(&d, "CUSTOMER", "us-east-1"));
        let mut opts = options();
        opts.reencrypt_with = Some("alias/cmk".into());
        let plan = build_plan(&d, &opts, "r", 1).unwrap();
        assert!(plan.blockers.is_empty(), "{plan}");
        assert_eq!(plan.steps.len(), 1, "{plan}");
        let step = &plan.steps[0];
        assert_eq!(step.account, SRC);
        match &step.action {
            Action::ReencryptImage {
                source_image_id,
                kms_key_id,
                existing_image_id,
                tags,
                ..
            } => {
                assert_eq!(source_image_id, "ami-1");
                assert_eq!(kms_key_id, &format!("arn:aws:kms:us-east-1:{SRC}:key/cmk"));
                assert_eq!(existing_image_id, &None);
                assert!(tags.contains(&(TAG_SOURCE_IMAGE.to_string(), "ami-1".to_string())));
            }
            other => panic!("unexpected {other:?}"),
        }
        // A copy an earlier run started is waited for, not made again.
        if let Some(r) = d.reencrypt.as_mut() {
            r.pending_copy = Some("ami-earlier".into());
        }
        let plan = build_plan(&d, &opts, "r", 2).unwrap();
        assert!(matches!(
            &plan.steps[0].action,
            Action::ReencryptImage { existing_image_id: Some(i), .. } if i == "ami-earlier"
        ));
    }

    #[test]
    fn reencrypt_with_an_aws_managed_or_foreign_region_key_is_a_blocker() {
        let mut opts = options();
        opts.reencrypt_with = Some("alias/aws/ebs".into());
        for (manager, region) in [("AWS", "us-east-1"), ("CUSTOMER", "eu-west-1")] {
            let mut d = discovery("AWS", false, key_policy(None));
            d.reencrypt = Some(reencrypt_facts(&d, manager, region));
            let plan = build_plan(&d, &opts, "r", 1).unwrap();
            assert_eq!(plan.blockers.len(), 1, "{plan}");
            assert_eq!(plan.blockers[0].code, "reencrypt-key");
            assert!(plan.steps.is_empty());
        }
    }

    #[test]
    fn skip_key_policy_edit_plans_no_put_key_policy_and_resumed_ids_differ() {
        let mut o = options();
        o.skip_key_policy_edit = true;
        let plan = build_plan(&discovery("CUSTOMER", false, key_policy(None)), &o, "r", 2).unwrap();
        assert!(!actions(&plan).contains(&"put-key-policy"));
        assert!(plan.steps.iter().all(|s| s.id.starts_with("a2s")));
    }

    #[test]
    fn assumed_role_sessions_map_to_their_role() {
        assert_eq!(
            assumed_role_arn("arn:aws:sts::444455556666:assumed-role/X/amishare").as_deref(),
            Some("arn:aws:iam::444455556666:role/X")
        );
        assert_eq!(assumed_role_arn("arn:aws:iam::444455556666:user/u"), None);
    }
}
