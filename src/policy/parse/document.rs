//! Policy documents: statements and their elements (Principal, Action, Resource, Condition).

use super::path::Path;
use super::{type_name, PolicyParseError};
use crate::policy::condition::{CondValue, Condition, Operator};
use crate::policy::matching::PrincipalPattern;
use crate::policy::model::{Effect, NameList, PolicyDocument, PrincipalElement, Statement};
use serde_json::{Map, Value};

pub(super) fn parse_document(
    v: Value,
    origin: &str,
    prefix: &str,
) -> Result<PolicyDocument, PolicyParseError> {
    let Value::Object(m) = &v else {
        return Err(PolicyParseError::element(
            origin,
            if prefix.is_empty() { "$" } else { prefix },
            format!(
                "a policy document must be a JSON object, found {}",
                type_name(&v)
            ),
        ));
    };
    let root = Path::Root(prefix);
    let version = opt_string(m, "Version", origin, &root)?;
    let id = opt_string(m, "Id", origin, &root)?;
    let statements = match m.get("Statement") {
        None => {
            return Err(PolicyParseError::at(
                origin,
                &root.key("Statement"),
                "the policy has no `Statement` element",
            ))
        }
        Some(Value::Array(items)) => {
            let list = root.key("Statement");
            items
                .iter()
                .enumerate()
                .map(|(i, s)| parse_statement(s, i, origin, &list.index(i)))
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(obj @ Value::Object(_)) => {
            vec![parse_statement(obj, 0, origin, &root.key("Statement"))?]
        }
        Some(other) => {
            return Err(PolicyParseError::at(
                origin,
                &root.key("Statement"),
                format!(
                    "must be an object or an array of objects, found {}",
                    type_name(other)
                ),
            ))
        }
    };
    Ok(PolicyDocument {
        origin: origin.to_string(),
        version,
        id,
        statements,
        original: v,
    })
}

/// The optional string element `key` of the object at `parent`.
pub(super) fn opt_string(
    m: &Map<String, Value>,
    key: &str,
    origin: &str,
    parent: &Path<'_>,
) -> Result<Option<String>, PolicyParseError> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(PolicyParseError::at(
            origin,
            &parent.key(key),
            format!("must be a string, found {}", type_name(other)),
        )),
    }
}

/// Call `f` with each string of a string-or-array-of-strings element, in order, without
/// copying them.
pub(super) fn each_str<'v>(
    v: &'v Value,
    origin: &str,
    path: &Path<'_>,
    mut f: impl FnMut(&'v str) -> Result<(), PolicyParseError>,
) -> Result<(), PolicyParseError> {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                match x {
                    Value::String(s) => f(s)?,
                    other => {
                        return Err(PolicyParseError::at(
                            origin,
                            &path.index(i),
                            format!("must be a string, found {}", type_name(other)),
                        ))
                    }
                }
            }
            Ok(())
        }
        other => Err(PolicyParseError::at(
            origin,
            path,
            format!(
                "must be a string or an array of strings, found {}",
                type_name(other)
            ),
        )),
    }
}

pub(super) fn string_list(
    v: &Value,
    origin: &str,
    path: &Path<'_>,
) -> Result<Vec<String>, PolicyParseError> {
    let mut out = Vec::with_capacity(match v {
        Value::Array(items) => items.len(),
        _ => 1,
    });
    each_str(v, origin, path, |s| {
        out.push(s.to_string());
        Ok(())
    })?;
    Ok(out)
}

pub(super) fn name_list(
    m: &Map<String, Value>,
    pos: &str,
    neg: &str,
    lowercase: bool,
    origin: &str,
    path: &Path<'_>,
) -> Result<Option<NameList>, PolicyParseError> {
    let (negated, key, v) = match (m.get(pos), m.get(neg)) {
        (Some(_), Some(_)) => {
            return Err(PolicyParseError::at(
                origin,
                path,
                format!("a statement cannot have both `{pos}` and `{neg}`"),
            ))
        }
        (Some(v), None) => (false, pos, v),
        (None, Some(v)) => (true, neg, v),
        (None, None) => return Ok(None),
    };
    let written = string_list(v, origin, &path.key(key))?;
    let items = if lowercase {
        written.iter().map(|s| s.to_ascii_lowercase()).collect()
    } else {
        written.clone()
    };
    Ok(Some(NameList {
        negated,
        items,
        written,
    }))
}

pub(super) fn parse_principal(
    v: &Value,
    negated: bool,
    origin: &str,
    path: &Path<'_>,
) -> Result<PrincipalElement, PolicyParseError> {
    let mut patterns = Vec::with_capacity(match v {
        Value::Object(m) => m.values().map(|x| x.as_array().map_or(1, Vec::len)).sum(),
        _ => 1,
    });
    match v {
        Value::String(s) if s == "*" => patterns.push(PrincipalPattern::Any),
        Value::Object(m) => {
            for (kind, val) in m {
                let p = path.key(kind);
                let make: fn(&str) -> PrincipalPattern = match kind.as_str() {
                    "AWS" => |s| PrincipalPattern::aws(s.trim()),
                    "Service" => |s| PrincipalPattern::Service(s.to_string()),
                    "Federated" => |s| PrincipalPattern::Federated(s.to_string()),
                    "CanonicalUser" => |s| PrincipalPattern::CanonicalUser(s.to_string()),
                    other => {
                        // The element's own type is checked first, as it always was.
                        each_str(val, origin, &p, |_| Ok(()))?;
                        if matches!(val, Value::Array(items) if items.is_empty()) {
                            continue;
                        }
                        return Err(PolicyParseError::at(
                            origin,
                            &p,
                            format!("unknown principal type `{other}` (expected `AWS`, `Service`, `Federated` or `CanonicalUser`)"),
                        ));
                    }
                };
                each_str(val, origin, &p, |s| {
                    patterns.push(make(s));
                    Ok(())
                })?;
            }
        }
        other => {
            return Err(PolicyParseError::at(
                origin,
                path,
                format!(
                    "must be `\"*\"` or an object such as {{\"AWS\": \"arn:...\"}}, found {}",
                    match other {
                        Value::String(_) => "a string other than `*`",
                        o => type_name(o),
                    }
                ),
            ))
        }
    }
    Ok(PrincipalElement { negated, patterns })
}

pub(super) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One condition value at `path`, checked against its operator.
pub(super) fn cond_value(
    x: &Value,
    operator: &Operator,
    origin: &str,
    path: &Path<'_>,
    not_scalar: impl FnOnce(&Value) -> String,
) -> Result<CondValue, PolicyParseError> {
    let text = scalar_text(x).ok_or_else(|| PolicyParseError::at(origin, path, not_scalar(x)))?;
    CondValue::new(text, operator).map_err(|m| PolicyParseError::at(origin, path, m))
}

pub(super) fn parse_conditions(
    v: &Value,
    origin: &str,
    path: &Path<'_>,
) -> Result<Vec<Condition>, PolicyParseError> {
    let Value::Object(ops) = v else {
        return Err(PolicyParseError::at(
            origin,
            path,
            format!("must be an object of operators, found {}", type_name(v)),
        ));
    };
    let mut out = Vec::with_capacity(
        ops.values()
            .map(|keys| keys.as_object().map_or(0, Map::len))
            .sum(),
    );
    for (op_name, keys) in ops {
        let op_path = path.key(op_name);
        let operator = Operator::parse(op_name).ok_or_else(|| {
            PolicyParseError::at(
                origin,
                &op_path,
                format!("unknown condition operator `{op_name}`"),
            )
        })?;
        let Value::Object(keys) = keys else {
            return Err(PolicyParseError::at(
                origin,
                &op_path,
                format!(
                    "must be an object of condition keys, found {}",
                    type_name(keys)
                ),
            ));
        };
        for (key, vals) in keys {
            let key_path = op_path.key(key);
            let values = match vals {
                Value::Array(items) => {
                    // Every value's type is checked before any is parsed for the operator, so
                    // the first error reported is the same as ever.
                    if let Some((i, bad)) = items.iter().enumerate().find(|(_, x)| {
                        matches!(x, Value::Null | Value::Array(_) | Value::Object(_))
                    }) {
                        return Err(PolicyParseError::at(
                            origin,
                            &key_path.index(i),
                            not_scalar_item(bad),
                        ));
                    }
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, x)| {
                            cond_value(x, &operator, origin, &key_path.index(i), not_scalar_item)
                        })
                        .collect::<Result<Vec<_>, _>>()?
                }
                other => vec![cond_value(
                    other,
                    &operator,
                    origin,
                    &key_path,
                    not_scalar_value,
                )?],
            };
            out.push(Condition {
                operator_name: op_name.clone(),
                operator,
                key: key.clone(),
                key_lc: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

pub(super) fn not_scalar_item(x: &Value) -> String {
    format!(
        "must be a string, number or boolean, found {}",
        type_name(x)
    )
}

pub(super) fn not_scalar_value(x: &Value) -> String {
    format!(
        "must be a value or an array of values, found {}",
        type_name(x)
    )
}

pub(super) fn parse_statement(
    v: &Value,
    index: usize,
    origin: &str,
    path: &Path<'_>,
) -> Result<Statement, PolicyParseError> {
    let Value::Object(m) = v else {
        return Err(PolicyParseError::at(
            origin,
            path,
            format!("a statement must be an object, found {}", type_name(v)),
        ));
    };
    let sid = opt_string(m, "Sid", origin, path)?;
    let effect = match m.get("Effect") {
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(Value::String(s)) => {
            return Err(PolicyParseError::at(
                origin,
                &path.key("Effect"),
                format!("`{s}` is not `Allow` or `Deny`"),
            ))
        }
        Some(other) => {
            return Err(PolicyParseError::at(
                origin,
                &path.key("Effect"),
                format!("must be `Allow` or `Deny`, found {}", type_name(other)),
            ))
        }
        None => {
            return Err(PolicyParseError::at(
                origin,
                &path.key("Effect"),
                "the statement has no `Effect`",
            ))
        }
    };
    let principal = match (m.get("Principal"), m.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            return Err(PolicyParseError::at(
                origin,
                path,
                "a statement cannot have both `Principal` and `NotPrincipal`",
            ))
        }
        (Some(p), None) => Some(parse_principal(p, false, origin, &path.key("Principal"))?),
        (None, Some(p)) => Some(parse_principal(p, true, origin, &path.key("NotPrincipal"))?),
        (None, None) => None,
    };
    let action = name_list(m, "Action", "NotAction", true, origin, path)?.ok_or_else(|| {
        PolicyParseError::at(
            origin,
            &path.key("Action"),
            "the statement has no `Action` or `NotAction`",
        )
    })?;
    let resource = name_list(m, "Resource", "NotResource", false, origin, path)?;
    let conditions = match m.get("Condition") {
        Some(c) => parse_conditions(c, origin, &path.key("Condition"))?,
        None => Vec::new(),
    };
    Ok(Statement {
        index,
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}
