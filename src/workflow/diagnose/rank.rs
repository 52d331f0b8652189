//! Ranking: causes quoted by a CloudTrail refusal first, then by how fundamental the cause is:
//! key state, AWS managed key, explicit Deny (or a guardrail layer's denial), key policy, grant, identity policy, the rest, and
//! `kms-access-denied` last. Ties keep the order the causes were found in.

use super::code::CauseCode;
use super::types::{Cause, Evidence};
use crate::policy::FindingCode;

/// How fundamental a cause is: lower first. Every code is named, so a new finding code has to
/// be placed here.
pub fn weight(code: CauseCode) -> u8 {
    match code {
        CauseCode::KeyPendingDeletion | CauseCode::KeyDisabled => 0,
        CauseCode::Finding(f) => match f {
            FindingCode::AwsManagedKey => 1,
            FindingCode::KeyPolicyExplicitDeny
            | FindingCode::IdentityPolicyExplicitDeny
            | FindingCode::ScpExplicitDeny
            | FindingCode::ScpNoAllow
            | FindingCode::RcpExplicitDeny
            | FindingCode::PermissionsBoundaryExplicitDeny
            | FindingCode::PermissionsBoundaryNoAllow
            | FindingCode::SessionPolicyExplicitDeny
            | FindingCode::SessionPolicyNoAllow => 2,
            FindingCode::KeyPolicyNoAccess => 3,
            FindingCode::KeyPolicyConditionFails => 4,
            FindingCode::KeyPolicyMissingAction => 5,
            FindingCode::NeedsGrant => 6,
            FindingCode::IdentityPolicyMissingAction => 7,
            FindingCode::IneffectiveStatement
            | FindingCode::InvalidPrincipal
            | FindingCode::WildcardPrincipalUnconditioned
            | FindingCode::SourceipBlocksAwsServices
            | FindingCode::SourcevpcBlocksAwsServices
            | FindingCode::OverbroadKmsStar
            | FindingCode::GrantConditionOnNonGrantAction
            | FindingCode::NotprincipalMissesSession
            | FindingCode::CreategrantUnconstrained
            | FindingCode::GuardrailUnseen => 8,
        },
        CauseCode::KmsAccessDenied => 9,
    }
}

/// Sort `causes` (stably) and number them from 1.
pub fn rank(causes: &mut [Cause]) {
    causes.sort_by_key(|c| {
        let seen = c
            .evidence
            .iter()
            .any(|e| matches!(e, Evidence::Event { .. }));
        (!seen, weight(c.code))
    });
    for (i, c) in causes.iter_mut().enumerate() {
        c.rank = i + 1;
    }
}
