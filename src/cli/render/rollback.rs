//! The report of `amishare rollback` for humans: what was undone, step by step.

use std::fmt::Write as _;

use crate::workflow::rollback::RollbackReport;

/// The rollback report for humans.
pub fn render_rollback(r: &RollbackReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Rollback of run {}: {}", r.run_id, r.status);
    for u in &r.undone {
        let _ = writeln!(
            out,
            "  [{}] {} {}/{}: {}",
            u.result, u.step, u.account, u.region, u.summary
        );
        if let Some(d) = &u.detail {
            for line in d.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    out
}
