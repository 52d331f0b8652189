//! The diagnosis of a failed copy or test launch inside a run: the shared diagnosis
//! ([`crate::workflow::diagnose`]) run with the target account's reader for the instance and the
//! launching principal and the source account's for the key policies, and the report's short form
//! of it (cause, finding codes, fix, statements to add, evidence).

use super::apply::Apply;
use super::report::LaunchReport;
use crate::policy;
use crate::workflow::diagnose::{
    diagnose_launch, DiagnoseOptions, DiagnoseTarget, DiagnosisOutcome, Evidence,
};
use crate::workflow::events::Events;
use crate::workflow::journal::JournalStore;
use crate::workflow::plan::Plan;
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::Writer;
use crate::workflow::world::Conn;

/// The report's form of a diagnosis lives with the report (a value it holds).
pub use super::report::Diagnosis;

/// Name the cause of a failed copy or launch with the shared diagnosis
/// ([`crate::workflow::diagnose::diagnose_launch`]): the target account's reader for the instance and the
/// launching principal, the source account's reader for the key policies; then the report's short
/// form (cause, finding codes, fix, statements to add, evidence) next to the full diagnosis.
pub async fn diagnose<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    ctx: &Apply<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    plan: &Plan,
    operation: policy::Operation,
    launch: Option<&LaunchReport>,
) -> Diagnosis {
    let principal = conn.reader.identity().arn.clone();
    diagnose_as(
        ctx,
        conn,
        plan,
        operation,
        launch,
        &principal,
        &plan.source.image_id,
    )
    .await
}

/// [`diagnose`] for another launching `principal` (a `--grant` launcher, issue 11) and the image
/// it launched.
pub async fn diagnose_as<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    ctx: &Apply<'_, R, W, S, E>,
    conn: &Conn<R, W>,
    plan: &Plan,
    operation: policy::Operation,
    launch: Option<&LaunchReport>,
    principal: &str,
    image_id: &str,
) -> Diagnosis {
    let principal = principal.to_string();
    let options = DiagnoseOptions {
        operation,
        ..DiagnoseOptions::default()
    };
    let ami = DiagnoseTarget::Ami {
        image_id: image_id.to_string(),
        principal: principal.clone(),
    };
    let source = Some(&ctx.world.source.reader);
    let mut result = match launch.and_then(|l| l.instance_id.clone()) {
        Some(instance_id) => {
            let target = DiagnoseTarget::Instance {
                instance_id,
                principal: Some(principal.clone()),
            };
            diagnose_launch(&conn.reader, source, &target, &options).await
        }
        None => diagnose_launch(&conn.reader, source, &ami, &options).await,
    };
    // The instance no longer shows the failure (or cannot be read): predict from the image.
    if launch.is_some()
        && result
            .as_ref()
            .map_or(true, |d| d.outcome == DiagnosisOutcome::NoProblem)
    {
        if let Ok(d) = diagnose_launch(&conn.reader, source, &ami, &options).await {
            result = Ok(d);
        }
    }
    match result {
        Ok(d) => summarize(plan, conn.writer.account(), launch, d),
        Err(e) => Diagnosis {
            cause: format!("the diagnosis could not run: {e}"),
            codes: Vec::new(),
            fix: e.hint(),
            key_policy_statements: Vec::new(),
            evidence: launch_evidence(launch).into_iter().collect(),
            details: None,
        },
    }
}

fn launch_evidence(launch: Option<&LaunchReport>) -> Option<String> {
    let l = launch?;
    let code = l.state_reason_code.as_deref()?;
    Some(format!(
        "instance {} state reason {code}: {}",
        l.instance_id.as_deref().unwrap_or("?"),
        l.state_reason_message.as_deref().unwrap_or("")
    ))
}

/// The report's short form of a shared diagnosis.
fn summarize(
    plan: &Plan,
    account: &str,
    launch: Option<&LaunchReport>,
    d: crate::workflow::diagnose::Diagnosis,
) -> Diagnosis {
    let mut out = Diagnosis {
        cause: String::new(),
        codes: Vec::new(),
        fix: None,
        key_policy_statements: Vec::new(),
        evidence: Vec::new(),
        details: None,
    };
    let has_state_reason = d.causes.iter().any(|c| {
        c.evidence
            .iter()
            .any(|e| matches!(e, Evidence::StateReason { .. }))
    });
    if !has_state_reason {
        out.evidence.extend(launch_evidence(launch));
    }
    let mut causes = Vec::new();
    for c in &d.causes {
        causes.push(match &c.key_arn {
            Some(k) if !c.message.contains(k.as_str()) => format!("{k}: {}", c.message),
            _ => c.message.clone(),
        });
        out.codes.push(c.code.to_string());
        if let Some(fix) = &c.fix {
            if out.fix.is_none() {
                out.fix = Some(fix.summary.clone());
            }
            out.key_policy_statements
                .extend(fix.key_policy_statements.iter().cloned());
        }
        for e in &c.evidence {
            let line = match e {
                Evidence::StateReason {
                    instance_id,
                    code,
                    message,
                } => format!(
                    "instance {instance_id} state reason {}: {}",
                    code.as_deref().unwrap_or("?"),
                    message.as_deref().unwrap_or("")
                ),
                Evidence::Event {
                    event_name,
                    event_time,
                    error_code,
                    error_message,
                    ..
                } => format!(
                    "CloudTrail {} {event_name} {}: {}",
                    event_time.as_deref().unwrap_or(""),
                    error_code.as_deref().unwrap_or(""),
                    error_message.as_deref().unwrap_or("")
                ),
                Evidence::Statement { policy, sid, .. } => format!(
                    "{policy}, statement {}",
                    sid.as_deref()
                        .map(|s| format!("`{s}`"))
                        .unwrap_or_else(|| "without Sid".into())
                ),
                Evidence::Key {
                    key_arn,
                    key_manager,
                    key_state,
                    account,
                } => format!(
                    "key {key_arn} in {account}: {} managed, {}",
                    key_manager.as_deref().unwrap_or("?"),
                    key_state.as_deref().unwrap_or("?")
                ),
            };
            if !out.evidence.contains(&line) {
                out.evidence.push(line);
            }
        }
    }
    out.codes.sort();
    out.codes.dedup();
    out.cause = if causes.is_empty() {
        format!("no cause found: {}", d.summary)
    } else {
        causes.join("; ")
    };
    if out.fix.is_none() && !out.codes.is_empty() {
        out.fix = Some(format!(
            "run `amishare copy {} --to {account}` without `--skip-key-policy-edit` to add the account to the key policy",
            plan.source.image_id
        ));
    }
    out.details = Some(Box::new(d));
    out
}
