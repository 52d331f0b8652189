//! What discovery read, as plain values: the image, its snapshots and keys, and per target
//! account who amishare is there, the `--grant` principals' policies, the existing
//! `KmsKeyUsagePolicy`, and per region the key a copy encrypts with and earlier copies.

use serde::Serialize;

use std::collections::BTreeMap;

use crate::workflow::guardrail_facts::GuardrailDiscovery;
use crate::workflow::inventory::{
    CallerIdentity, GrantInfo, IdentityPolicies, ImageInfo, KeyDescription, SnapshotInfo,
};
use crate::workflow::plan::PermissionProbe;
use crate::workflow::ports_write::{ImageStatus, ManagedPolicy};

/// One KMS key behind the image, as discovery saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyFacts {
    pub description: KeyDescription,
    /// The key policy; `None` when not readable (see `policy_error`).
    pub policy: Option<String>,
    pub policy_error: Option<String>,
    /// ListGrants, read only for `--share-only` with Auto Scaling's role among the launchers
    /// (whose access to the source key is a grant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantInfo>,
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
    /// With `--grant` launchers: the target's EBS default key (GetEbsDefaultKmsKeyId), described,
    /// with its policy and grants when it is a customer managed key of the target account.
    /// Copy mode without launchers and without `--target-key`: the same key, only described
    /// (its state and spec; not read when it is `aws/ebs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebs_default_key: Option<TargetKeyFacts>,
    /// With `--target-key` in copy mode: that key, read like `ebs_default_key` (only described
    /// without launchers; without `--target-key` the copy is on the EBS default key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_key: Option<TargetKeyFacts>,
}

/// A KMS key of a target account that launchers use, as discovery saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetKeyFacts {
    /// The key as named (`--target-key`, or what GetEbsDefaultKmsKeyId answered).
    pub key_ref: String,
    /// DescribeKey; `None` when it failed (see `error`).
    pub description: Option<KeyDescription>,
    /// The key policy (customer managed keys of the target account only).
    pub policy: Option<String>,
    /// ListGrants (customer managed keys of the target account only).
    pub grants: Vec<GrantInfo>,
    /// What could not be read.
    pub error: Option<String>,
}

impl TargetKeyFacts {
    /// A customer managed key (AWS managed keys need no change for anyone in the account).
    pub fn customer_managed(&self) -> Option<&KeyDescription> {
        self.description.as_ref().filter(|d| !d.is_aws_managed())
    }
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
    /// Target key ARN -> its launchers' `KmsKeyUsagePolicy-<key id>` (`None`: absent), read for
    /// the customer managed target keys launchers use.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub key_usage_policies: BTreeMap<String, Option<ManagedPolicy>>,
    /// `--share-only` with Auto Scaling's role: the target identity's
    /// `KmsKeyUsagePolicy-autoscaling-grants` (`None`: absent or not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_creator_policy: Option<ManagedPolicy>,
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
    /// SCPs, RCPs, permissions boundaries, Allowed AMIs (what could be read).
    #[serde(default, skip_serializing_if = "GuardrailDiscovery::is_empty")]
    pub guardrails: GuardrailDiscovery,
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
