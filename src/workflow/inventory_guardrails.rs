//! The guardrail values the read ports return (Organizations' policies, IAM's permissions
//! boundaries), as plain data: what `workflow::guardrail_facts` builds its facts from.

use serde::Serialize;

/// A principal's permissions boundary as read (IAM GetRole / GetUser `PermissionsBoundary`,
/// then GetPolicy and GetPolicyVersion of its default version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoundaryDoc {
    /// The managed policy's ARN.
    pub arn: String,
    /// The policy document (URL-decoded).
    pub document: String,
}

/// Which organization policy type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrgPolicyKind {
    ServiceControlPolicy,
    ResourceControlPolicy,
}

impl OrgPolicyKind {
    /// The `--filter` of ListPoliciesForTarget.
    pub fn filter(self) -> &'static str {
        match self {
            Self::ServiceControlPolicy => "SERVICE_CONTROL_POLICY",
            Self::ResourceControlPolicy => "RESOURCE_CONTROL_POLICY",
        }
    }

    /// `SCP` or `RCP`.
    pub fn short(self) -> &'static str {
        match self {
            Self::ServiceControlPolicy => "SCP",
            Self::ResourceControlPolicy => "RCP",
        }
    }
}

/// One policy as ListPoliciesForTarget lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySummary {
    pub id: String,
    pub name: String,
}
