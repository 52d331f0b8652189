//! The plan as the commands show and save it: its text (`Plan`'s `Display`, what `copy` and
//! `apply` show before asking, grouped by account), the `--plan-out` file, and the output of a
//! plan that is not applied (blocked, dry run, nothing to do).

use std::fmt;

use crate::cli::CliError;
use crate::domain::states::{KeyManager, KeyState};
use crate::workflow::copy::Report;
use crate::workflow::plan::{Action, Plan};
use crate::workflow::ports_write::DryRunOutcome;

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

/// The plan's text (the plan is a value of the workflow; how it reads is the CLI's).
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        header(self, f)?;
        findings(self, f)?;
        steps(self, f)?;
        handoffs(self, f)
    }
}

/// What is copied where: the image, its snapshots and their keys.
fn header(plan: &Plan, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let name = plan
        .source
        .name
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    writeln!(
        f,
        "Plan {} : copy {}{} from {}/{} to {} in {}",
        plan.run_id,
        plan.source.image_id,
        name,
        plan.source.account,
        plan.source.region,
        plan.options.target_accounts.join(", "),
        plan.options.target_regions.join(", ")
    )?;
    if let Some(o) = &plan.options.org_targets {
        writeln!(
            f,
            "  {} target accounts from {}",
            plan.options.target_accounts.len(),
            o.from.join(", ")
        )?;
        for s in &o.skipped {
            writeln!(f, "  skipped account {}: {}", s.account, s.reason)?;
        }
        let scopes = o.key_policy_scopes();
        if !scopes.is_empty() {
            let labels: Vec<String> = scopes.iter().map(|s| s.label()).collect();
            writeln!(
                f,
                "  the source key policy admits {} with conditioned statements ({} of the accounts not listed)",
                labels.join(", "),
                o.members.len()
            )?;
        }
    }
    for s in &plan.source.snapshots {
        match &s.key_arn {
            Some(k) => writeln!(f, "  snapshot {} encrypted with {k}", s.snapshot_id)?,
            None if s.encrypted => writeln!(f, "  snapshot {} encrypted", s.snapshot_id)?,
            None => writeln!(f, "  snapshot {} not encrypted", s.snapshot_id)?,
        }
    }
    for k in &plan.keys {
        writeln!(
            f,
            "  key {}: {} managed, {}{}",
            k.arn,
            k.manager.as_ref().map_or("?", KeyManager::as_str),
            k.state.as_ref().map_or("?", KeyState::as_str),
            if k.multi_region == Some(true) {
                ", multi-region"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

/// The accounts a guardrail left out, grouped by cause (layer and policy).
fn excluded(plan: &Plan, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if plan.excluded.is_empty() || !plan.blockers.is_empty() {
        return Ok(());
    }
    for (cause, accounts) in crate::workflow::plan::by_cause(&plan.excluded) {
        writeln!(
            f,
            "LEFT OUT by {cause} ({} account{}): {}",
            accounts.len(),
            if accounts.len() == 1 { "" } else { "s" },
            accounts.join(", ")
        )?;
        let first = plan
            .excluded
            .iter()
            .flat_map(|e| e.causes.iter().map(move |c| (e, c)))
            .find(|(_, c)| c.group() == cause);
        if let Some((e, c)) = first {
            writeln!(f, "  e.g. account {}: {}", e.account, c.message)?;
            writeln!(f, "  fix: {}", c.fix)?;
        }
    }
    Ok(())
}

/// Blockers, access checks, warnings and permission probes.
fn findings(plan: &Plan, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for b in &plan.blockers {
        let account = b
            .account
            .as_deref()
            .map(|a| format!(" (account {a})"))
            .unwrap_or_default();
        writeln!(f, "BLOCKED [{}]{account}: {}", b.code, b.message)?;
        writeln!(f, "  fix: {}", b.fix)?;
    }
    excluded(plan, f)?;
    for c in &plan.checks {
        let findings = if c.findings.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.findings.join(", "))
        };
        let missing = if c.missing_actions.is_empty() {
            String::new()
        } else {
            format!(" (missing {})", c.missing_actions.join(", "))
        };
        writeln!(
            f,
            "  access of {} to {} for {}: now {}{findings}{missing}, after the plan {}",
            c.principal, c.key_arn, c.operation, c.now, c.after_plan
        )?;
    }
    for w in &plan.warnings {
        writeln!(f, "  warning: {w}")?;
    }
    for n in &plan.notes {
        writeln!(f, "  note: {n}")?;
    }
    for p in &plan.probes {
        let outcome = match &p.outcome {
            DryRunOutcome::Allowed => "allowed".to_string(),
            DryRunOutcome::Denied { message } => format!("DENIED: {message}"),
            DryRunOutcome::Inconclusive { message } => format!("not known: {message}"),
            DryRunOutcome::NotProbed => "not probed".to_string(),
        };
        writeln!(
            f,
            "  permission probe (DryRun) {} in {}/{}: {outcome}",
            p.probe.api(),
            p.account,
            p.region
        )?;
    }
    Ok(())
}

/// Existing copies, then the steps grouped by account, the source first.
fn steps(plan: &Plan, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (account, region, image) in &plan.existing_copies {
        writeln!(f, "  copy exists: {account}/{region} {image}")?;
    }
    if plan.steps.is_empty() {
        writeln!(f, "Nothing to change.")?;
    }
    for (account, steps) in plan.steps_by_account() {
        let role = if account == plan.source.account {
            "source"
        } else {
            "target"
        };
        writeln!(f, "account {account} ({role}):")?;
        for s in steps {
            writeln!(
                f,
                "  {:>4}. [{} {}] {}",
                s.id,
                s.action.api(),
                s.region,
                s.action.summary()
            )?;
            if let Action::PutKeyPolicy { diff, .. } | Action::PutTargetKeyPolicy { diff, .. } =
                &s.action
            {
                for line in diff.lines() {
                    writeln!(f, "        {line}")?;
                }
            }
        }
    }
    Ok(())
}

/// What the admin of an account without credentials has to do.
fn handoffs(plan: &Plan, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for h in &plan.handoffs {
        writeln!(
            f,
            "hand-off for the admin of {} (no credentials for it were given):",
            h.account
        )?;
        writeln!(
            f,
            "  IAM policy {} to create and attach to the principals that launch:",
            h.policy_name
        )?;
        for line in h.policy_document.lines() {
            writeln!(f, "    {line}")?;
        }
        writeln!(f, "  then run:")?;
        for c in &h.commands {
            writeln!(f, "    {c}")?;
        }
    }
    Ok(())
}
