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
//! Cause codes are the policy engine's finding codes (docs/DESIGN.md) plus these, which only the
//! diagnosis produces (from what AWS shows, not from a policy):
//!
//! | code                   | when                                                          | fix                                  |
//! |------------------------|---------------------------------------------------------------|--------------------------------------|
//! | `key-disabled`         | DescribeKey: `KeyState` `Disabled`                            | `aws kms enable-key`                 |
//! | `key-pending-deletion` | DescribeKey: `KeyState` `PendingDeletion`                     | `aws kms cancel-key-deletion`, then `enable-key` |
//! | `kms-access-denied`    | a KMS refusal in CloudTrail for this launch that the policies read do not explain (usually: one could not be read) | none: see [`Diagnosis::unseen`] |
//!
//! A CloudTrail refusal whose `errorMessage` names the policy type ("... in a service control
//! policy", "... resource control policy", "... no permissions boundary allows", "... no session
//! policy allows") becomes a cause with the engine's guardrail code (`scp-explicit-deny`,
//! `rcp-explicit-deny`, `permissions-boundary-no-allow`, ...) naming the policy and whom to ask
//! (`guardrail_denial.rs`).
//!
//! Ranking: causes quoted by a CloudTrail refusal first, then key state, AWS managed key,
//! explicit Deny, key policy, grant, identity policy, and `kms-access-denied` last.
//!
//! Where things live: `gather/` reads (over the [`Reader`] port) into plain facts
//! (`facts.rs`): `image.rs` the image and its snapshots, `trail.rs` CloudTrail, `keys.rs` each
//! key's description, policy and grants; `decide.rs` turns facts into causes, outcome and
//! summary without any I/O (its tests: `decide_tests.rs`); `denials.rs` matches CloudTrail
//! refusals to the launch and to causes; `fix.rs` builds fix documents and aws CLI commands
//! (`documents.rs`: the JSON edits they need); `rank.rs` orders causes; `code.rs` is the closed
//! set of cause codes; `types.rs` holds the other public values; `arn.rs` the few ARN helpers
//! used here (partition, account, region, principal name).

mod arn;
mod code;
mod decide;
mod denials;
mod documents;
mod facts;
mod fix;
mod gather;
pub mod group;
mod guardrail_denial;
mod rank;
mod types;

pub use code::CauseCode;
pub use types::{
    Cause, CauseFix, DiagnoseError, DiagnoseOptions, DiagnoseTarget, Diagnosis, DiagnosisOutcome,
    Evidence, FixDocument, KeyReport, PolicyName, PrincipalInfo, PrincipalSource, Unseen,
};

use super::ports::Reader;

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
    let facts = gather::gather(reader, key_reader, target, options).await?;
    Ok(decide::decide(facts, options))
}
