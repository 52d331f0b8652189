//! All rendering of results, as strings the commands print: one file per kind of result.
//! Text for humans, or one JSON document for `--output json`.
//!
//! - [`plan`]: the plan (`--plan-out` file, an unapplied plan's output)
//! - [`report`]: the report of `copy` / `apply`
//! - [`rollback`]: the report of `rollback`
//! - [`diagnosis`]: the result of `diagnose`
//! - [`group`]: the result of `diagnose --asg`
//! - [`explain`]: the analysis of `explain`

pub mod calls;
pub mod diagnosis;
pub mod explain;
pub mod group;
pub mod plan;
pub mod report;
pub mod rollback;
pub mod targets_table;

use super::CliError;

/// A JSON document, pretty-printed.
pub fn json(value: &serde_json::Value) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| CliError::runtime(format!("cannot render JSON: {e}")))
}
