//! `analyze`: run a scenario's requests, decide, and explain every reason with a fix.

use super::context::CallerContext;
use super::eval::{Decision, KeyArn, KeyInfo, KeyManager, Outcome, PolicyError, Verdict};
use super::findings::{Finding, Severity};
use super::guardrails::evaluate_guarded;
use super::lint::lint;
use super::matching::Caller;
use super::model::{PolicyDocument, Statement, StatementRef};
use super::scenario::{requests, Operation};
pub use super::statement::{has_via_aws_service_exception, with_via_aws_service_exception};
use serde::Serialize;
use serde_json::Value;

mod deny;
mod guardrails;
mod identity;
mod key_policy;

/// What to analyse.
#[derive(Debug, Clone, Copy)]
pub struct AnalysisRequest<'a> {
    pub key: &'a KeyInfo,
    /// User, role, role session, or Auto Scaling's service-linked role ARN.
    pub principal: &'a str,
    /// The principal's identity policies (in its own account).
    pub identity_policies: &'a [PolicyDocument],
    pub operation: Operation,
    pub context: &'a CallerContext,
}

/// One required KMS action and how each source decided it.
pub type ActionCheck = Decision;

/// The result of [`analyze`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub verdict: Verdict,
    pub operation: Operation,
    pub principal: String,
    pub principal_account: String,
    pub key_arn: String,
    pub key_account: String,
    pub key_manager: KeyManager,
    pub cross_account: bool,
    /// Where the launch or copy happens.
    pub region: String,
    /// The `kms:ViaService` of EC2's on-behalf calls.
    pub via_service: String,
    pub checks: Vec<ActionCheck>,
    pub findings: Vec<Finding>,
}

impl Analysis {
    /// Findings of severity error.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }
}

/// Decide whether `req.principal` can launch or copy an AMI encrypted with `req.key`, and
/// explain every reason it cannot with a fix, plus lints. Pure.
pub fn analyze(req: &AnalysisRequest<'_>) -> Result<Analysis, PolicyError> {
    let caller = Caller::parse(req.principal)?;
    let key_arn = KeyArn::parse(&req.key.arn)?;
    let region = req
        .context
        .region
        .clone()
        .unwrap_or_else(|| key_arn.region.clone());
    let cross_account = caller.account != key_arn.account;

    let mut checks: Vec<Decision> = requests(
        req.operation,
        &caller,
        req.context,
        &key_arn.region,
        cross_account,
    )
    .iter()
    .map(|r| {
        evaluate_guarded(
            req.key,
            &key_arn,
            &caller,
            req.identity_policies,
            r.action,
            &r.context,
            &req.context.guardrails,
        )
    })
    .collect();

    // EC2's `aws:ec2-infrastructure` role decrypts under the grant: the organization layers
    // (SCPs of the caller's account, RCPs of the key owner) apply to it too.
    checks.extend(super::guardrails::infrastructure_decision(
        req.key,
        &key_arn,
        &caller,
        req.context,
        req.operation.ebs_id_placeholder(),
    ));

    let verdict = if checks.iter().all(Decision::allowed) {
        Verdict::Allow
    } else if checks.iter().any(|c| c.verdict == Verdict::Deny) {
        Verdict::Deny
    } else {
        Verdict::Undecided
    };

    let ctx = Ctx {
        req,
        caller: &caller,
        key_arn: &key_arn,
        cross_account,
        checks: &checks,
    };
    let mut findings = Vec::new();
    if verdict != Verdict::Allow {
        ctx.reasons(&mut findings);
    }
    // Lints, minus those that repeat an error finding's statement and fix.
    let errors_len = findings.len();
    for l in lint(req.key, &key_arn, req.identity_policies) {
        let repeats = findings[..errors_len].iter().any(|f| {
            f.statement.is_some()
                && f.statement == l.statement
                && match (&f.fix, &l.fix) {
                    (Some(a), Some(b)) => {
                        !(a.key_policy_statements.is_empty()
                            && a.identity_policy_statements.is_empty())
                            && a.key_policy_statements == b.key_policy_statements
                            && a.identity_policy_statements == b.identity_policy_statements
                    }
                    _ => false,
                }
        });
        if !repeats {
            findings.push(l);
        }
    }
    findings.sort_by_key(|f| f.severity);

    Ok(Analysis {
        verdict,
        operation: req.operation,
        principal: caller.arn.clone(),
        principal_account: caller.account.clone(),
        key_arn: req.key.arn.clone(),
        key_account: key_arn.account.clone(),
        key_manager: req.key.manager,
        cross_account,
        region,
        via_service: format!("ec2.{}.amazonaws.com", key_arn.region),
        checks,
        findings,
    })
}

struct Ctx<'a> {
    req: &'a AnalysisRequest<'a>,
    caller: &'a Caller,
    key_arn: &'a KeyArn,
    cross_account: bool,
    checks: &'a [Decision],
}

/// Group `(statement, action)` pairs by statement, keeping first-seen order.
fn group_by_statement(
    pairs: impl Iterator<Item = (StatementRef, String)>,
) -> Vec<(StatementRef, Vec<String>)> {
    let mut out: Vec<(StatementRef, Vec<String>)> = Vec::new();
    for (s, a) in pairs {
        match out.iter_mut().find(|(x, _)| *x == s) {
            Some((_, acts)) => {
                if !acts.contains(&a) {
                    acts.push(a);
                }
            }
            None => out.push((s, vec![a])),
        }
    }
    out
}

/// The statement `r` names, with its JSON as read.
fn find_statement<'d>(
    docs: impl Iterator<Item = &'d PolicyDocument>,
    r: &StatementRef,
) -> Option<(&'d Statement, Value)> {
    docs.filter(|d| d.origin == r.policy).find_map(|d| {
        let st = d.statements.iter().find(|s| s.index == r.index)?;
        Some((st, d.statement_value(r.index)?.clone()))
    })
}

const NETWORK_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:vpcsourceip",
];

fn is_network_key(k: &str) -> bool {
    NETWORK_KEYS.iter().any(|n| n.eq_ignore_ascii_case(k))
}

impl Ctx<'_> {
    fn key_region(&self) -> &str {
        &self.key_arn.region
    }

    fn via_service(&self) -> String {
        format!("ec2.{}.amazonaws.com", self.key_region())
    }

    /// The ARN a fix names: the role for a role session.
    fn fix_principal(&self) -> String {
        self.caller.policy_arn().to_string()
    }

    fn reasons(&self, out: &mut Vec<Finding>) {
        let key = self.req.key;
        let aws_managed_cross = key.manager == KeyManager::Aws && self.cross_account;
        if aws_managed_cross {
            out.push(self.aws_managed());
        }
        self.explicit_denies(out);
        self.guardrail_reasons(out);
        if aws_managed_cross {
            return;
        }
        let slr = self.caller.is_autoscaling_service_role();
        if slr && self.cross_account {
            if self.checks.iter().any(|c| {
                c.policies_verdict != Verdict::Allow
                    && c.key_policy.outcome != Outcome::ExplicitDeny
                    && c.identity_policies.outcome != Outcome::ExplicitDeny
            }) {
                out.push(self.needs_grant());
            }
            return;
        }
        if key.policy.is_some() {
            self.key_policy_reasons(out);
        }
        self.identity_reasons(out, slr);
    }
}
