//! The decision on hand-built facts: each cause code, the ranking, and the three outcomes. No
//! SDK, no runtime: facts in, diagnosis out (the policy engine decides the finding codes).

use serde_json::{json, Value};

use super::decide;
use crate::policy::findings::{
    identity_attachment_statement, identity_use_statement, key_attachment_statement,
    key_use_statement,
};
use crate::policy::{self, FindingCode, KeyManager};
use crate::workflow::diagnose::code::CauseCode;
use crate::workflow::diagnose::facts::{DescribedKey, Facts, KeyFacts, KeyState};
use crate::workflow::diagnose::rank::{rank, weight};
use crate::workflow::diagnose::types::{
    Cause, DiagnoseOptions, DiagnoseTarget, Diagnosis, DiagnosisOutcome, Evidence, PrincipalInfo,
    Unseen,
};
use crate::workflow::inventory::{
    IdentityPolicies, IdentityPolicyDoc, ImageBlockDevice, ImageInfo, InstanceInfo, KeyDescription,
    PolicySource, PrincipalKind, StateReason, TrailEvent,
};

/// The launch account, and the principal that launches there.
const ME: &str = "111122223333";
const PRINCIPAL: &str = "arn:aws:iam::111122223333:role/Launcher";
/// The key, in another account.
const OWNER: &str = "444455556666";
const KEY: &str = "arn:aws:kms:eu-west-1:444455556666:key/k1";
const LAUNCH: &str = "2026-01-01T12:00:00Z";

fn launch_time() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(LAUNCH)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default()
}

fn desc(manager: &str, state: &str) -> KeyDescription {
    KeyDescription {
        arn: KEY.into(),
        key_id: "k1".into(),
        account: OWNER.into(),
        region: "eu-west-1".into(),
        key_manager: Some(manager.into()),
        key_state: Some(state.into()),
        multi_region: None,
        description: None,
        origin: None,
        key_spec: None,
        aliases: None,
    }
}

/// The key owner's root, plus `extra` statements.
fn key_policy(extra: Vec<Value>) -> Value {
    let mut statements = vec![json!({
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{OWNER}:root")},
        "Action": "kms:*", "Resource": "*"
    })];
    statements.extend(extra);
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The key policy that lets PRINCIPAL launch (seed 004's two statements), plus `extra`.
fn allowing_key_policy(extra: Vec<Value>) -> Value {
    let p = [PRINCIPAL.to_string()];
    let mut statements = vec![key_use_statement(&p), key_attachment_statement(&p)];
    statements.extend(extra);
    key_policy(statements)
}

/// A customer managed key (state `state`) with `policy` (`None`: not visible) and no grants.
fn key(state: &str, policy: Option<Value>) -> KeyFacts {
    let policy_text = policy.as_ref().map(Value::to_string);
    KeyFacts {
        key_id: KEY.into(),
        used_by: vec!["snap-1".into()],
        key: Some(DescribedKey {
            desc: desc("CUSTOMER", state),
            state: Some(KeyState::parse(state)),
            manager: KeyManager::Customer,
            policy: policy
                .as_ref()
                .and_then(|v| policy::parse_policy_value(v, "key policy of k1").ok()),
            policy_text,
            grants: Some(Vec::new()),
            editor: None,
        }),
        unseen: Vec::new(),
    }
}

/// The principal's identity policies: `KmsKeyUsagePolicy` for KEY when `allow`, else none.
fn identity(allow: bool) -> IdentityPolicies {
    let keys = [KEY.to_string()];
    let statements = vec![
        identity_use_statement(&keys),
        identity_attachment_statement(&keys),
    ];
    let doc = json!({"Version": "2012-10-17", "Statement": statements});
    IdentityPolicies {
        principal_arn: PRINCIPAL.into(),
        kind: PrincipalKind::Role,
        name: Some("Launcher".into()),
        groups: Vec::new(),
        policies: if allow {
            vec![IdentityPolicyDoc {
                source: PolicySource::Attached,
                name: "KmsKeyUsagePolicy".into(),
                arn: Some(format!("arn:aws:iam::{ME}:policy/KmsKeyUsagePolicy")),
                version_id: Some("v1".into()),
                group: None,
                document: doc.to_string(),
            }]
        } else {
            Vec::new()
        },
    }
}

fn image(encrypted: bool) -> ImageInfo {
    ImageInfo {
        id: "ami-1".into(),
        name: None,
        owner: Some(OWNER.into()),
        state: Some("available".into()),
        architecture: None,
        creation_date: None,
        block_devices: vec![ImageBlockDevice {
            device: Some("/dev/xvda".into()),
            snapshot_id: Some("snap-1".into()),
            encrypted: Some(encrypted),
            kms_key_id: None,
            volume_size: None,
            volume_type: None,
        }],
        launch_permissions: None,
        tags: Vec::new(),
    }
}

/// "Can PRINCIPAL launch ami-1?" with `keys`, the identity policies as given.
fn ami(keys: Vec<KeyFacts>, identity: Option<IdentityPolicies>) -> Facts {
    let target = DiagnoseTarget::Ami {
        image_id: "ami-1".into(),
        principal: PRINCIPAL.into(),
    };
    let mut f = Facts::new(target, ME.into(), "eu-west-1".into(), launch_time());
    f.image = Some(image(!keys.is_empty()));
    f.principal = Some(PrincipalInfo::given(PRINCIPAL));
    f.identity_docs = identity
        .iter()
        .flat_map(|i| &i.policies)
        .filter_map(|d| policy::parse_policy(&d.document, &d.arn.clone().unwrap_or_default()).ok())
        .collect();
    f.identity = identity;
    f.keys = keys;
    f
}

fn instance(failed: bool) -> InstanceInfo {
    InstanceInfo {
        id: "i-1".into(),
        state: Some(if failed { "terminated" } else { "running" }.into()),
        state_reason: failed.then(|| StateReason {
            code: Some("Client.InvalidKMSKey.InvalidState".into()),
            message: Some("Client.InvalidKMSKey.InvalidState: the KMS key is not usable".into()),
        }),
        state_transition_reason: None,
        image_id: Some("ami-1".into()),
        instance_type: None,
        launch_time: Some(LAUNCH.into()),
        volumes: Vec::new(),
        iam_instance_profile: None,
        tags: Vec::new(),
    }
}

/// A failed (or healthy) instance i-1 whose launching principal is unknown.
fn failed_instance(failed: bool, keys: Vec<KeyFacts>, denials: Vec<TrailEvent>) -> Facts {
    let target = DiagnoseTarget::Instance {
        instance_id: "i-1".into(),
        principal: None,
    };
    let mut f = Facts::new(target, ME.into(), "eu-west-1".into(), launch_time());
    f.instance = Some(instance(failed));
    if failed {
        f.image = Some(image(true));
        f.keys = keys;
        f.denials = denials;
    }
    f
}

fn denial(event_name: &str) -> TrailEvent {
    TrailEvent {
        event_id: Some(format!("ev-{event_name}")),
        event_name: event_name.into(),
        event_time: Some(LAUNCH.into()),
        event_source: Some("kms.amazonaws.com".into()),
        aws_region: Some("eu-west-1".into()),
        error_code: Some("AccessDenied".into()),
        error_message: Some("not authorized".into()),
        user_arn: Some(PRINCIPAL.into()),
        user_type: Some("AssumedRole".into()),
        session_issuer_arn: None,
        invoked_by: Some("ec2.amazonaws.com".into()),
        source_ip: None,
        key_id: Some(KEY.into()),
        grantee_principal: None,
        instance_ids: Vec::new(),
        ebs_id: None,
        resources: Vec::new(),
    }
}

fn aws_managed_key() -> KeyFacts {
    let mut k = key("Enabled", None);
    if let Some(d) = k.key.as_mut() {
        d.desc = desc("AWS", "Enabled");
        d.manager = KeyManager::Aws;
    }
    k
}

fn unreadable(mut k: KeyFacts) -> KeyFacts {
    k.unseen.push(Unseen {
        what: "grants of k1".into(),
        error: None,
        meaning: "unknown".into(),
        how_to_see: "aws kms list-grants".into(),
    });
    k
}

fn codes(d: &Diagnosis) -> Vec<&'static str> {
    d.causes.iter().map(|c| c.code.as_str()).collect()
}

struct Case {
    name: &'static str,
    facts: Facts,
    outcome: DiagnosisOutcome,
    /// The cause codes, in rank order.
    codes: &'static [&'static str],
    summary: &'static str,
}

#[test]
fn decides_causes_and_outcome_from_facts() {
    let deny = json!({
        "Sid": "DenyLauncher", "Effect": "Deny",
        "Principal": {"AWS": PRINCIPAL}, "Action": "kms:*", "Resource": "*"
    });
    let cases = vec![
        Case {
            name: "key policy and identity policy allow: no problem",
            facts: ami(
                vec![key("Enabled", Some(allowing_key_policy(vec![])))],
                Some(identity(true)),
            ),
            outcome: DiagnosisOutcome::NoProblem,
            codes: &[],
            summary: "the key policy and identity policies allow the launch",
        },
        Case {
            name: "no encrypted snapshot and everything read: no problem",
            facts: ami(vec![], Some(identity(true))),
            outcome: DiagnosisOutcome::NoProblem,
            codes: &[],
            summary: "the image has no encrypted snapshots: no KMS key can stop the launch",
        },
        Case {
            name: "healthy instance: no problem, nothing else looked at",
            facts: failed_instance(false, vec![], vec![]),
            outcome: DiagnosisOutcome::NoProblem,
            codes: &[],
            summary: "instance i-1 is running: no failed launch to explain",
        },
        Case {
            name: "key policy grants the principal nothing",
            facts: ami(
                vec![key("Enabled", Some(key_policy(vec![])))],
                Some(identity(true)),
            ),
            outcome: DiagnosisOutcome::CauseFound,
            codes: &["key-policy-no-access"],
            summary: "1 cause: key-policy-no-access",
        },
        Case {
            name: "a Deny in the key policy",
            facts: ami(
                vec![key(
                    "Enabled",
                    Some(allowing_key_policy(vec![deny.clone()])),
                )],
                Some(identity(true)),
            ),
            outcome: DiagnosisOutcome::CauseFound,
            codes: &["key-policy-explicit-deny"],
            summary: "1 cause: key-policy-explicit-deny",
        },
        Case {
            name: "identity policies read and lacking the KMS actions",
            facts: ami(
                vec![key("Enabled", Some(allowing_key_policy(vec![])))],
                Some(identity(false)),
            ),
            outcome: DiagnosisOutcome::CauseFound,
            codes: &["identity-policy-missing-action"],
            summary: "1 cause: identity-policy-missing-action",
        },
        Case {
            name: "disabled key first, before what the policies say",
            facts: ami(
                vec![key("Disabled", Some(key_policy(vec![])))],
                Some(identity(true)),
            ),
            outcome: DiagnosisOutcome::CauseFound,
            codes: &["key-disabled", "key-policy-no-access"],
            summary: "2 causes: key-disabled, key-policy-no-access",
        },
        Case {
            name: "key pending deletion",
            facts: ami(
                vec![key("PendingDeletion", Some(allowing_key_policy(vec![])))],
                Some(identity(true)),
            ),
            outcome: DiagnosisOutcome::CauseFound,
            codes: &["key-pending-deletion"],
            summary: "1 cause: key-pending-deletion",
        },
        Case {
            name: "AWS managed key of another account, principal unknown",
            facts: failed_instance(true, vec![aws_managed_key()], vec![]),
            outcome: DiagnosisOutcome::CauseFound,
            codes: &["aws-managed-key"],
            summary: "1 cause: aws-managed-key",
        },
        Case {
            name: "a CloudTrail refusal nothing read explains",
            facts: failed_instance(
                true,
                vec![key("Enabled", None)],
                vec![denial("CreateGrant")],
            ),
            outcome: DiagnosisOutcome::CauseFound,
            codes: &["kms-access-denied"],
            summary: "1 cause: kms-access-denied",
        },
        Case {
            name: "identity policies unread: identity findings are warnings, undecided",
            facts: ami(
                vec![key("Enabled", Some(allowing_key_policy(vec![])))],
                None,
            ),
            outcome: DiagnosisOutcome::Undecided,
            codes: &[],
            summary: "amishare could not decide from what it could read",
        },
        Case {
            name: "failed launch, principal unknown, customer key: undecided",
            facts: failed_instance(true, vec![key("Enabled", None)], vec![]),
            outcome: DiagnosisOutcome::Undecided,
            codes: &[],
            summary:
                "the launch failed, but amishare could not name the cause from what it could read",
        },
        Case {
            name: "no encrypted snapshot but something unread: undecided",
            facts: {
                let mut f = ami(vec![], Some(identity(true)));
                f.unseen = unreadable(key("Enabled", None)).unseen;
                f
            },
            outcome: DiagnosisOutcome::Undecided,
            codes: &[],
            summary: "amishare could not decide from what it could read",
        },
    ];
    for case in cases {
        let d = decide(case.facts, &DiagnoseOptions::default());
        assert_eq!(d.outcome, case.outcome, "{}: {d:#?}", case.name);
        assert_eq!(codes(&d), case.codes, "{}", case.name);
        assert_eq!(d.summary, case.summary, "{}", case.name);
        let ranks: Vec<usize> = d.causes.iter().map(|c| c.rank).collect();
        assert_eq!(
            ranks,
            (1..=d.causes.len()).collect::<Vec<_>>(),
            "{}",
            case.name
        );
    }
}

#[test]
fn identity_findings_stay_warnings_when_the_policies_are_unread() {
    let d = decide(
        ami(
            vec![key("Enabled", Some(allowing_key_policy(vec![])))],
            None,
        ),
        &DiagnoseOptions::default(),
    );
    assert!(d.causes.is_empty(), "{d:#?}");
    assert!(
        d.warnings
            .iter()
            .any(|w| w.code == FindingCode::IdentityPolicyMissingAction),
        "{:#?}",
        d.warnings
    );
}

#[test]
fn a_failed_launch_carries_its_state_reason_and_the_refusal_as_evidence() {
    let d = decide(
        failed_instance(
            true,
            vec![key("Enabled", None)],
            vec![denial("CreateGrant")],
        ),
        &DiagnoseOptions::default(),
    );
    let c = &d.causes[0];
    assert!(
        matches!(c.evidence.first(), Some(Evidence::StateReason { .. })),
        "{c:#?}"
    );
    assert!(
        c.evidence.iter().any(
            |e| matches!(e, Evidence::Event { event_name, .. } if event_name == "CreateGrant")
        ),
        "{c:#?}"
    );
    assert_eq!(c.actions, vec!["kms:CreateGrant".to_string()]);
    assert!(c.fix.is_none());
    assert_eq!(d.denials.len(), 1);
}

#[test]
fn a_refusal_outside_the_window_is_not_evidence() {
    let mut late = denial("Decrypt");
    late.event_time = Some("2026-01-01T18:00:00Z".into());
    let d = decide(
        failed_instance(true, vec![key("Enabled", None)], vec![late]),
        &DiagnoseOptions::default(),
    );
    assert!(d.denials.is_empty(), "{d:#?}");
    assert_eq!(d.outcome, DiagnosisOutcome::Undecided);
}

#[test]
fn everything_allowed_yet_the_launch_failed_points_at_guardrails() {
    let mut f = failed_instance(
        true,
        vec![key("Enabled", Some(allowing_key_policy(vec![])))],
        vec![],
    );
    f.principal = Some(PrincipalInfo::given(PRINCIPAL));
    f.identity = Some(identity(true));
    f.identity_docs = identity(true)
        .policies
        .iter()
        .filter_map(|d| policy::parse_policy(&d.document, "KmsKeyUsagePolicy").ok())
        .collect();
    let d = decide(f, &DiagnoseOptions::default());
    assert_eq!(d.outcome, DiagnosisOutcome::Undecided, "{d:#?}");
    assert!(
        d.unseen
            .last()
            .is_some_and(|u| u.what.starts_with("service control policies")),
        "{:#?}",
        d.unseen
    );
}

#[test]
fn unreadable_key_inputs_are_reported_before_the_analysis() {
    let d = decide(
        ami(
            vec![unreadable(key(
                "Enabled",
                Some(allowing_key_policy(vec![])),
            ))],
            Some(identity(true)),
        ),
        &DiagnoseOptions::default(),
    );
    assert_eq!(d.unseen.len(), 1, "{:#?}", d.unseen);
    assert_eq!(d.keys[0].grants_read, Some(0));
    assert!(d.keys[0].policy_read);
    assert!(d.keys[0].analysis.is_some());
}

/// The ranking: every code's place, lowest first.
#[test]
fn ranking_order_of_every_code() {
    let order: &[(CauseCode, u8)] = &[
        (CauseCode::KeyPendingDeletion, 0),
        (CauseCode::KeyDisabled, 0),
        (FindingCode::AwsManagedKey.into(), 1),
        (FindingCode::KeyPolicyExplicitDeny.into(), 2),
        (FindingCode::IdentityPolicyExplicitDeny.into(), 2),
        (FindingCode::KeyPolicyNoAccess.into(), 3),
        (FindingCode::KeyPolicyConditionFails.into(), 4),
        (FindingCode::KeyPolicyMissingAction.into(), 5),
        (FindingCode::NeedsGrant.into(), 6),
        (FindingCode::IdentityPolicyMissingAction.into(), 7),
        (FindingCode::IneffectiveStatement.into(), 8),
        (FindingCode::InvalidPrincipal.into(), 8),
        (CauseCode::KmsAccessDenied, 9),
    ];
    for (code, w) in order {
        assert_eq!(weight(*code), *w, "{code}");
    }
}

fn cause(code: CauseCode, with_event: bool) -> Cause {
    let mut evidence = Vec::new();
    if with_event {
        evidence.push(Evidence::Event {
            event_name: "Decrypt".into(),
            event_time: None,
            error_code: None,
            error_message: None,
            user_arn: None,
            event_id: None,
        });
    }
    Cause {
        rank: 0,
        code,
        key_arn: None,
        message: code.to_string(),
        actions: Vec::new(),
        evidence,
        fix: None,
    }
}

/// Causes a CloudTrail refusal quotes come first; then by weight; ties keep their order.
#[test]
fn ranking_puts_quoted_causes_first_then_weight_then_found_order() {
    let mut causes = vec![
        cause(CauseCode::KmsAccessDenied, false),
        cause(FindingCode::IdentityPolicyMissingAction.into(), true),
        cause(FindingCode::KeyPolicyNoAccess.into(), false),
        cause(CauseCode::KeyDisabled, false),
        cause(FindingCode::NeedsGrant.into(), true),
        cause(FindingCode::KeyPolicyExplicitDeny.into(), false),
        cause(FindingCode::IdentityPolicyExplicitDeny.into(), false),
    ];
    rank(&mut causes);
    let got: Vec<(usize, &str)> = causes.iter().map(|c| (c.rank, c.code.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (1, "needs-grant"),
            (2, "identity-policy-missing-action"),
            (3, "key-disabled"),
            (4, "key-policy-explicit-deny"),
            (5, "identity-policy-explicit-deny"),
            (6, "key-policy-no-access"),
            (7, "kms-access-denied"),
        ]
    );
}

/// A CloudTrail denial naming a layer ("explicit deny in a service control policy") is the cause
/// the SCPs read found (same code, key, action): quoted there, not a second cause; a denial
/// naming another SCP's ARN stays a cause of its own.
#[test]
fn a_layer_denial_is_quoted_in_the_cause_the_policies_read_found() {
    use crate::workflow::diagnose::denials::attach;
    let read = || {
        Cause {
        rank: 0,
        code: CauseCode::Finding(FindingCode::ScpExplicitDeny),
        key_arn: Some(KEY.into()),
        message: "service control policy `p-1` (attached to `ou-1`) statement `NoGrants` denies `kms:CreateGrant`".into(),
        actions: vec!["kms:CreateGrant".into()],
        evidence: Vec::new(),
        fix: None,
    }
    };
    let d = desc("CUSTOMER", "Enabled");
    let mut ev = denial("CreateGrant");
    ev.error_message = Some(format!(
        "User: {PRINCIPAL} is not authorized to perform: kms:CreateGrant on resource: {KEY} with an explicit deny in a service control policy"
    ));
    let mut causes = vec![read()];
    attach(&mut causes, std::slice::from_ref(&ev), &[&d]);
    assert_eq!(causes.len(), 1, "{causes:#?}");
    assert!(
        causes[0]
            .evidence
            .iter()
            .any(|e| matches!(e, Evidence::Event { .. })),
        "{causes:#?}"
    );

    let mut other = ev.clone();
    other.error_message = Some(format!(
        "{}: arn:aws:organizations::999999999999:policy/o-abc/service_control_policy/p-2",
        ev.error_message.unwrap_or_default()
    ));
    let mut causes = vec![read()];
    attach(&mut causes, &[other], &[&d]);
    assert_eq!(causes.len(), 2, "{causes:#?}");
    assert!(causes[1].message.contains("p-2"), "{causes:#?}");
}
