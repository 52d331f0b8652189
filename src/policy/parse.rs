//! Parsing policy documents and grants from JSON text or values. Never panics: every malformed
//! input is a [`PolicyParseError`] naming the origin and the line/column or element path.

use super::condition::{CondValue, Condition, Operator};
use super::matching::PrincipalPattern;
use super::model::{
    Effect, Grant, GrantConstraints, NameList, PolicyDocument, PrincipalElement, Statement,
};
use serde_json::{Map, Value};

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

fn join(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}.{rest}")
    }
}

/// Where an element sits in a document, e.g. `Statement[2].Condition.StringEquals`. Built on the
/// stack while walking the document and only rendered to text when an error names it, so a
/// valid document costs no path strings.
#[derive(Clone, Copy)]
enum Path<'a> {
    /// A rendered prefix (empty at the document root).
    Root(&'a str),
    /// `parent.key` (just `key` when the parent renders empty).
    Key(&'a Path<'a>, &'a str),
    /// `parent[i]`.
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }

    fn write_to(&self, out: &mut String) {
        match self {
            Path::Root(s) => out.push_str(s),
            Path::Key(parent, key) => {
                parent.write_to(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Index(parent, i) => {
                parent.write_to(out);
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }
}

impl PolicyParseError {
    /// An element error at `path` (rendered only now, on the error path).
    fn at(origin: &str, path: &Path<'_>, message: impl Into<String>) -> Self {
        Self::element(origin, path.render(), message)
    }
}

fn parse_document(
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
fn opt_string(
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
fn each_str<'v>(
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

fn string_list(v: &Value, origin: &str, path: &Path<'_>) -> Result<Vec<String>, PolicyParseError> {
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

fn name_list(
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

fn parse_principal(
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

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One condition value at `path`, checked against its operator.
fn cond_value(
    x: &Value,
    operator: &Operator,
    origin: &str,
    path: &Path<'_>,
    not_scalar: impl FnOnce(&Value) -> String,
) -> Result<CondValue, PolicyParseError> {
    let text = scalar_text(x).ok_or_else(|| PolicyParseError::at(origin, path, not_scalar(x)))?;
    CondValue::new(text, operator).map_err(|m| PolicyParseError::at(origin, path, m))
}

fn parse_conditions(
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

fn not_scalar_item(x: &Value) -> String {
    format!(
        "must be a string, number or boolean, found {}",
        type_name(x)
    )
}

fn not_scalar_value(x: &Value) -> String {
    format!(
        "must be a value or an array of values, found {}",
        type_name(x)
    )
}

fn parse_statement(
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

/// Parse grants as `kms list-grants` prints them (`{"Grants": [..]}`) or a bare array.
pub fn parse_grants(text: &str, origin: &str) -> Result<Vec<Grant>, PolicyParseError> {
    let v = parse_json(text, origin)?;
    parse_grants_value(&v, origin)
}

/// [`parse_grants`] from a JSON value.
pub fn parse_grants_value(v: &Value, origin: &str) -> Result<Vec<Grant>, PolicyParseError> {
    let (items, prefix) = match v {
        Value::Array(items) => (items, String::new()),
        Value::Object(m) => match m.get("Grants") {
            Some(Value::Array(items)) => (items, "Grants".to_string()),
            Some(other) => {
                return Err(PolicyParseError::element(
                    origin,
                    "Grants",
                    format!("must be an array, found {}", type_name(other)),
                ))
            }
            None => {
                return Err(PolicyParseError::element(
                    origin,
                    "$",
                    "expected `{\"Grants\": [..]}` as `aws kms list-grants` prints it, or an array of grants",
                ))
            }
        },
        other => {
            return Err(PolicyParseError::element(
                origin,
                "$",
                format!("expected an object or an array of grants, found {}", type_name(other)),
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, g)| parse_grant(g, origin, &format!("{prefix}[{i}]")))
        .collect()
}

fn context_pairs(
    v: &Value,
    origin: &str,
    path: &str,
) -> Result<Vec<(String, String)>, PolicyParseError> {
    let Value::Object(m) = v else {
        return Err(PolicyParseError::element(
            origin,
            path,
            format!("must be an object of strings, found {}", type_name(v)),
        ));
    };
    m.iter()
        .map(|(k, val)| match val {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(PolicyParseError::element(
                origin,
                join(path, k),
                format!("must be a string, found {}", type_name(other)),
            )),
        })
        .collect()
}

fn parse_grant(v: &Value, origin: &str, path: &str) -> Result<Grant, PolicyParseError> {
    let Value::Object(m) = v else {
        return Err(PolicyParseError::element(
            origin,
            path,
            format!("a grant must be an object, found {}", type_name(v)),
        ));
    };
    let grantee_principal = opt_string(m, "GranteePrincipal", origin, &Path::Root(path))?
        .ok_or_else(|| {
            PolicyParseError::element(
                origin,
                join(path, "GranteePrincipal"),
                "the grant has no `GranteePrincipal`",
            )
        })?;
    let operations = match m.get("Operations") {
        Some(ops) => string_list(ops, origin, &Path::Root(&join(path, "Operations")))?,
        None => {
            return Err(PolicyParseError::element(
                origin,
                join(path, "Operations"),
                "the grant has no `Operations`",
            ))
        }
    };
    let mut constraints = GrantConstraints::default();
    if let Some(c) = m.get("Constraints") {
        let cpath = join(path, "Constraints");
        let Value::Object(cm) = c else {
            return Err(PolicyParseError::element(
                origin,
                cpath,
                "must be an object",
            ));
        };
        if let Some(s) = cm.get("EncryptionContextSubset") {
            constraints.subset = Some(context_pairs(
                s,
                origin,
                &join(&cpath, "EncryptionContextSubset"),
            )?);
        }
        if let Some(s) = cm.get("EncryptionContextEquals") {
            constraints.equals = Some(context_pairs(
                s,
                origin,
                &join(&cpath, "EncryptionContextEquals"),
            )?);
        }
    }
    let grantee = if grantee_principal.ends_with(".amazonaws.com") {
        PrincipalPattern::Service(grantee_principal.clone())
    } else {
        PrincipalPattern::aws(&grantee_principal)
    };
    Ok(Grant {
        grant_id: opt_string(m, "GrantId", origin, &Path::Root(path))?,
        name: opt_string(m, "Name", origin, &Path::Root(path))?,
        grantee_principal,
        grantee,
        operations,
        constraints,
        original: v.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::Effect;

    #[test]
    fn statement_object_or_array() {
        let one = parse_policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}"#,
            "one.json",
        )
        .unwrap();
        assert_eq!(one.statements.len(), 1);
        let two = parse_policy(
            r#"{"Statement":[{"Effect":"Allow","Action":["kms:Decrypt"],"Resource":["*"]},{"Sid":"D","Effect":"Deny","NotAction":"kms:*","NotResource":"arn:aws:kms:*"}]}"#,
            "two.json",
        )
        .unwrap();
        assert_eq!(two.statements.len(), 2);
        assert_eq!(two.statements[1].effect, Effect::Deny);
        assert!(two.statements[1].action.negated);
        assert!(two.statements[1].resource.as_ref().unwrap().negated);
        assert_eq!(two.statements[1].label(), "D");
    }

    #[test]
    fn principal_forms() {
        let d = parse_policy(
            r#"{"Statement":[
              {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
              {"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::111122223333:role/R"]},"Action":"kms:*","Resource":"*"},
              {"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"kms:*","Resource":"*"},
              {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:role/R"]},"Action":"kms:*","Resource":"*"}
            ]}"#,
            "p.json",
        )
        .unwrap();
        let p = |i: usize| d.statements[i].principal.clone().unwrap();
        assert_eq!(p(0).patterns, vec![PrincipalPattern::Any]);
        assert_eq!(
            p(1).patterns,
            vec![PrincipalPattern::Account("111122223333".into())]
        );
        assert_eq!(p(2).patterns.len(), 2);
        assert!(matches!(p(3).patterns[0], PrincipalPattern::Service(_)));
        assert!(matches!(p(4).patterns[0], PrincipalPattern::Federated(_)));
        assert!(p(5).negated);
    }

    #[test]
    fn errors_name_origin_and_place() {
        let e = parse_policy("{\n  \"Statement\": [\n", "k.json").unwrap_err();
        assert!(matches!(e, PolicyParseError::Json { line: 3, .. }), "{e}");
        assert!(e.to_string().starts_with("k.json: invalid JSON at line 3"));
        let e = parse_policy("  \n", "k.json").unwrap_err();
        assert_eq!(e.to_string(), "k.json: the document is empty");
        let e = parse_policy(
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"a":"b"}}}]}"#,
            "k.json",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "k.json: `Statement[2].Condition.StringEqualz`: unknown condition operator `StringEqualz`"
        );
        let e = parse_policy(
            r#"{"Statement":{"Effect":"Maybe","Action":"kms:*"}}"#,
            "k.json",
        )
        .unwrap_err();
        assert!(e.to_string().contains("`Statement.Effect`"), "{e}");
        let e =
            parse_policy(r#"{"Statement":[{"Effect":"Allow","Action":3}]}"#, "k.json").unwrap_err();
        assert!(e.to_string().contains("`Statement[0].Action`"), "{e}");
        let e = parse_policy(
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/33"]}}}]}"#,
            "k.json",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("`Statement[0].Condition.IpAddress.aws:SourceIp[0]`"),
            "{e}"
        );
        let e = parse_policy(r#"[1,2]"#, "k.json").unwrap_err();
        assert!(e.to_string().contains("must be a JSON object"), "{e}");
        let e = parse_policy(r#"{"Version":"2012-10-17"}"#, "k.json").unwrap_err();
        assert!(e.to_string().contains("no `Statement`"), "{e}");
        let e = parse_policy(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"IAM":"x"},"Action":"kms:*"}]}"#,
            "k.json",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("`Statement[0].Principal.IAM`"),
            "{e}"
        );
    }

    #[test]
    fn round_trip_keeps_order_and_unknown_elements() {
        let text = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"B","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*","Custom":{"z":1,"a":2}},{"Resource":"*","Action":["kms:Decrypt"],"Effect":"Deny","Principal":"*"}],"Zeta":true}"#;
        let doc = parse_policy(text, "k.json").unwrap();
        assert_eq!(doc.to_json_compact(), text);
        assert_eq!(doc.statement_value(0).unwrap()["Custom"]["z"], 1);
        assert_eq!(doc.statement_value(1).unwrap()["Effect"], "Deny");
        let one = parse_policy(
            r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
            "o",
        )
        .unwrap();
        assert_eq!(one.statement_value(0).unwrap()["Action"], "kms:*");
        assert!(one.statement_value(1).is_none());
    }

    #[test]
    fn aws_cli_envelopes() {
        let inner = r#"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"111122223333\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}"#;
        let doc = parse_policy(
            &format!("{{\"Policy\": \"{inner}\", \"PolicyName\": \"default\"}}"),
            "kp.json",
        )
        .unwrap();
        assert_eq!(doc.statements.len(), 1);
        let docs = parse_policies(
            r#"[{"Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}},{"PolicyVersion":{"Document":{"Statement":[]}}}]"#,
            "ids.json",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].origin, "ids.json[1]");
    }

    #[test]
    fn grants_forms() {
        let g = parse_grants(
            r#"{"Grants":[{"KeyId":"k","GrantId":"g1","GranteePrincipal":"arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling","Operations":["Decrypt","CreateGrant"],"Constraints":{"EncryptionContextSubset":{"aws:ebs:id":"vol-1"}}}]}"#,
            "g.json",
        )
        .unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].constraints.subset.as_ref().unwrap().len(), 1);
        assert!(parse_grants("[]", "g.json").unwrap().is_empty());
        let e = parse_grants(r#"{"Grants":[{"Operations":["Decrypt"]}]}"#, "g.json").unwrap_err();
        assert!(
            e.to_string().contains("`Grants[0].GranteePrincipal`"),
            "{e}"
        );
    }
}
