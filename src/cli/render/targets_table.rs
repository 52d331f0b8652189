//! The report's targets when there are several (an organization: dozens of account/regions): one
//! table row each (copy, test launch, time to running), failures first, and a summary line; each
//! target's details (test instance, diagnosis, errors) follow in the same order.

use std::fmt::Write as _;

use crate::workflow::copy::{TargetReport, TargetStatus};

/// Did this target not end well (its row goes first, its details follow the table)?
pub fn failed(t: &TargetReport) -> bool {
    matches!(t.status, TargetStatus::Failed | TargetStatus::Interrupted)
}

/// The rows: failures first, otherwise in the report's order.
pub fn ordered(targets: &[TargetReport]) -> Vec<&TargetReport> {
    let mut v: Vec<&TargetReport> = targets.iter().collect();
    v.sort_by_key(|t| !failed(t));
    v
}

/// The table, with a summary line (how many ok / failed / other).
pub fn table(out: &mut String, targets: &[TargetReport]) {
    let rows: Vec<[String; 5]> = ordered(targets)
        .into_iter()
        .map(|t| {
            let launch = t.test_launch.as_ref();
            [
                format!("{}/{}", t.account, t.region),
                t.status.to_string(),
                t.image_id.clone().unwrap_or_else(|| "-".into()),
                launch.map_or_else(|| "-".into(), |l| l.result.to_string()),
                launch
                    .and_then(|l| l.seconds_to_running)
                    .map_or_else(|| "-".into(), |s| format!("{s:.1} s")),
            ]
        })
        .collect();
    let head = ["target", "status", "copy", "test launch", "to running"];
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |out: &mut String, cells: [&str; 5]| {
        let mut s = String::new();
        for (c, w) in cells.iter().zip(width) {
            let _ = write!(s, "  {c:<w$}");
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(out, head);
    for r in &rows {
        line(out, [&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
    let bad = targets.iter().filter(|t| failed(t)).count();
    let ok = targets
        .iter()
        .filter(|t| matches!(t.status, TargetStatus::Ok | TargetStatus::Exists))
        .count();
    let _ = writeln!(
        out,
        "  {} targets: {ok} ok, {bad} failed, {} other",
        targets.len(),
        targets.len() - ok - bad
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_first_with_a_summary() {
        let mut a = TargetReport::new("444455550001", "us-east-1", TargetStatus::Ok);
        a.image_id = Some("ami-1".into());
        let mut b = TargetReport::new("444455550002", "eu-west-1", TargetStatus::Failed);
        b.error = Some("boom".into());
        let c = TargetReport::new("444455550003", "us-east-1", TargetStatus::Exists);
        let mut out = String::new();
        table(&mut out, &[a, b, c]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("  target"), "{out}");
        assert!(lines[1].contains("444455550002/eu-west-1  failed"), "{out}");
        assert!(
            lines[2].contains("444455550001/us-east-1  ok      ami-1"),
            "{out}"
        );
        assert_eq!(lines[4], "  3 targets: 2 ok, 1 failed, 0 other");
    }
}
