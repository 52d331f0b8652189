use super::*;

fn plan() -> Plan {
    Plan {
        excluded: vec![],
        version: PLAN_VERSION,
        run_id: "r1".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        source: SourceImage {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            image_id: "ami-1".into(),
            name: Some("web".into()),
            architecture: Some("x86_64".into()),
            snapshots: vec![],
            tags: vec![],
        },
        keys: vec![],
        options: PlanOptions {
            target_accounts: vec!["444455556666".into()],
            target_regions: vec!["us-east-1".into()],
            test_launch: true,
            launch_timeout_secs: 600,
            ..PlanOptions::default()
        },
        fingerprint: Fingerprint::default(),
        blockers: vec![],
        checks: vec![],
        steps: vec![
            Step {
                id: "s2".into(),
                account: "444455556666".into(),
                region: "us-east-1".into(),
                action: Action::CreatePolicy {
                    name: "KmsKeyUsagePolicy".into(),
                    document: "{}".into(),
                },
            },
            Step {
                id: "s1".into(),
                account: "111122223333".into(),
                region: "us-east-1".into(),
                action: Action::AddLaunchPermission {
                    image_id: "ami-1".into(),
                    account: "444455556666".into(),
                },
            },
        ],
        handoffs: vec![],
        existing_copies: vec![],
        warnings: vec![],
        probes: vec![],
        notes: vec![],
    }
}

#[test]
fn round_trips_through_json() {
    let p = plan();
    let text = serde_json::to_string(&p).unwrap();
    let back: Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(p, back);
}

#[test]
fn display_groups_steps_by_account_source_first() {
    let text = plan().to_string();
    let src = text.find("account 111122223333 (source)").unwrap();
    let tgt = text.find("account 444455556666 (target)").unwrap();
    assert!(src < tgt, "{text}");
    assert!(text.contains("share ami-1 with 444455556666"), "{text}");
}

#[test]
fn fingerprint_differences_name_the_changed_key_policy() {
    let mut a = Fingerprint::default();
    a.key_policies.insert("k".into(), Some("p1".into()));
    let mut b = a.clone();
    assert!(a.differences(&b).is_empty());
    b.key_policies.insert("k".into(), Some("p2".into()));
    assert_eq!(
        a.differences(&b),
        vec!["key policy of `k` changed".to_string()]
    );
}
