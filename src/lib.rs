//! amishare, in layers (see docs/DESIGN.md): dependencies point down only.
//!
//! - [`cli`]: arguments, prompts, progress, rendering, exit codes. The only layer that prints.
//! - [`workflow`]: copy / diagnose / rollback over ports (traits); plans are values.
//! - [`policy`]: PURE policy parsing, evaluation, explanation and editing (no I/O, no SDK).
//! - [`domain`]: AWS vocabulary every layer shares (ARNs, principals), pure values.
//! - [`aws`]: adapters implementing the workflow's ports with the AWS SDK.
//! - [`state`]: the journal's files.

// Only `cli` prints: every other module hands results up as values, progress as events.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod aws;
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod cli;
pub mod domain;
pub mod policy;
pub mod state;
/// In-memory fakes of the workflow's ports, for tests only (unit tests and, through the
/// `test-util` feature, the integration tests).
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod workflow;
