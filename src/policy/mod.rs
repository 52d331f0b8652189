//! The pure policy core: parse, evaluate, explain and edit IAM identity and KMS key policies.
//!
//! This module must not depend on tokio, the AWS SDK, the filesystem or the network; everything
//! here takes values and returns values, so it is testable with table tests and fixtures.
//!
//! Analysis API (used by `explain`, the copy workflow and `diagnose`):
//! - [`parse_policy`], [`parse_policy_value`], [`parse_policies`], [`parse_grants`]: text/values
//!   to [`PolicyDocument`]s and [`Grant`]s, or a [`PolicyParseError`] naming origin and place;
//! - [`analyze`]: an [`AnalysisRequest`] (key, principal, identity policies, [`Operation`],
//!   [`CallerContext`]) to an [`Analysis`] (verdict, per-action [`ActionCheck`]s, [`Finding`]s);
//! - [`evaluate_key_request`]: one KMS request with an explicit [`RequestContext`] (e.g. the
//!   PutKeyPolicy lock-out check, with [`RequestContext::direct`]);
//! - [`lint_key_policy`]: lints of a key policy on its own.
//!
//! Where things live: `model` (parsed documents), `parse/` (JSON to model), `condition/`
//! (operators, policy variables, evaluation of one condition), `context` (the request's keys),
//! `matching` (wildcards, ARNs, principals), `eval` (one request: key policy, identity policies,
//! grants), `layers` (the guardrail layers' values) and `guardrails` (SCPs, RCPs, permissions
//! boundary and session policies decided for one request), `scenario` (the requests of a launch or copy), `analyze/` (reasons and fixes),
//! `lint/` (one function per lint rule), `findings` (codes and fixes), `statement` (helpers
//! shared by analyze, lint, edit and diff), `edit/` (key policy edits and the lock-out check),
//! `diff` (reviewable diffs), `template/` (the documents amishare writes).

pub mod analyze;
pub mod condition;
pub mod context;
pub mod eval;
pub mod findings;
pub mod guardrails;
pub mod identity_outcome;
pub mod layers;
pub mod lint;
pub mod matching;
pub mod model;
pub mod parse;
pub mod scenario;
pub mod statement;

pub mod diff;
pub mod edit;
pub mod template;

pub use analyze::{analyze, ActionCheck, Analysis, AnalysisRequest};
pub use context::{CallerContext, RequestContext, EC2_INFRASTRUCTURE_IP};
pub use eval::{
    evaluate_key_request, ConditionFailure, Decision, KeyInfo, KeyManager, Outcome, PolicyError,
    Source, SourceDecision, UnresolvedVariable, Verdict,
};
pub use findings::{Finding, FindingCode, Fix, Severity};
pub use guardrails::evaluate_guarded;
pub use identity_outcome::identity_outcome;
pub use layers::{
    Boundary, Guardrails, Known, Layer, LayerDecision, LayerOutcome, OrgLevel, OrgPath, OrgPolicy,
    Unseen,
};
pub use lint::lint_key_policy;
pub use matching::Caller;
pub use model::{Effect, Grant, PolicyDocument, Statement, StatementRef};
pub use parse::{
    parse_grants, parse_grants_value, parse_org_policies, parse_policies, parse_policy,
    parse_policy_value, PolicyParseError,
};
pub use scenario::Operation;

#[cfg(test)]
mod guardrails_tests;
#[cfg(test)]
mod scenario_tests;
#[cfg(test)]
mod unresolved_tests;
