//! Helpers about one statement shared by `analyze`, `lint`, `edit` and `diff`: which actions it
//! covers, its JSON as read, the `aws:ViaAWSService` exception of a Deny, a fix that replaces
//! it, and the kinds of change an edit or a diff reports.

use super::condition::Base;
use super::findings::Fix;
use super::matching::glob_match;
use super::model::{PolicyDocument, Statement};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The KMS actions EBS needs from a key (for deciding whether a statement matters to EBS).
const EBS_ACTIONS: &[&str] = &[
    "kms:creategrant",
    "kms:decrypt",
    "kms:describekey",
    "kms:generatedatakeywithoutplaintext",
    "kms:reencryptfrom",
];

/// Whether the statement's Action/NotAction covers `action_lc` (lowercase).
pub fn covers(st: &Statement, action_lc: &str) -> bool {
    st.action.items.iter().any(|p| glob_match(p, action_lc)) != st.action.negated
}

/// Whether the statement covers an action EBS needs.
pub fn covers_ebs(st: &Statement) -> bool {
    EBS_ACTIONS.iter().any(|a| covers(st, a))
}

/// The statement's own JSON, as read.
pub fn statement_json(doc: &PolicyDocument, st: &Statement) -> Value {
    doc.statement_value(st.index)
        .cloned()
        .unwrap_or(Value::Null)
}

/// A fix that replaces statement `label` of the key policy or an identity policy (`where_`).
pub fn replacement_fix(where_: &str, label: &str, summary: String, statement: Value) -> Fix {
    let (k, i) = if where_ == "key policy" {
        (vec![statement], Vec::new())
    } else {
        (Vec::new(), vec![statement])
    };
    Fix {
        summary,
        key_policy_statements: k,
        identity_policy_statements: i,
        remove: vec![format!(
            "replace statement {label} of the {where_} with the statement below"
        )],
        ..Fix::default()
    }
}

/// Does a Deny statement already exempt calls made by AWS services?
pub fn has_via_aws_service_exception(st: &Statement) -> bool {
    st.conditions.iter().any(|c| {
        (c.key_lc == "aws:viaawsservice"
            && c.operator.base == Base::Bool
            && c.values.iter().any(|v| v.raw.eq_ignore_ascii_case("false")))
            || (c.key_lc == "kms:viaservice" && c.operator.negated)
            || (c.key_lc == "aws:principalisawsservice"
                && c.values.iter().any(|v| v.raw.eq_ignore_ascii_case("false")))
    })
}

/// A copy of a statement with `"Bool": {"aws:ViaAWSService": "false"}` added to its Condition.
pub fn with_via_aws_service_exception(original: &Value) -> Value {
    let mut st = original.clone();
    if let Value::Object(m) = &mut st {
        let cond = m
            .entry("Condition")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(c) = cond {
            let b = c.entry("Bool").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(b) = b {
                b.insert("aws:ViaAWSService".to_string(), json!("false"));
            }
        }
    }
    st
}

/// What happened to one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatementChangeKind {
    /// A statement was appended.
    Added,
    /// Principals were added to or removed from an existing statement.
    Modified,
    /// A statement amishare had created was dropped (rollback).
    Removed,
}
