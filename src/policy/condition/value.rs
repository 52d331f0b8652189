//! Type checks of condition values: dates, numbers, IP addresses, booleans.

use super::{Base, CondValue, Operator, Parsed, ValueError};
use ipnet::IpNet;
use std::net::IpAddr;

/// Parse a date as IAM does, in a policy or a request: an ISO 8601 date or date-time (extended
/// or basic format, with or without a zone; no zone means UTC) or epoch seconds ("IAM JSON policy
/// elements: Condition operators", date condition operators).
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if let Ok(f) = s.parse::<f64>() {
        // Epoch seconds with a fraction; the range check keeps the cast exact.
        return (f.is_finite() && f.abs() < 1e15).then(|| f.floor() as i64);
    }
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp());
    }
    const ZONED: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y%m%dT%H%M%S%z",
    ];
    for f in ZONED {
        if let Ok(d) = chrono::DateTime::parse_from_str(s, f) {
            return Some(d.timestamp());
        }
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    const NAIVE: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y%m%dT%H%M%S",
        "%Y%m%dT%H%M",
    ];
    for f in NAIVE {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(naive, f) {
            return Some(d.and_utc().timestamp());
        }
    }
    for f in ["%Y-%m-%d", "%Y%m%d"] {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(naive, f) {
            return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
        }
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

/// A request's number, if it is one that can be compared (`NaN` and infinities cannot).
pub(super) fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
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

    pub(super) fn parse_for(raw: &str, op: &Operator) -> Result<Parsed, ValueError> {
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
