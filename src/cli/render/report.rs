//! The report of `amishare copy` / `apply` for humans: what each target got, what changed,
//! the hand-offs, warnings, what was left behind and how to undo.

use std::fmt::Write as _;

use crate::cli::CliError;
use crate::workflow::copy::report::{LauncherReport, LauncherResult};
use crate::workflow::copy::{Diagnosis, LaunchReport, Report, TargetReport};
use crate::workflow::plan::Plan;

/// The report for humans.
pub fn render_report(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Run {}: {} ({} from {}/{})",
        r.run_id, r.status, r.image_id, r.source_account, r.source_region
    );
    for b in &r.blockers {
        let _ = writeln!(out, "  BLOCKED [{}]: {}", b.code, b.message);
        let _ = writeln!(out, "    fix: {}", b.fix);
    }
    if r.targets.len() > 1 {
        // Several targets: a table (failures first), then each target's details, same order.
        super::targets_table::table(&mut out, &r.targets);
        for t in super::targets_table::ordered(&r.targets) {
            target(&mut out, t);
        }
    } else {
        for t in &r.targets {
            target(&mut out, t);
        }
    }
    changes(&mut out, r);
    for h in &r.handoffs {
        let _ = writeln!(out, "Hand-off for the admin of {}:", h.account);
        let _ = writeln!(out, "  {}.json:", h.policy_name);
        for line in h.policy_document.lines() {
            let _ = writeln!(out, "    {line}");
        }
        for c in &h.commands {
            let _ = writeln!(out, "  $ {c}");
        }
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if r.left_behind.is_empty() {
        let _ = writeln!(out, "Left behind: nothing");
    } else {
        let _ = writeln!(out, "Left behind:");
        for l in &r.left_behind {
            let _ = writeln!(out, "  {l}");
        }
    }
    if !r.changes.is_empty() {
        let _ = writeln!(out, "Undo with: amishare rollback {}", r.run_id);
    }
    out
}

/// One target: its status and copy, the test launch, the diagnosis or the error.
fn target(out: &mut String, t: &TargetReport) {
    let _ = writeln!(
        out,
        "  {}/{}: {}{}",
        t.account,
        t.region,
        t.status,
        t.image_id
            .as_deref()
            .map(|i| format!(
                "  AMI {i}{}",
                t.copy_state
                    .as_ref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            ))
            .unwrap_or_default()
    );
    if let Some(reason) = &t.copy_state_reason {
        let _ = writeln!(out, "      copy state reason: {reason}");
    }
    if let Some(l) = &t.test_launch {
        test_launch(out, l);
    }
    if let Some(d) = &t.diagnosis {
        diagnosis(out, d);
    }
    for l in &t.launchers {
        launcher(out, l);
    }
    if let Some(e) = &t.error {
        // a launcher's failure is on its row already
        if t.diagnosis.is_none() && !t.launchers.iter().any(|l| l.diagnosis.is_some()) {
            let _ = writeln!(out, "      error: {e}");
        }
    }
}

fn test_launch(out: &mut String, l: &LaunchReport) {
    let _ = writeln!(
        out,
        "      test launch: {} {} -> {}{}{}; {}",
        l.instance_id.as_deref().unwrap_or("(none)"),
        l.instance_type,
        l.result,
        l.seconds_to_running
            .map(|s| format!(" after {s:.1} s"))
            .unwrap_or_default(),
        l.state_reason_code
            .as_deref()
            .map(|c| format!(
                ", state reason {c}: {}",
                l.state_reason_message.as_deref().unwrap_or("")
            ))
            .unwrap_or_default(),
        if l.terminated {
            "terminated (confirmed)"
        } else {
            "NOT confirmed terminated"
        }
    );
}

/// One launcher's row: who, how verified, the result, and on failure the diagnosis.
fn launcher(out: &mut String, l: &LauncherReport) {
    let how = match l.how {
        "assume-role" => "assumed, launched as it".to_string(),
        "auto-scaling-group" => format!(
            "Auto Scaling group {}",
            l.group.as_deref().unwrap_or("(not created)")
        ),
        _ => "verified by analysis only".to_string(),
    };
    let _ = writeln!(out, "      launcher {}: {how} -> {}", l.principal, l.result);
    if let Some(reason) = &l.reason {
        let label = if l.result == LauncherResult::AnalysisOnly {
            "why"
        } else {
            "reason"
        };
        let _ = writeln!(out, "        {label}: {reason}");
    }
    if let Some(launch) = &l.launch {
        let mut line = String::new();
        test_launch(&mut line, launch);
        let _ = write!(out, "  {line}");
    }
    if l.how == "auto-scaling-group" {
        let _ = writeln!(
            out,
            "        group and launch template: {}",
            if l.cleaned_up {
                "deleted (confirmed)"
            } else {
                "NOT confirmed deleted"
            }
        );
    }
    if let Some(d) = &l.diagnosis {
        let mut text = String::new();
        diagnosis(&mut text, d);
        for line in text.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
}

fn diagnosis(out: &mut String, d: &Diagnosis) {
    let _ = writeln!(out, "      cause: {}", d.cause);
    if !d.codes.is_empty() {
        let _ = writeln!(out, "      findings: {}", d.codes.join(", "));
    }
    if let Some(fix) = &d.fix {
        let _ = writeln!(out, "      fix: {fix}");
    }
    for s in &d.key_policy_statements {
        if let Ok(text) = serde_json::to_string_pretty(s) {
            let _ = writeln!(out, "      key policy statement to add:");
            for line in text.lines() {
                let _ = writeln!(out, "        {line}");
            }
        }
    }
    for e in &d.evidence {
        let _ = writeln!(out, "      evidence: {e}");
    }
}

fn changes(out: &mut String, r: &Report) {
    if r.changes.is_empty() {
        return;
    }
    let _ = writeln!(out, "Changes:");
    for c in &r.changes {
        let _ = writeln!(
            out,
            "  [{}] {} {}/{}: {}{}",
            if c.ok { "done" } else { "FAILED" },
            c.step,
            c.account,
            c.region,
            c.summary,
            if c.created.is_empty() {
                String::new()
            } else {
                format!(" (created {})", c.created.join(", "))
            }
        );
        if let Some(e) = &c.error {
            for line in e.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
        for line in c.notes.iter().flat_map(|n| n.lines()) {
            let _ = writeln!(out, "      {line}");
        }
    }
}

/// The JSON document of a copy or apply: the plan and the report.
pub fn json(plan: &Plan, report: &Report) -> Result<String, CliError> {
    super::json(&serde_json::json!({"plan": plan, "report": report}))
}
