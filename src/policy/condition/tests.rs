//! Unit tests of operator parsing and evaluation (the AWS edge rules are in `tests_aws_rules`).

use super::*;
use crate::policy::context::RequestContext;

/// A condition `op` on `key` with `vals` (shared with `tests_aws_rules`).
pub(super) fn cond(op: &str, key: &str, vals: &[&str]) -> Condition {
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
