//! Table tests of AWS's documented edge rules of conditions, one table per operator family, each
//! rule with both outcomes. Every row cites the IAM user guide page it follows:
//! - VARS: "IAM policy elements: Variables and tags" (reference_policies_variables.html),
//!   incl. "Policy variables with no value" and "Specifying default values";
//! - OPS: "IAM JSON policy elements: Condition operators"
//!   (reference_policies_elements_condition_operators.html);
//! - MULTI: "Single-valued vs. multivalued context keys"
//!   (reference_policies_condition-single-vs-multi-valued-context-keys.html).

use super::tests::cond;
use super::*;
use crate::policy::context::RequestContext;

const VARS: &str = "Policy variables (reference_policies_variables.html)";
const NO_VALUE: &str = "Policy variables > Policy variables with no value";
const DEFAULTS: &str = "Policy variables > Specifying default values";
const OPS: &str = "IAM JSON policy elements: Condition operators";
const MULTI: &str = "Single-valued vs. multivalued context keys";

/// Request keys: `(key, values, multivalued)`.
type Request = &'static [(&'static str, &'static [&'static str], bool)];

/// One row: `op key [values]` against a request, and whether the condition holds.
struct Case {
    page: &'static str,
    rule: &'static str,
    op: &'static str,
    key: &'static str,
    values: &'static [&'static str],
    request: Request,
    holds: bool,
}

fn run(table: &[Case]) {
    for c in table {
        let mut ctx = RequestContext::new();
        for (k, vals, multi) in c.request {
            if *multi {
                ctx.set_multi(k, vals.iter().map(|v| (*v).to_string()).collect());
            } else {
                ctx.set(k, vals[0]);
            }
        }
        let got = cond(c.op, c.key, c.values).eval(&ctx);
        assert_eq!(
            got, c.holds,
            "[{}] {}: {} {} {:?} with {:?}",
            c.page, c.rule, c.op, c.key, c.values, c.request
        );
    }
}

const TEAM: &str = "aws:PrincipalTag/team";
const K: &str = "kms:EncryptionContext:team";

#[test]
#[rustfmt::skip]
fn string_operators_and_policy_variables() {
    run(&[
        // A variable whose key is absent, without default, is effectively null: nothing equals it.
        Case { page: NO_VALUE, rule: "absent variable, positive operator", op: "StringEquals", key: K, values: &["${aws:PrincipalTag/team}"], request: &[(K, &["build"], false)], holds: false },
        Case { page: NO_VALUE, rule: "present variable, positive operator", op: "StringEquals", key: K, values: &["${aws:PrincipalTag/team}"], request: &[(K, &["build"], false), (TEAM, &["build"], false)], holds: true },
        Case { page: NO_VALUE, rule: "absent variable, StringLike", op: "StringLike", key: K, values: &["${aws:PrincipalTag/team}*"], request: &[(K, &["build"], false)], holds: false },
        // "Inverted condition operators like StringNotEquals or StringNotLike do match against a
        // null value" (so a Deny built on one applies).
        Case { page: NO_VALUE, rule: "absent variable, negated operator matches the null value", op: "StringNotEquals", key: K, values: &["${aws:PrincipalTag/team}"], request: &[(K, &["build"], false)], holds: true },
        Case { page: NO_VALUE, rule: "present equal variable, negated operator", op: "StringNotEquals", key: K, values: &["${aws:PrincipalTag/team}"], request: &[(K, &["build"], false), (TEAM, &["build"], false)], holds: false },
        Case { page: NO_VALUE, rule: "absent variable, StringNotLike", op: "StringNotLike", key: K, values: &["${aws:PrincipalTag/team}/*"], request: &[(K, &["build/x"], false)], holds: true },
        Case { page: NO_VALUE, rule: "null value dropped from a list, negated, other value matches", op: "StringNotEquals", key: K, values: &["build", "${aws:PrincipalTag/team}"], request: &[(K, &["build"], false)], holds: false },
        Case { page: NO_VALUE, rule: "null value dropped from a list, positive, other value matches", op: "StringEquals", key: K, values: &["build", "${aws:PrincipalTag/team}"], request: &[(K, &["build"], false)], holds: true },
        // Default values.
        Case { page: DEFAULTS, rule: "absent key takes the default", op: "StringEquals", key: K, values: &["${aws:PrincipalTag/team, 'build'}"], request: &[(K, &["build"], false)], holds: true },
        Case { page: DEFAULTS, rule: "absent key takes the default (other value)", op: "StringEquals", key: K, values: &["${aws:PrincipalTag/team, 'ops'}"], request: &[(K, &["build"], false)], holds: false },
        Case { page: DEFAULTS, rule: "present key wins over the default", op: "StringEquals", key: K, values: &["${aws:PrincipalTag/team, 'build'}"], request: &[(K, &["build"], false), (TEAM, &["ops"], false)], holds: false },
        // Multivalued keys cannot be variables.
        Case { page: MULTI, rule: "multivalued key as variable does not resolve", op: "StringEquals", key: K, values: &["${aws:PrincipalOrgPaths}"], request: &[(K, &["o-a/r-1/"], false), ("aws:PrincipalOrgPaths", &["o-a/r-1/"], true)], holds: false },
        Case { page: MULTI, rule: "single-valued key as variable resolves", op: "StringEquals", key: K, values: &["${aws:PrincipalOrgID}"], request: &[(K, &["o-a"], false), ("aws:PrincipalOrgID", &["o-a"], false)], holds: true },
        Case { page: MULTI, rule: "multivalued variable is null for a negated operator too", op: "StringNotEquals", key: K, values: &["${aws:PrincipalOrgPaths}"], request: &[(K, &["o-a/r-1/"], false), ("aws:PrincipalOrgPaths", &["o-a/r-1/"], true)], holds: true },
        // The substituted value is literal.
        Case { page: VARS, rule: "a `*` in the substituted value is literal", op: "StringLike", key: K, values: &["${aws:PrincipalTag/team}"], request: &[(K, &["build"], false), (TEAM, &["b*"], false)], holds: false },
        Case { page: VARS, rule: "a `*` in the substituted value matches itself", op: "StringLike", key: K, values: &["${aws:PrincipalTag/team}"], request: &[(K, &["b*"], false), (TEAM, &["b*"], false)], holds: true },
        Case { page: VARS, rule: "a `?` in the substituted value is literal", op: "StringLike", key: K, values: &["${aws:PrincipalTag/team}/*"], request: &[(K, &["ab/x"], false), (TEAM, &["a?"], false)], holds: false },
        Case { page: VARS, rule: "the policy's own `*` stays a wildcard next to a variable", op: "StringLike", key: K, values: &["${aws:PrincipalTag/team}/*"], request: &[(K, &["a?/x/y"], false), (TEAM, &["a?"], false)], holds: true },
        Case { page: VARS, rule: "a literal-substituted value under StringNotLike", op: "StringNotLike", key: K, values: &["${aws:PrincipalTag/team}"], request: &[(K, &["build"], false), (TEAM, &["*"], false)], holds: true },
        Case { page: VARS, rule: "`${*}` is a literal `*`", op: "StringLike", key: K, values: &["a${*}"], request: &[(K, &["abc"], false)], holds: false },
        Case { page: VARS, rule: "`${*}` matches a `*`", op: "StringLike", key: K, values: &["a${*}"], request: &[(K, &["a*"], false)], holds: true },
        Case { page: VARS, rule: "`${?}` and `${$}` are literal", op: "StringEquals", key: K, values: &["${?}${$}"], request: &[(K, &["?$"], false)], holds: true },
        // An absent condition key (not a variable): negated operators hold, positive do not.
        Case { page: OPS, rule: "absent key, positive operator", op: "StringEqualsIgnoreCase", key: K, values: &["x"], request: &[], holds: false },
        Case { page: OPS, rule: "absent key, negated operator", op: "StringNotEqualsIgnoreCase", key: K, values: &["x"], request: &[], holds: true },
    ]);
}

const SRC: &str = "aws:SourceArn";
const ROLE_A: &str = "arn:aws:iam::111122223333:role/A";

#[test]
#[rustfmt::skip]
fn arn_operators() {
    run(&[
        Case { page: OPS, rule: "each of the six ARN parts is compared separately", op: "ArnLike", key: SRC, values: &["arn:aws:iam::*:role/A"], request: &[(SRC, &[ROLE_A], false)], holds: true },
        Case { page: OPS, rule: "a `*` does not match across a part's colon", op: "ArnLike", key: SRC, values: &["arn:aws:iam::*:role/A"], request: &[(SRC, &["arn:aws:iam::x:y:role/A"], false)], holds: false },
        Case { page: OPS, rule: "ArnLike with a policy value that is not an ARN matches nothing", op: "ArnLike", key: SRC, values: &["role/*"], request: &[(SRC, &[ROLE_A], false)], holds: false },
        Case { page: OPS, rule: "ArnNotLike with a policy value that is not an ARN does not match", op: "ArnNotLike", key: SRC, values: &["role/*"], request: &[(SRC, &[ROLE_A], false)], holds: false },
        Case { page: OPS, rule: "ArnNotLike with an ARN policy value that differs", op: "ArnNotLike", key: SRC, values: &["arn:aws:iam::*:role/B*"], request: &[(SRC, &[ROLE_A], false)], holds: true },
        Case { page: OPS, rule: "ArnNotEquals with a request value that is not an ARN does not match", op: "ArnNotEquals", key: SRC, values: &[ROLE_A], request: &[(SRC, &["not-an-arn"], false)], holds: false },
        Case { page: OPS, rule: "ArnNotEquals with another ARN", op: "ArnNotEquals", key: SRC, values: &[ROLE_A], request: &[(SRC, &["arn:aws:iam::111122223333:role/B"], false)], holds: true },
        Case { page: OPS, rule: "ArnNotLike with a request value that is not an ARN does not match", op: "ArnNotLike", key: SRC, values: &["arn:aws:iam::*:role/*"], request: &[(SRC, &["role/A"], false)], holds: false },
        Case { page: VARS, rule: "a `*` substituted into an ARN is literal", op: "ArnLike", key: SRC, values: &["arn:aws:iam::111122223333:role/${aws:PrincipalTag/team}"], request: &[(SRC, &[ROLE_A], false), (TEAM, &["*"], false)], holds: false },
        Case { page: VARS, rule: "a substituted ARN part matches itself", op: "ArnLike", key: SRC, values: &["arn:aws:iam::111122223333:role/${aws:PrincipalTag/team}"], request: &[(SRC, &[ROLE_A], false), (TEAM, &["A"], false)], holds: true },
        Case { page: NO_VALUE, rule: "absent variable under ArnEquals", op: "ArnEquals", key: SRC, values: &["${aws:PrincipalTag/team}"], request: &[(SRC, &[ROLE_A], false)], holds: false },
        Case { page: NO_VALUE, rule: "absent variable under ArnNotEquals matches the null value", op: "ArnNotEquals", key: SRC, values: &["${aws:PrincipalTag/team}"], request: &[(SRC, &[ROLE_A], false)], holds: true },
    ]);
}

const AGE: &str = "aws:MultiFactorAuthAge";

#[test]
#[rustfmt::skip]
fn numeric_operators() {
    run(&[
        Case { page: OPS, rule: "negated numeric, request value not a number: does not match", op: "NumericNotEquals", key: AGE, values: &["5"], request: &[(AGE, &["abc"], false)], holds: false },
        Case { page: OPS, rule: "negated numeric, comparable request value", op: "NumericNotEquals", key: AGE, values: &["5"], request: &[(AGE, &["6"], false)], holds: true },
        Case { page: OPS, rule: "negated numeric, NaN cannot be compared", op: "NumericNotEquals", key: AGE, values: &["5"], request: &[(AGE, &["NaN"], false)], holds: false },
        Case { page: OPS, rule: "positive numeric, request value not a number", op: "NumericLessThan", key: AGE, values: &["5"], request: &[(AGE, &["abc"], false)], holds: false },
        Case { page: OPS, rule: "positive numeric, comparable", op: "NumericLessThan", key: AGE, values: &["5"], request: &[(AGE, &["4.5"], false)], holds: true },
        Case { page: NO_VALUE, rule: "absent variable, negated numeric", op: "NumericNotEquals", key: AGE, values: &["${aws:PrincipalTag/age}"], request: &[(AGE, &["4"], false)], holds: true },
        Case { page: NO_VALUE, rule: "absent variable, positive numeric", op: "NumericEquals", key: AGE, values: &["${aws:PrincipalTag/age}"], request: &[(AGE, &["4"], false)], holds: false },
    ]);
}

const NOW: &str = "aws:CurrentTime";

#[test]
#[rustfmt::skip]
fn date_operators() {
    run(&[
        Case { page: OPS, rule: "negated date, request value not a date: does not match", op: "DateNotEquals", key: NOW, values: &["2024-05-01"], request: &[(NOW, &["yesterday"], false)], holds: false },
        Case { page: OPS, rule: "negated date, comparable", op: "DateNotEquals", key: NOW, values: &["2024-05-01"], request: &[(NOW, &["2024-05-02T00:00:00Z"], false)], holds: true },
        Case { page: OPS, rule: "epoch seconds in the policy, ISO 8601 in the request", op: "DateEquals", key: NOW, values: &["1714564800"], request: &[(NOW, &["2024-05-01T12:00:00Z"], false)], holds: true },
        Case { page: OPS, rule: "ISO 8601 in the policy, epoch seconds in the request", op: "DateEquals", key: NOW, values: &["2024-05-01T12:00:00Z"], request: &[(NOW, &["1714564800"], false)], holds: true },
        Case { page: OPS, rule: "ISO 8601 with an offset", op: "DateEquals", key: NOW, values: &["2024-05-01T14:00:00+02:00"], request: &[(NOW, &["1714564800"], false)], holds: true },
        Case { page: OPS, rule: "ISO 8601 basic format and fractions", op: "DateEquals", key: NOW, values: &["20240501T120000Z"], request: &[(NOW, &["2024-05-01T12:00:00.000Z"], false)], holds: true },
        Case { page: OPS, rule: "ISO 8601 without seconds", op: "DateLessThan", key: NOW, values: &["2024-05-01T12:01Z"], request: &[(NOW, &["1714564800"], false)], holds: true },
        Case { page: OPS, rule: "ISO 8601 without a zone is UTC", op: "DateEquals", key: NOW, values: &["2024-05-01T12:00:00"], request: &[(NOW, &["1714564800"], false)], holds: true },
        Case { page: OPS, rule: "ISO 8601 date only is midnight UTC", op: "DateEquals", key: NOW, values: &["2024-05-01"], request: &[(NOW, &["1714521600"], false)], holds: true },
        Case { page: OPS, rule: "a different instant", op: "DateEquals", key: NOW, values: &["1714564801"], request: &[(NOW, &["2024-05-01T12:00:00Z"], false)], holds: false },
        Case { page: OPS, rule: "positive date, request value not a date", op: "DateGreaterThan", key: NOW, values: &["2024-05-01"], request: &[(NOW, &["soon"], false)], holds: false },
    ]);
    let op = Operator::parse("DateEquals").unwrap();
    assert!(CondValue::new("20240501".into(), &op).is_ok(), "[{OPS}] basic date");
    assert!(CondValue::new("May 1st".into(), &op).is_err(), "[{OPS}] not a date");
}

const IP: &str = "aws:SourceIp";

#[test]
#[rustfmt::skip]
fn ip_bool_and_binary_operators() {
    run(&[
        Case { page: OPS, rule: "NotIpAddress, request value not an address: does not match", op: "NotIpAddress", key: IP, values: &["10.0.0.0/8"], request: &[(IP, &["not-an-ip"], false)], holds: false },
        Case { page: OPS, rule: "NotIpAddress, address outside", op: "NotIpAddress", key: IP, values: &["10.0.0.0/8"], request: &[(IP, &["192.0.2.1"], false)], holds: true },
        Case { page: OPS, rule: "IpAddress, request value not an address", op: "IpAddress", key: IP, values: &["10.0.0.0/8"], request: &[(IP, &["not-an-ip"], false)], holds: false },
        Case { page: OPS, rule: "IpAddress, address inside", op: "IpAddress", key: IP, values: &["10.0.0.0/8"], request: &[(IP, &["10.1.2.3"], false)], holds: true },
        Case { page: OPS, rule: "Bool true", op: "Bool", key: "aws:SecureTransport", values: &["true"], request: &[("aws:SecureTransport", &["true"], false)], holds: true },
        Case { page: OPS, rule: "Bool false", op: "Bool", key: "aws:SecureTransport", values: &["true"], request: &[("aws:SecureTransport", &["false"], false)], holds: false },
        Case { page: OPS, rule: "BinaryEquals equal", op: "BinaryEquals", key: "k:bin", values: &["QmluYXJ5"], request: &[("k:bin", &["QmluYXJ5"], false)], holds: true },
        Case { page: OPS, rule: "BinaryEquals different", op: "BinaryEquals", key: "k:bin", values: &["QmluYXJ5"], request: &[("k:bin", &["QmluYXJ6"], false)], holds: false },
    ]);
}

const TAGS: &str = "aws:TagKeys";

/// `Null`, `...IfExists`, `ForAnyValue:` and `ForAllValues:` with the key absent, one value and
/// several values (policy value `a`).
#[test]
#[rustfmt::skip]
fn existence_and_set_operators() {
    const ABSENT: Request = &[];
    const ONE_A: Request = &[(TAGS, &["a"], true)];
    const ONE_B: Request = &[(TAGS, &["b"], true)];
    const AB: Request = &[(TAGS, &["a", "b"], true)];
    const BC: Request = &[(TAGS, &["b", "c"], true)];
    const EMPTY: Request = &[(TAGS, &[], true)];
    type Row = (&'static str, &'static str, &'static str, &'static [(Request, bool)]);
    let rows: &[Row] = &[
        (OPS, "Null true: the key is absent", "Null", &[(ABSENT, true), (ONE_A, false), (AB, false), (EMPTY, true)]),
        (OPS, "...IfExists holds when the key is absent", "StringEqualsIfExists", &[(ABSENT, true), (ONE_A, true), (ONE_B, false), (AB, true)]),
        (OPS, "negated ...IfExists", "StringNotEqualsIfExists", &[(ABSENT, true), (ONE_A, false), (ONE_B, true), (AB, false), (BC, true)]),
        (MULTI, "ForAnyValue: false when the key is absent", "ForAnyValue:StringEquals", &[(ABSENT, false), (ONE_A, true), (ONE_B, false), (AB, true), (BC, false), (EMPTY, false)]),
        (MULTI, "ForAnyValue negated", "ForAnyValue:StringNotEquals", &[(ABSENT, false), (ONE_A, false), (ONE_B, true), (AB, true)]),
        (MULTI, "ForAnyValue ...IfExists", "ForAnyValue:StringEqualsIfExists", &[(ABSENT, true), (ONE_B, false), (AB, true)]),
        (MULTI, "ForAllValues: true when the key is absent", "ForAllValues:StringEquals", &[(ABSENT, true), (ONE_A, true), (ONE_B, false), (AB, false), (EMPTY, true)]),
        (MULTI, "ForAllValues negated", "ForAllValues:StringNotEquals", &[(ABSENT, true), (ONE_A, false), (ONE_B, true), (AB, false), (BC, true)]),
    ];
    for (page, rule, op, cases) in rows {
        for (request, holds) in *cases {
            let values: &[&str] = if *op == "Null" { &["true"] } else { &["a"] };
            run(&[Case { page, rule, op, key: TAGS, values, request, holds: *holds }]);
        }
    }
    // Null false: the key is present.
    for (request, holds) in [(ABSENT, false), (ONE_A, true), (AB, true)] {
        run(&[Case { page: OPS, rule: "Null false: the key is present", op: "Null", key: TAGS, values: &["false"], request, holds }]);
    }
}

#[test]
fn unresolved_variables_are_named() {
    let c = cond(
        "StringNotEquals",
        K,
        &[
            "build",
            "${aws:PrincipalTag/team}",
            "${aws:PrincipalTag/x, 'd'}",
        ],
    );
    let mut ctx = RequestContext::new();
    ctx.set(K, "ops");
    assert_eq!(
        c.unresolved_variables(&ctx),
        vec!["${aws:PrincipalTag/team}"],
        "[{NO_VALUE}]"
    );
    ctx.set(TEAM, "build");
    assert!(c.unresolved_variables(&ctx).is_empty(), "[{NO_VALUE}]");
    assert!(cond("Null", K, &["true"])
        .unresolved_variables(&ctx)
        .is_empty());
}
