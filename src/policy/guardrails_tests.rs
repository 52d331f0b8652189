//! Table tests of the guardrail layers, each layer and each documented exception with both
//! outcomes. Sources:
//! - IAM user guide, "Policy evaluation logic" and "How AWS enforcement code logic evaluates
//!   requests" (explicit deny anywhere wins; SCP and RCP before resource and identity policies);
//! - Organizations user guide, "SCP evaluation" (every level from the root to the account must
//!   allow) and "Service control policies" (not the management account, not service-linked
//!   roles);
//! - Organizations user guide, "Resource control policies"; KMS developer guide, "Resource
//!   control policies in AWS KMS" (not AWS managed keys; RCPFullAWSAccess at every level);
//! - IAM user guide, "Permissions boundaries for IAM entities" and "Session policies" (the
//!   resource-based policy cases: the user's or session's own ARN vs the role's ARN).

use super::*;
use serde_json::{json, Value};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const EXT_SESSION: &str = "arn:aws:sts::444455556666:assumed-role/Launcher/alice";
const EXT_ROLE: &str = "arn:aws:iam::444455556666:role/Launcher";
const SAME_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/SessionRole/s1";
const SAME_USER: &str = "arn:aws:iam::111122223333:user/dev";
const ASG_SAME: &str =
    "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";

fn key_with(policy: Value, manager: KeyManager) -> KeyInfo {
    KeyInfo {
        arn: KEY.to_string(),
        manager,
        policy: Some(parse_policy_value(&policy, "key policy").unwrap()),
        grants: Vec::new(),
    }
}

/// The console's default policy naming account 444455556666 and role SessionRole (seed 004).
fn console_key() -> KeyInfo {
    let text = include_str!("../../tests/fixtures/policies/console-default-external-account.json");
    key_with(serde_json::from_str(text).unwrap(), KeyManager::Customer)
}

fn usage_policy() -> Vec<PolicyDocument> {
    let text = include_str!("../../tests/fixtures/policies/kms-key-usage-policy.json");
    vec![parse_policy(text, "KmsKeyUsagePolicy").unwrap()]
}

fn doc(v: Value, origin: &str) -> PolicyDocument {
    parse_policy_value(&v, origin).unwrap()
}

fn full_access(origin: &str) -> OrgPolicy {
    OrgPolicy {
        id: "p-FullAWSAccess".to_string(),
        document: doc(
            json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}),
            origin,
        ),
    }
}

fn deny_policy(id: &str, statement: Value) -> OrgPolicy {
    OrgPolicy {
        id: id.to_string(),
        document: doc(
            json!({"Version": "2012-10-17", "Statement": [statement]}),
            &format!("SCP {id}"),
        ),
    }
}

/// root -> ou-1 -> account, FullAWSAccess everywhere, plus `extra` at the OU.
fn scp_path(extra: Option<OrgPolicy>) -> OrgPath {
    let mut ou = vec![full_access("FullAWSAccess@ou")];
    ou.extend(extra);
    OrgPath {
        levels: vec![
            OrgLevel {
                target: "r-root".into(),
                policies: vec![full_access("FullAWSAccess@root")],
            },
            OrgLevel {
                target: "ou-1".into(),
                policies: ou,
            },
            OrgLevel {
                target: "444455556666".into(),
                policies: vec![full_access("FullAWSAccess@account")],
            },
        ],
        management_account: false,
    }
}

fn deny_create_grant() -> Value {
    json!({"Sid": "DenyGrants", "Effect": "Deny", "Action": "kms:CreateGrant", "Resource": "*"})
}

/// AWS's data-perimeter RCP for KMS (KMS developer guide, "Resource control policies in AWS KMS").
fn perimeter_rcp() -> OrgPath {
    let st = json!({
        "Sid": "RCPEnforceIdentityPerimeter",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {
            "StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-source"},
            "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}
        }
    });
    OrgPath {
        levels: vec![OrgLevel {
            target: "r-src".into(),
            policies: vec![OrgPolicy {
                id: "p-perimeter".into(),
                document: doc(
                    json!({"Version": "2012-10-17", "Statement": [st]}),
                    "RCP p-perimeter",
                ),
            }],
        }],
        management_account: false,
    }
}

fn boundary(actions: Value) -> Known<Boundary> {
    let arn = "arn:aws:iam::444455556666:policy/DevBoundary";
    Known::Known(Boundary {
        arn: arn.into(),
        document: doc(
            json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": actions, "Resource": "*"}}),
            arn,
        ),
    })
}

fn run(
    key: &KeyInfo,
    principal: &str,
    ids: &[PolicyDocument],
    g: Guardrails,
    org: Option<&str>,
) -> Analysis {
    let ctx = CallerContext {
        org_id: org.map(str::to_string),
        guardrails: g,
        ..CallerContext::default()
    };
    analyze(&AnalysisRequest {
        key,
        principal,
        identity_policies: ids,
        operation: Operation::Launch,
        context: &ctx,
    })
    .unwrap()
}

fn the(a: &Analysis, code: FindingCode) -> &Finding {
    a.findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} in {:#?}", a.findings))
}

fn error_codes(a: &Analysis) -> Vec<&'static str> {
    a.errors().map(|f| f.code.as_str()).collect()
}

fn scps(p: OrgPath) -> Guardrails {
    Guardrails {
        scps: Known::Known(p),
        ..Guardrails::default()
    }
}

#[test]
fn baseline_without_guardrails_is_allowed() {
    let a = run(
        &console_key(),
        EXT_SESSION,
        &usage_policy(),
        Guardrails::default(),
        None,
    );
    assert_eq!(a.verdict, Verdict::Allow);
    assert!(a.checks.iter().all(|c| c.guardrails.is_empty()));
}

#[test]
fn scp_allowing_at_every_level_allows() {
    let a = run(
        &console_key(),
        EXT_SESSION,
        &usage_policy(),
        scps(scp_path(None)),
        None,
    );
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    assert!(a.checks[0].guardrails[0].outcome == LayerOutcome::Allow);
}

#[test]
fn scp_deny_on_the_ou_denies_and_names_policy_level_statement_and_fix() {
    let g = scps(scp_path(Some(deny_policy(
        "p-nogrant",
        deny_create_grant(),
    ))));
    let a = run(
        &console_key(),
        EXT_SESSION,
        &usage_policy(),
        g.clone(),
        None,
    );
    assert_eq!(a.verdict, Verdict::Deny);
    assert_eq!(error_codes(&a), vec!["scp-explicit-deny"]);
    let f = the(&a, FindingCode::ScpExplicitDeny);
    assert_eq!(f.layer, Some(Layer::Scp));
    assert_eq!(f.policy.as_deref(), Some("p-nogrant"));
    assert_eq!(f.actions, vec!["kms:CreateGrant"]);
    assert_eq!(
        f.statement.as_ref().unwrap().sid.as_deref(),
        Some("DenyGrants")
    );
    assert!(f.message.contains("`ou-1`"), "{}", f.message);
    let fix = f.fix.as_ref().unwrap();
    assert!(
        fix.summary.contains("management account"),
        "{}",
        fix.summary
    );
    // The exception names the role (not the session) and, applied, lets the launch through.
    let st = &fix.policy_statements[0];
    assert_eq!(
        st["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        json!(EXT_ROLE)
    );
    let fixed = scps(scp_path(Some(deny_policy("p-nogrant", st.clone()))));
    let a = run(&console_key(), EXT_SESSION, &usage_policy(), fixed, None);
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    // JSON names the layer.
    let v = serde_json::to_value(the(
        &run(&console_key(), EXT_SESSION, &usage_policy(), g, None),
        FindingCode::ScpExplicitDeny,
    ))
    .unwrap();
    assert_eq!(v["layer"], "scp");
    assert_eq!(v["policy"], "p-nogrant");
}

#[test]
fn scp_level_without_an_allow_denies() {
    let mut path = scp_path(None);
    path.levels[1].policies = vec![OrgPolicy {
        id: "p-s3only".into(),
        document: doc(
            json!({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}),
            "SCP p-s3only",
        ),
    }];
    let a = run(
        &console_key(),
        EXT_SESSION,
        &usage_policy(),
        scps(path),
        None,
    );
    assert_eq!(a.verdict, Verdict::Deny);
    let f = the(&a, FindingCode::ScpNoAllow);
    assert!(f.message.contains("`ou-1`"), "{}", f.message);
    assert_eq!(f.policy.as_deref(), Some("p-s3only"));
    let fix = f.fix.as_ref().unwrap();
    assert!(fix
        .commands
        .iter()
        .any(|c| c.contains("attach-policy") && c.contains("ou-1")));
}

#[test]
fn scps_do_not_apply_to_the_management_account() {
    let mut path = scp_path(Some(deny_policy("p-nogrant", deny_create_grant())));
    path.management_account = true;
    let a = run(
        &console_key(),
        EXT_SESSION,
        &usage_policy(),
        scps(path),
        None,
    );
    assert_eq!(a.verdict, Verdict::Allow);
    assert_eq!(a.checks[0].guardrails[0].outcome, LayerOutcome::Exempt);
}

#[test]
fn scps_and_rcps_do_not_apply_to_service_linked_roles() {
    let policy = json!({"Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": ASG_SAME},
        "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom"],
        "Resource": "*"
    }]});
    let key = key_with(policy, KeyManager::Customer);
    let deny_all = json!({"Sid": "DenyKms", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"});
    let mut rcp = perimeter_rcp();
    rcp.levels[0].policies = vec![deny_policy("p-denyall", deny_all.clone())];
    let g = Guardrails {
        scps: Known::Known(scp_path(Some(deny_policy("p-denyall", deny_all)))),
        rcps: Known::Known(rcp.clone()),
        ..Guardrails::default()
    };
    let a = run(&key, ASG_SAME, &[], g, None);
    // The service-linked role's own (on-behalf) calls pass both layers...
    let own: Vec<&Decision> = a.checks.iter().filter(|c| c.principal.is_none()).collect();
    assert!(own.iter().all(|c| c.allowed()), "{own:#?}");
    assert!(own.iter().all(|c| c
        .guardrails
        .iter()
        .all(|l| l.outcome == LayerOutcome::Exempt)));
    // ...but the `aws:ec2-infrastructure` role that decrypts at attach time is no
    // service-linked role: a deny-all SCP stops it (DOMAIN.md "Guardrails").
    let infra = a.checks.iter().find(|c| c.principal.is_some()).unwrap();
    assert_eq!(infra.verdict, Verdict::Deny);
    // The same RCP denies a role that is not service-linked.
    let mut g = Guardrails {
        rcps: Known::Known(rcp),
        ..Guardrails::default()
    };
    let a = run(&console_key(), SAME_SESSION, &[], g.clone(), None);
    assert_eq!(a.verdict, Verdict::Deny);
    g.rcps = Known::Absent;
    assert_eq!(
        run(&console_key(), SAME_SESSION, &[], g, None).verdict,
        Verdict::Allow
    );
}

#[test]
fn scp_network_deny_needs_both_aws_exceptions() {
    // An IP perimeter SCP denies EC2's on-behalf calls (not from the user's network) and the
    // `aws:ec2-infrastructure` role that decrypts at attach time (a call that is not "via an
    // AWS service"): AWS's data-perimeter guidance exempts the first with
    // `aws:ViaAWSService` and the second by `aws:PrincipalArn`.
    let st = json!({
        "Sid": "DenyOutsideNetwork", "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}
    });
    let with = |st: Value| {
        run(
            &console_key(),
            EXT_SESSION,
            &usage_policy(),
            scps(scp_path(Some(deny_policy("p-net", st)))),
            None,
        )
    };
    let a = with(st);
    assert_eq!(a.verdict, Verdict::Deny);
    let f = a
        .findings
        .iter()
        .find(|f| f.code == FindingCode::ScpExplicitDeny && f.message.contains(EXT_SESSION))
        .unwrap();
    assert!(f.message.contains("aws:SourceIp"), "{}", f.message);
    let fixed = f.fix.as_ref().unwrap().policy_statements[0].clone();
    assert_eq!(fixed["Condition"]["Bool"]["aws:ViaAWSService"], "false");

    let a = with(fixed);
    assert_eq!(a.verdict, Verdict::Deny, "{:#?}", a.findings);
    let f = the(&a, FindingCode::ScpExplicitDeny);
    assert!(
        f.message.contains("role/aws:ec2-infrastructure"),
        "{}",
        f.message
    );
    assert_eq!(f.actions, vec!["kms:Decrypt"]);
    let fixed = f.fix.as_ref().unwrap().policy_statements[0].clone();
    assert_eq!(
        fixed["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        "arn:aws:iam::*:role/aws:ec2-infrastructure"
    );
    let a = with(fixed);
    assert_eq!(a.verdict, Verdict::Allow, "{:#?}", a.findings);
    assert!(a.checks.iter().any(|c| c.principal.is_some()));
}

#[test]
fn rcp_perimeter_denies_outsiders_and_the_account_exception_fixes_it() {
    let g = Guardrails {
        rcps: Known::Known(perimeter_rcp()),
        ..Guardrails::default()
    };
    let a = run(
        &console_key(),
        EXT_SESSION,
        &usage_policy(),
        g.clone(),
        Some("o-target"),
    );
    assert_eq!(a.verdict, Verdict::Deny);
    let f = the(&a, FindingCode::RcpExplicitDeny);
    assert_eq!(f.layer, Some(Layer::Rcp));
    assert_eq!(f.policy.as_deref(), Some("p-perimeter"));
    let fix = f.fix.as_ref().unwrap();
    assert!(fix.summary.contains("111122223333"), "{}", fix.summary);
    let st = &fix.policy_statements[0];
    assert_eq!(
        st["Condition"]["StringNotEqualsIfExists"]["aws:PrincipalAccount"],
        json!("444455556666")
    );
    let mut fixed = perimeter_rcp();
    fixed.levels[0].policies[0].document =
        doc(json!({"Statement": [st.clone()]}), "RCP p-perimeter");
    let g2 = Guardrails {
        rcps: Known::Known(fixed),
        ..Guardrails::default()
    };
    assert_eq!(
        run(
            &console_key(),
            EXT_SESSION,
            &usage_policy(),
            g2,
            Some("o-target")
        )
        .verdict,
        Verdict::Allow
    );
    // A member of the source organization passes; one without any organization does not.
    assert_eq!(
        run(
            &console_key(),
            EXT_SESSION,
            &usage_policy(),
            g.clone(),
            Some("o-source")
        )
        .verdict,
        Verdict::Allow
    );
    assert_eq!(
        run(&console_key(), EXT_SESSION, &usage_policy(), g, None).verdict,
        Verdict::Deny
    );
}

#[test]
fn rcps_do_not_apply_to_aws_managed_keys_nor_the_management_accounts_keys() {
    let deny_all = json!({"Sid": "DenyKms", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"});
    let rcp = |management| OrgPath {
        levels: vec![OrgLevel {
            target: "r-src".into(),
            policies: vec![deny_policy("p-denyall", deny_all.clone())],
        }],
        management_account: management,
    };
    let root = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]});
    let admin = vec![doc(
        json!({"Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}),
        "admin",
    )];
    for (manager, management, want) in [
        (KeyManager::Aws, false, Verdict::Allow),
        (KeyManager::Customer, true, Verdict::Allow),
        (KeyManager::Customer, false, Verdict::Deny),
    ] {
        let g = Guardrails {
            rcps: Known::Known(rcp(management)),
            ..Guardrails::default()
        };
        let a = run(
            &key_with(root.clone(), manager),
            SAME_SESSION,
            &admin,
            g,
            None,
        );
        assert_eq!(a.verdict, want, "{manager:?} management={management}");
    }
}

#[test]
fn boundary_without_kms_denies_across_accounts_and_its_fix_allows() {
    let g = Guardrails {
        boundary: boundary(json!("s3:*")),
        ..Guardrails::default()
    };
    let a = run(&console_key(), EXT_SESSION, &usage_policy(), g, None);
    assert_eq!(a.verdict, Verdict::Deny);
    let f = the(&a, FindingCode::PermissionsBoundaryNoAllow);
    assert_eq!(f.layer, Some(Layer::PermissionsBoundary));
    assert_eq!(
        f.policy.as_deref(),
        Some("arn:aws:iam::444455556666:policy/DevBoundary")
    );
    let fix = f.fix.as_ref().unwrap();
    assert!(fix
        .commands
        .iter()
        .any(|c| c.contains("create-policy-version")));
    let mut statements = vec![json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})];
    statements.extend(fix.policy_statements.iter().cloned());
    let g = Guardrails {
        boundary: Known::Known(Boundary {
            arn: "arn:aws:iam::444455556666:policy/DevBoundary".into(),
            document: doc(json!({"Statement": statements}), "boundary"),
        }),
        ..Guardrails::default()
    };
    assert_eq!(
        run(&console_key(), EXT_SESSION, &usage_policy(), g, None).verdict,
        Verdict::Allow
    );
}

#[test]
fn boundary_allowing_kms_allows_and_its_deny_denies() {
    let g = Guardrails {
        boundary: boundary(json!("kms:*")),
        ..Guardrails::default()
    };
    assert_eq!(
        run(&console_key(), EXT_SESSION, &usage_policy(), g, None).verdict,
        Verdict::Allow
    );
    let b = Boundary {
        arn: "arn:aws:iam::444455556666:policy/B".into(),
        document: doc(
            json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, deny_create_grant()]}),
            "boundary",
        ),
    };
    let g = Guardrails {
        boundary: Known::Known(b),
        ..Guardrails::default()
    };
    let a = run(&console_key(), EXT_SESSION, &usage_policy(), g, None);
    assert_eq!(error_codes(&a), vec!["permissions-boundary-explicit-deny"]);
}

/// Same account: which ARN the key policy names decides whether the boundary's and session
/// policies' implicit deny limit it (IAM user guide, "Permissions boundaries for IAM entities",
/// "Session policies").
#[test]
fn same_account_resource_policy_cases_of_boundaries_and_session_policies() {
    let allow_to = |principal: &str| {
        key_with(
            json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "kms:*", "Resource": "*"}]}),
            KeyManager::Customer,
        )
    };
    let no_kms = json!({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}});
    let delegate = allow_to("arn:aws:iam::111122223333:root");
    let admin = vec![doc(
        json!({"Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}),
        "admin",
    )];
    let b = || {
        Known::Known(Boundary {
            arn: "arn:aws:iam::111122223333:policy/B".into(),
            document: doc(no_kms.clone(), "B"),
        })
    };
    type Case<'a> = (
        &'a str,
        KeyInfo,
        &'a str,
        Vec<PolicyDocument>,
        Guardrails,
        Verdict,
    );
    let cases: Vec<Case> = vec![
        (
            "user ARN named: boundary does not limit",
            allow_to(SAME_USER),
            SAME_USER,
            vec![],
            Guardrails {
                boundary: b(),
                ..Guardrails::default()
            },
            Verdict::Allow,
        ),
        (
            "role ARN named: boundary limits",
            allow_to("arn:aws:iam::111122223333:role/SessionRole"),
            SAME_SESSION,
            vec![],
            Guardrails {
                boundary: b(),
                ..Guardrails::default()
            },
            Verdict::Deny,
        ),
        (
            "session ARN named: boundary does not limit",
            allow_to(SAME_SESSION),
            SAME_SESSION,
            vec![],
            Guardrails {
                boundary: b(),
                ..Guardrails::default()
            },
            Verdict::Allow,
        ),
        (
            "account delegated to IAM: boundary limits",
            delegate.clone(),
            SAME_SESSION,
            admin.clone(),
            Guardrails {
                boundary: b(),
                ..Guardrails::default()
            },
            Verdict::Deny,
        ),
        (
            "role ARN named: session policy limits",
            allow_to("arn:aws:iam::111122223333:role/SessionRole"),
            SAME_SESSION,
            vec![],
            Guardrails {
                session_policies: Known::Known(vec![doc(no_kms.clone(), "session policy")]),
                ..Guardrails::default()
            },
            Verdict::Deny,
        ),
        (
            "session ARN named: session policy does not limit",
            allow_to(SAME_SESSION),
            SAME_SESSION,
            vec![],
            Guardrails {
                session_policies: Known::Known(vec![doc(no_kms.clone(), "session policy")]),
                ..Guardrails::default()
            },
            Verdict::Allow,
        ),
        (
            "session ARN named: a session policy Deny still wins",
            allow_to(SAME_SESSION),
            SAME_SESSION,
            vec![],
            Guardrails {
                session_policies: Known::Known(vec![doc(
                    json!({"Statement": [deny_create_grant()]}),
                    "session policy",
                )]),
                ..Guardrails::default()
            },
            Verdict::Deny,
        ),
    ];
    for (name, key, principal, ids, g, want) in cases {
        let a = run(&key, principal, &ids, g, None);
        assert_eq!(a.verdict, want, "{name}: {:#?}", a.findings);
    }
}

#[test]
fn session_policies_allow_as_a_union_and_name_the_layer() {
    let s3 = doc(
        json!({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}),
        "session policy 1",
    );
    let kms = doc(
        json!({"Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}),
        "session policy 2",
    );
    let g = |docs| Guardrails {
        session_policies: Known::Known(docs),
        ..Guardrails::default()
    };
    let a = run(
        &console_key(),
        EXT_SESSION,
        &usage_policy(),
        g(vec![s3.clone()]),
        None,
    );
    assert_eq!(a.verdict, Verdict::Deny);
    let f = the(&a, FindingCode::SessionPolicyNoAllow);
    assert_eq!(f.layer, Some(Layer::SessionPolicy));
    assert!(!f.fix.as_ref().unwrap().policy_statements.is_empty());
    let a = run(
        &console_key(),
        EXT_SESSION,
        &usage_policy(),
        g(vec![s3, kms]),
        None,
    );
    assert_eq!(a.verdict, Verdict::Allow);
}

#[test]
fn an_unseen_layer_is_never_a_clean_allow() {
    let g = Guardrails {
        scps: Known::Unseen(Unseen {
            reason: "AccessDenied on organizations:ListPoliciesForTarget".into(),
            command: "aws organizations list-policies-for-target --target-id 444455556666 --filter SERVICE_CONTROL_POLICY".into(),
        }),
        ..Guardrails::default()
    };
    let a = run(&console_key(), EXT_SESSION, &usage_policy(), g, None);
    assert_eq!(a.verdict, Verdict::Undecided);
    let f = the(&a, FindingCode::GuardrailUnseen);
    assert!(
        f.message.contains("list-policies-for-target"),
        "{}",
        f.message
    );
    assert_eq!(f.layer, Some(Layer::Scp));
}

#[test]
fn a_guardrail_denial_adds_no_key_policy_or_identity_findings() {
    let g = Guardrails {
        boundary: boundary(json!("s3:*")),
        rcps: Known::Known(perimeter_rcp()),
        ..Guardrails::default()
    };
    let a = run(
        &console_key(),
        EXT_SESSION,
        &usage_policy(),
        g,
        Some("o-target"),
    );
    let mut codes = error_codes(&a);
    codes.sort_unstable();
    assert_eq!(
        codes,
        vec!["permissions-boundary-no-allow", "rcp-explicit-deny"]
    );
}
