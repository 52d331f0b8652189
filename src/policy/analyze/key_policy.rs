//! Findings for what the key policy lacks: missing actions, and Allow statements whose
//! condition the on-behalf request cannot meet (with the condition rewritten).

use super::{find_statement, is_network_key, Ctx};
use crate::policy::eval::{ConditionFailure, Decision, Outcome, Source};
use crate::policy::findings::{
    key_statements_for, list_words, Finding, FindingCode, Fix, Severity,
};
use serde_json::{json, Map, Value};

/// A copy of a statement without condition `key` under `operator` (and with `add` merged in).
fn replace_condition(
    original: &Value,
    operator: &str,
    key: &str,
    add: Option<(&str, &str, Value)>,
) -> Value {
    let mut st = original.clone();
    if let Value::Object(m) = &mut st {
        if let Some(Value::Object(c)) = m.get_mut("Condition") {
            if let Some(Value::Object(keys)) = c.get_mut(operator) {
                keys.remove(key);
                if keys.is_empty() {
                    c.remove(operator);
                }
            }
            if let Some((op, k, v)) = add {
                let o = c.entry(op).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(o) = o {
                    o.insert(k.to_string(), v);
                }
            }
            if c.is_empty() {
                m.remove("Condition");
            }
        }
    }
    st
}

impl Ctx<'_> {
    pub(super) fn key_policy_reasons(&self, out: &mut Vec<Finding>) {
        let grant_ok = |c: &Decision| c.grants.outcome == Outcome::Allow;
        let covered = self.checks.iter().any(|c| {
            matches!(
                c.key_policy.outcome,
                Outcome::Allow | Outcome::DelegatesToIam
            ) || grant_ok(c)
        });
        let mut missing = Vec::new();
        let mut failures: Vec<(ConditionFailure, Vec<String>)> = Vec::new();
        for c in self.denied_not_by_deny() {
            let delegated = c.key_policy.outcome == Outcome::DelegatesToIam;
            if !(c.key_policy.outcome == Outcome::NoMatch || delegated) || grant_ok(c) {
                continue;
            }
            let fs: Vec<&ConditionFailure> = c
                .condition_failures
                .iter()
                .filter(|f| f.source == Source::KeyPolicy)
                .collect();
            if fs.is_empty() && !delegated {
                missing.push(c.action.clone());
            }
            for f in fs {
                match failures.iter_mut().find(|(g, _)| {
                    g.statement == f.statement && g.key == f.key && g.operator == f.operator
                }) {
                    Some((_, acts)) => acts.push(c.action.clone()),
                    None => failures.push((f.clone(), vec![c.action.clone()])),
                }
            }
        }
        for (f, actions) in &failures {
            out.push(self.condition_finding(f, actions));
        }
        if !missing.is_empty() {
            let principal = self.fix_principal();
            let (code, message) = if !covered && failures.is_empty() {
                (
                    FindingCode::KeyPolicyNoAccess,
                    format!(
                        "the key policy grants `{}` (and account {}) none of {}",
                        self.caller.arn,
                        self.caller.account,
                        list_words(&missing)
                    ),
                )
            } else {
                (
                    FindingCode::KeyPolicyMissingAction,
                    format!(
                        "the key policy does not allow {} for `{}` (nor its account)",
                        list_words(&missing),
                        self.caller.arn
                    ),
                )
            };
            let cross = if self.cross_account {
                format!(
                    " (account {} must also allow it in IAM)",
                    self.caller.account
                )
            } else {
                String::new()
            };
            out.push(
                Finding::new(code, Severity::Error, message)
                    .with_actions(missing.clone())
                    .with_fix(Fix {
                        summary: format!(
                            "add `{principal}` to the key policy statements below (merge into existing statements with these Sids){cross}"
                        ),
                        key_policy_statements: key_statements_for(&missing, &[principal]),
                        ..Fix::default()
                    }),
            );
        }
    }

    pub(super) fn condition_finding(&self, f: &ConditionFailure, actions: &[String]) -> Finding {
        let key_lc = f.key.to_ascii_lowercase();
        let have = match &f.request_values {
            None => format!("EC2's request has no `{}`", f.key),
            Some(v) => format!("EC2's request has `{}` = {}", f.key, list_words(v)),
        };
        let st = find_statement(self.req.key.policy.iter(), &f.statement);
        let mut fix = Fix::default();
        let why;
        if is_network_key(&key_lc) {
            why = "EC2 calls KMS from its own infrastructure, never from your network".to_string();
            fix.summary = format!(
                "replace {} with `StringEquals kms:ViaService = {}` in statement {}",
                f.describe(),
                self.via_service(),
                f.statement.label()
            );
            if let Some((_, json)) = &st {
                fix.key_policy_statements.push(replace_condition(
                    json,
                    &f.operator,
                    &f.key,
                    Some(("StringEquals", "kms:ViaService", json!(self.via_service()))),
                ));
                fix.remove.push(format!(
                    "replace statement {} of the key policy with the statement below",
                    f.statement.label()
                ));
            }
        } else if key_lc == "kms:viaservice" {
            why = format!(
                "EC2's calls for this key come through `{}`",
                self.via_service()
            );
            fix.summary = format!(
                "allow `{}` in {} of statement {}",
                self.via_service(),
                f.describe(),
                f.statement.label()
            );
            if let Some((_, json)) = &st {
                let mut vals: Vec<Value> = f.values.iter().map(|v| json!(v)).collect();
                vals.push(json!(self.via_service()));
                fix.key_policy_statements.push(replace_condition(
                    json,
                    &f.operator,
                    &f.key,
                    Some((&f.operator, &f.key, Value::Array(vals))),
                ));
                fix.remove.push(format!(
                    "replace statement {} of the key policy with the statement below",
                    f.statement.label()
                ));
            }
        } else if key_lc == "kms:grantisforawsresource" {
            why = "only CreateGrant, ListGrants and RevokeGrant carry this key".to_string();
            fix.summary = format!(
                "allow {} in a statement without `kms:GrantIsForAWSResource`",
                list_words(actions)
            );
            fix.key_policy_statements = key_statements_for(actions, &[self.fix_principal()]);
        } else if key_lc.starts_with("aws:principalorg") {
            why = if f.request_values.is_none() {
                "pass `--org-id`/`--org-path` if the principal's account is in an organization"
                    .to_string()
            } else {
                format!(
                    "account {} is not in that organization",
                    self.caller.account
                )
            };
            fix.summary = format!(
                "move account {} into the organization named by the condition, or name `{}` in the key policy",
                self.caller.account,
                self.fix_principal()
            );
            fix.key_policy_statements = key_statements_for(actions, &[self.fix_principal()]);
        } else {
            why = "the on-behalf request cannot meet it".to_string();
            fix.summary = format!(
                "relax {} in statement {}, or allow the actions in a statement without it",
                f.describe(),
                f.statement.label()
            );
            fix.key_policy_statements = key_statements_for(actions, &[self.fix_principal()]);
        }
        Finding::new(
            FindingCode::KeyPolicyConditionFails,
            Severity::Error,
            format!(
                "key policy statement {} allows {} but its condition {} fails: {have}; {why}",
                f.statement.label(),
                list_words(actions),
                f.describe()
            ),
        )
        .with_statement(f.statement.clone())
        .with_actions(actions.to_vec())
        .with_fix(fix)
    }
}
