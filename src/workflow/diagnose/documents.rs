//! Policy documents as JSON values: the statement a finding points at, and the documents a fix
//! writes (a statement replaced or removed, statements appended with unique Sids).

use serde_json::Value;

use super::facts::policy_origin;
use crate::policy::StatementRef;
use crate::workflow::inventory::IdentityPolicies;

/// Whether a statement reference points into the key policy (else an identity policy).
pub fn in_key_policy(sref: &StatementRef) -> bool {
    sref.policy.starts_with("key policy")
}

/// The statement `sref` points at, as written in the key policy or identity policy read.
pub fn statement_json(
    key_policy: Option<&str>,
    identity: Option<&IdentityPolicies>,
    sref: &StatementRef,
) -> Option<Value> {
    let text = if in_key_policy(sref) {
        key_policy.map(str::to_string)
    } else {
        identity.and_then(|i| {
            i.policies
                .iter()
                .find(|d| policy_origin(d) == sref.policy)
                .map(|d| d.document.clone())
        })
    }?;
    let v: Value = serde_json::from_str(&text).ok()?;
    match v.get("Statement")? {
        Value::Array(items) => items.get(sref.index).cloned(),
        obj @ Value::Object(_) if sref.index == 0 => Some(obj.clone()),
        _ => None,
    }
}

/// Statements of a policy document as a vector (Statement may be one object).
fn statements_of(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(obj @ Value::Object(_)) => vec![obj.clone()],
        _ => Vec::new(),
    }
}

/// The document with statement `index` replaced by `with` (or removed when `with` is `None`).
pub fn replace_statement(doc: &Value, index: usize, with: Option<Value>) -> Value {
    let mut out = doc.clone();
    let mut sts = statements_of(doc);
    if index < sts.len() {
        match with {
            Some(w) => sts[index] = w,
            None => {
                sts.remove(index);
            }
        }
    }
    out["Statement"] = Value::Array(sts);
    out
}

/// The document with `add` appended (a Sid already present gets a suffix, Sids must be unique).
pub fn append_statements(doc: &Value, add: &[Value]) -> Value {
    let mut out = doc.clone();
    let mut sts = statements_of(doc);
    for st in add {
        let mut st = st.clone();
        if let Some(sid) = st.get("Sid").and_then(Value::as_str).map(str::to_string) {
            let taken = |s: &str| {
                sts.iter()
                    .any(|x| x.get("Sid").and_then(Value::as_str) == Some(s))
            };
            if taken(&sid) {
                let mut n = 2;
                while taken(&format!("{sid} {n}")) {
                    n += 1;
                }
                st["Sid"] = Value::String(format!("{sid} {n}"));
            }
        }
        sts.push(st);
    }
    out["Statement"] = Value::Array(sts);
    out
}

pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}
