//! Condition operators: parsing (operator names, value types) and evaluation against a request.
//!
//! - this file: operator names ([`Operator`]), the parsed [`Condition`] and its values;
//! - `value`: type checks of policy values (dates, numbers, addresses);
//! - `vars`: policy variables (`${aws:PrincipalTag/team}`), resolved literally;
//! - `eval`: the comparison of a condition with a request (IAM user guide, "IAM JSON policy
//!   elements: Condition operators", "Policy variables", "Single-valued vs. multivalued context
//!   keys").

mod eval;
mod value;
mod vars;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_aws_rules;

pub use value::{parse_date, parse_net};
pub use vars::substitute;

use ipnet::IpNet;
use serde::Serialize;

/// The base comparison of an operator (negated operators share the positive base).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    /// `ArnEquals` and `ArnLike` both expand `*` and `?`.
    Arn,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    Null,
}

/// `ForAnyValue:` / `ForAllValues:` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetQualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

/// A parsed operator name such as `ForAnyValue:StringNotLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub base: Base,
    pub negated: bool,
    pub if_exists: bool,
    pub set: SetQualifier,
}

const OPERATORS: &[(&str, Base, bool)] = &[
    ("StringEquals", Base::StringEquals, false),
    ("StringNotEquals", Base::StringEquals, true),
    (
        "StringEqualsIgnoreCase",
        Base::StringEqualsIgnoreCase,
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Base::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Base::StringLike, false),
    ("StringNotLike", Base::StringLike, true),
    ("ArnEquals", Base::Arn, false),
    ("ArnLike", Base::Arn, false),
    ("ArnNotEquals", Base::Arn, true),
    ("ArnNotLike", Base::Arn, true),
    ("NumericEquals", Base::NumericEquals, false),
    ("NumericNotEquals", Base::NumericEquals, true),
    ("NumericLessThan", Base::NumericLessThan, false),
    ("NumericLessThanEquals", Base::NumericLessThanEquals, false),
    ("NumericGreaterThan", Base::NumericGreaterThan, false),
    (
        "NumericGreaterThanEquals",
        Base::NumericGreaterThanEquals,
        false,
    ),
    ("DateEquals", Base::DateEquals, false),
    ("DateNotEquals", Base::DateEquals, true),
    ("DateLessThan", Base::DateLessThan, false),
    ("DateLessThanEquals", Base::DateLessThanEquals, false),
    ("DateGreaterThan", Base::DateGreaterThan, false),
    ("DateGreaterThanEquals", Base::DateGreaterThanEquals, false),
    ("Bool", Base::Bool, false),
    ("BinaryEquals", Base::BinaryEquals, false),
    ("IpAddress", Base::IpAddress, false),
    ("NotIpAddress", Base::IpAddress, true),
    ("Null", Base::Null, false),
];

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..cut])
}

impl Operator {
    /// Parse an operator name; `None` when it is not one the policy language knows.
    pub fn parse(name: &str) -> Option<Self> {
        let (set, rest) = if let Some(r) = strip_prefix_ci(name, "ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else if let Some(r) = strip_prefix_ci(name, "ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else {
            (SetQualifier::None, name)
        };
        let lookup = |n: &str| {
            OPERATORS
                .iter()
                .find(|(op, _, _)| op.eq_ignore_ascii_case(n))
                .map(|(_, b, neg)| (*b, *neg))
        };
        if let Some((base, negated)) = lookup(rest) {
            return Some(Self {
                base,
                negated,
                if_exists: false,
                set,
            });
        }
        let stem = strip_suffix_ci(rest, "IfExists")?;
        let (base, negated) = lookup(stem)?;
        if base == Base::Null {
            return None;
        }
        Some(Self {
            base,
            negated,
            if_exists: true,
            set,
        })
    }
}

/// One condition value, pre-parsed for its operator.
#[derive(Debug, Clone, PartialEq)]
pub struct CondValue {
    /// The value as written (JSON booleans and numbers as their text).
    pub raw: String,
    /// Contains `${...}` policy variables.
    pub has_vars: bool,
    parsed: Parsed,
}

#[derive(Debug, Clone, PartialEq)]
enum Parsed {
    Text,
    Net(IpNet),
    Number(f64),
    Date(i64),
}

/// One key under one operator: `"Operator": {"key": [values]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The operator as written.
    pub operator_name: String,
    pub operator: Operator,
    /// The key as written.
    pub key: String,
    /// The key lowercased (condition keys are case-insensitive).
    pub key_lc: String,
    pub values: Vec<CondValue>,
}

/// Why a value does not fit its operator (becomes a parse error with the element path).
pub type ValueError = String;

impl Condition {
    /// The values as written.
    pub fn raw_values(&self) -> Vec<String> {
        self.values.iter().map(|v| v.raw.clone()).collect()
    }

    /// `Operator key [values]`, for messages.
    pub fn describe(&self) -> String {
        let vals = self.raw_values();
        if vals.len() == 1 {
            format!("{} `{}` = `{}`", self.operator_name, self.key, vals[0])
        } else {
            format!(
                "{} `{}` in [{}]",
                self.operator_name,
                self.key,
                vals.iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}
