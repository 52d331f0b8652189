//! KMS grants as `kms list-grants` returns them.

use super::document::{opt_string, string_list};
use super::path::{join, Path};
use super::{parse_json, type_name, PolicyParseError};
use crate::policy::matching::PrincipalPattern;
use crate::policy::model::{Grant, GrantConstraints};
use serde_json::Value;

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
