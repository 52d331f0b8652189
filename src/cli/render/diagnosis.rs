//! The diagnosis of `amishare diagnose` for humans (what was looked at, each cause with its
//! evidence and fix, what could not be seen, the verdict), or as one JSON document.

use std::fmt::Write as _;

use crate::cli::CliError;
use crate::domain::states::{InstanceState, KeyState};
use crate::workflow::diagnose::{
    Cause, CauseFix, DiagnoseTarget, Diagnosis, DiagnosisOutcome, Evidence, PrincipalSource,
};

/// The diagnosis as one JSON document.
pub fn json(d: &Diagnosis) -> Result<String, CliError> {
    serde_json::to_string_pretty(d)
        .map_err(|e| CliError::runtime(format!("cannot render the diagnosis: {e}")))
}

/// `code: message`, or just the message when it already starts with the code (EC2 writes
/// `Client.InternalError: Client error on launch` as the message of `Client.InternalError`).
fn reason(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(c), Some(m)) if m.starts_with(c) => m.to_string(),
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => "-".to_string(),
    }
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}\n"))
        .collect::<String>()
}

/// The human-readable report.
pub fn render_text(d: &Diagnosis) -> String {
    let mut o = String::new();
    subject(&mut o, d);
    let _ = writeln!(o);
    for c in &d.causes {
        cause(&mut o, c);
        let _ = writeln!(o);
    }
    if !d.unseen.is_empty() {
        let _ = writeln!(o, "could not see:");
        for u in &d.unseen {
            let _ = writeln!(o, "  - {}: {}", u.what, u.meaning);
            if let Some(e) = &u.error {
                let _ = writeln!(o, "    ({e})");
            }
            let _ = writeln!(o, "    to see it: {}", u.how_to_see);
        }
        let _ = writeln!(o);
    }
    if !d.warnings.is_empty() {
        let _ = writeln!(o, "warnings:");
        for w in &d.warnings {
            let _ = writeln!(o, "  - {}: {}", w.code.as_str(), w.message);
        }
        let _ = writeln!(o);
    }
    let verdict = match d.outcome {
        DiagnosisOutcome::NoProblem => "no problem found",
        DiagnosisOutcome::CauseFound => "cause found",
        DiagnosisOutcome::Undecided => "undecided",
    };
    let _ = writeln!(o, "{verdict}: {}", d.summary);
    o
}

/// What was diagnosed: the target, and the instance, image, principal and keys looked at.
fn subject(o: &mut String, d: &Diagnosis) {
    let _ = match &d.target {
        DiagnoseTarget::Instance { instance_id, .. } => writeln!(
            o,
            "diagnosis of instance {instance_id} (account {}, {})",
            d.account, d.region
        ),
        DiagnoseTarget::Ami {
            image_id,
            principal,
        } => writeln!(
            o,
            "diagnosis of launching {image_id} as {principal} (account {}, {})",
            d.account, d.region
        ),
    };
    if let Some(i) = &d.instance {
        let _ = writeln!(
            o,
            "  instance: {}{}",
            i.state
                .as_ref()
                .map_or("unknown state", InstanceState::as_str),
            i.state_reason
                .as_ref()
                .map(|r| format!(
                    ", state reason {}",
                    reason(r.code.as_deref(), r.message.as_deref())
                ))
                .unwrap_or_default()
        );
    }
    if let Some(img) = &d.image {
        let _ = writeln!(
            o,
            "  image: {} {} (owner {})",
            img.id,
            img.name.as_deref().unwrap_or(""),
            img.owner.as_deref().unwrap_or("?")
        );
    }
    if let Some(p) = &d.principal {
        let _ = writeln!(
            o,
            "  principal: {} ({}{})",
            p.arn,
            match p.source {
                PrincipalSource::Given => "given",
                PrincipalSource::Cloudtrail => "from CloudTrail",
            },
            p.invoked_by
                .as_deref()
                .map(|b| format!(", invoked by {b}"))
                .unwrap_or_default()
        );
    }
    for k in &d.keys {
        match &k.description {
            Some(desc) => {
                let _ = writeln!(
                    o,
                    "  key: {} ({} managed, {}, account {}) used by {}",
                    desc.arn,
                    if desc.is_aws_managed() {
                        "AWS"
                    } else {
                        "customer"
                    },
                    desc.key_state
                        .as_ref()
                        .map_or("state unknown", KeyState::as_str),
                    desc.account,
                    k.used_by.join(", ")
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "  key: {} (not readable) used by {}",
                    k.key_id,
                    k.used_by.join(", ")
                );
            }
        }
    }
}

/// One cause: its rank, code and message, its evidence and its fix.
fn cause(o: &mut String, c: &Cause) {
    let _ = writeln!(o, "cause {}: {}", c.rank, c.code);
    let _ = writeln!(o, "  {}", c.message);
    if !c.evidence.is_empty() {
        let _ = writeln!(o, "  evidence:");
    }
    for e in &c.evidence {
        evidence(o, e);
    }
    if let Some(fix) = &c.fix {
        cause_fix(o, fix);
    }
}

fn evidence(o: &mut String, e: &Evidence) {
    match e {
        Evidence::StateReason {
            instance_id,
            code,
            message,
        } => {
            let _ = writeln!(
                o,
                "    - {instance_id} StateReason {}",
                reason(code.as_deref(), message.as_deref())
            );
        }
        Evidence::Event {
            event_name,
            event_time,
            error_code,
            error_message,
            ..
        } => {
            let _ = writeln!(
                o,
                "    - CloudTrail {event_name} at {}: {}: {}",
                event_time.as_deref().unwrap_or("?"),
                error_code.as_deref().unwrap_or("-"),
                error_message.as_deref().unwrap_or("-")
            );
        }
        Evidence::Statement {
            policy,
            sid,
            index,
            statement,
        } => {
            let _ = writeln!(
                o,
                "    - statement {} of {policy}{}",
                sid.clone()
                    .map(|s| format!("`{s}`"))
                    .unwrap_or_else(|| format!("[{index}]")),
                if statement.is_some() { ":" } else { "" }
            );
            if let Some(s) = statement {
                let text = serde_json::to_string_pretty(s).unwrap_or_default();
                o.push_str(&indent(&text, "        "));
            }
        }
        Evidence::Key {
            key_arn,
            key_manager,
            key_state,
            account,
        } => {
            let _ = writeln!(
                o,
                "    - DescribeKey {key_arn}: KeyManager {}, KeyState {}, account {account}",
                key_manager.as_deref().unwrap_or("?"),
                key_state.as_deref().unwrap_or("?")
            );
        }
    }
}

fn cause_fix(o: &mut String, fix: &CauseFix) {
    let _ = writeln!(o, "  fix: {}", fix.summary);
    for r in &fix.remove {
        let _ = writeln!(o, "    - {r}");
    }
    for doc in &fix.documents {
        let _ = writeln!(o, "    write {} (account {}):", doc.file_name, doc.account);
        let text = serde_json::to_string_pretty(&doc.content).unwrap_or_default();
        o.push_str(&indent(&text, "      "));
    }
    if fix.documents.is_empty() {
        for (what, sts) in [
            ("key policy statements", &fix.key_policy_statements),
            (
                "identity policy statements",
                &fix.identity_policy_statements,
            ),
        ] {
            if !sts.is_empty() {
                let _ = writeln!(o, "    {what}:");
                let text = serde_json::to_string_pretty(sts).unwrap_or_default();
                o.push_str(&indent(&text, "      "));
            }
        }
    }
    if !fix.commands.is_empty() {
        let _ = writeln!(o, "    run:");
        for cmd in &fix.commands {
            let _ = writeln!(o, "      {cmd}");
        }
    }
}
