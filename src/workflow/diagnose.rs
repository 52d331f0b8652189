//! The diagnosis of a failed (or planned) launch from an encrypted AMI: one piece, used by
//! `amishare diagnose` and by the copy workflow after a failed test launch.
//!
//! It reads (through the [`Reader`] port) the instance and its StateReason, the volumes or the
//! image's snapshots, each KMS key (DescribeKey, key policy, grants), the launching principal
//! (CloudTrail's RunInstances event, or given) and its identity policies, and CloudTrail's KMS
//! denials around the launch; then asks the policy engine ([`crate::policy::analyze`]) for the
//! verdict and findings. Causes are the engine's error findings plus what AWS shows directly (AWS
//! managed key used across accounts, key disabled or pending deletion, denials in CloudTrail),
//! ranked, each with evidence and a paste-ready fix. Everything it could not read is listed with
//! what that means and how to see it. No policy evaluation happens here.
//!
//! Cause codes are the policy engine's finding codes (DESIGN.md) plus these, which only the
//! diagnosis produces (from what AWS shows, not from a policy):
//!
//! | code                   | when                                                          | fix                                  |
//! |------------------------|---------------------------------------------------------------|--------------------------------------|
//! | `key-disabled`         | DescribeKey: `KeyState` `Disabled`                            | `aws kms enable-key`                 |
//! | `key-pending-deletion` | DescribeKey: `KeyState` `PendingDeletion`                     | `aws kms cancel-key-deletion`, then `enable-key` |
//! | `kms-access-denied`    | a KMS refusal in CloudTrail for this launch that the policies read do not explain (usually: one could not be read) | none: see [`Diagnosis::unseen`] |
//!
//! Ranking: causes quoted by a CloudTrail refusal first, then key state, AWS managed key,
//! explicit Deny, key policy, grant, identity policy, and `kms-access-denied` last.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{json, Value};

use super::inventory::{
    EventFilter, EventQuery, IdentityPolicies, IdentityPolicyDoc, ImageInfo, InstanceInfo,
    KeyDescription, PolicySource, PrincipalKind, StateReason, TrailEvent,
};
use super::ports::{AwsError, Reader, Seen};
use crate::policy::{
    self, Analysis, AnalysisRequest, CallerContext, Finding, FindingCode, KeyInfo, KeyManager,
    Operation, PolicyDocument, Severity, Verdict,
};

/// What to diagnose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DiagnoseTarget {
    /// An instance that failed to launch (or start). `principal`: who launched it, when known
    /// (the copy workflow knows); otherwise read from CloudTrail.
    Instance {
        instance_id: String,
        principal: Option<String>,
    },
    /// Before launching: can `principal` launch `image_id`?
    Ami { image_id: String, principal: String },
}

/// Knobs of the diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagnoseOptions {
    /// CloudTrail window around the launch time.
    pub trail_before: chrono::Duration,
    pub trail_after: chrono::Duration,
    /// At most this many events per CloudTrail lookup.
    pub max_events: usize,
    /// What the principal does with the AMI.
    pub operation: Operation,
    /// The time used when the instance has no launch time (AMI mode: now).
    pub now: chrono::DateTime<chrono::Utc>,
}

impl Default for DiagnoseOptions {
    fn default() -> Self {
        Self {
            trail_before: chrono::Duration::minutes(15),
            trail_after: chrono::Duration::minutes(60),
            max_events: 500,
            operation: Operation::Launch,
            now: chrono::Utc::now(),
        }
    }
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiagnosisOutcome {
    /// Nothing is wrong (a healthy instance, or a launch that will work): exit 0.
    NoProblem,
    /// At least one cause was found: exit 1.
    CauseFound,
    /// It could not decide (something needed could not be read): exit 3.
    Undecided,
}

/// Where the principal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalSource {
    /// Given by the caller (`--principal`, or the copy workflow).
    Given,
    /// The instance's RunInstances/StartInstances event in CloudTrail.
    Cloudtrail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrincipalInfo {
    pub arn: String,
    pub source: PrincipalSource,
    /// `userIdentity.invokedBy` of the launch event (e.g. `autoscaling.amazonaws.com`).
    pub invoked_by: Option<String>,
    /// Identity policies read (names/ARNs); `None` when not read.
    pub identity_policies: Option<Vec<PolicyName>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyName {
    pub source: PolicySource,
    pub name: String,
    pub arn: Option<String>,
    pub group: Option<String>,
}

/// One piece of evidence for a cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Evidence {
    /// The instance's StateReason.
    StateReason {
        instance_id: String,
        code: Option<String>,
        message: Option<String>,
    },
    /// A CloudTrail event (a KMS denial).
    Event {
        event_name: String,
        event_time: Option<String>,
        error_code: Option<String>,
        error_message: Option<String>,
        user_arn: Option<String>,
        event_id: Option<String>,
    },
    /// A policy statement (as written).
    Statement {
        policy: String,
        sid: Option<String>,
        index: usize,
        statement: Option<Value>,
    },
    /// What DescribeKey says.
    Key {
        key_arn: String,
        key_manager: Option<String>,
        key_state: Option<String>,
        account: String,
    },
}

/// A file to write and pass to a command (`file://NAME`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixDocument {
    pub file_name: String,
    /// Which account the document is for.
    pub account: String,
    pub content: Value,
}

/// How to fix one cause: documents to write and commands that apply them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CauseFix {
    pub summary: String,
    /// Key policy statements to add (or to put in place of `remove`d ones).
    pub key_policy_statements: Vec<Value>,
    /// Statements for the principal's identity policy.
    pub identity_policy_statements: Vec<Value>,
    /// What to remove or replace, in words.
    pub remove: Vec<String>,
    /// Complete documents, ready to pass to the commands.
    pub documents: Vec<FixDocument>,
    /// aws CLI (or amishare) commands, in order.
    pub commands: Vec<String>,
}

/// One cause of the failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cause {
    pub rank: usize,
    /// A finding code of DESIGN.md, or `key-disabled`, `key-pending-deletion`,
    /// `kms-access-denied` (a denial seen in CloudTrail that the policies read do not explain).
    pub code: String,
    pub key_arn: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    pub evidence: Vec<Evidence>,
    pub fix: Option<CauseFix>,
}

/// Something that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unseen {
    /// What, e.g. "key policy of arn:aws:kms:...".
    pub what: String,
    /// What AWS answered.
    pub error: Option<AwsError>,
    /// What that means for the verdict.
    pub meaning: String,
    /// How to see it.
    pub how_to_see: String,
}

/// What was found about one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyReport {
    /// As referenced by the volume/snapshot.
    pub key_id: String,
    pub description: Option<KeyDescription>,
    /// The volumes/snapshots encrypted with it.
    pub used_by: Vec<String>,
    pub policy_read: bool,
    pub grants_read: Option<usize>,
    pub analysis: Option<Analysis>,
}

/// The result of [`diagnose_launch`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    pub target: DiagnoseTarget,
    pub outcome: DiagnosisOutcome,
    /// One line.
    pub summary: String,
    pub account: String,
    pub region: String,
    pub instance: Option<InstanceInfo>,
    pub image: Option<ImageInfo>,
    pub principal: Option<PrincipalInfo>,
    pub keys: Vec<KeyReport>,
    pub causes: Vec<Cause>,
    /// Findings that are not causes (warnings, lints), and causes that could not be confirmed.
    pub warnings: Vec<Finding>,
    pub denials: Vec<TrailEvent>,
    pub unseen: Vec<Unseen>,
}

/// A failure of the diagnosis itself (not a finding): AWS answered something unexpected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiagnoseError {
    #[error("instance `{instance_id}` not found in {region}")]
    InstanceNotFound {
        instance_id: String,
        region: String,
        source: AwsError,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl DiagnoseError {
    pub fn hint(&self) -> Option<String> {
        match self {
            DiagnoseError::InstanceNotFound { .. } => Some(
                "check the instance id and pass the instance's account (`--profile`) and region (`--region`)".to_string(),
            ),
            DiagnoseError::Aws(e) if e.is_access_denied() => Some(format!(
                "the credentials need `{}:{}`",
                e.service, e.operation
            )),
            DiagnoseError::Aws(_) => None,
        }
    }
}

/// StateReason codes of a launch that failed (rather than an instance stopped by someone).
fn is_launch_failure(r: &StateReason) -> bool {
    matches!(
        r.code.as_deref(),
        Some("Client.InternalError" | "Server.InternalError" | "Client.InvalidKMSKey")
    ) || r.code.as_deref().is_some_and(|c| {
        c.starts_with("Client.InvalidKMSKey") || c.starts_with("Client.VolumeLimitExceeded")
    })
}

fn same_key(a: &str, b: &str) -> bool {
    let tail = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    a == b
        || (a.contains("key/") && b.contains("key/") && tail(a) == tail(b))
        || (!a.contains(':') && b.ends_with(&format!("/{a}")))
        || (!b.contains(':') && a.ends_with(&format!("/{b}")))
}

/// `arn:aws:sts::A:assumed-role/R/S` -> account `A`; `arn:aws:iam::A:...` -> `A`.
fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// `arn:aws:kms:REGION:A:key/ID` -> `REGION` (`None` for a bare key id or alias name).
fn arn_region(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")
        .and_then(|_| arn.split(':').nth(3))
        .filter(|r| !r.is_empty())
}

/// A reader, or the same account's reader in another region.
enum Regional<'a, R> {
    Same(&'a R),
    Other(R),
}

impl<R> std::ops::Deref for Regional<'_, R> {
    type Target = R;
    fn deref(&self) -> &R {
        match self {
            Regional::Same(r) => r,
            Regional::Other(r) => r,
        }
    }
}

/// `reader`, switched to `region` when that differs (KMS is regional: a key is read in the region
/// its ARN names, whatever region the launch was in).
fn in_region<'a, R: Reader>(reader: &'a R, region: Option<&str>) -> Regional<'a, R> {
    match region {
        Some(reg) if reg != reader.region() => reader
            .in_region(reg)
            .map(Regional::Other)
            .unwrap_or(Regional::Same(reader)),
        _ => Regional::Same(reader),
    }
}

fn parse_rfc3339(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

const DENIAL_EVENTS: &[&str] = &[
    "CreateGrant",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKeyWithoutPlaintext",
];

/// A KMS refusal: access denied, or the key's state (disabled, pending deletion).
fn is_denial(e: &TrailEvent) -> bool {
    e.error_code.as_deref().is_some_and(|c| {
        let c = c.strip_prefix("KMS.").unwrap_or(c);
        c.starts_with("AccessDenied") || c == "DisabledException" || c == "KMSInvalidStateException"
    })
}

/// At most this many CloudTrail events are quoted per cause (all are in [`Diagnosis::denials`]).
const MAX_EVENTS_PER_CAUSE: usize = 3;

/// What a CloudTrail denial must point at to count for this launch.
struct DenialScope<'s> {
    /// The instance, its volumes and the image's snapshots.
    ids: &'s [String],
    /// The keys, as referenced and as ARNs.
    keys: &'s [String],
    principal: Option<&'s str>,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    launch: chrono::DateTime<chrono::Utc>,
}

impl DenialScope<'_> {
    /// How strongly `ev` points at this launch; `None` when it does not (outside the window, or
    /// about other resources and other keys, or by someone else about nothing in particular).
    fn relevance(&self, ev: &TrailEvent) -> Option<u8> {
        if let Some(t) = ev.event_time.as_deref().and_then(parse_rfc3339) {
            if t < self.start || t > self.end {
                return None;
            }
        }
        let ours = |id: &str| self.ids.iter().any(|x| x == id);
        let our_key = |k: &str| self.keys.iter().any(|x| same_key(x, k));
        let names_ours = ev.ebs_id.as_deref().is_some_and(ours)
            || ev.instance_ids.iter().any(|i| ours(i))
            || ev.resources.iter().any(|r| ours(r));
        let names_key = ev.key_id.as_deref().is_some_and(our_key)
            || ev.resources.iter().any(|r| our_key(r))
            || ev.error_message.as_deref().is_some_and(|m| {
                self.keys
                    .iter()
                    .any(|k| k.contains(':') && m.contains(k.as_str()))
            });
        let names_other =
            ev.ebs_id.as_deref().is_some_and(|i| !ours(i)) || ev.key_id.is_some() && !names_key;
        let by_principal = self.principal.is_some_and(|p| {
            ev.user_arn.as_deref() == Some(p) || ev.session_issuer_arn.as_deref() == Some(p)
        });
        match (names_ours, names_key) {
            (true, true) => Some(4),
            (true, false) => Some(3),
            (false, true) if !names_other => Some(2),
            (false, true) => Some(1),
            (false, false) if !names_other && by_principal => Some(0),
            _ => None,
        }
    }

    /// The relevant denials, most relevant first, then closest to the launch.
    fn select(&self, events: Vec<TrailEvent>) -> Vec<TrailEvent> {
        let mut scored: Vec<(u8, i64, TrailEvent)> = events
            .into_iter()
            .filter_map(|e| {
                let score = self.relevance(&e)?;
                let distance = e
                    .event_time
                    .as_deref()
                    .and_then(parse_rfc3339)
                    .map(|t| (t - self.launch).num_seconds().abs())
                    .unwrap_or(i64::MAX);
                Some((score, distance, e))
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, _, e)| e).collect()
    }
}

/// Keys found, with the volumes/snapshots using them, in first-seen order.
#[derive(Default)]
struct KeyRefs(Vec<(String, Vec<String>)>);

impl KeyRefs {
    fn add(&mut self, key: &str, by: &str) {
        match self.0.iter_mut().find(|(k, _)| same_key(k, key)) {
            Some((_, v)) => v.push(by.to_string()),
            None => self.0.push((key.to_string(), vec![by.to_string()])),
        }
    }
}

/// Working state of one diagnosis.
struct Run<'a, R: Reader> {
    reader: &'a R,
    key_reader: Option<&'a R>,
    options: &'a DiagnoseOptions,
    unseen: Vec<Unseen>,
}

/// One key, with everything read about it.
struct KeyFacts {
    report: KeyReport,
    policy_text: Option<String>,
}

/// Diagnose a failed launch (or predict one). `reader` reads the launch account and region;
/// `key_reader`, when given, reads the key's own account (for the key policy and grants).
///
/// Errors only when the target itself cannot be read; anything else that cannot be read is
/// reported in [`Diagnosis::unseen`].
pub async fn diagnose_launch<R: Reader>(
    reader: &R,
    key_reader: Option<&R>,
    target: &DiagnoseTarget,
    options: &DiagnoseOptions,
) -> Result<Diagnosis, DiagnoseError> {
    let mut run = Run {
        reader,
        key_reader,
        options,
        unseen: Vec::new(),
    };
    run.diagnose(target).await
}

impl<'a, R: Reader> Run<'a, R> {
    async fn diagnose(&mut self, target: &DiagnoseTarget) -> Result<Diagnosis, DiagnoseError> {
        let mut d = Diagnosis {
            target: target.clone(),
            outcome: DiagnosisOutcome::Undecided,
            summary: String::new(),
            account: self.reader.identity().account.clone(),
            region: self.reader.region().to_string(),
            instance: None,
            image: None,
            principal: None,
            keys: Vec::new(),
            causes: Vec::new(),
            warnings: Vec::new(),
            denials: Vec::new(),
            unseen: Vec::new(),
        };
        let mut key_refs = KeyRefs::default();
        let mut launch_time = self.options.now;
        let mut state_reason: Option<Evidence> = None;
        let mut principal: Option<PrincipalInfo>;

        match target {
            DiagnoseTarget::Instance {
                instance_id,
                principal: given,
            } => {
                let inst = match self.reader.describe_instance(instance_id).await {
                    Ok(i) => i,
                    Err(e) if e.is_not_found() => {
                        return Err(DiagnoseError::InstanceNotFound {
                            instance_id: instance_id.clone(),
                            region: self.reader.region().to_string(),
                            source: e,
                        })
                    }
                    Err(e) => return Err(e.into()),
                };
                if let Some(t) = inst.launch_time.as_deref().and_then(parse_rfc3339) {
                    launch_time = t;
                }
                let failed = inst.state_reason.as_ref().is_some_and(is_launch_failure);
                if !failed {
                    d.outcome = DiagnosisOutcome::NoProblem;
                    d.summary = format!(
                        "instance {} is {}{}: no failed launch to explain",
                        inst.id,
                        inst.state.as_deref().unwrap_or("in an unknown state"),
                        inst.state_reason
                            .as_ref()
                            .and_then(|r| r.message.as_deref())
                            .map(|m| format!(" ({m})"))
                            .unwrap_or_default()
                    );
                    d.instance = Some(inst);
                    return Ok(d);
                }
                if let Some(r) = &inst.state_reason {
                    state_reason = Some(Evidence::StateReason {
                        instance_id: inst.id.clone(),
                        code: r.code.clone(),
                        message: r.message.clone(),
                    });
                }
                for v in &inst.volumes {
                    if v.encrypted == Some(true) {
                        if let Some(k) = &v.kms_key_id {
                            key_refs.add(k, &v.volume_id);
                        }
                    }
                }
                principal = match given {
                    Some(p) => Some(PrincipalInfo {
                        arn: p.clone(),
                        source: PrincipalSource::Given,
                        invoked_by: None,
                        identity_policies: None,
                    }),
                    None => self.launch_principal(&inst.id, launch_time).await,
                };
                // The image's snapshots carry the key EC2 reads from (a borrower's volumes are
                // encrypted with its own default key), so read them even when volumes are known.
                if let Some(image_id) = inst.image_id.clone() {
                    if let Some(img) = self.image_and_keys(&image_id, &mut key_refs).await {
                        d.image = Some(img);
                    }
                }
                d.instance = Some(inst);
            }
            DiagnoseTarget::Ami {
                image_id,
                principal: p,
            } => {
                principal = Some(PrincipalInfo {
                    arn: p.clone(),
                    source: PrincipalSource::Given,
                    invoked_by: None,
                    identity_policies: None,
                });
                match self.image_and_keys(image_id, &mut key_refs).await {
                    Some(img) => d.image = Some(img),
                    None => {
                        d.summary = format!("image {image_id} could not be read");
                    }
                }
            }
        }

        // The principal's identity policies.
        let mut identity: Option<IdentityPolicies> = None;
        if let Some(p) = principal.as_mut() {
            identity = self.identity_policies(&p.arn).await;
            p.identity_policies = identity.as_ref().map(|i| {
                i.policies
                    .iter()
                    .map(|d| PolicyName {
                        source: d.source,
                        name: d.name.clone(),
                        arn: d.arn.clone(),
                        group: d.group.clone(),
                    })
                    .collect()
            });
        }
        let identity_docs: Vec<PolicyDocument> = identity
            .as_ref()
            .map(|i| {
                i.policies
                    .iter()
                    .filter_map(|doc| match policy::parse_policy(&doc.document, &policy_origin(doc)) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            self.unseen.push(Unseen {
                                what: format!("identity policy `{}`", doc.name),
                                error: None,
                                meaning: format!("it could not be parsed ({e}), so it was left out of the analysis"),
                                how_to_see: "fix the policy document in IAM".to_string(),
                            });
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();

        // CloudTrail denials around the launch.
        let denials = match target {
            DiagnoseTarget::Instance { .. } => self.denials(launch_time).await,
            DiagnoseTarget::Ami { .. } => Vec::new(),
        };

        // Keys.
        let mut keys: Vec<KeyFacts> = Vec::new();
        for (key, used_by) in key_refs.0 {
            keys.push(self.key_facts(&key, used_by).await);
        }

        let mut causes: Vec<Cause> = Vec::new();
        let mut warnings: Vec<Finding> = Vec::new();
        let launch_account = principal
            .as_ref()
            .and_then(|p| arn_account(&p.arn).map(str::to_string))
            .unwrap_or_else(|| self.reader.identity().account.clone());
        for k in &mut keys {
            let Some(desc) = k.report.description.clone() else {
                continue;
            };
            let key_evidence = Evidence::Key {
                key_arn: desc.arn.clone(),
                key_manager: desc.key_manager.clone(),
                key_state: desc.key_state.clone(),
                account: desc.account.clone(),
            };
            match desc.key_state.as_deref() {
                Some("Disabled") => {
                    causes.push(key_state_cause(&desc, "key-disabled", key_evidence.clone()))
                }
                Some("PendingDeletion") => causes.push(key_state_cause(
                    &desc,
                    "key-pending-deletion",
                    key_evidence.clone(),
                )),
                _ => {}
            }
            let Some(p) = principal.as_ref() else {
                if desc.is_aws_managed() && desc.account != launch_account {
                    causes.push(Cause {
                        rank: 0,
                        code: "aws-managed-key".into(),
                        key_arn: Some(desc.arn.clone()),
                        message: format!(
                            "key `{}` is AWS managed (aws/ebs) in account {}: no other account can use it",
                            desc.arn, desc.account
                        ),
                        actions: Vec::new(),
                        evidence: vec![key_evidence.clone()],
                        fix: Some(aws_managed_fix(&desc, d.image.as_ref())),
                    });
                }
                continue;
            };
            let policy_doc = match &k.policy_text {
                Some(t) => match policy::parse_policy(t, &format!("key policy of {}", desc.arn)) {
                    Ok(doc) => Some(doc),
                    Err(e) => {
                        self.unseen.push(Unseen {
                            what: format!("key policy of {}", desc.arn),
                            error: None,
                            meaning: format!("it could not be parsed ({e}); KMS may reject every request"),
                            how_to_see: format!(
                                "aws kms get-key-policy --key-id {} --policy-name default --region {}",
                                desc.arn, desc.region
                            ),
                        });
                        None
                    }
                },
                None => None,
            };
            let grants = self.grants_for(&desc).await;
            k.report.grants_read = grants.as_ref().map(Vec::len);
            let key_info = KeyInfo {
                arn: desc.arn.clone(),
                manager: if desc.is_aws_managed() {
                    KeyManager::Aws
                } else {
                    KeyManager::Customer
                },
                policy: policy_doc,
                grants: grants.unwrap_or_default(),
            };
            let ctx = CallerContext {
                region: Some(self.reader.region().to_string()),
                now: Some(launch_time),
                ..CallerContext::default()
            };
            let analysis = match policy::analyze(&AnalysisRequest {
                key: &key_info,
                principal: &p.arn,
                identity_policies: &identity_docs,
                operation: self.options.operation,
                context: &ctx,
            }) {
                Ok(a) => a,
                Err(e) => {
                    self.unseen.push(Unseen {
                        what: format!("analysis of `{}` with key {}", p.arn, desc.arn),
                        error: None,
                        meaning: format!("the policy engine refused the input: {e}"),
                        how_to_see: "pass the launching principal's ARN with `--principal`"
                            .to_string(),
                    });
                    continue;
                }
            };
            for f in &analysis.findings {
                let identity_unseen = identity.is_none()
                    && matches!(
                        f.code,
                        FindingCode::IdentityPolicyMissingAction
                            | FindingCode::IdentityPolicyExplicitDeny
                    );
                if f.severity != Severity::Error || identity_unseen {
                    warnings.push(f.clone());
                    continue;
                }
                let mut evidence = vec![key_evidence.clone()];
                if let Some(sref) = &f.statement {
                    evidence.push(Evidence::Statement {
                        policy: sref.policy.clone(),
                        sid: sref.sid.clone(),
                        index: sref.index,
                        statement: statement_json(
                            k.policy_text.as_deref(),
                            identity.as_ref(),
                            sref,
                        ),
                    });
                }
                let fix = f.fix.as_ref().map(|fx| {
                    build_fix(
                        fx,
                        f,
                        &desc,
                        k.policy_text.as_deref(),
                        identity.as_ref(),
                        &p.arn,
                        self.key_editor(&desc),
                    )
                });
                causes.push(Cause {
                    rank: 0,
                    code: code_str(f.code),
                    key_arn: Some(desc.arn.clone()),
                    message: f.message.clone(),
                    actions: f.actions.clone(),
                    evidence,
                    fix,
                });
            }
            k.report.analysis = Some(analysis);
        }

        // CloudTrail denials: only those that point at this launch (its instance, volumes or
        // snapshots, or its keys, within the window), most specific and closest in time first.
        let denials = {
            let ids: Vec<String> = d
                .instance
                .iter()
                .map(|i| i.id.clone())
                .chain(keys.iter().flat_map(|k| k.report.used_by.iter().cloned()))
                .collect();
            let key_names: Vec<String> = keys
                .iter()
                .flat_map(|k| {
                    std::iter::once(k.report.key_id.clone())
                        .chain(k.report.description.as_ref().map(|d| d.arn.clone()))
                })
                .collect();
            let scope = DenialScope {
                ids: &ids,
                keys: &key_names,
                principal: principal.as_ref().map(|p| p.arn.as_str()),
                start: launch_time - self.options.trail_before,
                end: launch_time + self.options.trail_after,
                launch: launch_time,
            };
            scope.select(denials)
        };
        // As evidence; denials no finding explains are a cause of their own (one per key, action
        // and principal).
        for ev in &denials {
            let key_arn = keys
                .iter()
                .filter_map(|k| k.report.description.as_ref())
                .find(|desc| {
                    ev.key_id
                        .as_deref()
                        .is_some_and(|id| same_key(id, &desc.arn))
                        || ev.resources.iter().any(|r| same_key(r, &desc.arn))
                        || ev
                            .error_message
                            .as_deref()
                            .is_some_and(|m| m.contains(&desc.arn))
                })
                .map(|desc| desc.arn.clone());
            let evidence = event_evidence(ev);
            let action = format!("kms:{}", ev.event_name);
            let room = |c: &Cause| {
                c.evidence
                    .iter()
                    .filter(|e| matches!(e, Evidence::Event { .. }))
                    .count()
                    < MAX_EVENTS_PER_CAUSE
            };
            let mut attached = false;
            for c in causes
                .iter_mut()
                .filter(|c| key_arn.is_none() || c.key_arn == key_arn)
            {
                if c.actions.is_empty() || c.actions.iter().any(|a| a.eq_ignore_ascii_case(&action))
                {
                    if room(c) {
                        c.evidence.push(evidence.clone());
                    }
                    attached = true;
                }
            }
            if !attached {
                if let Some(c) = causes
                    .iter_mut()
                    .find(|c| key_arn.is_none() || c.key_arn == key_arn)
                {
                    if room(c) {
                        c.evidence.push(evidence.clone());
                    }
                    attached = true;
                }
            }
            if !attached {
                let who = ev
                    .user_arn
                    .clone()
                    .unwrap_or_else(|| "the launching principal".to_string());
                let on = key_arn
                    .clone()
                    .or(ev.key_id.clone())
                    .unwrap_or_else(|| "the key".to_string());
                let message = format!(
                    "KMS denied `{who}` {action} on {on} during the launch, and the policies amishare could read do not explain why (see what could not be read)"
                );
                match causes
                    .iter_mut()
                    .find(|c| c.code == "kms-access-denied" && c.message == message)
                {
                    Some(c) => {
                        if room(c) {
                            c.evidence.push(evidence);
                        }
                    }
                    None => causes.push(Cause {
                        rank: 0,
                        code: "kms-access-denied".into(),
                        key_arn: key_arn.clone(),
                        message,
                        actions: vec![action],
                        evidence: vec![evidence],
                        fix: None,
                    }),
                }
            }
        }
        if let Some(sr) = &state_reason {
            for c in &mut causes {
                c.evidence.insert(0, sr.clone());
            }
        }
        rank(&mut causes);

        let verdicts: Vec<Verdict> = keys
            .iter()
            .filter_map(|k| k.report.analysis.as_ref().map(|a| a.verdict))
            .collect();
        let failed_launch = state_reason.is_some();
        d.outcome = if !causes.is_empty() {
            DiagnosisOutcome::CauseFound
        } else if !failed_launch
            && !keys.is_empty()
            && verdicts.len() == keys.len()
            && verdicts.iter().all(|v| *v == Verdict::Allow)
            && identity.is_some()
            || !failed_launch && d.image.is_some() && keys.is_empty() && self.unseen.is_empty()
        {
            DiagnosisOutcome::NoProblem
        } else {
            DiagnosisOutcome::Undecided
        };
        d.summary = match d.outcome {
            DiagnosisOutcome::CauseFound => format!(
                "{} cause{}: {}",
                causes.len(),
                if causes.len() == 1 { "" } else { "s" },
                causes
                    .iter()
                    .map(|c| c.code.as_str())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            DiagnosisOutcome::NoProblem if keys.is_empty() => {
                "the image has no encrypted snapshots: no KMS key can stop the launch".to_string()
            }
            DiagnosisOutcome::NoProblem => format!(
                "the key polic{} and identity policies allow the launch",
                if keys.len() == 1 { "y" } else { "ies" }
            ),
            DiagnosisOutcome::Undecided if failed_launch => {
                "the launch failed, but amishare could not name the cause from what it could read"
                    .to_string()
            }
            DiagnosisOutcome::Undecided => {
                "amishare could not decide from what it could read".to_string()
            }
        };
        if d.outcome == DiagnosisOutcome::Undecided
            && failed_launch
            && verdicts.iter().all(|v| *v == Verdict::Allow)
            && !keys.is_empty()
        {
            self.unseen.push(Unseen {
                what: "service control policies, permission boundaries and session policies".into(),
                error: None,
                meaning: "the key policy and identity policies allow the launch; a guardrail amishare cannot read may still deny it".into(),
                how_to_see: "aws organizations list-policies-for-target --target-id ACCOUNT --filter SERVICE_CONTROL_POLICY (from the management account); aws iam get-user/get-role (PermissionsBoundary)".into(),
            });
        }
        d.principal = principal;
        d.keys = keys.into_iter().map(|k| k.report).collect();
        d.causes = causes;
        d.warnings = warnings;
        d.denials = denials;
        d.unseen = std::mem::take(&mut self.unseen);
        Ok(d)
    }

    /// Who launched the instance: its RunInstances/StartInstances event.
    async fn launch_principal(
        &mut self,
        instance_id: &str,
        launch_time: chrono::DateTime<chrono::Utc>,
    ) -> Option<PrincipalInfo> {
        let q = EventQuery {
            filter: EventFilter::ResourceName(instance_id.to_string()),
            start: launch_time - self.options.trail_before,
            end: launch_time + self.options.trail_after,
            max_events: self.options.max_events,
        };
        let how = format!(
            "pass the launching principal with `--principal ARN`, or run `aws cloudtrail lookup-events --lookup-attributes AttributeKey=ResourceName,AttributeValue={instance_id} --region {}`",
            self.reader.region()
        );
        match self.reader.lookup_events(&q).await {
            Ok(Seen::Visible(events)) => {
                let launch = events
                    .iter()
                    .rev()
                    .find(|e| e.event_name == "RunInstances" && e.error_code.is_none())
                    .or_else(|| {
                        events
                            .iter()
                            .rev()
                            .find(|e| e.event_name == "StartInstances")
                    });
                match launch {
                    Some(e) => {
                        let auto_scaling =
                            e.invoked_by.as_deref() == Some("autoscaling.amazonaws.com");
                        let arn = if auto_scaling {
                            e.session_issuer_arn.clone().or(e.user_arn.clone())
                        } else {
                            e.user_arn.clone()
                        };
                        arn.map(|arn| PrincipalInfo {
                            arn,
                            source: PrincipalSource::Cloudtrail,
                            invoked_by: e.invoked_by.clone(),
                            identity_policies: None,
                        })
                    }
                    None => {
                        self.unseen.push(Unseen {
                            what: format!("the principal that launched {instance_id}"),
                            error: None,
                            meaning: "CloudTrail has no launch event for the instance (yet: events can take minutes to appear), so the key policy and identity policies could not be checked for that principal".into(),
                            how_to_see: how,
                        });
                        None
                    }
                }
            }
            Ok(Seen::NotVisible(e)) | Err(e) => {
                self.unseen.push(Unseen {
                    what: format!("the principal that launched {instance_id} (CloudTrail)"),
                    error: Some(e),
                    meaning: "without it the key policy and identity policies could not be checked for the launching principal".into(),
                    how_to_see: how,
                });
                None
            }
        }
    }

    /// The image and its snapshots' keys.
    async fn image_and_keys(
        &mut self,
        image_id: &str,
        key_refs: &mut KeyRefs,
    ) -> Option<ImageInfo> {
        let mut img_res = self.reader.describe_image(image_id).await;
        let mut snap_reader = self.reader;
        if img_res.is_err() {
            if let Some(kr) = self.key_reader {
                if let Ok(i) = kr.describe_image(image_id).await {
                    img_res = Ok(i);
                    snap_reader = kr;
                }
            }
        }
        let img = match img_res {
            Ok(i) => i,
            Err(e) => {
                self.unseen.push(Unseen {
                    what: format!("image {image_id}"),
                    meaning: "its snapshots and their keys are unknown (a deregistered image, or one no longer shared with this account)".into(),
                    how_to_see: format!("aws ec2 describe-images --image-ids {image_id} --region {} (with the image owner's credentials: `--key-account-profile`)", self.reader.region()),
                    error: Some(e),
                });
                return None;
            }
        };
        let ids = img.snapshot_ids();
        let mut found = snap_reader.describe_snapshots(&ids).await;
        // Snapshots not shared with this account (e.g. aws/ebs-encrypted ones, which cannot be
        // shared) are visible to their owner: ask the key account's reader for them.
        if let Some(kr) = self.key_reader {
            let missing: Vec<String> = match &found {
                Ok(snaps) => ids
                    .iter()
                    .filter(|id| !snaps.iter().any(|s| &s.id == *id))
                    .cloned()
                    .collect(),
                Err(_) => ids.clone(),
            };
            if !missing.is_empty() {
                if let Ok(more) = kr.describe_snapshots(&missing).await {
                    match &mut found {
                        Ok(snaps) => snaps.extend(more),
                        Err(_) => found = Ok(more),
                    }
                }
            }
        }
        match found {
            Ok(snaps) => {
                for s in &snaps {
                    if s.encrypted == Some(true) {
                        match &s.kms_key_id {
                            Some(k) => key_refs.add(k, &s.id),
                            None => self.unseen.push(Unseen {
                                what: format!("the KMS key of snapshot {}", s.id),
                                error: None,
                                meaning: "the snapshot is encrypted but its key is not shown"
                                    .into(),
                                how_to_see: format!(
                                    "aws ec2 describe-snapshots --snapshot-ids {}",
                                    s.id
                                ),
                            }),
                        }
                    }
                }
                for id in &ids {
                    let encrypted = img.block_devices.iter().any(|b| {
                        b.snapshot_id.as_deref() == Some(id.as_str()) && b.encrypted != Some(false)
                    });
                    if encrypted && !snaps.iter().any(|s| &s.id == id) {
                        self.unseen.push(Unseen {
                            what: format!("snapshot {id}"),
                            error: None,
                            meaning: "its KMS key is unknown: the snapshot is not shared with this account (or deleted)".into(),
                            how_to_see: format!(
                                "aws ec2 describe-snapshots --snapshot-ids {id} --region {} with the owner's credentials (`--key-account-profile`)",
                                self.reader.region()
                            ),
                        });
                    }
                }
            }
            Err(e) => self.unseen.push(Unseen {
                what: format!("snapshots of {image_id}"),
                meaning: "their KMS keys are unknown".into(),
                how_to_see: format!(
                    "aws ec2 describe-snapshots --snapshot-ids {}",
                    ids.join(" ")
                ),
                error: Some(e),
            }),
        }
        Some(img)
    }

    async fn identity_policies(&mut self, principal: &str) -> Option<IdentityPolicies> {
        let me = &self.reader.identity().account;
        if arn_account(principal) != Some(me.as_str()) {
            self.unseen.push(Unseen {
                what: format!("identity policies of `{principal}`"),
                error: None,
                meaning: format!(
                    "the principal is not in account {me}; whether its IAM policies allow the KMS actions is unknown"
                ),
                how_to_see: "run `amishare diagnose` with credentials of the principal's account (`--profile`)".into(),
            });
            return None;
        }
        match self.reader.principal_policies(principal).await {
            Ok(Seen::Visible(p)) => Some(p),
            Ok(Seen::NotVisible(e)) | Err(e) => {
                self.unseen.push(Unseen {
                    what: format!("identity policies of `{principal}`"),
                    meaning: "whether the principal's IAM policies allow the KMS actions is unknown; identity-policy findings are reported as warnings, not causes".into(),
                    how_to_see: format!(
                        "aws iam list-attached-{0}-policies / list-{0}-policies (needs iam:List*/Get* on the principal)",
                        if principal.contains(":user/") { "user" } else { "role" }
                    ),
                    error: Some(e),
                });
                None
            }
        }
    }

    /// KMS denials in CloudTrail around the launch, in the launch account.
    async fn denials(&mut self, launch_time: chrono::DateTime<chrono::Utc>) -> Vec<TrailEvent> {
        let mut out = Vec::new();
        for name in DENIAL_EVENTS {
            let q = EventQuery {
                filter: EventFilter::EventName((*name).to_string()),
                start: launch_time - self.options.trail_before,
                end: launch_time + self.options.trail_after,
                max_events: self.options.max_events,
            };
            match self.reader.lookup_events(&q).await {
                Ok(Seen::Visible(events)) => out.extend(events.into_iter().filter(is_denial)),
                Ok(Seen::NotVisible(e)) | Err(e) => {
                    self.unseen.push(Unseen {
                        what: "CloudTrail KMS events around the launch".into(),
                        meaning: "denials KMS recorded cannot be quoted as evidence".into(),
                        how_to_see: format!(
                            "aws cloudtrail lookup-events --lookup-attributes AttributeKey=EventName,AttributeValue=CreateGrant --region {} (needs cloudtrail:LookupEvents)",
                            self.reader.region()
                        ),
                        error: Some(e),
                    });
                    break;
                }
            }
        }
        out
    }

    /// The reader of the key's own account, when there is one.
    fn key_account_reader(&self, key_account: &str) -> Option<&'a R> {
        if self.reader.identity().account == key_account {
            Some(self.reader)
        } else {
            self.key_reader
                .filter(|k| k.identity().account == key_account)
        }
    }

    /// Who would run put-key-policy: the key account reader's identity.
    fn key_editor(&self, desc: &KeyDescription) -> Option<String> {
        self.key_account_reader(&desc.account)
            .map(|r| r.identity().arn.clone())
    }

    async fn key_facts(&mut self, key: &str, used_by: Vec<String>) -> KeyFacts {
        let mut report = KeyReport {
            key_id: key.to_string(),
            description: None,
            used_by,
            policy_read: false,
            grants_read: None,
            analysis: None,
        };
        let key_account = arn_account(key).map(str::to_string);
        let describe_with = in_region(
            key_account
                .as_deref()
                .and_then(|a| self.key_account_reader(a))
                .unwrap_or(self.reader),
            arn_region(key),
        );
        let desc = match describe_with.describe_key(key).await {
            Ok(d) => d,
            Err(e) => {
                self.unseen.push(Unseen {
                    what: format!("key {key} (DescribeKey)"),
                    meaning: "whether it is AWS managed, enabled, and what its policy says is unknown".into(),
                    how_to_see: format!(
                        "aws kms describe-key --key-id {key} (the key policy must allow kms:DescribeKey to this account, or use `--key-account-profile`)"
                    ),
                    error: Some(e),
                });
                return KeyFacts {
                    report,
                    policy_text: None,
                };
            }
        };
        let mut policy_text = None;
        match self
            .key_account_reader(&desc.account)
            .map(|r| in_region(r, Some(desc.region.as_str())))
        {
            Some(r) => match r.get_key_policy(&desc.arn).await {
                Ok(Seen::Visible(p)) => {
                    report.policy_read = true;
                    policy_text = Some(p);
                }
                Ok(Seen::NotVisible(e)) | Err(e) => self.unseen.push(Unseen {
                    what: format!("key policy of {}", desc.arn),
                    meaning: "the key policy's decision is unknown: the verdict is undecided unless something else decides".into(),
                    how_to_see: format!(
                        "aws kms get-key-policy --key-id {} --policy-name default --region {} (needs kms:GetKeyPolicy)",
                        desc.arn, desc.region
                    ),
                    error: Some(e),
                }),
            },
            None if desc.is_aws_managed() => {}
            None => self.unseen.push(Unseen {
                what: format!("key policy of {}", desc.arn),
                error: None,
                meaning: format!(
                    "the key is in account {}, and only that account can read its policy: the key policy's decision is unknown",
                    desc.account
                ),
                how_to_see: format!(
                    "rerun with `--key-account-profile PROFILE` (credentials of account {}), or there: aws kms get-key-policy --key-id {} --policy-name default --region {}",
                    desc.account, desc.arn, desc.region
                ),
            }),
        }
        report.description = Some(desc);
        KeyFacts {
            report,
            policy_text,
        }
    }

    async fn grants_for(&mut self, desc: &KeyDescription) -> Option<Vec<policy::Grant>> {
        let r = in_region(
            self.key_account_reader(&desc.account)
                .unwrap_or(self.reader),
            Some(desc.region.as_str()),
        );
        match r.list_grants(&desc.arn).await {
            Ok(Seen::Visible(grants)) => {
                let v: Vec<Value> = grants
                    .iter()
                    .map(|g| {
                        // Absent fields stay absent (a grant's Name is optional: most have
                        // none, and `null` is not a valid grant field).
                        let mut o = json!({"Operations": g.operations});
                        for (k, v) in [
                            ("GrantId", &g.grant_id),
                            ("Name", &g.name),
                            ("GranteePrincipal", &g.grantee_principal),
                            ("RetiringPrincipal", &g.retiring_principal),
                        ] {
                            if let Some(v) = v {
                                o[k] = Value::String(v.clone());
                            }
                        }
                        if let Some(c) = g
                            .constraints
                            .as_deref()
                            .and_then(|c| serde_json::from_str::<Value>(c).ok())
                        {
                            o["Constraints"] = c;
                        }
                        o
                    })
                    .collect();
                match policy::parse_grants_value(
                    &Value::Array(v),
                    &format!("grants of {}", desc.arn),
                ) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        self.unseen.push(Unseen {
                            what: format!("grants of {}", desc.arn),
                            error: None,
                            meaning: format!(
                                "they could not be interpreted ({e}) and were left out"
                            ),
                            how_to_see: format!("aws kms list-grants --key-id {}", desc.arn),
                        });
                        None
                    }
                }
            }
            Ok(Seen::NotVisible(e)) | Err(e) => {
                self.unseen.push(Unseen {
                    what: format!("grants of {}", desc.arn),
                    meaning: "access through grants is unknown (it matters for Auto Scaling's service-linked role)".into(),
                    how_to_see: format!("aws kms list-grants --key-id {} --region {}", desc.arn, desc.region),
                    error: Some(e),
                });
                None
            }
        }
    }
}

fn policy_origin(doc: &IdentityPolicyDoc) -> String {
    match (&doc.arn, &doc.group) {
        (Some(arn), _) => arn.clone(),
        (None, Some(g)) => format!("inline policy `{}` of group `{g}`", doc.name),
        (None, None) => format!("inline policy `{}`", doc.name),
    }
}

fn code_str(code: FindingCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{code:?}"))
}

fn event_evidence(e: &TrailEvent) -> Evidence {
    Evidence::Event {
        event_name: e.event_name.clone(),
        event_time: e.event_time.clone(),
        error_code: e.error_code.clone(),
        error_message: e.error_message.clone(),
        user_arn: e.user_arn.clone(),
        event_id: e.event_id.clone(),
    }
}

fn key_state_cause(desc: &KeyDescription, code: &str, evidence: Evidence) -> Cause {
    let (what, cmd) = if code == "key-disabled" {
        (
            "disabled",
            format!(
                "aws kms enable-key --key-id {} --region {}",
                desc.arn, desc.region
            ),
        )
    } else {
        (
            "pending deletion",
            format!("aws kms cancel-key-deletion --key-id {0} --region {1} && aws kms enable-key --key-id {0} --region {1}", desc.arn, desc.region),
        )
    };
    Cause {
        rank: 0,
        code: code.to_string(),
        key_arn: Some(desc.arn.clone()),
        message: format!("key `{}` is {what}: KMS refuses every use of it", desc.arn),
        actions: Vec::new(),
        evidence: vec![evidence],
        fix: Some(CauseFix {
            summary: format!("make the key usable again in account {}", desc.account),
            key_policy_statements: Vec::new(),
            identity_policy_statements: Vec::new(),
            remove: Vec::new(),
            documents: Vec::new(),
            commands: vec![cmd],
        }),
    }
}

fn aws_managed_fix(desc: &KeyDescription, image: Option<&ImageInfo>) -> CauseFix {
    let image_id = image.map(|i| i.id.as_str()).unwrap_or("AMI_ID");
    CauseFix {
        summary: format!(
            "in account {}, copy the image re-encrypted with a customer managed key, then share that copy and its key",
            desc.account
        ),
        key_policy_statements: Vec::new(),
        identity_policy_statements: Vec::new(),
        remove: Vec::new(),
        documents: Vec::new(),
        commands: vec![
            format!(
                "aws ec2 copy-image --source-image-id {image_id} --source-region {0} --region {0} --name COPY_NAME --encrypted --kms-key-id CUSTOMER_KEY_ARN",
                desc.region
            ),
            "amishare copy COPY_AMI_ID --to TARGET_ACCOUNT".to_string(),
        ],
    }
}

fn statement_json(
    key_policy: Option<&str>,
    identity: Option<&IdentityPolicies>,
    sref: &policy::StatementRef,
) -> Option<Value> {
    let text = if sref.policy.starts_with("key policy") {
        key_policy.map(str::to_string)
    } else {
        identity.and_then(|i| {
            i.policies
                .iter()
                .find(|d| policy_origin(d) == sref.policy)
                .map(|d| d.document.clone())
        })
    }?;
    let v: Value = serde_json::from_str(&text).ok()?;
    match v.get("Statement")? {
        Value::Array(items) => items.get(sref.index).cloned(),
        obj @ Value::Object(_) if sref.index == 0 => Some(obj.clone()),
        _ => None,
    }
}

/// Statements of a policy document as a vector (Statement may be one object).
fn statements_of(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(obj @ Value::Object(_)) => vec![obj.clone()],
        _ => Vec::new(),
    }
}

/// The document with statement `index` replaced by `with` (or removed when `with` is `None`).
fn replace_statement(doc: &Value, index: usize, with: Option<Value>) -> Value {
    let mut out = doc.clone();
    let mut sts = statements_of(doc);
    if index < sts.len() {
        match with {
            Some(w) => sts[index] = w,
            None => {
                sts.remove(index);
            }
        }
    }
    out["Statement"] = Value::Array(sts);
    out
}

/// The document with `add` appended (a Sid already present gets a suffix, Sids must be unique).
fn append_statements(doc: &Value, add: &[Value]) -> Value {
    let mut out = doc.clone();
    let mut sts = statements_of(doc);
    for st in add {
        let mut st = st.clone();
        if let Some(sid) = st.get("Sid").and_then(Value::as_str).map(str::to_string) {
            let taken = |s: &str| {
                sts.iter()
                    .any(|x| x.get("Sid").and_then(Value::as_str) == Some(s))
            };
            if taken(&sid) {
                let mut n = 2;
                while taken(&format!("{sid} {n}")) {
                    n += 1;
                }
                st["Sid"] = Value::String(format!("{sid} {n}"));
            }
        }
        sts.push(st);
    }
    out["Statement"] = Value::Array(sts);
    out
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Turn the engine's fix into documents and commands.
fn build_fix(
    fx: &policy::Fix,
    finding: &Finding,
    desc: &KeyDescription,
    key_policy: Option<&str>,
    identity: Option<&IdentityPolicies>,
    principal: &str,
    editor: Option<String>,
) -> CauseFix {
    let mut documents = Vec::new();
    let mut commands = fx.commands.clone();
    let replace = fx.remove.iter().any(|r| r.starts_with("replace statement"));
    let code = code_str(finding.code);
    let on_key_statement = finding
        .statement
        .as_ref()
        .filter(|s| s.policy.starts_with("key policy"));
    let on_identity_statement = finding
        .statement
        .as_ref()
        .filter(|s| !s.policy.starts_with("key policy"));

    // Key policy: the complete new document when the current one was read.
    let key_change = !fx.key_policy_statements.is_empty()
        || (on_key_statement.is_some() && !fx.remove.is_empty());
    if key_change {
        let file = format!("key-policy-{}.json", slug(&desc.key_id));
        let new_doc = key_policy
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .map(|cur| match on_key_statement {
                Some(s) if replace => {
                    replace_statement(&cur, s.index, fx.key_policy_statements.first().cloned())
                }
                Some(s) if fx.key_policy_statements.is_empty() => {
                    replace_statement(&cur, s.index, None)
                }
                _ => merged_key_policy(&cur, desc, &fx.key_policy_statements, editor.as_deref()),
            });
        match new_doc {
            Some(doc) => {
                documents.push(FixDocument {
                    file_name: file.clone(),
                    account: desc.account.clone(),
                    content: doc,
                });
                commands.push(format!(
                    "aws kms put-key-policy --key-id {} --policy-name default --policy file://{file} --region {}   # in account {}",
                    desc.arn, desc.region, desc.account
                ));
            }
            None => {
                commands.push(format!(
                    "aws kms get-key-policy --key-id {} --policy-name default --region {} --query Policy --output text > {file}   # in account {}; then add the statements below",
                    desc.arn, desc.region, desc.account
                ));
                commands.push(format!(
                    "aws kms put-key-policy --key-id {} --policy-name default --policy file://{file} --region {}",
                    desc.arn, desc.region
                ));
            }
        }
    }

    // Identity side.
    if !fx.identity_policy_statements.is_empty()
        || on_identity_statement.is_some() && !fx.remove.is_empty()
    {
        let account = arn_account(principal).unwrap_or("ACCOUNT").to_string();
        let existing = on_identity_statement.and_then(|s| {
            identity.and_then(|i| {
                i.policies
                    .iter()
                    .find(|d| policy_origin(d) == s.policy)
                    .map(|d| (s, d))
            })
        });
        match existing {
            Some((sref, doc)) if replace || fx.identity_policy_statements.is_empty() => {
                if let Ok(cur) = serde_json::from_str::<Value>(&doc.document) {
                    let new_doc = replace_statement(
                        &cur,
                        sref.index,
                        if replace {
                            fx.identity_policy_statements.first().cloned()
                        } else {
                            None
                        },
                    );
                    let file = format!("{}.json", slug(&doc.name));
                    documents.push(FixDocument {
                        file_name: file.clone(),
                        account: account.clone(),
                        content: new_doc,
                    });
                    commands.push(identity_update_command(doc, identity, &file));
                }
            }
            _ => {
                let file = "kms-key-usage-policy.json".to_string();
                documents.push(FixDocument {
                    file_name: file.clone(),
                    account: account.clone(),
                    content: json!({"Version": "2012-10-17", "Statement": fx.identity_policy_statements}),
                });
                commands.push(format!(
                    "aws iam create-policy --policy-name KmsKeyUsagePolicy --policy-document file://{file}   # in account {account}"
                ));
                commands.push(attach_command(principal, &account, identity));
            }
        }
    }
    if code == "aws-managed-key" && commands.is_empty() {
        let f = aws_managed_fix(desc, None);
        commands = f.commands;
    }
    CauseFix {
        summary: fx.summary.clone(),
        key_policy_statements: fx.key_policy_statements.clone(),
        identity_policy_statements: fx.identity_policy_statements.clone(),
        remove: fx.remove.clone(),
        documents,
        commands,
    }
}

/// The key policy with the fix statements: through the policy editor (principals merged into the
/// standard statements, lockout check) when the fix adds principals to them, else appended.
fn merged_key_policy(
    cur: &Value,
    desc: &KeyDescription,
    add: &[Value],
    editor: Option<&str>,
) -> Value {
    let standard = [
        "Allow use of the key",
        "Allow attachment of persistent resources",
    ];
    let all_standard = add.iter().all(|s| {
        s.get("Sid")
            .and_then(Value::as_str)
            .is_some_and(|sid| standard.contains(&sid))
    });
    if all_standard {
        if let Some(editor) = editor {
            let mut principals: Vec<String> = Vec::new();
            for s in add {
                let aws = s.get("Principal").and_then(|p| p.get("AWS"));
                let list: Vec<String> = match aws {
                    Some(Value::String(p)) => vec![p.clone()],
                    Some(Value::Array(ps)) => ps
                        .iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                };
                for p in list {
                    if !principals.contains(&p) {
                        principals.push(p);
                    }
                }
            }
            if !principals.is_empty() {
                if let Ok(edit) =
                    policy::edit::add_key_users(&cur.to_string(), &desc.arn, &principals, editor)
                {
                    return edit.policy;
                }
            }
        }
    }
    append_statements(cur, add)
}

fn principal_name(principal: &str) -> (PrincipalKind, String) {
    let resource = principal.split(':').nth(5).unwrap_or_default();
    if let Some(rest) = resource.strip_prefix("assumed-role/") {
        return (
            PrincipalKind::AssumedRole,
            rest.split('/').next().unwrap_or_default().to_string(),
        );
    }
    let name = resource.rsplit('/').next().unwrap_or_default().to_string();
    if resource.starts_with("user/") {
        (PrincipalKind::User, name)
    } else if resource.starts_with("group/") {
        (PrincipalKind::Group, name)
    } else if resource.starts_with("role/") {
        (PrincipalKind::Role, name)
    } else {
        (PrincipalKind::Root, name)
    }
}

fn attach_command(principal: &str, account: &str, identity: Option<&IdentityPolicies>) -> String {
    let policy_arn = format!("arn:aws:iam::{account}:policy/KmsKeyUsagePolicy");
    let (kind, name) = principal_name(principal);
    let name = identity.and_then(|i| i.name.clone()).unwrap_or(name);
    match kind {
        PrincipalKind::User => {
            format!("aws iam attach-user-policy --user-name {name} --policy-arn {policy_arn}")
        }
        PrincipalKind::Group => {
            format!("aws iam attach-group-policy --group-name {name} --policy-arn {policy_arn}")
        }
        PrincipalKind::Role | PrincipalKind::AssumedRole => {
            format!("aws iam attach-role-policy --role-name {name} --policy-arn {policy_arn}")
        }
        PrincipalKind::Root => {
            format!("attach {policy_arn} to the users, groups or roles that launch")
        }
    }
}

fn identity_update_command(
    doc: &IdentityPolicyDoc,
    identity: Option<&IdentityPolicies>,
    file: &str,
) -> String {
    if let Some(arn) = &doc.arn {
        return format!(
            "aws iam create-policy-version --policy-arn {arn} --policy-document file://{file} --set-as-default"
        );
    }
    let owner = doc
        .group
        .clone()
        .or_else(|| identity.and_then(|i| i.name.clone()))
        .unwrap_or_default();
    let kind = match (doc.source, identity.map(|i| i.kind)) {
        (PolicySource::GroupInline, _) | (_, Some(PrincipalKind::Group)) => "group",
        (_, Some(PrincipalKind::User)) => "user",
        _ => "role",
    };
    format!(
        "aws iam put-{kind}-policy --{kind}-name {owner} --policy-name {} --policy-document file://{file}",
        doc.name
    )
}

/// Rank: causes backed by a CloudTrail denial first, then by how fundamental the cause is.
fn rank(causes: &mut [Cause]) {
    fn weight(code: &str) -> u8 {
        match code {
            "key-pending-deletion" | "key-disabled" => 0,
            "aws-managed-key" => 1,
            "key-policy-explicit-deny" | "identity-policy-explicit-deny" => 2,
            "key-policy-no-access" => 3,
            "key-policy-condition-fails" => 4,
            "key-policy-missing-action" => 5,
            "needs-grant" => 6,
            "identity-policy-missing-action" => 7,
            "kms-access-denied" => 9,
            _ => 8,
        }
    }
    causes.sort_by_key(|c| {
        let seen = c
            .evidence
            .iter()
            .any(|e| matches!(e, Evidence::Event { .. }));
        (!seen, weight(&c.code))
    });
    for (i, c) in causes.iter_mut().enumerate() {
        c.rank = i + 1;
    }
}
