//! The rule (issue 18): the plan never runs a step it predicts will fail. Every access check
//! the plan builder makes (the copier on the source keys, the launchers on their keys, Auto
//! Scaling's role on its grant, the grant's creator) reaches the [`Plan`](crate::workflow::plan::Plan)
//! only through [`admit`]: a check whose verdict after the plan is not `allow` becomes a
//! blocker, so nothing runs (exit 1) and AWS is left as it was. Its text names the principal,
//! the key, the actions still missing and the exact fix; it records the account it concerns.
//!
//! The one exception is the hidden `--skip-key-policy-edit`, which exists to reproduce the
//! failure: its predicted failures are warnings.

use super::Draft;
use crate::domain::arn::account_of;
use crate::workflow::plan::{
    AccessCheck, AccessVerdict, Blocker, BlockerCode, ExcludedAccount, GuardrailCause, Plan,
    PlanOptions,
};

/// Checks that went through the rule: the only way checks reach a plan.
pub struct Admitted(Vec<AccessCheck>);

impl Admitted {
    pub fn into_checks(self) -> Vec<AccessCheck> {
        self.0
    }
}

/// Apply the rule to `checks`: a blocker (or, with `--skip-key-policy-edit`, a warning) for
/// each one the plan does not make `allow`.
pub fn admit(checks: Vec<AccessCheck>, opts: &PlanOptions, draft: &mut Draft) -> Admitted {
    for c in checks
        .iter()
        .filter(|c| c.after_plan != AccessVerdict::Allow)
    {
        let b = blocker(c);
        if opts.skip_key_policy_edit {
            draft.warnings.push(format!(
                "`--skip-key-policy-edit`: {} (the run goes on, and fails there)",
                b.message
            ));
        } else if !draft.blockers.contains(&b) {
            draft.blockers.push(b);
        }
    }
    Admitted(checks)
}

/// With several targets: the accounts to leave out because only the rule's blockers stop
/// the plan and each concerns one target account (a copier or launcher of it), as long as an
/// account is left to copy to. `None`: nothing to leave out (no blockers, a blocker that
/// concerns the whole run, or every remaining account blocked: the blockers stand).
pub fn left_out(plan: &Plan) -> Option<Vec<ExcludedAccount>> {
    if plan.blockers.is_empty() {
        return None;
    }
    let targets = &plan.options.target_accounts;
    let mut out: Vec<ExcludedAccount> = Vec::new();
    for b in &plan.blockers {
        let account = b.account.as_ref().filter(|a| targets.contains(a))?;
        if b.code != BlockerCode::AccessAfterPlan {
            return None;
        }
        let cause = GuardrailCause {
            layer: "access".into(),
            policy: None,
            principal: None,
            region: None,
            message: b.message.clone(),
            fix: b.fix.clone(),
        };
        match out.iter_mut().find(|e| &e.account == account) {
            Some(e) => e.causes.push(cause),
            None => out.push(ExcludedAccount {
                account: account.clone(),
                causes: vec![cause],
            }),
        }
    }
    (out.len() < targets.len()).then_some(out)
}

/// The blocker of a check the plan leaves not `allow`.
pub fn blocker(c: &AccessCheck) -> Blocker {
    let what = match c.operation.as_str() {
        "copy" => "copy an AMI encrypted with",
        "create-grant" => "create Auto Scaling's grant on",
        _ => "launch from snapshots encrypted with",
    };
    let missing = if c.missing_after_plan.is_empty() {
        &c.missing_actions
    } else {
        &c.missing_after_plan
    };
    let missing = if missing.is_empty() {
        String::new()
    } else {
        format!("; missing: {}", missing.join(", "))
    };
    let findings = if c.findings.is_empty() {
        String::new()
    } else {
        format!(" ({})", c.findings.join(", "))
    };
    Blocker {
        code: BlockerCode::AccessAfterPlan,
        message: format!(
            "after the plan, `{}` still cannot {what} key `{}`: {}{findings}{missing}",
            c.principal,
            c.key_arn,
            c.after_plan.as_str()
        ),
        fix: c.fix.clone().unwrap_or_else(|| default_fix(c)),
        account: account_of(&c.principal).map(str::to_string),
    }
}

/// The fix when the check's maker knew none better: both sides of a cross-account key use.
fn default_fix(c: &AccessCheck) -> String {
    let key_account = account_of(&c.key_arn).unwrap_or("the key's account");
    format!(
        "let `{}` use `{}`: its key policy (account {key_account}) must allow it, or its account with IAM delegation, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey and kms:CreateGrant with kms:GrantIsForAWSResource; across accounts its own IAM policies must allow the same actions on the key ARN (`amishare explain` shows which side denies); then run `amishare copy` again",
        c.principal, c.key_arn
    )
}

#[cfg(test)]
#[path = "rule_tests.rs"]
mod tests;
