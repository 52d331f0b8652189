//! `diagnose` against AWS-shaped responses replayed with aws-smithy-mocks, for what the emulator
//! cannot produce: the German/Japanese/Korean seed (IAM entity with full EC2 permissions but no
//! kms:CreateGrant, same account), AccessDenied on GetKeyPolicy, CloudTrail result pages, and an
//! Auto Scaling launch. The real SDK adapter (`SdkReader`) parses the responses; the real
//! diagnosis and policy engine decide.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

use amishare::aws::reader::{ReaderClients, SdkReader};
use amishare::workflow::diagnose::{
    diagnose_launch, DiagnoseOptions, DiagnoseTarget, Diagnosis, DiagnosisOutcome, Evidence,
};
use amishare::workflow::inventory::CallerIdentity;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::DateTime;

macro_rules! mock_client {
    ($krate:ident, $region:expr, $rules:expr) => {
        mock_client!($krate, $region, $rules, None::<Hosts>)
    };
    ($krate:ident, $region:expr, $rules:expr, $hosts:expr) => {{
        let mut icpt = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for r in $rules {
            icpt = icpt.with_rule(r);
        }
        let mut conf = $krate::config::Config::builder()
            .behavior_version($krate::config::BehaviorVersion::latest())
            .region($krate::config::Region::new($region))
            .credentials_provider($krate::config::Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            ))
            .retry_config($krate::config::retry::RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(icpt);
        if let Some(h) = $hosts {
            conf = conf.interceptor(h);
        }
        $krate::Client::from_conf(conf.build())
    }};
}

/// Records `(operation, host)` of every request a client sends (after endpoint resolution, so
/// the host names the region the request really went to).
#[derive(Debug, Clone, Default)]
struct Hosts(std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for Hosts {
    fn name(&self) -> &'static str {
        "Hosts"
    }

    fn read_before_transmit(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _rc: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let op = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_default();
        let uri = ctx.request().uri().to_string();
        let host = uri
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_default()
            .to_string();
        self.0.lock().unwrap().push((op, host));
        Ok(())
    }
}

impl Hosts {
    fn seen(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap().clone()
    }
}

/// The rules of one account, per service.
#[derive(Default)]
struct World {
    ec2: Vec<Rule>,
    kms: Vec<Rule>,
    iam: Vec<Rule>,
    trail: Vec<Rule>,
    /// When set, records the KMS requests' hosts.
    kms_hosts: Option<Hosts>,
}

impl World {
    /// The account's IAM rules, then GetUser / GetRole answering an entity without a
    /// permissions boundary (diagnose reads the principal's boundary).
    fn iam_rules(&self) -> Vec<Rule> {
        let mut rules = self.iam.clone();
        rules.extend(iam::no_boundaries());
        rules
    }

    fn reader(&self, account: &str, arn: &str, region: &str) -> SdkReader {
        let region_s = region.to_string();
        SdkReader::from_clients(
            CallerIdentity {
                account: account.into(),
                arn: arn.into(),
            },
            region,
            ReaderClients {
                ec2: mock_client!(aws_sdk_ec2, region_s.clone(), &self.ec2),
                kms: mock_client!(
                    aws_sdk_kms,
                    region_s.clone(),
                    &self.kms,
                    self.kms_hosts.clone()
                ),
                iam: mock_client!(aws_sdk_iam, region_s.clone(), &self.iam_rules()),
                cloudtrail: mock_client!(aws_sdk_cloudtrail, region_s.clone(), &self.trail),
            },
        )
    }
}

const LAUNCH: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

fn time(offset: i64) -> DateTime {
    DateTime::from_secs(LAUNCH + offset)
}

mod ec2 {
    use super::*;
    use aws_sdk_ec2::operation::describe_image_attribute::DescribeImageAttributeOutput;
    use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
    use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
    use aws_sdk_ec2::operation::describe_snapshot_attribute::DescribeSnapshotAttributeOutput;
    use aws_sdk_ec2::operation::describe_snapshots::DescribeSnapshotsOutput;
    use aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput;
    use aws_sdk_ec2::types::*;
    use aws_sdk_ec2::Client;

    /// A failed instance (StateReason Client.InternalError) on one volume; its image on one
    /// snapshot; the volume's and snapshot's key; the image owned by `image_owner`.
    pub fn failed_instance(
        instance: &'static str,
        state: InstanceStateName,
        volume_key: Option<&'static str>,
        image_owner: &'static str,
        snapshot_key: &'static str,
    ) -> Vec<Rule> {
        let st = state.clone();
        vec![
            mock!(Client::describe_instances)
                .match_requests(move |r| r.instance_ids() == [instance])
                .then_output(move || {
                    DescribeInstancesOutput::builder()
                        .reservations(
                            Reservation::builder()
                                .instances(
                                    Instance::builder()
                                        .instance_id(instance)
                                        .image_id("ami-0seed")
                                        .state(InstanceState::builder().name(st.clone()).build())
                                        .state_reason(
                                            StateReason::builder()
                                                .code("Client.InternalError")
                                                .message(
                                                    "Client.InternalError: Client error on launch",
                                                )
                                                .build(),
                                        )
                                        .launch_time(time(0))
                                        .block_device_mappings(
                                            InstanceBlockDeviceMapping::builder()
                                                .device_name("/dev/xvda")
                                                .ebs(
                                                    EbsInstanceBlockDevice::builder()
                                                        .volume_id("vol-0ca158925aa9c1883")
                                                        .build(),
                                                )
                                                .build(),
                                        )
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                }),
            mock!(Client::describe_volumes).then_output(move || {
                let v = Volume::builder()
                    .volume_id("vol-0ca158925aa9c1883")
                    .encrypted(volume_key.is_some())
                    .set_kms_key_id(volume_key.map(str::to_string))
                    .build();
                DescribeVolumesOutput::builder().volumes(v).build()
            }),
            mock!(Client::describe_images).then_output(move || {
                DescribeImagesOutput::builder()
                    .images(
                        Image::builder()
                            .image_id("ami-0seed")
                            .name("app")
                            .owner_id(image_owner)
                            .state(ImageState::Available)
                            .block_device_mappings(
                                BlockDeviceMapping::builder()
                                    .device_name("/dev/xvda")
                                    .ebs(
                                        EbsBlockDevice::builder()
                                            .snapshot_id("snap-0seed")
                                            .encrypted(true)
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::describe_image_attribute)
                .then_output(|| DescribeImageAttributeOutput::builder().build()),
            mock!(Client::describe_snapshots).then_output(move || {
                DescribeSnapshotsOutput::builder()
                    .snapshots(
                        Snapshot::builder()
                            .snapshot_id("snap-0seed")
                            .encrypted(true)
                            .kms_key_id(snapshot_key)
                            .owner_id(image_owner)
                            .state(SnapshotState::Completed)
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::describe_snapshot_attribute)
                .then_output(|| DescribeSnapshotAttributeOutput::builder().build()),
        ]
    }
}

mod kms {
    use super::*;
    use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
    use aws_sdk_kms::operation::get_key_policy::{GetKeyPolicyError, GetKeyPolicyOutput};
    use aws_sdk_kms::operation::list_aliases::ListAliasesOutput;
    use aws_sdk_kms::operation::list_grants::ListGrantsOutput;
    use aws_sdk_kms::types::{
        GrantListEntry, GrantOperation, KeyManagerType, KeyMetadata, KeyState,
    };
    use aws_sdk_kms::Client;

    pub fn key(arn: &'static str, manager: KeyManagerType) -> Vec<Rule> {
        key_with(arn, manager, KeyState::Enabled, Vec::new())
    }

    /// A key in state `state` whose ListGrants answers `grants`.
    pub fn key_with(
        arn: &'static str,
        manager: KeyManagerType,
        state: KeyState,
        grants: Vec<GrantListEntry>,
    ) -> Vec<Rule> {
        let account = arn.split(':').nth(4).unwrap();
        let id = arn.rsplit('/').next().unwrap();
        vec![
            mock!(Client::describe_key).then_output(move || {
                DescribeKeyOutput::builder()
                    .key_metadata(
                        KeyMetadata::builder()
                            .key_id(id)
                            .arn(arn)
                            .aws_account_id(account)
                            .key_manager(manager.clone())
                            .key_state(state.clone())
                            .enabled(state == KeyState::Enabled)
                            .build()
                            .unwrap(),
                    )
                    .build()
            }),
            mock!(Client::list_aliases).then_output(|| ListAliasesOutput::builder().build()),
            mock!(Client::list_grants).then_output(move || {
                ListGrantsOutput::builder()
                    .set_grants(Some(grants.clone()))
                    .build()
            }),
        ]
    }

    /// The grant the Auto Scaling documentation has the launch account create for its
    /// service-linked role on the other account's key.
    pub fn auto_scaling_grant(key: &str, role: &str) -> GrantListEntry {
        GrantListEntry::builder()
            .key_id(key)
            .grant_id("g-asg")
            .grantee_principal(role)
            .issuing_account("arn:aws:iam::444455556666:root")
            .set_operations(Some(vec![
                GrantOperation::Encrypt,
                GrantOperation::Decrypt,
                GrantOperation::ReEncryptFrom,
                GrantOperation::ReEncryptTo,
                GrantOperation::GenerateDataKey,
                GrantOperation::GenerateDataKeyWithoutPlaintext,
                GrantOperation::DescribeKey,
                GrantOperation::CreateGrant,
            ]))
            .build()
    }

    pub fn policy(text: &'static str) -> Rule {
        mock!(Client::get_key_policy)
            .then_output(move || GetKeyPolicyOutput::builder().policy(text).build())
    }

    pub fn policy_denied(caller: &'static str, arn: &'static str) -> Rule {
        mock!(Client::get_key_policy).then_error(move || {
            GetKeyPolicyError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message(format!(
                        "User: {caller} is not authorized to perform: kms:GetKeyPolicy on resource: {arn} because no identity-based policy allows the kms:GetKeyPolicy action"
                    ))
                    .build(),
            )
        })
    }
}

mod iam {
    use super::*;
    use aws_sdk_iam::operation::get_policy::GetPolicyOutput;
    use aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput;
    use aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput;
    use aws_sdk_iam::operation::list_attached_user_policies::ListAttachedUserPoliciesOutput;
    use aws_sdk_iam::operation::list_groups_for_user::ListGroupsForUserOutput;
    use aws_sdk_iam::operation::list_role_policies::ListRolePoliciesOutput;
    use aws_sdk_iam::operation::list_user_policies::ListUserPoliciesOutput;
    use aws_sdk_iam::types::{AttachedPolicy, Policy, PolicyVersion};
    use aws_sdk_iam::Client;

    /// A user with only AWS's AmazonEC2FullAccess (as IAM returns it: URL-encoded).
    pub fn user_with_ec2_full_access(user: &'static str) -> Vec<Rule> {
        let arn = "arn:aws:iam::aws:policy/AmazonEC2FullAccess";
        vec![
            mock!(Client::list_attached_user_policies)
                .match_requests(move |r| r.user_name() == Some(user))
                .then_output(move || {
                    ListAttachedUserPoliciesOutput::builder()
                        .attached_policies(
                            AttachedPolicy::builder()
                                .policy_name("AmazonEC2FullAccess")
                                .policy_arn(arn)
                                .build(),
                        )
                        .is_truncated(false)
                        .build()
                }),
            mock!(Client::get_policy).then_output(move || {
                GetPolicyOutput::builder()
                    .policy(Policy::builder().arn(arn).default_version_id("v5").build())
                    .build()
            }),
            mock!(Client::get_policy_version).then_output(|| {
                GetPolicyVersionOutput::builder()
                    .policy_version(
                        PolicyVersion::builder()
                            .version_id("v5")
                            .document("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Action%22%3A%22ec2%3A%2A%22%2C%22Effect%22%3A%22Allow%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D")
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::list_user_policies).then_output(|| {
                ListUserPoliciesOutput::builder()
                    .set_policy_names(Some(vec![]))
                    .is_truncated(false)
                    .build()
                    .unwrap()
            }),
            mock!(Client::list_groups_for_user).then_output(|| {
                ListGroupsForUserOutput::builder()
                    .set_groups(Some(vec![]))
                    .is_truncated(false)
                    .build()
                    .unwrap()
            }),
        ]
    }

    /// GetUser / GetRole of any user or role: no permissions boundary.
    pub fn no_boundaries() -> Vec<Rule> {
        use aws_sdk_iam::operation::get_role::GetRoleOutput;
        use aws_sdk_iam::operation::get_user::GetUserOutput;
        use aws_sdk_iam::types::{Role, User};
        let t = aws_sdk_iam::primitives::DateTime::from_secs(0);
        vec![
            mock!(Client::get_user).then_output(move || {
                GetUserOutput::builder()
                    .user(
                        User::builder()
                            .path("/")
                            .user_name("u")
                            .user_id("AIDA")
                            .arn("arn:aws:iam::111122223333:user/u")
                            .create_date(t)
                            .build()
                            .unwrap(),
                    )
                    .build()
            }),
            mock!(Client::get_role).then_output(move || {
                GetRoleOutput::builder()
                    .role(
                        Role::builder()
                            .path("/")
                            .role_name("r")
                            .role_id("AROA")
                            .arn("arn:aws:iam::111122223333:role/r")
                            .create_date(t)
                            .build()
                            .unwrap(),
                    )
                    .build()
            }),
        ]
    }

    /// A role with no policies at all (Auto Scaling's service-linked role as far as KMS goes).
    pub fn role_without_policies() -> Vec<Rule> {
        vec![
            mock!(Client::list_attached_role_policies).then_output(|| {
                ListAttachedRolePoliciesOutput::builder()
                    .is_truncated(false)
                    .build()
            }),
            mock!(Client::list_role_policies).then_output(|| {
                ListRolePoliciesOutput::builder()
                    .set_policy_names(Some(vec![]))
                    .is_truncated(false)
                    .build()
                    .unwrap()
            }),
        ]
    }
}

mod trail {
    use super::*;
    use aws_sdk_cloudtrail::operation::lookup_events::{LookupEventsInput, LookupEventsOutput};
    use aws_sdk_cloudtrail::types::Event;
    use aws_sdk_cloudtrail::Client;

    fn attr(r: &LookupEventsInput) -> String {
        r.lookup_attributes()
            .first()
            .map(|a| a.attribute_value().to_string())
            .unwrap_or_default()
    }

    pub fn event(id: &str, name: &str, offset: i64, record: serde_json::Value) -> Event {
        Event::builder()
            .event_id(id)
            .event_name(name)
            .event_time(time(offset))
            .cloud_trail_event(record.to_string())
            .build()
    }

    /// LookupEvents for `value` answers these pages (NextToken "page-N" between them);
    /// every other lookup answers no events.
    pub fn pages(value: &'static str, pages: Vec<Vec<Event>>) -> Vec<Rule> {
        let n = pages.len();
        let mut rules = Vec::new();
        for (i, events) in pages.into_iter().enumerate() {
            let expect_token = (i > 0).then(|| format!("page-{i}"));
            let next = (i + 1 < n).then(|| format!("page-{}", i + 1));
            rules.push(
                mock!(Client::lookup_events)
                    .match_requests(move |r| {
                        attr(r) == value && r.next_token().map(str::to_string) == expect_token
                    })
                    .then_output(move || {
                        LookupEventsOutput::builder()
                            .set_events(Some(events.clone()))
                            .set_next_token(next.clone())
                            .build()
                    }),
            );
        }
        rules
    }

    pub fn nothing_else() -> Rule {
        mock!(Client::lookup_events).then_output(|| LookupEventsOutput::builder().build())
    }
}

fn diagnose(
    reader: &SdkReader,
    key_reader: Option<&SdkReader>,
    target: DiagnoseTarget,
) -> Diagnosis {
    let opts = DiagnoseOptions {
        now: chrono::DateTime::from_timestamp(LAUNCH + 600, 0).unwrap(),
        ..DiagnoseOptions::default()
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(diagnose_launch(reader, key_reader, &target, &opts))
        .unwrap()
}

fn codes(d: &Diagnosis) -> Vec<&str> {
    d.causes.iter().map(|c| c.code.as_str()).collect()
}

fn has_event(c: &amishare::workflow::diagnose::Cause, name: &str) -> bool {
    c.evidence
        .iter()
        .any(|e| matches!(e, Evidence::Event { event_name, .. } if event_name == name))
}

// ---------------------------------------------------------------------------------------------
// Seeds 000 (de), 002 (ja), 003 (ko): "Why can't my IAM user or role with full Amazon EC2
// permissions start an EC2 instance?" Same account, default key policy (root: kms:*, i.e. IAM
// decides), user `test` with full EC2 permissions only; the instance goes pending -> stopped with
// Client.InternalError; CloudTrail has CreateGrant AccessDenied for user/test. The article's
// cause: the IAM entity lacks kms:CreateGrant; its fix: an IAM policy allowing kms:CreateGrant on
// the key with kms:GrantIsForAWSResource.

const SEED_KEY: &str =
    "arn:aws:kms:eu-west-1:123456789012:key/8e3426b8-87b4-434c-ae74-8e63dadf354a";
const DEFAULT_KEY_POLICY: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}"#;

fn seed_same_account_world() -> World {
    use aws_sdk_ec2::types::InstanceStateName;
    let start = trail::event(
        "ev-start",
        "StartInstances",
        0,
        serde_json::json!({
            "eventName": "StartInstances", "eventSource": "ec2.amazonaws.com", "awsRegion": "eu-west-1",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/test", "accountId": "123456789012"},
            "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-0seed000000000001"}]}}
        }),
    );
    let denied = trail::event(
        "ev-grant",
        "CreateGrant",
        3,
        serde_json::json!({
            "eventName": "CreateGrant", "eventSource": "kms.amazonaws.com", "awsRegion": "eu-west-1",
            "errorCode": "AccessDenied",
            "errorMessage": format!("User: arn:aws:iam::123456789012:user/test is not authorized to perform: kms:CreateGrant on resource: {SEED_KEY}"),
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/test", "invokedBy": "ec2.amazonaws.com"},
            "requestParameters": {"keyId": SEED_KEY, "granteePrincipal": "123456789012:aws:ec2-infrastructure",
                                   "constraints": {"encryptionContextSubset": {"aws:ebs:id": "vol-0ca158925aa9c1883"}}}
        }),
    );
    let mut w = World::default();
    w.ec2 = ec2::failed_instance(
        "i-0seed000000000001",
        InstanceStateName::Stopped,
        Some(SEED_KEY),
        "123456789012",
        SEED_KEY,
    );
    w.kms = kms::key(SEED_KEY, aws_sdk_kms::types::KeyManagerType::Customer);
    w.kms.push(kms::policy(DEFAULT_KEY_POLICY));
    w.iam = iam::user_with_ec2_full_access("test");
    w.trail = trail::pages("i-0seed000000000001", vec![vec![start]]);
    w.trail
        .extend(trail::pages("CreateGrant", vec![vec![denied]]));
    w.trail.push(trail::nothing_else());
    w
}

/// The seed instance diagnosed as the de/ja/ko articles' admin in the key's account and region,
/// the launching principal taken from CloudTrail unless given.
fn diagnose_seed_instance(w: &World, principal: Option<&str>) -> Diagnosis {
    let r = w.reader(
        "123456789012",
        "arn:aws:iam::123456789012:user/admin",
        "eu-west-1",
    );
    diagnose(
        &r,
        None,
        DiagnoseTarget::Instance {
            instance_id: "i-0seed000000000001".into(),
            principal: principal.map(str::to_string),
        },
    )
}

fn assert_names_missing_create_grant_in_iam(d: &Diagnosis) {
    assert_eq!(d.outcome, DiagnosisOutcome::CauseFound, "{d:#?}");
    let p = d.principal.as_ref().unwrap();
    assert_eq!(p.arn, "arn:aws:iam::123456789012:user/test");
    let first = &d.causes[0];
    assert_eq!(
        first.code,
        "identity-policy-missing-action",
        "{:?}",
        codes(d)
    );
    assert!(
        first.actions.iter().any(|a| a == "kms:CreateGrant"),
        "{first:#?}"
    );
    assert!(
        has_event(first, "CreateGrant"),
        "CloudTrail denial quoted: {first:#?}"
    );
    assert!(first.evidence.iter().any(|e| matches!(e,
        Evidence::StateReason { code: Some(c), .. } if c == "Client.InternalError")));
    let fix = first.fix.as_ref().unwrap();
    let doc = fix
        .documents
        .iter()
        .find(|d| d.file_name == "kms-key-usage-policy.json")
        .expect("an IAM policy document");
    let text = doc.content.to_string();
    assert!(
        text.contains("kms:CreateGrant") && text.contains(SEED_KEY),
        "{text}"
    );
    assert!(
        text.contains("kms:GrantIsForAWSResource"),
        "least privilege condition: {text}"
    );
    assert!(fix
        .commands
        .iter()
        .any(|c| c.starts_with("aws iam create-policy --policy-name KmsKeyUsagePolicy")));
    assert!(
        fix.commands
            .iter()
            .any(|c| c.contains("aws iam attach-user-policy --user-name test")),
        "{:?}",
        fix.commands
    );
    assert!(
        !codes(d).iter().any(|c| c.starts_with("key-policy")),
        "the key policy delegates to IAM: {:?}",
        codes(d)
    );
}

#[test]
fn seed_000_de_full_ec2_permissions_lack_kms_create_grant() {
    let w = seed_same_account_world();
    let d = diagnose_seed_instance(&w, None);
    assert_names_missing_create_grant_in_iam(&d);
    // the principal came from CloudTrail's StartInstances event, not from a flag
    assert_eq!(
        serde_json::to_value(d.principal.as_ref().unwrap().source).unwrap(),
        "cloudtrail"
    );
}

#[test]
fn seed_002_ja_full_ec2_permissions_lack_kms_create_grant() {
    let w = seed_same_account_world();
    let d = diagnose_seed_instance(&w, None);
    assert_names_missing_create_grant_in_iam(&d);
    // the rendered report quotes the article's CloudTrail message and the exact fix commands
    let text = amishare::cli::diagnose::render_text(&d);
    assert!(text.contains("User: arn:aws:iam::123456789012:user/test is not authorized to perform: kms:CreateGrant"), "{text}");
    assert!(
        text.contains("aws iam attach-user-policy --user-name test"),
        "{text}"
    );
    assert_eq!(
        amishare::cli::diagnose::exit_code(&d),
        amishare::cli::Exit::Denied
    );
}

#[test]
fn seed_003_ko_full_ec2_permissions_lack_kms_create_grant_principal_given() {
    // Same scenario, principal passed explicitly (`--principal`), as the copy workflow does.
    let w = seed_same_account_world();
    let d = diagnose_seed_instance(&w, Some("arn:aws:iam::123456789012:user/test"));
    assert_names_missing_create_grant_in_iam(&d);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["outcome"], "cause-found");
    assert_eq!(json["causes"][0]["code"], "identity-policy-missing-action");
}

// ---------------------------------------------------------------------------------------------

#[test]
fn get_key_policy_access_denied_is_reported_as_unseen_and_undecided() {
    use aws_sdk_ec2::types::InstanceStateName;
    let mut w = World::default();
    w.ec2 = ec2::failed_instance(
        "i-0nokeypolicy00001",
        InstanceStateName::Terminated,
        None,
        "123456789012",
        SEED_KEY,
    );
    w.kms = kms::key(SEED_KEY, aws_sdk_kms::types::KeyManagerType::Customer);
    w.kms.insert(
        0,
        kms::policy_denied("arn:aws:iam::123456789012:user/auditor", SEED_KEY),
    );
    w.iam = iam::user_with_ec2_full_access("test");
    w.trail.push(trail::nothing_else());
    let r = w.reader(
        "123456789012",
        "arn:aws:iam::123456789012:user/auditor",
        "eu-west-1",
    );
    let d = diagnose(
        &r,
        None,
        DiagnoseTarget::Instance {
            instance_id: "i-0nokeypolicy00001".into(),
            principal: Some("arn:aws:iam::123456789012:user/test".into()),
        },
    );
    let unseen = d
        .unseen
        .iter()
        .find(|u| u.what.starts_with("key policy of"))
        .unwrap_or_else(|| panic!("key policy reported unseen: {:#?}", d.unseen));
    assert_eq!(
        unseen.error.as_ref().and_then(|e| e.code.as_deref()),
        Some("AccessDeniedException")
    );
    assert!(
        unseen
            .how_to_see
            .contains("aws kms get-key-policy --key-id"),
        "{unseen:#?}"
    );
    // With the key policy unknown, nothing may be claimed about it.
    assert!(
        !codes(&d).iter().any(|c| c.starts_with("key-policy")),
        "{:?}",
        codes(&d)
    );
    assert_eq!(d.outcome, DiagnosisOutcome::Undecided, "{:#?}", d.causes);
    assert_eq!(
        amishare::cli::diagnose::exit_code(&d),
        amishare::cli::Exit::Runtime
    );
    let key = d.keys.iter().find(|k| k.key_id == SEED_KEY).unwrap();
    assert!(!key.policy_read);
    // The report's "could not see" section: what, AWS's answer, what it means, how to see it.
    insta::assert_snapshot!(
        "key_policy_unseen_text",
        amishare::cli::diagnose::render_text(&d)
    );
}

#[test]
fn cloudtrail_denial_on_a_later_page_is_found() {
    use aws_sdk_ec2::types::InstanceStateName;
    let noise: Vec<_> = (0..50)
        .map(|i| {
            trail::event(
                &format!("ev-ok-{i}"),
                "CreateGrant",
                1,
                serde_json::json!({"eventName": "CreateGrant", "userIdentity": {"arn": "arn:aws:iam::123456789012:role/other"},
                                   "requestParameters": {"keyId": "arn:aws:kms:eu-west-1:123456789012:key/other"}}),
            )
        })
        .collect();
    let denied = trail::event(
        "ev-denied-page-2",
        "CreateGrant",
        4,
        serde_json::json!({
            "eventName": "CreateGrant", "errorCode": "AccessDenied",
            "errorMessage": format!("User: arn:aws:iam::123456789012:user/test is not authorized to perform: kms:CreateGrant on resource: {SEED_KEY}"),
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/test"},
            "requestParameters": {"keyId": SEED_KEY}
        }),
    );
    let mut w = World::default();
    w.ec2 = ec2::failed_instance(
        "i-0paged00000000001",
        InstanceStateName::Terminated,
        None,
        "123456789012",
        SEED_KEY,
    );
    w.kms = kms::key(SEED_KEY, aws_sdk_kms::types::KeyManagerType::Customer);
    w.kms.push(kms::policy(DEFAULT_KEY_POLICY));
    w.iam = iam::user_with_ec2_full_access("test");
    w.trail = trail::pages("CreateGrant", vec![noise, vec![denied]]);
    w.trail.push(trail::nothing_else());
    let r = w.reader(
        "123456789012",
        "arn:aws:iam::123456789012:user/admin",
        "eu-west-1",
    );
    let d = diagnose(
        &r,
        None,
        DiagnoseTarget::Instance {
            instance_id: "i-0paged00000000001".into(),
            principal: Some("arn:aws:iam::123456789012:user/test".into()),
        },
    );
    assert_eq!(
        d.denials.len(),
        1,
        "only the denial, from page 2: {:#?}",
        d.denials
    );
    assert_eq!(d.denials[0].event_id.as_deref(), Some("ev-denied-page-2"));
    assert!(has_event(&d.causes[0], "CreateGrant"), "{:#?}", d.causes[0]);
}

const ASG_KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ASG_ROLE: &str = "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";
// The source key policy names the target account for use and attachment (the usual fix),
// which does not help the service-linked role: it needs a grant.
const ASG_KEY_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
  {"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},
  {"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}"#;

/// An Auto Scaling launch in 444455556666 of an image whose snapshot is encrypted with a key of
/// 111122223333: (target world, source world); the key's ListGrants answers `grants`.
fn auto_scaling_worlds(grants: Vec<aws_sdk_kms::types::GrantListEntry>) -> (World, World) {
    use aws_sdk_ec2::types::InstanceStateName;
    use aws_sdk_kms::types::{KeyManagerType, KeyState};
    let run = trail::event(
        "ev-run",
        "RunInstances",
        0,
        serde_json::json!({
            "eventName": "RunInstances", "eventSource": "ec2.amazonaws.com",
            "userIdentity": {"type": "AssumedRole",
                "arn": "arn:aws:sts::444455556666:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
                "invokedBy": "autoscaling.amazonaws.com",
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ASG_ROLE, "userName": "AWSServiceRoleForAutoScaling"}}},
            "responseElements": {"instancesSet": {"items": [{"instanceId": "i-0asg000000000001"}]}}
        }),
    );
    let mut target = World::default();
    target.ec2 = ec2::failed_instance(
        "i-0asg000000000001",
        InstanceStateName::Terminated,
        None,
        "111122223333",
        ASG_KEY,
    );
    target.kms = kms::key(ASG_KEY, KeyManagerType::Customer);
    target.iam = iam::role_without_policies();
    target.trail = trail::pages("i-0asg000000000001", vec![vec![run]]);
    target.trail.push(trail::nothing_else());
    let mut source = World::default();
    source.kms = kms::key_with(ASG_KEY, KeyManagerType::Customer, KeyState::Enabled, grants);
    source.kms.push(kms::policy(ASG_KEY_POLICY));
    (target, source)
}

fn diagnose_auto_scaling(target: &World, source: &World) -> Diagnosis {
    let tr = target.reader(
        "444455556666",
        "arn:aws:sts::444455556666:assumed-role/Admin/me",
        "us-east-1",
    );
    let sr = source.reader(
        "111122223333",
        "arn:aws:sts::111122223333:assumed-role/KeyAdmin/me",
        "us-east-1",
    );
    diagnose(
        &tr,
        Some(&sr),
        DiagnoseTarget::Instance {
            instance_id: "i-0asg000000000001".into(),
            principal: None,
        },
    )
}

#[test]
fn auto_scaling_launch_with_key_in_another_account_needs_a_grant() {
    let (target, source) = auto_scaling_worlds(Vec::new());
    let d = diagnose_auto_scaling(&target, &source);
    let p = d.principal.as_ref().unwrap();
    assert_eq!(
        p.arn, ASG_ROLE,
        "the service-linked role behind the session"
    );
    assert_eq!(p.invoked_by.as_deref(), Some("autoscaling.amazonaws.com"));
    assert_eq!(d.outcome, DiagnosisOutcome::CauseFound);
    let c = d
        .causes
        .iter()
        .find(|c| c.code == "needs-grant")
        .unwrap_or_else(|| panic!("{:?}", codes(&d)));
    let fix = c.fix.as_ref().unwrap();
    assert!(
        fix.commands
            .iter()
            .any(|c| c.starts_with("aws kms create-grant") && c.contains(ASG_ROLE)),
        "{:?}",
        fix.commands
    );
}

/// The same launch once the grant to AWSServiceRoleForAutoScaling exists: ListGrants shows it,
/// so the service-linked role can use the key and no grant is asked for.
#[test]
fn auto_scaling_grant_already_present_is_not_a_cause() {
    let (target, source) = auto_scaling_worlds(vec![kms::auto_scaling_grant(ASG_KEY, ASG_ROLE)]);
    let d = diagnose_auto_scaling(&target, &source);
    assert_eq!(d.principal.as_ref().unwrap().arn, ASG_ROLE);
    let key = d.keys.iter().find(|k| k.key_id == ASG_KEY).unwrap();
    assert_eq!(key.grants_read, Some(1), "{:#?}", d.unseen);
    assert!(
        !codes(&d).contains(&"needs-grant"),
        "a grant covers the role: {:?}",
        codes(&d)
    );
    assert!(
        !codes(&d).iter().any(|c| c.starts_with("key-policy")),
        "{:?}",
        codes(&d)
    );
    let verdict = key.analysis.as_ref().map(|a| a.verdict);
    assert_eq!(
        verdict,
        Some(amishare::policy::Verdict::Allow),
        "{:#?}",
        key.analysis
    );
}

#[test]
fn healthy_instance_is_no_problem() {
    use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
    use aws_sdk_ec2::types::{Instance, InstanceState, InstanceStateName, Reservation};
    let mut w = World::default();
    w.ec2.push(
        mock!(aws_sdk_ec2::Client::describe_instances).then_output(|| {
            DescribeInstancesOutput::builder()
                .reservations(
                    Reservation::builder()
                        .instances(
                            Instance::builder()
                                .instance_id("i-0fine")
                                .state(
                                    InstanceState::builder()
                                        .name(InstanceStateName::Running)
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
        }),
    );
    let r = w.reader(
        "123456789012",
        "arn:aws:iam::123456789012:user/admin",
        "eu-west-1",
    );
    let d = diagnose(
        &r,
        None,
        DiagnoseTarget::Instance {
            instance_id: "i-0fine".into(),
            principal: None,
        },
    );
    assert_eq!(d.outcome, DiagnosisOutcome::NoProblem);
    assert!(d.causes.is_empty());
}

/// `--key-account-profile` reads the key in the region its ARN names: an instance in us-east-1
/// whose snapshot's key ARN says us-west-2 gets DescribeKey, GetKeyPolicy and ListGrants sent to
/// KMS in us-west-2, although the key account's reader was built for the launch region.
#[test]
fn key_account_reads_the_key_in_the_key_arns_region() {
    use aws_sdk_ec2::types::InstanceStateName;
    use aws_sdk_kms::types::{KeyManagerType, KeyState};
    const WEST_KEY: &str =
        "arn:aws:kms:us-west-2:111122223333:key/0000west-12ab-34cd-56ef-1234567890ab";
    let mut target = World::default();
    target.ec2 = ec2::failed_instance(
        "i-0east00000000001",
        InstanceStateName::Terminated,
        None,
        "111122223333",
        WEST_KEY,
    );
    target.iam = iam::role_without_policies();
    target.trail.push(trail::nothing_else());
    let hosts = Hosts::default();
    let mut source = World {
        kms_hosts: Some(hosts.clone()),
        ..World::default()
    };
    source.kms = kms::key_with(
        WEST_KEY,
        KeyManagerType::Customer,
        KeyState::Enabled,
        Vec::new(),
    );
    source.kms.push(kms::policy(ASG_KEY_POLICY));
    let tr = target.reader(
        "444455556666",
        "arn:aws:sts::444455556666:assumed-role/Admin/me",
        "us-east-1",
    );
    let sr = source.reader(
        "111122223333",
        "arn:aws:sts::111122223333:assumed-role/KeyAdmin/me",
        "us-east-1",
    );
    let d = diagnose(
        &tr,
        Some(&sr),
        DiagnoseTarget::Instance {
            instance_id: "i-0east00000000001".into(),
            principal: Some("arn:aws:iam::444455556666:role/Deployer".into()),
        },
    );
    let seen = hosts.seen();
    let ops: Vec<&str> = seen.iter().map(|(op, _)| op.as_str()).collect();
    for op in ["DescribeKey", "GetKeyPolicy", "ListGrants"] {
        assert!(ops.contains(&op), "{op} sent: {seen:?}");
    }
    assert!(
        seen.iter()
            .all(|(_, host)| host == "kms.us-west-2.amazonaws.com"),
        "every KMS request goes to the key's region: {seen:?}"
    );
    let key = d.keys.iter().find(|k| k.key_id == WEST_KEY).unwrap();
    assert!(key.policy_read, "{:#?}", d.unseen);
    assert_eq!(key.grants_read, Some(0));
    assert_eq!(
        key.description.as_ref().map(|k| k.region.as_str()),
        Some("us-west-2")
    );
}

/// CloudTrail holds denials of other launches too. Only those pointing at this launch count:
/// first the one naming the instance's volume and the key, then one naming only the key, then
/// the principal's own record that names nothing; not a denial of another key for another
/// volume by someone else, nor one of the same key and volume hours after the window.
#[test]
fn cloudtrail_denials_are_matched_to_the_launch() {
    let denial = |id: &str, offset: i64, user: &str, key: Option<&str>, ebs: Option<&str>| {
        let mut req =
            serde_json::json!({"granteePrincipal": "123456789012:aws:ec2-infrastructure"});
        if let Some(k) = key {
            req["keyId"] = k.into();
        }
        if let Some(v) = ebs {
            req["constraints"] = serde_json::json!({"encryptionContextSubset": {"aws:ebs:id": v}});
        }
        trail::event(
            id,
            "CreateGrant",
            offset,
            serde_json::json!({
                "eventName": "CreateGrant", "eventSource": "kms.amazonaws.com",
                "errorCode": "AccessDenied",
                "errorMessage": format!("User: {user} is not authorized to perform: kms:CreateGrant"),
                "userIdentity": {"type": "IAMUser", "arn": user, "invokedBy": "ec2.amazonaws.com"},
                "requestParameters": req
            }),
        )
    };
    const TEST: &str = "arn:aws:iam::123456789012:user/test";
    const OTHER: &str = "arn:aws:iam::123456789012:user/other";
    const OTHER_KEY: &str =
        "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let vol = Some("vol-0ca158925aa9c1883");
    let events = vec![
        denial(
            "ev-other-key",
            2,
            OTHER,
            Some(OTHER_KEY),
            Some("vol-0other"),
        ),
        denial("ev-key-only", 1200, TEST, Some(SEED_KEY), None),
        denial("ev-bare", 30, TEST, None, None),
        denial("ev-volume-and-key", 5, TEST, Some(SEED_KEY), vol),
        denial("ev-late", 3 * 3600, TEST, Some(SEED_KEY), vol),
    ];
    let mut w = seed_same_account_world();
    w.trail = trail::pages("CreateGrant", vec![events]);
    w.trail.push(trail::nothing_else());
    let d = diagnose_seed_instance(&w, Some(TEST));
    let ids: Vec<_> = d
        .denials
        .iter()
        .map(|e| e.event_id.as_deref().unwrap())
        .collect();
    assert_eq!(ids, ["ev-volume-and-key", "ev-key-only", "ev-bare"]);
    let quoted: Vec<_> = d.causes[0]
        .evidence
        .iter()
        .filter_map(|e| match e {
            Evidence::Event { event_id, .. } => event_id.as_deref(),
            _ => None,
        })
        .collect();
    assert_eq!(
        quoted.first(),
        Some(&"ev-volume-and-key"),
        "{:#?}",
        d.causes[0]
    );
    assert!(!quoted.contains(&"ev-other-key") && !quoted.contains(&"ev-late"));
}

/// A key pending deletion, as AWS reports it: DescribeKey's KeyState and CloudTrail's
/// KMSInvalidStateException (not AccessDenied) on EC2's CreateGrant. The state is the cause and
/// the CloudTrail refusal its evidence.
#[test]
fn key_pending_deletion_quotes_the_invalid_state_refusal() {
    use aws_sdk_kms::types::{KeyManagerType, KeyState};
    let refused = trail::event(
        "ev-invalid-state",
        "CreateGrant",
        3,
        serde_json::json!({
            "eventName": "CreateGrant", "eventSource": "kms.amazonaws.com",
            "errorCode": "KMSInvalidStateException",
            "errorMessage": format!("{SEED_KEY} is pending deletion."),
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/test", "invokedBy": "ec2.amazonaws.com"},
            "requestParameters": {"keyId": SEED_KEY,
                "constraints": {"encryptionContextSubset": {"aws:ebs:id": "vol-0ca158925aa9c1883"}}}
        }),
    );
    let mut w = seed_same_account_world();
    w.kms = kms::key_with(
        SEED_KEY,
        KeyManagerType::Customer,
        KeyState::PendingDeletion,
        Vec::new(),
    );
    w.kms.push(kms::policy(DEFAULT_KEY_POLICY));
    w.trail = trail::pages("CreateGrant", vec![vec![refused]]);
    w.trail.push(trail::nothing_else());
    let d = diagnose_seed_instance(&w, Some("arn:aws:iam::123456789012:user/test"));
    assert_eq!(codes(&d)[0], "key-pending-deletion", "{:?}", codes(&d));
    assert!(has_event(&d.causes[0], "CreateGrant"), "{:#?}", d.causes[0]);
    let cmds = &d.causes[0].fix.as_ref().unwrap().commands;
    assert!(
        cmds.iter()
            .any(|c| c.contains("aws kms cancel-key-deletion")),
        "{cmds:?}"
    );
}

/// The rendered report (text and JSON) of the de/ja/ko seed, the representative case: the
/// cause with its evidence, the IAM policy to write and the commands that apply it.
#[test]
fn snapshot_seed_report_text_and_json() {
    let w = seed_same_account_world();
    let d = diagnose_seed_instance(&w, None);
    insta::assert_snapshot!("seed_report_text", amishare::cli::diagnose::render_text(&d));
    insta::assert_json_snapshot!("seed_report_json", d);
}
