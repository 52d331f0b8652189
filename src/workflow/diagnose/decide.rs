//! Deciding: from [`Facts`] to a [`Diagnosis`] (causes with evidence and fixes, outcome,
//! summary), without any I/O.
//!
//! Causes are the policy engine's error findings ([`policy::analyze`]) plus what AWS shows
//! directly: the key's state, an AWS managed key used across accounts, and KMS refusals in
//! CloudTrail the policies read do not explain ([`super::denials`]); they are ranked by
//! [`super::rank`] and the fixes built by [`super::fix`].

use std::collections::BTreeSet;

use super::arn::arn_account;
use super::code::CauseCode;
use super::denials;
use super::documents::statement_json;
use super::facts::{is_launch_failure, DescribedKey, Facts, KeyFacts, KeyState};
use super::fix::{aws_managed_fix, build_fix, key_state_fix, FixContext};
use super::rank::rank;
use super::types::{
    Cause, DiagnoseOptions, Diagnosis, DiagnosisOutcome, Evidence, KeyReport, Unseen,
};
use crate::domain::states::InstanceState;
use crate::policy::{
    self, Analysis, AnalysisRequest, CallerContext, Finding, FindingCode, KeyInfo, KeyManager,
    Severity, Verdict,
};
use crate::workflow::guardrail_facts::OrgPolicyKind;
use crate::workflow::inventory::{InstanceInfo, KeyDescription};

/// What judging the keys produced.
#[derive(Default)]
struct Judged {
    causes: Vec<Cause>,
    warnings: Vec<Finding>,
    unseen: Vec<Unseen>,
    /// One per key of the facts, in order (`None`: not analysed).
    analyses: Vec<Option<Analysis>>,
}

/// The diagnosis the facts support.
pub fn decide(facts: Facts, options: &DiagnoseOptions) -> Diagnosis {
    let failed_launch = facts
        .instance
        .as_ref()
        .and_then(|i| i.state_reason.as_ref())
        .is_some_and(is_launch_failure);
    if let (Some(inst), false) = (&facts.instance, failed_launch) {
        let summary = healthy_summary(inst);
        return Diagnosis {
            outcome: DiagnosisOutcome::NoProblem,
            summary,
            ..empty(facts)
        };
    }
    let state_reason = facts.instance.as_ref().and_then(|inst| {
        inst.state_reason.as_ref().map(|r| Evidence::StateReason {
            instance_id: inst.id.clone(),
            code: r.code.clone(),
            message: r.message.clone(),
        })
    });

    let mut judged = Judged {
        unseen: facts.unseen.clone(),
        ..Judged::default()
    };
    let launch_account = facts
        .principal
        .as_ref()
        .and_then(|p| arn_account(&p.arn).map(str::to_string))
        .unwrap_or_else(|| facts.account.clone());
    for k in &facts.keys {
        let analysis = judge_key(&facts, k, options, &launch_account, &mut judged);
        judged.analyses.push(analysis);
    }

    let denials = denials::select_for_launch(&facts, options.trail_before, options.trail_after);
    let described: Vec<&KeyDescription> = facts
        .keys
        .iter()
        .filter_map(|k| k.key.as_ref().map(|d| &d.desc))
        .collect();
    denials::attach(&mut judged.causes, &denials, &described);
    if let Some(sr) = &state_reason {
        for c in &mut judged.causes {
            c.evidence.insert(0, sr.clone());
        }
    }
    rank(&mut judged.causes);

    let verdicts: Vec<Verdict> = judged
        .analyses
        .iter()
        .flatten()
        .map(|a| a.verdict)
        .collect();
    let outcome = outcome(&facts, &judged, &verdicts, failed_launch);
    let summary = summary(outcome, &judged.causes, facts.keys.len(), failed_launch);
    if outcome == DiagnosisOutcome::Undecided
        && failed_launch
        && verdicts.iter().all(|v| *v == Verdict::Allow)
        && !facts.keys.is_empty()
    {
        judged.unseen.push(guardrails_unseen(
            options.scps.is_some(),
            !facts.boundary.is_absent(),
        ));
    }
    assemble(facts, judged, outcome, summary, denials)
}

/// A diagnosis with the facts' target, account, region and instance, and nothing found.
fn empty(facts: Facts) -> Diagnosis {
    Diagnosis {
        target: facts.target,
        outcome: DiagnosisOutcome::Undecided,
        summary: String::new(),
        account: facts.account,
        region: facts.region,
        instance: facts.instance,
        image: None,
        principal: None,
        keys: Vec::new(),
        causes: Vec::new(),
        warnings: Vec::new(),
        denials: Vec::new(),
        unseen: Vec::new(),
    }
}

fn healthy_summary(inst: &InstanceInfo) -> String {
    format!(
        "instance {} is {}{}: no failed launch to explain",
        inst.id,
        inst.state
            .as_ref()
            .map_or("in an unknown state", InstanceState::as_str),
        inst.state_reason
            .as_ref()
            .and_then(|r| r.message.as_deref())
            .map(|m| format!(" ({m})"))
            .unwrap_or_default()
    )
}

fn assemble(
    mut facts: Facts,
    judged: Judged,
    outcome: DiagnosisOutcome,
    summary: String,
    denials: Vec<crate::workflow::inventory::TrailEvent>,
) -> Diagnosis {
    let keys = std::mem::take(&mut facts.keys)
        .into_iter()
        .zip(judged.analyses)
        .map(|(k, analysis)| {
            let (description, policy_read, grants_read) = match k.key {
                Some(d) => (
                    Some(d.desc),
                    d.policy_text.is_some(),
                    d.grants.as_ref().map(Vec::len),
                ),
                None => (None, false, None),
            };
            KeyReport {
                key_id: k.key_id,
                description,
                used_by: k.used_by,
                policy_read,
                grants_read,
                analysis,
            }
        })
        .collect();
    let image = facts.image.take();
    let principal = facts.principal.take();
    Diagnosis {
        outcome,
        summary,
        image,
        principal,
        keys,
        causes: judged.causes,
        warnings: judged.warnings,
        denials,
        unseen: judged.unseen,
        ..empty(facts)
    }
}

/// The causes one key shows, and its analysis when there is a principal to analyse.
fn judge_key(
    facts: &Facts,
    k: &KeyFacts,
    options: &DiagnoseOptions,
    launch_account: &str,
    out: &mut Judged,
) -> Option<Analysis> {
    let key = k.key.as_ref()?;
    let desc = &key.desc;
    let key_evidence = Evidence::Key {
        key_arn: desc.arn.clone(),
        key_manager: desc.key_manager.as_ref().map(ToString::to_string),
        key_state: desc.key_state.as_ref().map(ToString::to_string),
        account: desc.account.clone(),
    };
    if let Some(c) = key_state_cause(key, &key_evidence) {
        out.causes.push(c);
    }
    let Some(p) = facts.principal.as_ref() else {
        if key.manager == KeyManager::Aws && desc.account != launch_account {
            out.causes.push(Cause {
                rank: 0,
                code: CauseCode::Finding(FindingCode::AwsManagedKey),
                key_arn: Some(desc.arn.clone()),
                message: format!(
                    "key `{}` is AWS managed (aws/ebs) in account {}: no other account can use it",
                    desc.arn, desc.account
                ),
                actions: Vec::new(),
                evidence: vec![key_evidence],
                fix: Some(aws_managed_fix(desc, facts.image.as_ref())),
            });
        }
        return None;
    };
    out.unseen.extend(k.unseen.iter().cloned());
    let key_info = KeyInfo {
        arn: desc.arn.clone(),
        manager: key.manager,
        policy: key.policy.clone(),
        grants: key.grants.clone().unwrap_or_default(),
    };
    let ctx = CallerContext {
        region: Some(facts.region.clone()),
        now: Some(facts.launch_time),
        guardrails: policy::Guardrails {
            scps: options
                .scps
                .as_ref()
                .map(|p| p.to_known(OrgPolicyKind::ServiceControlPolicy))
                .unwrap_or_default(),
            boundary: facts.boundary.clone(),
            ..policy::Guardrails::default()
        },
        ..CallerContext::default()
    };
    let analysis = match policy::analyze(&AnalysisRequest {
        key: &key_info,
        principal: &p.arn,
        identity_policies: &facts.identity_docs,
        operation: options.operation,
        context: &ctx,
    }) {
        Ok(a) => a,
        Err(e) => {
            out.unseen.push(Unseen {
                what: format!("analysis of `{}` with key {}", p.arn, desc.arn),
                error: None,
                meaning: format!("the policy engine refused the input: {e}"),
                how_to_see: "pass the launching principal's ARN with `--principal`".to_string(),
            });
            return None;
        }
    };
    for f in &analysis.findings {
        let identity_unseen = facts.identity.is_none()
            && matches!(
                f.code,
                FindingCode::IdentityPolicyMissingAction | FindingCode::IdentityPolicyExplicitDeny
            );
        if f.severity != Severity::Error || identity_unseen {
            out.warnings.push(f.clone());
        } else {
            out.causes
                .push(finding_cause(f, facts, key, &key_evidence, &p.arn));
        }
    }
    Some(analysis)
}

/// A disabled key, or one pending deletion, is a cause of its own (KMS refuses every use).
fn key_state_cause(key: &DescribedKey, evidence: &Evidence) -> Option<Cause> {
    let (code, what, pending_deletion) = match key.state.as_ref()? {
        KeyState::Disabled => (CauseCode::KeyDisabled, "disabled", false),
        KeyState::PendingDeletion => (CauseCode::KeyPendingDeletion, "pending deletion", true),
        KeyState::Enabled
        | KeyState::PendingImport
        | KeyState::PendingReplicaDeletion
        | KeyState::Unavailable
        | KeyState::Creating
        | KeyState::Updating
        | KeyState::Other(_) => return None,
    };
    let desc = &key.desc;
    Some(Cause {
        rank: 0,
        code,
        key_arn: Some(desc.arn.clone()),
        message: format!("key `{}` is {what}: KMS refuses every use of it", desc.arn),
        actions: Vec::new(),
        evidence: vec![evidence.clone()],
        fix: Some(key_state_fix(desc, pending_deletion)),
    })
}

/// An error finding of the policy engine as a cause, with the statement it points at and a fix.
fn finding_cause(
    f: &Finding,
    facts: &Facts,
    key: &DescribedKey,
    key_evidence: &Evidence,
    principal: &str,
) -> Cause {
    let mut evidence = vec![key_evidence.clone()];
    if let Some(sref) = &f.statement {
        evidence.push(Evidence::Statement {
            policy: sref.policy.clone(),
            sid: sref.sid.clone(),
            index: sref.index,
            statement: statement_json(key.policy_text.as_deref(), facts.identity.as_ref(), sref),
        });
    }
    let fix = f.fix.as_ref().map(|fx| {
        build_fix(
            fx,
            f,
            &FixContext {
                desc: &key.desc,
                key_policy: key.policy_text.as_deref(),
                identity: facts.identity.as_ref(),
                principal,
                editor: key.editor.as_deref(),
            },
        )
    });
    Cause {
        rank: 0,
        code: CauseCode::Finding(f.code),
        key_arn: Some(key.desc.arn.clone()),
        message: f.message.clone(),
        actions: f.actions.clone(),
        evidence,
        fix,
    }
}

/// A cause found; or nothing wrong (every key analysed and allowed with the identity policies
/// read, or no encrypted snapshot and everything read); else undecided.
fn outcome(
    facts: &Facts,
    judged: &Judged,
    verdicts: &[Verdict],
    failed_launch: bool,
) -> DiagnosisOutcome {
    let keys = &facts.keys;
    let all_allowed = !keys.is_empty()
        && verdicts.len() == keys.len()
        && verdicts.iter().all(|v| *v == Verdict::Allow)
        && facts.identity.is_some();
    let nothing_encrypted = facts.image.is_some() && keys.is_empty() && judged.unseen.is_empty();
    if !judged.causes.is_empty() {
        DiagnosisOutcome::CauseFound
    } else if !failed_launch && (all_allowed || nothing_encrypted) {
        DiagnosisOutcome::NoProblem
    } else {
        DiagnosisOutcome::Undecided
    }
}

fn summary(
    outcome: DiagnosisOutcome,
    causes: &[Cause],
    keys: usize,
    failed_launch: bool,
) -> String {
    match outcome {
        DiagnosisOutcome::CauseFound => format!(
            "{} cause{}: {}",
            causes.len(),
            if causes.len() == 1 { "" } else { "s" },
            causes
                .iter()
                .map(|c| c.code.as_str())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DiagnosisOutcome::NoProblem if keys == 0 => {
            "the image has no encrypted snapshots: no KMS key can stop the launch".to_string()
        }
        DiagnosisOutcome::NoProblem => format!(
            "the key polic{} and identity policies allow the launch",
            if keys == 1 { "y" } else { "ies" }
        ),
        DiagnosisOutcome::Undecided if failed_launch => {
            "the launch failed, but amishare could not name the cause from what it could read"
                .to_string()
        }
        DiagnosisOutcome::Undecided => {
            "amishare could not decide from what it could read".to_string()
        }
    }
}

/// What may still deny a launch every policy read allows: the layers not read.
fn guardrails_unseen(scps_read: bool, boundary_read: bool) -> Unseen {
    let mut layers = Vec::new();
    if !scps_read {
        layers.push("service control policies");
    }
    if !boundary_read {
        layers.push("permission boundaries");
    }
    layers.push("session policies");
    let what = match layers.as_slice() {
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
        [] => String::new(),
    };
    Unseen {
        what,
        error: None,
        meaning: "the key policy and identity policies allow the launch; a guardrail amishare cannot read may still deny it".into(),
        how_to_see: "aws organizations list-policies-for-target --target-id ACCOUNT --filter SERVICE_CONTROL_POLICY (from the management account, or pass `--org-profile`); aws iam get-user/get-role (PermissionsBoundary); CloudTrail's AssumeRole event (session policies)".into(),
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
