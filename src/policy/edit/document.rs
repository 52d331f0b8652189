//! Reading and rewriting the policy JSON: statements, Sids, `Principal.AWS` in its written
//! form, and warnings about statements amishare cannot merge into.

use super::*;

pub(super) fn parse_policy(policy_json: &str) -> Result<Value, PolicyEditError> {
    let value: Value =
        serde_json::from_str(policy_json).map_err(|e| PolicyEditError::InvalidJson {
            reason: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_string(),
            line: e.line(),
            column: e.column(),
        })?;
    if !value.is_object() {
        return Err(PolicyEditError::NotAnObject {
            found: type_name(&value),
        });
    }
    Ok(value)
}

pub(super) fn statements_of(policy: &Value) -> Result<Vec<Value>, PolicyEditError> {
    let statements = match policy.get("Statement") {
        None => return Err(PolicyEditError::MissingStatement),
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        Some(other) => {
            return Err(PolicyEditError::InvalidStatement {
                found: type_name(other),
            })
        }
    };
    for (index, statement) in statements.iter().enumerate() {
        if !statement.is_object() {
            return Err(PolicyEditError::StatementNotObject {
                index,
                found: type_name(statement),
            });
        }
    }
    Ok(statements)
}

pub(super) fn sid_of(statement: &Value) -> Option<&str> {
    statement.get("Sid").and_then(Value::as_str)
}

/// The first `Allow` statement with `Principal` and this exact Sid; an error when statements
/// with the Sid exist but none qualifies (creating another would duplicate the Sid).
pub(super) fn find_target(
    statements: &[Value],
    sid: &str,
) -> Result<Option<usize>, PolicyEditError> {
    let mut seen = false;
    for (index, statement) in statements.iter().enumerate() {
        if sid_of(statement) != Some(sid) {
            continue;
        }
        seen = true;
        if statement.get("Effect").and_then(Value::as_str) == Some("Allow")
            && statement.get("Principal").is_some()
        {
            return Ok(Some(index));
        }
    }
    if seen {
        Err(PolicyEditError::SidConflict {
            sid: sid.to_string(),
        })
    } else {
        Ok(None)
    }
}

/// The statement's `Principal.AWS` value (None when the principal has no `AWS` key), after
/// checking that amishare can extend it.
pub(super) fn aws_principals<'a>(
    statement: &'a Value,
    sid: &str,
) -> Result<Option<&'a Value>, PolicyEditError> {
    let unsupported = |reason: &str| PolicyEditError::UnsupportedPrincipal {
        sid: sid.to_string(),
        reason: reason.to_string(),
    };
    let principal = match statement.get("Principal") {
        Some(Value::String(s)) if s == "*" => {
            return Err(PolicyEditError::WildcardStatement {
                sid: sid.to_string(),
            })
        }
        Some(Value::Object(map)) => map,
        _ => return Err(unsupported("expected an object such as `{\"AWS\": [...]}`")),
    };
    let Some(aws) = principal.get("AWS") else {
        return Ok(None);
    };
    let values: Vec<&Value> = match aws {
        Value::String(_) => vec![aws],
        Value::Array(list) => list.iter().collect(),
        _ => return Err(unsupported("`AWS` must be a string or an array of strings")),
    };
    for value in values {
        match value.as_str() {
            Some("*") => {
                return Err(PolicyEditError::WildcardStatement {
                    sid: sid.to_string(),
                })
            }
            Some(_) => {}
            None => return Err(unsupported("`AWS` must be a string or an array of strings")),
        }
    }
    Ok(Some(aws))
}

pub(super) fn principal_strings(aws: &Value) -> Vec<String> {
    match aws {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Writes `Principal.AWS` (appending the key when absent, keeping the key order); an empty list
/// removes the key. A single principal is written as a string when `as_string`.
pub(super) fn set_aws_principals(statement: &mut Value, principals: Vec<String>, as_string: bool) {
    let Some(principal) = statement
        .get_mut("Principal")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if principals.is_empty() {
        principal.shift_remove("AWS");
        return;
    }
    let value = match principals.as_slice() {
        [only] if as_string => Value::String(only.clone()),
        _ => Value::from(principals),
    };
    match principal.get_mut("AWS") {
        Some(slot) => *slot = value,
        None => {
            principal.insert("AWS".to_string(), value);
        }
    }
}

pub(super) fn principal_is_empty(statement: &Value) -> bool {
    statement
        .get("Principal")
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
}

/// Warnings when an existing statement does not grant what the template grants.
pub(super) fn compatibility_warnings(
    statement: &Value,
    sid: &str,
    index: usize,
    template: &Value,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let patterns = string_list(statement.get("Action"));
    let wanted: &[&str] = if sid == KEY_USE_SID {
        &KEY_USE_ACTIONS
    } else {
        &KEY_ATTACHMENT_ACTIONS
    };
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|a| !patterns.iter().any(|p| glob_ignore_case(p, a)))
        .collect();
    if statement.get("NotAction").is_some() || !missing.is_empty() {
        warnings.push(format!(
            "statement `{sid}` (index {index}) does not grant {}; the added principals get only what it grants",
            if missing.is_empty() {
                "the template's actions (it uses `NotAction`)".to_string()
            } else {
                missing
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }
    if !string_list(statement.get("Resource"))
        .iter()
        .any(|r| r == "*")
    {
        warnings.push(format!(
            "statement `{sid}` (index {index}) has no `\"Resource\": \"*\"`; it may not apply to the key"
        ));
    }
    if statement.get("Condition").map(canonical) != template.get("Condition").map(canonical) {
        warnings.push(format!(
            "statement `{sid}` (index {index}) has a different `Condition` from amishare's template; the added principals are subject to it"
        ));
    }
    warnings
}

/// Booleans and numbers as strings, single values as one-element lists: `Bool` accepts `true`
/// and `"true"`, a condition value may be a string or a list.
pub(super) fn canonical(value: &Value) -> Value {
    let scalar = |v: &Value| match v {
        Value::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    };
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), canonical(v)))
                .collect(),
        ),
        Value::Array(list) => Value::Array(list.iter().map(scalar).collect()),
        other => Value::Array(vec![scalar(other)]),
    }
}

pub(super) fn string_list(value: Option<&Value>) -> Vec<String> {
    value.map(principal_strings).unwrap_or_default()
}
