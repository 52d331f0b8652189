//! Policy variables in condition values (IAM user guide, "Policy variables"): `${key}` takes the
//! request's value of a single-valued key, `${key, 'default'}` a default when the key has no
//! value, and `${*}`, `${?}`, `${$}` stand for the literal characters.
//!
//! The substituted text is literal: a `*` or `?` in the request's value (or from `${*}`/`${?}`)
//! is not a wildcard under `StringLike`/`ArnLike`, so [`Resolved::literal`] marks those bytes.
//! A key that is absent, or multivalued ("Single-valued vs. multivalued context keys": a
//! multivalued key cannot be a policy variable), leaves the value effectively null
//! ("Policy variables with no value").

use crate::policy::context::RequestContext;
use std::borrow::Cow;

/// A policy value with its variables replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Resolved<'a> {
    pub text: Cow<'a, str>,
    /// Per byte of `text`, true when a `*` or `?` there is a literal character. Empty when the
    /// value had no variables (every `*` and `?` is then a wildcard where the operator has them).
    pub literal: Vec<bool>,
}

/// What a policy value becomes for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Resolution<'a> {
    Value(Resolved<'a>),
    /// A variable without a value and without a default, as written (`${aws:PrincipalTag/x}`).
    Null {
        variable: &'a str,
    },
}

/// The request's value of a key usable as a variable: present and single-valued.
fn lookup<'c>(name: &str, ctx: &'c RequestContext) -> Option<&'c str> {
    if ctx.is_multi_valued(name) {
        return None;
    }
    match ctx.get(name)? {
        [one] => Some(one.as_str()),
        _ => None,
    }
}

fn push(out: &mut String, literal: &mut Vec<bool>, text: &str, is_literal: bool) {
    out.push_str(text);
    literal.resize(out.len(), is_literal);
}

/// Resolve the variables of `raw` for the request.
pub(super) fn resolve<'a>(raw: &'a str, ctx: &RequestContext) -> Resolution<'a> {
    if !raw.contains("${") {
        return Resolution::Value(Resolved {
            text: Cow::Borrowed(raw),
            literal: Vec::new(),
        });
    }
    let mut out = String::with_capacity(raw.len());
    let mut literal = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        push(&mut out, &mut literal, &rest[..start], false);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Resolution::Null {
                variable: &rest[start..],
            };
        };
        let variable = &rest[start..start + end + 3];
        let inner = after[..end].trim();
        match inner {
            "*" | "?" | "$" => push(&mut out, &mut literal, inner, true),
            _ => {
                let (name, default) = match inner.split_once(',') {
                    Some((n, d)) => (n.trim(), Some(d.trim().trim_matches('\''))),
                    None => (inner, None),
                };
                match lookup(name, ctx).or(default) {
                    Some(v) => push(&mut out, &mut literal, v, true),
                    None => return Resolution::Null { variable },
                }
            }
        }
        rest = &after[end + 1..];
    }
    push(&mut out, &mut literal, rest, false);
    Resolution::Value(Resolved {
        text: Cow::Owned(out),
        literal,
    })
}

/// Substitute `${...}` policy variables from the request; `None` when a variable has no value
/// (the value is then effectively null).
pub fn substitute<'a>(raw: &'a str, ctx: &RequestContext) -> Option<Cow<'a, str>> {
    match resolve(raw, ctx) {
        Resolution::Value(r) => Some(r.text),
        Resolution::Null { .. } => None,
    }
}
