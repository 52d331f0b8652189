//! Workflows (copy, diagnose, rollback) over ports: discover -> plan -> apply -> verify -> report.
//!
//! A plan is a value; dry-run means "build and show the plan, never call apply". Progress goes out
//! through an events trait. Nothing here prints or talks to AWS directly.

pub mod allowed_images;
pub mod contention;
pub mod copy;
pub mod diagnose;
pub mod events;
pub mod export;
pub mod guardrail_facts;
pub mod inventory;
pub mod inventory_guardrails;
pub mod journal;
pub mod key_policy;
pub mod org_policy_access;
pub mod org_scope;
pub mod org_targets;
pub mod plan;
pub mod ports;
pub mod ports_write;
pub mod rollback;
pub mod throttle;
pub mod waiters;
pub mod world;

#[cfg(test)]
mod golden_tests;
