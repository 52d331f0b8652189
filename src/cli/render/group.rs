//! The result of `amishare diagnose --asg` (a [`GroupDiagnosis`]), for humans and as JSON.

use std::fmt::Write as _;

use crate::cli::CliError;
use crate::workflow::diagnose::group::GroupDiagnosis;

pub fn render_text(d: &GroupDiagnosis) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Auto Scaling group {} in {}/{}: {}",
        d.group, d.account, d.region, d.summary
    );
    let _ = writeln!(out, "  launches as: {}", d.principal);
    if let Some(t) = &d.launch_template {
        let _ = writeln!(
            out,
            "  launch template: {t}{}",
            d.image_id
                .as_deref()
                .map(|i| format!(" (AMI {i})"))
                .unwrap_or_default()
        );
    }
    if let Some(a) = &d.failed_activity {
        let _ = writeln!(
            out,
            "  failed scaling activity: {}",
            a.status_message
                .as_deref()
                .or(a.description.as_deref())
                .unwrap_or(&a.status_code)
        );
    }
    for k in &d.keys {
        let _ = writeln!(out, "  key {}:", k.key_arn);
        let _ = writeln!(out, "    cause: {}", k.cause);
        let _ = writeln!(out, "    fix: {}", k.fix);
        for s in &k.key_policy_statements {
            if let Ok(text) = serde_json::to_string_pretty(s) {
                let _ = writeln!(out, "    key policy statement to add:");
                for line in text.lines() {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
        for c in &k.commands {
            let _ = writeln!(out, "    $ {c}");
        }
    }
    out
}

pub fn json(d: &GroupDiagnosis) -> Result<String, CliError> {
    serde_json::to_string_pretty(d)
        .map_err(|e| CliError::runtime(format!("cannot render JSON: {e}")))
}
