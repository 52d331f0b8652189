//! Scenarios: the KMS requests EC2 makes on the caller's behalf for a launch or a copy.

use super::context::{CallerContext, RequestContext};
use super::matching::Caller;
use serde::Serialize;

/// What the principal does with the AMI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// RunInstances from an AMI shared with the caller (volumes created from its snapshots).
    #[default]
    Launch,
    /// CopyImage of a shared AMI, re-encrypting with the caller's key.
    Copy,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Launch => "launch",
            Self::Copy => "copy",
        }
    }

    /// The KMS actions on the source key EC2 needs on the caller's behalf when the key is in the
    /// caller's own account (see [`Operation::required_actions_on`] for a key in another account).
    ///
    /// Launch: the EBS documentation's list for using a key with EBS (CreateGrant, Decrypt,
    /// DescribeKey, GenerateDataKeyWithoutPlaintext, ReEncrypt*, of which the source key needs
    /// ReEncryptFrom). Copy: only reading the source key, as AWS's own copy script grants it
    /// (DescribeKey, Decrypt, CreateGrant).
    pub fn required_actions(self) -> &'static [&'static str] {
        self.required_actions_on(false)
    }

    /// The KMS actions EC2 needs on the caller's behalf on the key of the AMI's snapshots, by
    /// where that key is: where the new volumes are encrypted decides it ([`VolumeKey`]).
    ///
    /// A launch without encryption parameters restores a snapshot the caller owns with the same
    /// key (so the key also encrypts the new volume: GenerateDataKeyWithoutPlaintext), but one
    /// the caller does not own (a shared AMI, whose key is in another account) with the caller's
    /// EBS default key: the snapshot's key is then only decrypted from (CreateGrant, Decrypt,
    /// DescribeKey, ReEncryptFrom; no GenerateDataKey*). EC2 user guide, "Use encryption with
    /// EBS-backed AMIs", instance-launching scenarios
    /// (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/AMIEncryption.html>). A copy always
    /// only reads the source key (it encrypts with the key it is given).
    pub fn required_actions_on(self, cross_account: bool) -> &'static [&'static str] {
        match (self, self.volume_key(cross_account)) {
            (Self::Launch, VolumeKey::SnapshotKey) => &[
                "kms:CreateGrant",
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:ReEncryptFrom",
            ],
            (Self::Launch, VolumeKey::CallerDefaultKey) => &[
                "kms:CreateGrant",
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:ReEncryptFrom",
            ],
            (Self::Copy, _) => &["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"],
        }
    }

    /// Which key encrypts the new volumes (launch) or snapshots (copy, without a key given) when
    /// the AMI's snapshot key is (`cross_account`) or is not in another account than the
    /// caller's. EC2 user guide, "Use encryption with EBS-backed AMIs".
    pub fn volume_key(self, cross_account: bool) -> VolumeKey {
        if cross_account {
            VolumeKey::CallerDefaultKey
        } else {
            VolumeKey::SnapshotKey
        }
    }

    /// The id in the `aws:ebs:id` encryption context (volume for a launch, snapshot for a copy);
    /// a placeholder, since the real id is created by the operation.
    pub fn ebs_id_placeholder(self) -> &'static str {
        match self {
            Self::Launch => "vol-0123456789abcdef0",
            Self::Copy => "snap-0123456789abcdef0",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where EC2 encrypts the new volumes of a launch made without encryption parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeKey {
    /// The caller owns the snapshot: its key encrypts the new volume too.
    SnapshotKey,
    /// The snapshot is another account's (a shared AMI): the caller's EBS default key encrypts
    /// the new volume, which the caller must be able to use as well when customer managed.
    CallerDefaultKey,
}

/// One request of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioRequest {
    pub action: &'static str,
    pub context: RequestContext,
}

/// The on-behalf requests of `op` by `caller` on a key in `key_region`, in another account than
/// the caller's when `cross_account`.
pub fn requests(
    op: Operation,
    caller: &Caller,
    caller_ctx: &CallerContext,
    key_region: &str,
    cross_account: bool,
) -> Vec<ScenarioRequest> {
    op.required_actions_on(cross_account)
        .iter()
        .map(|action| ScenarioRequest {
            action,
            context: RequestContext::on_behalf_of(
                caller,
                caller_ctx,
                action,
                key_region,
                op.ebs_id_placeholder(),
            ),
        })
        .collect()
}

/// Operations Auto Scaling's documentation puts in the grant for its service-linked role.
pub const AUTOSCALING_GRANT_OPERATIONS: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "DescribeKey",
    "CreateGrant",
];
