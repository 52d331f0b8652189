//! Ranking: causes quoted by a CloudTrail refusal first, then by how fundamental the cause is.

use super::types::{Cause, Evidence};

/// Rank: causes backed by a CloudTrail denial first, then by how fundamental the cause is.
pub fn rank(causes: &mut [Cause]) {
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
