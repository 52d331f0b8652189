//! Rendering of `amishare explain` (and of any [`Analysis`]): short text, or one JSON document.

use crate::policy::{
    Analysis, Effect, Finding, LayerDecision, LayerOutcome, Outcome, Severity, Source,
    SourceDecision, UnresolvedVariable, Verdict,
};
use serde_json::Value;
use std::fmt::Write as _;

/// One JSON document.
pub fn render_json(a: &Analysis) -> String {
    serde_json::to_string_pretty(a)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise: {e}\"}}"))
}

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\u{1b}[{code}m{s}\u{1b}[0m")
        } else {
            s.to_string()
        }
    }
    fn red(&self, s: &str) -> String {
        self.wrap("1;31", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("1;32", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn blue(&self, s: &str) -> String {
        self.wrap("34", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Allow => "allow",
        Outcome::DelegatesToIam => "delegates to IAM",
        Outcome::ExplicitDeny => "explicit deny",
        Outcome::NoMatch => "no match",
        Outcome::Unknown => "unknown",
    }
}

fn source(sd: &SourceDecision) -> String {
    let mut s = outcome_word(sd.outcome).to_string();
    let refs: Vec<String> = sd
        .statements
        .iter()
        .map(|r| r.label())
        .chain(sd.grants.iter().map(|g| format!("grant `{g}`")))
        .collect();
    if !refs.is_empty() {
        let _ = write!(s, " ({})", refs.join(", "));
    }
    s
}

/// `variable `${aws:PrincipalTag/team}` not resolved (no value in the request): ...`, shown only
/// for statements whose condition used a variable without a value.
fn unresolved(u: &UnresolvedVariable) -> String {
    let source = match u.source {
        Source::KeyPolicy => "key policy",
        Source::IdentityPolicy => "identity policy",
    };
    let effect = match u.effect {
        Effect::Allow => "Allow",
        Effect::Deny => "Deny",
    };
    let outcome = if u.applied {
        "applies"
    } else {
        "does not apply"
    };
    format!(
        "variable `{}` not resolved (no value in the request) in {} `{}` of {} ({source}, {effect}): the statement {outcome}",
        u.variable,
        u.operator,
        u.key,
        u.statement.label(),
    )
}

/// `scp: explicit deny (`p-1` at `ou-1`, `DenyGrants`)`.
fn layer(l: &LayerDecision) -> String {
    let word = match l.outcome {
        LayerOutcome::Allow => "allow",
        LayerOutcome::ExplicitDeny => "explicit deny",
        LayerOutcome::NoAllow => "no allow",
        LayerOutcome::Exempt => "does not apply",
        LayerOutcome::Unseen => "unseen",
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(p) = &l.policy {
        parts.push(match &l.level {
            Some(lv) => format!("`{p}` at `{lv}`"),
            None => format!("`{p}`"),
        });
    } else if let Some(lv) = &l.level {
        parts.push(format!("at `{lv}`"));
    }
    if l.outcome == LayerOutcome::ExplicitDeny {
        parts.extend(l.statements.iter().map(|s| s.label()));
    }
    if let Some(n) = &l.note {
        parts.push(n.clone());
    }
    if parts.is_empty() {
        format!("{}: {word}", l.layer)
    } else {
        format!("{}: {word} ({})", l.layer, parts.join(", "))
    }
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn finding(out: &mut String, f: &Finding, p: &Paint) {
    let sev = match f.severity {
        Severity::Error => p.red("error"),
        Severity::Warning => p.yellow("warning"),
        Severity::Info => p.blue("info"),
    };
    let _ = writeln!(out, "  {sev}[{}] {}", f.code, f.message);
    if let Some(l) = f.layer {
        let policy = f
            .policy
            .as_deref()
            .map(|p| format!(" `{p}`"))
            .unwrap_or_default();
        let _ = writeln!(out, "    layer: {l}{policy}");
    }
    let Some(fix) = &f.fix else {
        return;
    };
    let _ = writeln!(out, "    fix: {}", fix.summary);
    for r in &fix.remove {
        let _ = writeln!(out, "    remove: {r}");
    }
    if !fix.key_policy_statements.is_empty() {
        let _ = writeln!(out, "    key policy statement(s):");
        let body = fix
            .key_policy_statements
            .iter()
            .map(pretty)
            .collect::<Vec<_>>()
            .join(",\n");
        let _ = writeln!(out, "{}", indent(&body, 6));
    }
    if !fix.identity_policy_statements.is_empty() {
        let _ = writeln!(out, "    identity policy:");
        let doc = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": fix.identity_policy_statements,
        });
        let _ = writeln!(out, "{}", indent(&pretty(&doc), 6));
    }
    if !fix.policy_statements.is_empty() {
        let what = f.layer.map(|l| l.words()).unwrap_or("policy");
        let _ = writeln!(out, "    {what} statement(s):");
        let body = fix
            .policy_statements
            .iter()
            .map(pretty)
            .collect::<Vec<_>>()
            .join(",\n");
        let _ = writeln!(out, "{}", indent(&body, 6));
    }
    for c in &fix.commands {
        let _ = writeln!(out, "    run: {c}");
    }
}

/// Short, readable text; fixes as paste-ready JSON. `color`: ANSI colours.
pub fn render_text(a: &Analysis, color: bool) -> String {
    let p = Paint { on: color };
    let mut out = String::new();
    let verdict = match a.verdict {
        Verdict::Allow => p.green("ALLOWED"),
        Verdict::Deny => p.red("DENIED"),
        Verdict::Undecided => p.yellow("UNDECIDED"),
    };
    let _ = writeln!(out, "{verdict}: {} of an AMI encrypted with", a.operation);
    let _ = writeln!(out, "  key       {}", a.key_arn);
    let _ = writeln!(out, "  by        {}", a.principal);
    let acct = if a.cross_account {
        format!(
            "cross-account (key in {}, principal in {})",
            a.key_account, a.principal_account
        )
    } else {
        format!("same account ({})", a.key_account)
    };
    let _ = writeln!(out, "  {acct}; EC2 calls KMS via {}", a.via_service);
    let _ = writeln!(out);
    let _ = writeln!(out, "checks:");
    let width = a.checks.iter().map(|c| c.action.len()).max().unwrap_or(0);
    for c in &a.checks {
        let v = match c.verdict {
            Verdict::Allow => p.green("allow"),
            Verdict::Deny => p.red("deny"),
            Verdict::Undecided => p.yellow("undecided"),
        };
        let _ = writeln!(out, "  {:<width$}  {v}", c.action);
        if let Some(by) = &c.principal {
            let _ = writeln!(out, "    made by {by} (under EC2's grant)");
        }
        let id = if c.identity_required {
            source(&c.identity_policies)
        } else {
            format!("{} {}", source(&c.identity_policies), p.dim("(not needed)"))
        };
        let _ = writeln!(
            out,
            "    key policy: {}; identity: {}; grants: {}",
            source(&c.key_policy),
            id,
            source(&c.grants)
        );
        if !c.guardrails.is_empty() {
            let layers: Vec<String> = c.guardrails.iter().map(layer).collect();
            let _ = writeln!(out, "    {}", layers.join("; "));
        }
        for u in &c.unresolved_variables {
            let _ = writeln!(out, "    {}", unresolved(u));
        }
    }
    if a.findings.is_empty() {
        let _ = writeln!(out, "\nno findings");
    } else {
        let _ = writeln!(out, "\nfindings ({}):", a.findings.len());
        for f in &a.findings {
            finding(&mut out, f, &p);
        }
    }
    out.trim_end().to_string()
}
