//! The plan as the commands show and save it. The plan's own text is `Plan`'s `Display`
//! (in `workflow/plan.rs`); here: the `--plan-out` file and the output of a plan that is not
//! applied (blocked, dry run, nothing to do).

use crate::cli::CliError;
use crate::workflow::copy::Report;
use crate::workflow::plan::Plan;

use super::report::render_report;

/// The contents of a `--plan-out` file: the plan as pretty JSON.
pub fn plan_file(plan: &Plan) -> Result<String, CliError> {
    serde_json::to_string_pretty(plan)
        .map_err(|e| CliError::runtime(format!("cannot render the plan: {e}")))
}

/// The text output of a plan that is not applied: the plan, then its report, except for a dry
/// run (whose plan says it all).
pub fn unapplied_text(plan: &Plan, report: &Report, dry_run: bool) -> String {
    let mut out = plan.to_string();
    if !dry_run {
        out.push_str(&render_report(report));
    }
    out
}
