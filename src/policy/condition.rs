//! Condition operators: parsing (operator names, value types) and evaluation against a request.

use super::context::RequestContext;
use super::matching::glob_match;
use ipnet::IpNet;
use serde::Serialize;
use std::borrow::Cow;
use std::net::IpAddr;

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

/// Parse a date as IAM does: ISO 8601 date/time or epoch seconds.
pub fn parse_date(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp());
    }
    if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Some(d.and_utc().timestamp());
    }
    if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ") {
        return Some(d.and_utc().timestamp());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
    }
    None
}

/// Parse an IP address or CIDR (a bare address is a /32 or /128).
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n);
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

impl CondValue {
    /// Build a value for `op`, checking its type unless it holds policy variables.
    pub fn new(raw: String, op: &Operator) -> Result<Self, ValueError> {
        let has_vars = raw.contains("${");
        let parsed = if has_vars {
            Parsed::Text
        } else {
            Self::parse_for(&raw, op)?
        };
        Ok(Self {
            raw,
            has_vars,
            parsed,
        })
    }

    fn parse_for(raw: &str, op: &Operator) -> Result<Parsed, ValueError> {
        Ok(match op.base {
            Base::IpAddress => Parsed::Net(
                parse_net(raw).ok_or_else(|| format!("`{raw}` is not an IP address or CIDR"))?,
            ),
            Base::NumericEquals
            | Base::NumericLessThan
            | Base::NumericLessThanEquals
            | Base::NumericGreaterThan
            | Base::NumericGreaterThanEquals => Parsed::Number(
                raw.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("`{raw}` is not a number"))?,
            ),
            Base::DateEquals
            | Base::DateLessThan
            | Base::DateLessThanEquals
            | Base::DateGreaterThan
            | Base::DateGreaterThanEquals => Parsed::Date(
                parse_date(raw)
                    .ok_or_else(|| format!("`{raw}` is not a date (ISO 8601 or epoch seconds)"))?,
            ),
            Base::Bool | Base::Null => {
                if raw.eq_ignore_ascii_case("true") || raw.eq_ignore_ascii_case("false") {
                    Parsed::Text
                } else {
                    return Err(format!("`{raw}` is not `true` or `false`"));
                }
            }
            _ => Parsed::Text,
        })
    }
}

/// Substitute `${...}` policy variables from the request; `None` when a variable is absent
/// (the value then matches nothing).
pub fn substitute<'a>(raw: &'a str, ctx: &RequestContext) -> Option<Cow<'a, str>> {
    if !raw.contains("${") {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let inner = after[..end].trim();
        match inner {
            "*" => out.push('*'),
            "?" => out.push('?'),
            "$" => out.push('$'),
            _ => {
                let (name, default) = match inner.split_once(',') {
                    Some((n, d)) => (n.trim(), Some(d.trim().trim_matches('\'').to_string())),
                    None => (inner, None),
                };
                match ctx.get(name).and_then(|v| v.first()) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&default?),
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

impl Condition {
    /// Does the positive base comparison hold for one request value and one condition value?
    fn base_match(&self, req: &str, cv: &CondValue, ctx: &RequestContext) -> bool {
        let Some(want) = substitute(&cv.raw, ctx) else {
            return false;
        };
        let parsed = if cv.has_vars {
            match CondValue::parse_for(&want, &self.operator) {
                Ok(p) => p,
                Err(_) => return false,
            }
        } else {
            cv.parsed.clone()
        };
        match self.operator.base {
            Base::StringEquals | Base::BinaryEquals => req == want,
            Base::StringEqualsIgnoreCase => req.eq_ignore_ascii_case(&want),
            Base::StringLike | Base::Arn => glob_match(&want, req),
            Base::Bool => req.eq_ignore_ascii_case(&want),
            Base::IpAddress => match (parsed, req.trim().parse::<IpAddr>()) {
                (Parsed::Net(net), Ok(ip)) => net.contains(&ip),
                _ => false,
            },
            Base::NumericEquals
            | Base::NumericLessThan
            | Base::NumericLessThanEquals
            | Base::NumericGreaterThan
            | Base::NumericGreaterThanEquals => {
                let (Parsed::Number(w), Ok(r)) = (parsed, req.trim().parse::<f64>()) else {
                    return false;
                };
                match self.operator.base {
                    Base::NumericEquals => r == w,
                    Base::NumericLessThan => r < w,
                    Base::NumericLessThanEquals => r <= w,
                    Base::NumericGreaterThan => r > w,
                    _ => r >= w,
                }
            }
            Base::DateEquals
            | Base::DateLessThan
            | Base::DateLessThanEquals
            | Base::DateGreaterThan
            | Base::DateGreaterThanEquals => {
                let (Parsed::Date(w), Some(r)) = (parsed, parse_date(req)) else {
                    return false;
                };
                match self.operator.base {
                    Base::DateEquals => r == w,
                    Base::DateLessThan => r < w,
                    Base::DateLessThanEquals => r <= w,
                    Base::DateGreaterThan => r > w,
                    _ => r >= w,
                }
            }
            Base::Null => false,
        }
    }

    fn any_value_matches(&self, req: &str, ctx: &RequestContext) -> bool {
        self.values.iter().any(|cv| self.base_match(req, cv, ctx))
    }

    /// Evaluate this condition against the request.
    pub fn eval(&self, ctx: &RequestContext) -> bool {
        let req = ctx.get_lc(&self.key_lc).filter(|v| !v.is_empty());
        let op = self.operator;
        if op.base == Base::Null {
            let present = req.is_some();
            return self.values.iter().any(|v| {
                let want_absent = v.raw.eq_ignore_ascii_case("true");
                want_absent != present
            });
        }
        let Some(req) = req else {
            return match op.set {
                SetQualifier::ForAnyValue => op.if_exists,
                SetQualifier::ForAllValues => true,
                SetQualifier::None => op.if_exists || op.negated,
            };
        };
        match (op.set, op.negated) {
            (SetQualifier::ForAllValues, false) => {
                req.iter().all(|r| self.any_value_matches(r, ctx))
            }
            (SetQualifier::ForAllValues, true) => {
                req.iter().all(|r| !self.any_value_matches(r, ctx))
            }
            (SetQualifier::ForAnyValue, true) => {
                req.iter().any(|r| !self.any_value_matches(r, ctx))
            }
            (_, false) => req.iter().any(|r| self.any_value_matches(r, ctx)),
            (SetQualifier::None, true) => !req.iter().any(|r| self.any_value_matches(r, ctx)),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, vals: &[&str]) -> Condition {
        let operator = Operator::parse(op).unwrap();
        Condition {
            operator_name: op.to_string(),
            operator,
            key: key.to_string(),
            key_lc: key.to_ascii_lowercase(),
            values: vals
                .iter()
                .map(|v| CondValue::new((*v).to_string(), &operator).unwrap())
                .collect(),
        }
    }

    fn ctx(pairs: &[(&str, &str)]) -> RequestContext {
        let mut c = RequestContext::new();
        for (k, v) in pairs {
            c.set(k, *v);
        }
        c
    }

    #[test]
    fn operator_names_with_multibyte_characters() {
        // Regression (found by the property test): slicing inside a multi-byte character.
        assert!(Operator::parse("\"\u{59848}/\u{147be}\u{fffd}#%0)*=").is_none());
        assert!(Operator::parse("\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}IfExists").is_none());
    }

    #[test]
    fn operator_names() {
        let o = Operator::parse("ForAnyValue:StringNotLikeIfExists").unwrap();
        assert_eq!(o.base, Base::StringLike);
        assert!(o.negated && o.if_exists);
        assert_eq!(o.set, SetQualifier::ForAnyValue);
        assert!(Operator::parse("StringEqualz").is_none());
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("ArnLikeIfExists").is_some());
        assert!(Operator::parse("DateGreaterThanEquals").is_some());
    }

    #[test]
    fn string_operators() {
        let c = ctx(&[("kms:ViaService", "ec2.eu-west-1.amazonaws.com")]);
        assert!(cond(
            "StringEquals",
            "KMS:VIASERVICE",
            &["ec2.eu-west-1.amazonaws.com"]
        )
        .eval(&c));
        assert!(!cond(
            "StringEquals",
            "kms:ViaService",
            &["EC2.eu-west-1.amazonaws.com"]
        )
        .eval(&c));
        assert!(cond(
            "StringEqualsIgnoreCase",
            "kms:ViaService",
            &["EC2.EU-west-1.amazonaws.com"]
        )
        .eval(&c));
        assert!(cond("StringLike", "kms:ViaService", &["ec2.*.amazonaws.com"]).eval(&c));
        assert!(!cond("StringEquals", "kms:ViaService", &["ec2.*.amazonaws.com"]).eval(&c));
        assert!(cond(
            "StringNotEquals",
            "kms:ViaService",
            &["rds.eu-west-1.amazonaws.com"]
        )
        .eval(&c));
        assert!(!cond("StringNotLike", "kms:ViaService", &["ec2.*", "rds.*"]).eval(&c));
        assert!(cond("StringNotEqualsIgnoreCase", "kms:ViaService", &["x"]).eval(&c));
        // absent key: ordinary false, negated true, IfExists true
        assert!(!cond("StringEquals", "aws:SourceVpc", &["vpc-1"]).eval(&c));
        assert!(cond("StringNotEquals", "aws:SourceVpc", &["vpc-1"]).eval(&c));
        assert!(cond("StringEqualsIfExists", "aws:SourceVpc", &["vpc-1"]).eval(&c));
    }

    #[test]
    fn arn_bool_null() {
        let c = ctx(&[
            ("aws:PrincipalArn", "arn:aws:iam::111122223333:role/Admin"),
            ("kms:GrantIsForAWSResource", "true"),
        ]);
        assert!(cond(
            "ArnLike",
            "aws:PrincipalArn",
            &["arn:aws:iam::*:role/Adm?n"]
        )
        .eval(&c));
        assert!(cond(
            "ArnEquals",
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:role/Admin"]
        )
        .eval(&c));
        assert!(cond(
            "ArnNotEquals",
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:role/Other"]
        )
        .eval(&c));
        assert!(!cond("ArnNotLike", "aws:PrincipalArn", &["arn:aws:iam::*:role/*"]).eval(&c));
        assert!(cond("Bool", "kms:GrantIsForAWSResource", &["TRUE"]).eval(&c));
        assert!(!cond("Bool", "kms:GrantIsForAWSResource", &["false"]).eval(&c));
        assert!(!cond("Bool", "aws:ViaAWSService", &["true"]).eval(&c));
        assert!(cond("BoolIfExists", "aws:ViaAWSService", &["true"]).eval(&c));
        assert!(cond("Null", "aws:SourceVpc", &["true"]).eval(&c));
        assert!(!cond("Null", "aws:PrincipalArn", &["true"]).eval(&c));
        assert!(cond("Null", "aws:PrincipalArn", &["false"]).eval(&c));
    }

    #[test]
    fn ip_addresses() {
        let v4 = ctx(&[("aws:SourceIp", "203.0.113.7")]);
        let v6 = ctx(&[("aws:SourceIp", "2001:db8::1")]);
        let c = cond(
            "IpAddress",
            "aws:SourceIp",
            &["203.0.113.0/24", "2001:db8::/32"],
        );
        assert!(c.eval(&v4) && c.eval(&v6));
        assert!(cond("IpAddress", "aws:SourceIp", &["203.0.113.7"]).eval(&v4));
        assert!(!cond("IpAddress", "aws:SourceIp", &["192.0.2.0/24"]).eval(&v4));
        assert!(cond("NotIpAddress", "aws:SourceIp", &["192.0.2.0/24"]).eval(&v4));
        assert!(!cond("NotIpAddress", "aws:SourceIp", &["2001:db8::/32"]).eval(&v6));
        let op = Operator::parse("IpAddress").unwrap();
        assert!(CondValue::new("300.1.1.1/8".into(), &op).is_err());
    }

    #[test]
    fn numeric_and_date() {
        let c = ctx(&[
            ("aws:MultiFactorAuthAge", "300"),
            ("aws:CurrentTime", "2024-05-01T12:00:00Z"),
        ]);
        assert!(cond("NumericLessThan", "aws:MultiFactorAuthAge", &["3600"]).eval(&c));
        assert!(!cond("NumericGreaterThan", "aws:MultiFactorAuthAge", &["3600"]).eval(&c));
        assert!(cond("NumericEquals", "aws:MultiFactorAuthAge", &["300"]).eval(&c));
        assert!(cond("NumericNotEquals", "aws:MultiFactorAuthAge", &["301"]).eval(&c));
        assert!(cond("NumericLessThanEquals", "aws:MultiFactorAuthAge", &["300"]).eval(&c));
        assert!(cond(
            "NumericGreaterThanEquals",
            "aws:MultiFactorAuthAge",
            &["300"]
        )
        .eval(&c));
        assert!(cond(
            "DateGreaterThan",
            "aws:CurrentTime",
            &["2024-01-01T00:00:00Z"]
        )
        .eval(&c));
        assert!(cond("DateLessThan", "aws:CurrentTime", &["2025-01-01"]).eval(&c));
        assert!(!cond("DateEquals", "aws:CurrentTime", &["2024-05-01"]).eval(&c));
        assert!(cond("DateLessThanEquals", "aws:CurrentTime", &["1714564800"]).eval(&c));
        assert!(cond("DateNotEquals", "aws:CurrentTime", &["2024-05-02"]).eval(&c));
        assert!(cond(
            "DateGreaterThanEquals",
            "aws:CurrentTime",
            &["2024-05-01T12:00:00Z"]
        )
        .eval(&c));
        let op = Operator::parse("NumericEquals").unwrap();
        assert!(CondValue::new("abc".into(), &op).is_err());
    }

    #[test]
    fn set_qualifiers() {
        let mut c = RequestContext::new();
        c.set_multi(
            "aws:PrincipalOrgPaths",
            vec!["o-a/r-1/ou-1/".into(), "o-a/r-1/ou-2/".into()],
        );
        assert!(cond(
            "ForAnyValue:StringLike",
            "aws:PrincipalOrgPaths",
            &["o-a/r-1/ou-1/*"]
        )
        .eval(&c));
        assert!(!cond(
            "ForAllValues:StringLike",
            "aws:PrincipalOrgPaths",
            &["o-a/r-1/ou-1/*"]
        )
        .eval(&c));
        assert!(cond(
            "ForAllValues:StringLike",
            "aws:PrincipalOrgPaths",
            &["o-a/*"]
        )
        .eval(&c));
        assert!(cond(
            "ForAnyValue:StringNotLike",
            "aws:PrincipalOrgPaths",
            &["o-a/r-1/ou-1/*"]
        )
        .eval(&c));
        assert!(!cond(
            "ForAllValues:StringNotLike",
            "aws:PrincipalOrgPaths",
            &["o-a/r-1/ou-1/*"]
        )
        .eval(&c));
        // absent: ForAnyValue false, ForAllValues true
        assert!(!cond("ForAnyValue:StringEquals", "aws:TagKeys", &["x"]).eval(&c));
        assert!(cond("ForAllValues:StringEquals", "aws:TagKeys", &["x"]).eval(&c));
    }

    #[test]
    fn policy_variables() {
        let c = ctx(&[
            ("kms:CallerAccount", "444455556666"),
            ("aws:PrincipalAccount", "444455556666"),
        ]);
        assert!(cond(
            "StringEquals",
            "kms:CallerAccount",
            &["${aws:PrincipalAccount}"]
        )
        .eval(&c));
        assert!(!cond(
            "StringEquals",
            "kms:CallerAccount",
            &["${aws:PrincipalOrgID}"]
        )
        .eval(&c));
        assert!(cond(
            "StringEquals",
            "kms:CallerAccount",
            &["${aws:PrincipalOrgID, '444455556666'}"]
        )
        .eval(&c));
        assert_eq!(substitute("a${*}b${$}", &c).unwrap(), "a*b$");
    }
}
