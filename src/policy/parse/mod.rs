//! Parsing policy documents and grants from JSON text or values. Never panics: every malformed
//! input is a [`PolicyParseError`] naming the origin and the line/column or element path.

use super::model::PolicyDocument;
use serde_json::Value;

mod document;
mod grants;
mod path;
#[cfg(test)]
mod tests;

use document::parse_document;
pub use grants::{parse_grants, parse_grants_value};

/// A policy or grants document that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyParseError {
    /// The text is not JSON.
    #[error("{origin}: invalid JSON at line {line}, column {column}: {message}")]
    Json {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file is empty or only whitespace.
    #[error("{origin}: the document is empty")]
    Empty { origin: String },
    /// JSON, but not a valid policy element.
    #[error("{origin}: `{path}`: {message}")]
    Element {
        origin: String,
        path: String,
        message: String,
    },
}

impl PolicyParseError {
    fn element(origin: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Element {
            origin: origin.to_string(),
            path: path.into(),
            message: message.into(),
        }
    }
}

fn parse_json(text: &str, origin: &str) -> Result<Value, PolicyParseError> {
    let trimmed = text.trim_start_matches('\u{feff}');
    if trimmed.trim().is_empty() {
        return Err(PolicyParseError::Empty {
            origin: origin.to_string(),
        });
    }
    serde_json::from_str(trimmed).map_err(|e| {
        let msg = e.to_string();
        let message = match msg.find(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        PolicyParseError::Json {
            origin: origin.to_string(),
            line: e.line(),
            column: e.column(),
            message,
        }
    })
}

/// Unwrap the envelopes the AWS CLI prints around a policy: `kms get-key-policy`'s
/// `{"Policy": "<json>"}`, `iam get-policy-version`'s `{"PolicyVersion": {"Document": ..}}`,
/// `iam get-role-policy`'s `{"PolicyDocument": ..}`. Documents may be URL-encoded strings in
/// some outputs; those are not decoded.
fn unwrap_envelope(v: &Value, origin: &str) -> Result<Option<Value>, PolicyParseError> {
    let Value::Object(m) = v else {
        return Ok(None);
    };
    if m.contains_key("Statement") {
        return Ok(None);
    }
    if let Some(Value::String(s)) = m.get("Policy") {
        return parse_json(s, origin).map(Some);
    }
    // `organizations describe-policy`: {"Policy": {"PolicySummary": {..}, "Content": "<json>"}}.
    if let Some(Value::String(s)) = m.get("Policy").and_then(|p| p.get("Content")) {
        return parse_json(s, origin).map(Some);
    }
    if let Some(doc) = m.get("PolicyVersion").and_then(|p| p.get("Document")) {
        return match doc {
            Value::String(s) => parse_json(s, origin).map(Some),
            other => Ok(Some(other.clone())),
        };
    }
    if let Some(doc) = m.get("PolicyDocument") {
        return match doc {
            Value::String(s) => parse_json(s, origin).map(Some),
            other => Ok(Some(other.clone())),
        };
    }
    Ok(None)
}

/// Parse one policy document from JSON text.
pub fn parse_policy(text: &str, origin: &str) -> Result<PolicyDocument, PolicyParseError> {
    let v = parse_json(text, origin)?;
    parse_policy_owned(v, origin)
}

/// Parse one policy document from a JSON value (also accepts the AWS CLI envelopes).
pub fn parse_policy_value(v: &Value, origin: &str) -> Result<PolicyDocument, PolicyParseError> {
    parse_policy_owned(v.clone(), origin)
}

fn parse_policy_owned(v: Value, origin: &str) -> Result<PolicyDocument, PolicyParseError> {
    if let Some(inner) = unwrap_envelope(&v, origin)? {
        return parse_document(inner, origin, "");
    }
    parse_document(v, origin, "")
}

/// Parse a file holding one policy document or a JSON array of documents.
pub fn parse_policies(text: &str, origin: &str) -> Result<Vec<PolicyDocument>, PolicyParseError> {
    let v = parse_json(text, origin)?;
    match v {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(PolicyParseError::element(
                    origin,
                    "[]",
                    "the array holds no policy documents",
                ));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let o = format!("{origin}[{i}]");
                    match unwrap_envelope(&item, &o)? {
                        Some(inner) => parse_document(inner, &o, ""),
                        None => parse_document(item, &o, ""),
                    }
                })
                .collect()
        }
        _ => parse_policy_owned(v, origin).map(|d| vec![d]),
    }
}

/// Parse a file holding the organization policies (SCPs or RCPs) attached at one level: one
/// document, a JSON array of documents, or `aws organizations describe-policy` output (one or an
/// array). Each comes with its policy id (`p-...`) when the file names it.
pub fn parse_org_policies(
    text: &str,
    origin: &str,
) -> Result<Vec<(Option<String>, PolicyDocument)>, PolicyParseError> {
    let v = parse_json(text, origin)?;
    let id_of = |v: &Value| {
        v.get("Policy")
            .and_then(|p| p.get("PolicySummary"))
            .and_then(|s| s.get("Id"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let ids: Vec<Option<String>> = match &v {
        Value::Array(items) => items.iter().map(id_of).collect(),
        one => vec![id_of(one)],
    };
    let text = serde_json::to_string(&v).unwrap_or_default();
    let docs = parse_policies(&text, origin)?;
    Ok(ids.into_iter().zip(docs).collect())
}

/// How a JSON value's type reads in an error message ("an array", "a string", ...).
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
