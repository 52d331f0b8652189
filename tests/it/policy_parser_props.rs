//! Property tests: the policy parser (and the analysis of whatever it accepts) never panics, on
//! arbitrary bytes, arbitrary strings and arbitrary JSON values shaped like policies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use amishare::policy::{
    analyze, parse_grants, parse_grants_value, parse_policies, parse_policy, parse_policy_value,
    AnalysisRequest, CallerContext, KeyInfo, KeyManager, Operation,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// Words that steer random JSON into the parser's deeper paths.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Statement".to_string()),
        Just("Effect".to_string()),
        Just("Allow".to_string()),
        Just("Deny".to_string()),
        Just("Principal".to_string()),
        Just("NotPrincipal".to_string()),
        Just("AWS".to_string()),
        Just("Service".to_string()),
        Just("*".to_string()),
        Just("Action".to_string()),
        Just("NotAction".to_string()),
        Just("kms:*".to_string()),
        Just("kms:Decrypt".to_string()),
        Just("Resource".to_string()),
        Just("NotResource".to_string()),
        Just("Condition".to_string()),
        Just("StringEquals".to_string()),
        Just("ForAnyValue:StringLikeIfExists".to_string()),
        Just("IpAddress".to_string()),
        Just("NotIpAddress".to_string()),
        Just("Bool".to_string()),
        Just("Null".to_string()),
        Just("NumericLessThan".to_string()),
        Just("DateGreaterThan".to_string()),
        Just("aws:SourceIp".to_string()),
        Just("kms:ViaService".to_string()),
        Just("${aws:PrincipalAccount}".to_string()),
        Just("${".to_string()),
        Just("111122223333".to_string()),
        Just("arn:aws:iam::111122223333:root".to_string()),
        Just("arn:aws:iam::444455556666:role/R".to_string()),
        Just("arn:aws:iam::444455556666:role/*".to_string()),
        Just("10.0.0.0/8".to_string()),
        Just("2001:db8::/32".to_string()),
        Just("Grants".to_string()),
        Just("GranteePrincipal".to_string()),
        Just("Operations".to_string()),
        Just("Constraints".to_string()),
        Just("EncryptionContextSubset".to_string()),
        Just("Policy".to_string()),
        ".{0,12}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((word(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn string_or_list() -> impl Strategy<Value = Value> {
    prop_oneof![
        word().prop_map(Value::String),
        prop::collection::vec(word().prop_map(Value::String), 0..4).prop_map(Value::Array),
    ]
}

/// Statements that are often valid, so evaluation and lints run on them.
fn statement() -> impl Strategy<Value = Value> {
    let condition = prop::collection::vec(
        (
            word(),
            prop::collection::vec((word(), prop_oneof![string_or_list(), json_value()]), 0..3),
        ),
        0..3,
    )
    .prop_map(|ops| {
        Value::Object(
            ops.into_iter()
                .map(|(op, keys)| (op, Value::Object(keys.into_iter().collect())))
                .collect(),
        )
    });
    (
        prop_oneof![Just("Allow"), Just("Deny")],
        prop_oneof![
            Just(Value::String("*".into())),
            string_or_list().prop_map(|v| serde_json::json!({ "AWS": v })),
            json_value(),
        ],
        any::<bool>(),
        string_or_list(),
        prop::option::of(string_or_list()),
        prop::option::of(condition),
    )
        .prop_map(
            |(effect, principal, not_principal, action, resource, condition)| {
                let mut m = Map::new();
                m.insert("Effect".into(), Value::String(effect.into()));
                m.insert(
                    if not_principal {
                        "NotPrincipal"
                    } else {
                        "Principal"
                    }
                    .into(),
                    principal,
                );
                m.insert("Action".into(), action);
                if let Some(r) = resource {
                    m.insert("Resource".into(), r);
                }
                if let Some(c) = condition {
                    m.insert("Condition".into(), c);
                }
                Value::Object(m)
            },
        )
}

/// Run the whole pipeline on whatever parsed.
fn analyze_all(v: &Value) {
    if let Ok(doc) = parse_policy_value(v, "prop") {
        let _ = doc.to_json_compact();
        let key = KeyInfo {
            arn: KEY.into(),
            manager: KeyManager::Customer,
            policy: Some(doc.clone()),
            grants: parse_grants_value(v, "prop").unwrap_or_default(),
        };
        for principal in [
            "arn:aws:sts::444455556666:assumed-role/R/s",
            "arn:aws:iam::111122223333:user/u",
            "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
        ] {
            let a = analyze(&AnalysisRequest {
                key: &key,
                principal,
                identity_policies: std::slice::from_ref(&doc),
                operation: Operation::Launch,
                context: &CallerContext::default(),
            })
            .unwrap();
            let _ = serde_json::to_string(&a).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_policy(&text, "bytes");
        let _ = parse_policies(&text, "bytes");
        let _ = parse_grants(&text, "bytes");
    }

    #[test]
    fn parser_never_panics_on_strings(text in ".{0,256}") {
        let _ = parse_policy(&text, "string");
        let _ = parse_policies(&text, "string");
        let _ = parse_grants(&text, "string");
    }

    #[test]
    fn parser_and_analysis_never_panic_on_json_values(v in json_value()) {
        let text = v.to_string();
        let _ = parse_policies(&text, "json");
        let _ = parse_grants(&text, "json");
        analyze_all(&v);
        let wrapped = serde_json::json!({ "Version": "2012-10-17", "Statement": v });
        analyze_all(&wrapped);
    }

    #[test]
    fn analysis_never_panics_on_policy_shaped_documents(sts in prop::collection::vec(statement(), 0..6)) {
        analyze_all(&serde_json::json!({ "Version": "2012-10-17", "Statement": sts }));
    }

    /// Errors always name the origin.
    #[test]
    fn errors_name_the_origin(text in ".{0,64}") {
        if let Err(e) = parse_policy(&text, "origin.json") {
            prop_assert!(e.to_string().starts_with("origin.json"));
        }
    }
}
