//! Unit tests of the policy and grant parser.

use super::*;
use crate::policy::matching::PrincipalPattern;
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
    let e = parse_policy(r#"{"Statement":[{"Effect":"Allow","Action":3}]}"#, "k.json").unwrap_err();
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
