//! `amishare explain`'s core: analysing a ~32 KB key policy with 10 identity policies.
//! Run: `cargo bench --bench explain`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use amishare::policy::{
    analyze, parse_policies, parse_policy, AnalysisRequest, CallerContext, KeyInfo, KeyManager,
    Operation, Verdict,
};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use std::hint::black_box;

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const PRINCIPAL: &str = "arn:aws:sts::444455556666:assumed-role/Launcher/alice";

/// A key policy just under 32,768 bytes: the default statements plus many per-team statements
/// with principals, wildcards and conditions, the way large shared keys look.
fn big_key_policy() -> String {
    let mut statements: Vec<Value> = vec![
        json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
               "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}),
        json!({"Sid": "DenyOutsideCorporateNetwork", "Effect": "Deny", "Principal": "*", "Action": "kms:*",
               "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]},
               "Bool": {"aws:ViaAWSService": "false"}}}),
    ];
    let mut i = 0;
    loop {
        let acct = format!("{:012}", 200_000_000_000u64 + i);
        let st = json!({
            "Sid": format!("Team{i}UseOfTheKey"),
            "Effect": "Allow",
            "Principal": {"AWS": [format!("arn:aws:iam::{acct}:role/Builder{i}"), format!("arn:aws:iam::{acct}:root")]},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": ["ec2.us-east-1.amazonaws.com", "ec2.eu-west-1.amazonaws.com"]},
                          "StringLike": {"aws:PrincipalOrgPaths": format!("o-a1b2c3d4e5/r-ab12/ou-ab12-{i:08}/*")}}
        });
        statements.push(st);
        let doc = json!({"Version": "2012-10-17", "Statement": statements});
        if serde_json::to_string_pretty(&doc).unwrap().len() > 32_000 {
            statements.pop();
            break;
        }
        i += 1;
    }
    statements.push(json!({"Sid": "Allow use of the key", "Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::444455556666:root"]},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"], "Resource": "*"}));
    statements.push(
        json!({"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::444455556666:root"]},
        "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}),
    );
    serde_json::to_string_pretty(&json!({"Version": "2012-10-17", "Statement": statements}))
        .unwrap()
}

fn identity_policies() -> Vec<String> {
    (0..10)
        .map(|i| {
            let mut sts = vec![json!({"Sid": format!("Ec2{i}"), "Effect": "Allow", "Action": ["ec2:*", "autoscaling:*"], "Resource": "*"}),
                json!({"Sid": format!("S3{i}"), "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                       "Resource": format!("arn:aws:s3:::bucket-{i}/*")})];
            if i == 9 {
                sts.push(json!({"Sid": "AllowUseOfTheKey", "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                    "Resource": [KEY]}));
                sts.push(json!({"Sid": "AllowAttachmentOfPersistentResources", "Effect": "Allow",
                    "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": [KEY],
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": true}}}));
            }
            json!({"Version": "2012-10-17", "Statement": sts}).to_string()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let key_text = big_key_policy();
    assert!(
        key_text.len() > 30_000 && key_text.len() <= 32_768,
        "{}",
        key_text.len()
    );
    let id_texts = identity_policies();
    let ctx = CallerContext {
        org_id: Some("o-a1b2c3d4e5".into()),
        org_paths: vec!["o-a1b2c3d4e5/r-ab12/ou-ab12-00000001/".into()],
        ..CallerContext::default()
    };
    let key = KeyInfo {
        arn: KEY.into(),
        manager: KeyManager::Customer,
        policy: Some(parse_policy(&key_text, "key.json").unwrap()),
        grants: Vec::new(),
    };
    let ids: Vec<_> = id_texts
        .iter()
        .flat_map(|t| parse_policies(t, "id.json").unwrap())
        .collect();
    let req = AnalysisRequest {
        key: &key,
        principal: PRINCIPAL,
        identity_policies: &ids,
        operation: Operation::Launch,
        context: &ctx,
    };
    assert_eq!(analyze(&req).unwrap().verdict, Verdict::Allow);

    c.bench_function("serde_json only: 32KB key policy text to Value", |b| {
        b.iter(|| serde_json::from_str::<Value>(black_box(&key_text)).unwrap())
    });
    c.bench_function("parse_policy only: 32KB key policy", |b| {
        b.iter(|| parse_policy(black_box(&key_text), "key.json").unwrap())
    });
    c.bench_function("analyze 32KB key policy + 10 identity policies", |b| {
        b.iter(|| analyze(black_box(&req)).unwrap())
    });
    c.bench_function(
        "parse + analyze 32KB key policy + 10 identity policies",
        |b| {
            b.iter(|| {
                let key = KeyInfo {
                    arn: KEY.into(),
                    manager: KeyManager::Customer,
                    policy: Some(parse_policy(black_box(&key_text), "key.json").unwrap()),
                    grants: Vec::new(),
                };
                let ids: Vec<_> = id_texts
                    .iter()
                    .flat_map(|t| parse_policies(t, "id.json").unwrap())
                    .collect();
                analyze(&AnalysisRequest {
                    key: &key,
                    principal: PRINCIPAL,
                    identity_policies: &ids,
                    operation: Operation::Launch,
                    context: &ctx,
                })
                .unwrap()
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
