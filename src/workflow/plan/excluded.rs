//! Target accounts the plan leaves out because a guardrail amishare cannot change denies them
//! (an SCP on the account's path, an RCP of the source organization, a permissions boundary,
//! the Allowed AMIs setting or an EC2 declarative policy, the copy key's state or spec), or
//! because an access check the plan cannot make `allow` concerns only them: nothing is shared
//! with them and the source key policy does not name them; the others proceed and the run exits
//! non-zero.

use serde::{Deserialize, Serialize};

/// One reason an account is left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardrailCause {
    /// `scp`, `rcp`, `permissions-boundary`, `session-policy`, `allowed-amis`, `key-state`,
    /// `key-spec` (the copy key of a target region), `access` (an access check of the plan's
    /// rule that only this account fails).
    pub layer: String,
    /// The policy (SCP/RCP id, boundary ARN), when one decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The principal refused (none for Allowed AMIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The region (Allowed AMIs is per region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// One line: what denies what.
    pub message: String,
    /// What to change and whom to ask.
    pub fix: String,
}

impl GuardrailCause {
    /// What groups accounts in the report: the layer and the policy.
    pub fn group(&self) -> String {
        match &self.policy {
            Some(p) => format!("{} `{p}`", self.layer),
            None => self.layer.clone(),
        }
    }
}

/// A target account left out of the plan, with every cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcludedAccount {
    pub account: String,
    pub causes: Vec<GuardrailCause>,
}

/// The excluded accounts grouped by cause (layer and policy), in first-seen order.
pub fn by_cause(excluded: &[ExcludedAccount]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for e in excluded {
        for c in &e.causes {
            let g = c.group();
            match out.iter_mut().find(|(k, _)| *k == g) {
                Some((_, accounts)) if !accounts.contains(&e.account) => {
                    accounts.push(e.account.clone())
                }
                Some(_) => {}
                None => out.push((g, vec![e.account.clone()])),
            }
        }
    }
    out
}
