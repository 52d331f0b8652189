//! A copy plan as a value: what discovery saw (its [`Fingerprint`]), what blocks the copy, and the
//! steps that would change AWS, grouped by account when displayed (its text: `Display`, in
//! `cli/render/plan.rs`). `amishare copy --dry-run` prints it; `--plan-out FILE` saves it as
//! JSON; `amishare apply FILE` reads it back and `workflow/copy/saved.rs` checks it (discovers
//! again and refuses when the fingerprint differs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ports_write::{DryRunOutcome, DryRunProbe};

mod action;
mod excluded;
mod lifecycle;
pub use self::action::*;
pub use self::excluded::{by_cause, ExcludedAccount, GuardrailCause};
pub use self::lifecycle::*;
use crate::domain::states::{closed_set, ImageState, KeyManager, KeyState};
use crate::policy::edit::AddedPrincipal;

/// The plan format version (bumped on incompatible changes).
pub const PLAN_VERSION: u32 = 1;

/// What the user asked for, as far as it shapes the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOptions {
    pub target_accounts: Vec<String>,
    pub target_regions: Vec<String>,
    pub grants: Vec<String>,
    pub target_key: Option<String>,
    pub name: Option<String>,
    pub copy_tags: bool,
    pub test_launch: bool,
    pub instance_type: Option<String>,
    pub subnet_id: Option<String>,
    pub launch_timeout_secs: u64,
    pub revoke_after_copy: bool,
    /// Leave the key policy alone (for reproducing the broken-policy failure).
    pub skip_key_policy_edit: bool,
    /// Share the AMI and test-launch the shared original in each target; make no copy.
    #[serde(default)]
    pub share_only: bool,
    /// How the credentials were obtained (no secrets), so `apply` and `rollback` can get them again.
    #[serde(default)]
    pub access: AccessSpec,
    /// A customer managed key of the source account: an AMI on AWS managed (aws/ebs) keys is
    /// first copied inside the source account re-encrypted with it, and the copy is shared.
    #[serde(default)]
    pub reencrypt_with: Option<String>,
    /// `--dry-run`: discovery also makes EC2 `DryRun=true` permission probes.
    #[serde(default)]
    pub probe: bool,
    /// The copy's lifecycle: deprecation, deregistration protection, time-based copy, SSM
    /// parameter (absent from plans that ask for none).
    #[serde(default, skip_serializing_if = "LifecycleOptions::is_empty")]
    pub lifecycle: LifecycleOptions,
    /// `--to-ou` / `--to-org` / `--to-accounts-file`: where the target accounts came from and
    /// which accounts the organization listed were skipped (absent for `--to` alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_targets: Option<crate::workflow::org_targets::OrgTargets>,
}

/// Where credentials come from: profile names and role names only, never secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessSpec {
    pub source_profile: Option<String>,
    pub target_role: Option<String>,
    pub external_id: Option<String>,
    pub target_profile: Option<String>,
}

/// The source AMI as discovery saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceImage {
    pub account: String,
    pub region: String,
    pub image_id: String,
    pub name: Option<String>,
    pub architecture: Option<String>,
    pub snapshots: Vec<SourceSnapshot>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSnapshot {
    pub snapshot_id: String,
    pub encrypted: bool,
    /// The key ARN (as DescribeKey resolved it), when encrypted.
    pub key_arn: Option<String>,
}

/// One KMS key behind the AMI's snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceKey {
    pub arn: String,
    pub account: String,
    pub region: String,
    /// `AWS` or `CUSTOMER`.
    pub manager: Option<KeyManager>,
    pub state: Option<KeyState>,
    pub multi_region: Option<bool>,
    pub aliases: Vec<String>,
}

/// What discovery saw that the plan depends on: `apply PLAN` refuses when any of it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub image_state: Option<ImageState>,
    /// Accounts with a launch permission on the source image (sorted).
    pub launch_permissions: Vec<String>,
    /// Accounts with createVolumePermission per snapshot (sorted).
    pub snapshot_permissions: BTreeMap<String, Vec<String>>,
    /// Key ARN -> the key policy text.
    pub key_policies: BTreeMap<String, Option<String>>,
    /// Key ARN -> key state.
    pub key_states: BTreeMap<String, Option<KeyState>>,
    /// Target account -> KmsKeyUsagePolicy default document (`None`: absent or not visible).
    pub usage_policies: BTreeMap<String, Option<String>>,
    /// `ACCOUNT/REGION` -> the existing copy's image id and state.
    pub copies: BTreeMap<String, Option<(String, Option<ImageState>)>>,
    /// Launchers' customer managed target key ARN -> its key policy (`--grant` launchers only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_key_policies: BTreeMap<String, Option<String>>,
    /// Target key ARN -> the launchers' `KmsKeyUsagePolicy-<key id>` default document.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub key_usage_policies: BTreeMap<String, Option<String>>,
    /// Source key ARN -> the grantees of its grants (read for Auto Scaling's role only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_key_grantees: BTreeMap<String, Vec<String>>,
    /// Target account -> its `KmsKeyUsagePolicy-autoscaling-grants` document, when it exists.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grant_creator_policies: BTreeMap<String, String>,
    /// Target accounts where a `--grant` names Auto Scaling's service-linked role and it does
    /// not exist yet (the plan creates it; `apply` refuses when it appeared meanwhile).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_service_roles: Vec<String>,
}

impl Fingerprint {
    /// The names of the fields that differ, for the refusal message.
    pub fn differences(&self, now: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        if self.image_state != now.image_state {
            out.push(format!(
                "image state was {:?}, is {:?}",
                self.image_state.as_ref().map(ImageState::as_str),
                now.image_state.as_ref().map(ImageState::as_str)
            ));
        }
        if self.launch_permissions != now.launch_permissions {
            out.push(format!(
                "launch permissions were {:?}, are {:?}",
                self.launch_permissions, now.launch_permissions
            ));
        }
        if self.snapshot_permissions != now.snapshot_permissions {
            out.push("snapshot createVolumePermissions changed".to_string());
        }
        for (key, policy) in &self.key_policies {
            if now.key_policies.get(key) != Some(policy) {
                out.push(format!("key policy of `{key}` changed"));
            }
        }
        if self.key_states != now.key_states {
            out.push("a key's state changed".to_string());
        }
        if self.usage_policies != now.usage_policies {
            out.push("a target account's KmsKeyUsagePolicy changed".to_string());
        }
        if self.copies != now.copies {
            out.push("copies in the target accounts changed".to_string());
        }
        for (key, policy) in &self.target_key_policies {
            if now.target_key_policies.get(key) != Some(policy) {
                out.push(format!("key policy of target key `{key}` changed"));
            }
        }
        if self.key_usage_policies != now.key_usage_policies {
            out.push("a launchers' KmsKeyUsagePolicy-<key id> changed".to_string());
        }
        if self.source_key_grantees != now.source_key_grantees {
            out.push("the grants on a source key changed".to_string());
        }
        if self.grant_creator_policies != now.grant_creator_policies {
            out.push("a KmsKeyUsagePolicy-autoscaling-grants changed".to_string());
        }
        if self.missing_service_roles != now.missing_service_roles {
            out.push(format!(
                "Auto Scaling's service-linked role was missing in {:?}, is missing in {:?}",
                self.missing_service_roles, now.missing_service_roles
            ));
        }
        out
    }
}

closed_set! {
    /// A blocker's stable code.
    pub enum BlockerCode {
        /// The source key is AWS managed (`aws/ebs`): no other account can use it.
        AwsManagedKey => "aws-managed-key",
        KeyDisabled => "key-disabled",
        KeyPendingDeletion => "key-pending-deletion",
        /// The key is in another state KMS refuses to use.
        KeyUnusable => "key-unusable",
        /// The key is not a symmetric encryption key (`SYMMETRIC_DEFAULT`): EBS cannot use it.
        KeySpec => "key-spec",
        ImageNotOwned => "image-not-owned",
        ImageNotAvailable => "image-not-available",
        KeyNotOwned => "key-not-owned",
        KeyPolicyUnreadable => "key-policy-unreadable",
        KeyPolicyEdit => "key-policy-edit",
        /// `--reencrypt-with` names a key that cannot be used.
        ReencryptKey => "reencrypt-key",
        /// An access check the plan cannot make `allow` (the rule of `copy/build/rule.rs`): the
        /// step that needs it would fail, so nothing runs.
        AccessAfterPlan => "access-after-plan",
        /// A guardrail amishare cannot change (SCP, RCP, permissions boundary) denies every
        /// target account.
        GuardrailDenied => "guardrail-denied",
        /// The Allowed AMIs setting (or an EC2 declarative policy) of every target excludes
        /// the source account.
        AllowedAmis => "allowed-amis",
    }
}

closed_set! {
    /// The policy engine's verdict on an access check.
    pub enum AccessVerdict {
        Allow => "allow",
        Deny => "deny",
        Undecided => "undecided",
        /// The key policy is not readable or the analysis failed.
        Unknown => "unknown",
    }
}

/// Something that stops the copy, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    /// Stable code: `aws-managed-key`, `key-disabled`, `key-pending-deletion`, `image-not-owned`,
    /// `image-not-available`, `key-not-owned`, `key-policy-unreadable`, `key-policy-edit`.
    pub code: BlockerCode,
    pub message: String,
    pub fix: String,
    /// The account the blocker concerns, when it is one target account's (access checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// One step of the plan: where it runs and what it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// `s1`, `s2`, ... (stable within a plan; the journal refers to it).
    pub id: String,
    pub account: String,
    /// The region (IAM steps: the region whose clients are used).
    pub region: String,
    pub action: Action,
}

/// The IAM policy and commands a target account's admin still has to run (no target credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    pub account: String,
    pub policy_name: String,
    pub policy_document: String,
    pub commands: Vec<String>,
}

/// The verdict of the policy engine for one target principal, now and once the plan is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessCheck {
    pub principal: String,
    pub key_arn: String,
    /// `launch` or `copy`.
    pub operation: String,
    /// `allow`, `deny`, `undecided`, or `unknown` (policy not readable / analysis failed).
    pub now: AccessVerdict,
    pub after_plan: AccessVerdict,
    /// Finding codes of the current state (e.g. `key-policy-no-access`).
    pub findings: Vec<String>,
    /// The KMS actions the principal cannot use now (launcher checks on target keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_actions: Vec<String>,
    /// The actions still not allowed once the plan is applied (a blocker lists them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_after_plan: Vec<String>,
    /// The exact fix when the plan cannot make the check `allow` itself (why, and what to do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// One EC2 `DryRun=true` permission probe made by `--dry-run`, and AWS's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionProbe {
    pub account: String,
    pub region: String,
    pub probe: DryRunProbe,
    #[serde(flatten)]
    pub outcome: DryRunOutcome,
}

/// The plan: a value, serialisable, displayable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub run_id: String,
    pub created_at: String,
    pub source: SourceImage,
    pub keys: Vec<SourceKey>,
    pub options: PlanOptions,
    pub fingerprint: Fingerprint,
    pub blockers: Vec<Blocker>,
    pub checks: Vec<AccessCheck>,
    pub steps: Vec<Step>,
    pub handoffs: Vec<Handoff>,
    /// Copies that already exist and need nothing (account, region, image id).
    pub existing_copies: Vec<(String, String, String)>,
    pub warnings: Vec<String>,
    /// `--dry-run`: the permission probes made during discovery.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<PermissionProbe>,
    /// Facts the reviewer should know that are not warnings (e.g. which key launchers use).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Target accounts left out because a guardrail denies them (the others proceed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<ExcludedAccount>,
}

impl Plan {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Whether any step mutates AWS (everything but waiting for an existing copy).
    pub fn mutates(&self) -> bool {
        self.steps.iter().any(|s| {
            !matches!(
                s.action,
                Action::WaitCopy { .. }
                    | Action::TestLaunchAs {
                        how: LaunchHow::AnalysisOnly,
                        ..
                    }
            )
        })
    }

    /// Steps grouped by account: the source account first, then the targets in order.
    pub fn steps_by_account(&self) -> Vec<(String, Vec<&Step>)> {
        let mut order: Vec<String> = vec![self.source.account.clone()];
        for a in &self.options.target_accounts {
            if !order.contains(a) {
                order.push(a.clone());
            }
        }
        for s in &self.steps {
            if !order.contains(&s.account) {
                order.push(s.account.clone());
            }
        }
        order
            .into_iter()
            .map(|account| {
                let steps: Vec<&Step> =
                    self.steps.iter().filter(|s| s.account == account).collect();
                (account, steps)
            })
            .filter(|(_, steps)| !steps.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests;
