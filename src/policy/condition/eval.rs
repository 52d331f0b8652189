//! Evaluation of a condition against a request (IAM user guide, "IAM JSON policy elements:
//! Condition operators" and "Single-valued vs. multivalued context keys").
//!
//! Each (request value, policy value) pair compares to [`Cmp`]: a match, no match, or
//! incomparable (a request value that is not a number/date/address/ARN, or a policy value that
//! is not an ARN under an ARN operator). A policy value whose variable has no value is
//! effectively null ("Policy variables with no value"): nothing equals it or is like it, so it
//! adds no match to a positive operator and never stops a negated one from holding.
//!
//! - a positive operator holds for a request value when some policy value matches it;
//! - a negated operator holds when no policy value matches it *and* every comparison could be
//!   made, so a negated Numeric/Date/IP/ARN operator does not hold for a value it cannot compare.

use super::value::{parse_date, parse_net, parse_number};
use super::vars::{resolve, Resolution, Resolved};
use super::{Base, CondValue, Condition, Parsed, SetQualifier};
use crate::policy::context::RequestContext;
use crate::policy::matching::glob_match_masked;
use std::net::IpAddr;

/// How one request value compares with one policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Match,
    NoMatch,
    /// The two cannot be compared (wrong type on either side).
    Incomparable,
}

impl Cmp {
    fn from_bool(b: bool) -> Self {
        if b {
            Self::Match
        } else {
            Self::NoMatch
        }
    }
}

/// The byte ranges of the six colon-separated parts of an ARN (the last part keeps its colons).
fn arn_parts(s: &str) -> Option<[(usize, usize); 6]> {
    let mut out = [(0, 0); 6];
    let (mut start, mut n) = (0, 0);
    for (i, b) in s.bytes().enumerate() {
        if n == 5 {
            break;
        }
        if b == b':' {
            out[n] = (start, i);
            start = i + 1;
            n += 1;
        }
    }
    if n < 5 {
        return None;
    }
    out[5] = (start, s.len());
    Some(out)
}

/// `ArnEquals`/`ArnLike`: each of the six parts is compared separately, with `*` and `?`.
fn arn_match(want: &Resolved<'_>, req: &str) -> Cmp {
    let pattern: &str = &want.text;
    let (Some(p), Some(r)) = (arn_parts(pattern), arn_parts(req)) else {
        return Cmp::Incomparable;
    };
    let part = |(s, e): (usize, usize)| {
        let lit = want.literal.get(s..e).unwrap_or(&[]);
        (pattern.get(s..e).unwrap_or(""), lit)
    };
    let (p0, l0) = part(p[0]);
    if req.get(r[0].0..r[0].1) != Some("arn") || !glob_match_masked(p0, l0, "arn") {
        return Cmp::Incomparable;
    }
    Cmp::from_bool(p.iter().zip(r.iter()).all(|(&pr, &(rs, re))| {
        let (pp, lit) = part(pr);
        glob_match_masked(pp, lit, req.get(rs..re).unwrap_or(""))
    }))
}

fn ordered<T: PartialOrd>(base: Base, r: T, w: T) -> bool {
    match base {
        Base::NumericEquals | Base::DateEquals => r == w,
        Base::NumericLessThan | Base::DateLessThan => r < w,
        Base::NumericLessThanEquals | Base::DateLessThanEquals => r <= w,
        Base::NumericGreaterThan | Base::DateGreaterThan => r > w,
        _ => r >= w,
    }
}

impl Condition {
    /// Compare one request value with one policy value; `None` when the policy value is null
    /// (a variable without a value).
    fn compare(&self, req: &str, cv: &CondValue, ctx: &RequestContext) -> Option<Cmp> {
        match resolve(&cv.raw, ctx) {
            Resolution::Null { .. } => None,
            Resolution::Value(want) => Some(self.compare_resolved(req, cv, &want)),
        }
    }

    fn compare_resolved(&self, req: &str, cv: &CondValue, want: &Resolved<'_>) -> Cmp {
        let base = self.operator.base;
        match base {
            Base::StringEquals | Base::BinaryEquals => Cmp::from_bool(req == want.text),
            Base::StringEqualsIgnoreCase | Base::Bool => {
                Cmp::from_bool(req.eq_ignore_ascii_case(&want.text))
            }
            Base::StringLike => Cmp::from_bool(glob_match_masked(&want.text, &want.literal, req)),
            Base::Arn => arn_match(want, req),
            Base::IpAddress => {
                let net = match cv.parsed {
                    Parsed::Net(n) => Some(n),
                    _ => parse_net(&want.text),
                };
                match (net, req.trim().parse::<IpAddr>()) {
                    (Some(net), Ok(ip)) => Cmp::from_bool(net.contains(&ip)),
                    _ => Cmp::Incomparable,
                }
            }
            Base::NumericEquals
            | Base::NumericLessThan
            | Base::NumericLessThanEquals
            | Base::NumericGreaterThan
            | Base::NumericGreaterThanEquals => {
                let w = match cv.parsed {
                    Parsed::Number(w) if w.is_finite() => Some(w),
                    _ => parse_number(&want.text),
                };
                match (parse_number(req), w) {
                    (Some(r), Some(w)) => Cmp::from_bool(ordered(base, r, w)),
                    _ => Cmp::Incomparable,
                }
            }
            Base::DateEquals
            | Base::DateLessThan
            | Base::DateLessThanEquals
            | Base::DateGreaterThan
            | Base::DateGreaterThanEquals => {
                let w = match cv.parsed {
                    Parsed::Date(w) => Some(w),
                    _ => parse_date(&want.text),
                };
                match (parse_date(req), w) {
                    (Some(r), Some(w)) => Cmp::from_bool(ordered(base, r, w)),
                    _ => Cmp::Incomparable,
                }
            }
            Base::Null => Cmp::NoMatch,
        }
    }

    /// The positive operator holds for `req`: some policy value matches it.
    fn positive_holds(&self, req: &str, ctx: &RequestContext) -> bool {
        self.values
            .iter()
            .any(|cv| self.compare(req, cv, ctx) == Some(Cmp::Match))
    }

    /// The negated operator holds for `req`: no policy value matches it and every comparison
    /// could be made (null values take no part).
    fn negated_holds(&self, req: &str, ctx: &RequestContext) -> bool {
        self.values
            .iter()
            .all(|cv| matches!(self.compare(req, cv, ctx), None | Some(Cmp::NoMatch)))
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
        let pos = |r: &String| self.positive_holds(r, ctx);
        let neg = |r: &String| self.negated_holds(r, ctx);
        match (op.set, op.negated) {
            (SetQualifier::ForAllValues, false) => req.iter().all(pos),
            (SetQualifier::ForAllValues, true) => req.iter().all(neg),
            (SetQualifier::ForAnyValue, true) => req.iter().any(neg),
            (_, false) => req.iter().any(pos),
            (SetQualifier::None, true) => req.iter().all(neg),
        }
    }

    /// The policy variables of this condition's values that have no value in the request (and
    /// no default), as written, e.g. `${aws:PrincipalTag/team}`. Empty for `Null`, whose values
    /// are not substituted.
    pub fn unresolved_variables<'a>(&'a self, ctx: &RequestContext) -> Vec<&'a str> {
        if self.operator.base == Base::Null {
            return Vec::new();
        }
        self.values
            .iter()
            .filter(|cv| cv.has_vars)
            .filter_map(|cv| match resolve(&cv.raw, ctx) {
                Resolution::Null { variable } => Some(variable),
                Resolution::Value(_) => None,
            })
            .collect()
    }
}
