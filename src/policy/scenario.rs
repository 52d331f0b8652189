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

    /// The KMS actions on the source key EC2 needs on the caller's behalf.
    ///
    /// Launch: the EBS documentation's list for using a key with EBS (CreateGrant, Decrypt,
    /// DescribeKey, GenerateDataKeyWithoutPlaintext, ReEncrypt*, of which the source key needs
    /// ReEncryptFrom). Copy: only reading the source key, as AWS's own copy script grants it
    /// (DescribeKey, Decrypt, CreateGrant).
    pub fn required_actions(self) -> &'static [&'static str] {
        match self {
            Self::Launch => &[
                "kms:CreateGrant",
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:ReEncryptFrom",
            ],
            Self::Copy => &["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"],
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

/// One request of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioRequest {
    pub action: &'static str,
    pub context: RequestContext,
}

/// The on-behalf requests of `op` by `caller` on a key in `key_region`.
pub fn requests(
    op: Operation,
    caller: &Caller,
    caller_ctx: &CallerContext,
    key_region: &str,
) -> Vec<ScenarioRequest> {
    op.required_actions()
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
