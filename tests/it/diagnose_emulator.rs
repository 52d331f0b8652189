//! `amishare diagnose` (the real binary) against the local emulator, for every cause the emulator
//! can produce: a launch in the target account fails (Client.InternalError) because of the source
//! key's policy, and diagnose must name the cause. State is set up with the Rust SDK through
//! amishare's own session code (AssumeRole into each account); the emulator's key-use rule is an
//! independent implementation, so these tests check amishare against a separate model of AWS.
//!
//! Run: `cargo test --test it diagnose_emulator::` (starts one emulator per test, killed on drop).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::common::{Emulator, REGION, SOURCE_ACCOUNT, TARGET_ACCOUNT};
use amishare::aws::clients::{AwsSession, RoleSpec};
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use serde_json::{json, Value};

struct Scenario {
    emu: Emulator,
    seed: Value,
    rt: tokio::runtime::Runtime,
    source: AwsSession,
    target: AwsSession,
}

impl Scenario {
    fn new(seed_args: &[&str]) -> Self {
        let emu = Emulator::start();
        let seed = emu.seed(seed_args);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (source, target) = rt.block_on(async {
            let config = aws_config::defaults(BehaviorVersion::latest())
                .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
                .region(aws_config::Region::new(REGION))
                .endpoint_url(&emu.endpoint)
                .load()
                .await;
            let base = AwsSession::from_config(config, None).await.unwrap();
            let source = base
                .assume_role(
                    &RoleSpec::Arn(seed["source_key_admin_role_arn"].as_str().unwrap().into()),
                    None,
                )
                .await
                .unwrap();
            let target = base
                .assume_role(
                    &RoleSpec::Name {
                        name: "amishare-target".into(),
                        account: TARGET_ACCOUNT.into(),
                    },
                    None,
                )
                .await
                .unwrap();
            (source, target)
        });
        assert_eq!(source.account, SOURCE_ACCOUNT);
        assert_eq!(target.account, TARGET_ACCOUNT);
        Scenario {
            emu,
            seed,
            rt,
            source,
            target,
        }
    }

    fn s(&self, key: &str) -> String {
        self.seed[key]
            .as_str()
            .unwrap_or_else(|| panic!("seed has no {key}: {}", self.seed))
            .to_string()
    }

    /// Replace the source key's policy (as the source account's key administrator).
    fn put_key_policy(&self, policy: &Value) {
        let kms = self.source.kms();
        let key = self.s("source_key_id");
        self.rt
            .block_on(
                kms.put_key_policy()
                    .key_id(key)
                    .policy_name("default")
                    .policy(policy.to_string())
                    .send(),
            )
            .unwrap();
    }

    /// Make `amishare-target` a role with full EC2 rights, IAM and CloudTrail read rights (so
    /// `diagnose`, run as that role, can read its policies and the launch's events) and no KMS
    /// permission in its IAM (the seed gives it
    /// administrator rights, as OrganizationAccountAccessRole has), so a launch needs both the
    /// key policy and its identity policies, as on AWS. Done as the target
    /// account's administrator (as the seed does): the role itself could not, since once its
    /// `AdministratorAccess` is gone it has no IAM right left (the emulator enforces IAM).
    fn target_role_without_kms_rights(&self) {
        self.emu.aws(
            TARGET_ACCOUNT,
            REGION,
            "iam",
            "delete_role_policy",
            json!({"RoleName": "amishare-target", "PolicyName": "AdministratorAccess"}),
        );
        let ec2_only = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]});
        self.emu.aws(
            TARGET_ACCOUNT,
            REGION,
            "iam",
            "put_role_policy",
            json!({"RoleName": "amishare-target", "PolicyName": "AmazonEC2FullAccess",
                   "PolicyDocument": ec2_only.to_string()}),
        );
        let read = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["iam:Get*", "iam:List*", "cloudtrail:LookupEvents"], "Resource": "*"}]});
        self.emu.aws(
            TARGET_ACCOUNT,
            REGION,
            "iam",
            "put_role_policy",
            json!({"RoleName": "amishare-target", "PolicyName": "DiagnoseReadOnly",
                   "PolicyDocument": read.to_string()}),
        );
    }

    /// Create `KmsKeyUsagePolicy` in the target with `document` and attach it to `amishare-target`
    /// (as the target account's administrator: the role has no IAM right by then).
    fn attach_usage_policy(&self, document: &Value) {
        let p = self.emu.aws(
            TARGET_ACCOUNT,
            REGION,
            "iam",
            "create_policy",
            json!({"PolicyName": "KmsKeyUsagePolicy", "PolicyDocument": document.to_string()}),
        );
        let arn = p["Policy"]["Arn"].as_str().unwrap().to_string();
        self.emu.aws(
            TARGET_ACCOUNT,
            REGION,
            "iam",
            "attach_role_policy",
            json!({"RoleName": "amishare-target", "PolicyArn": arn}),
        );
    }

    /// Launch `image` in the target account and wait until it is running or terminated.
    fn launch_in_target(&self, image: &str) -> (String, String) {
        let ec2 = self.target.ec2();
        self.rt.block_on(async {
            let out = ec2
                .run_instances()
                .image_id(image)
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                .min_count(1)
                .max_count(1)
                .send()
                .await
                .unwrap();
            let id = out.instances()[0].instance_id().unwrap().to_string();
            let start = Instant::now();
            loop {
                let d = ec2
                    .describe_instances()
                    .instance_ids(&id)
                    .send()
                    .await
                    .unwrap();
                let state = d.reservations()[0].instances()[0]
                    .state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string())
                    .unwrap_or_default();
                if state == "running" || state == "terminated" {
                    return (id, state);
                }
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "instance {id} stuck in {state}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }

    /// The real binary, as the target account (profile `tgt`), with profile `src` for the key's
    /// account available for `--key-account-profile`.
    fn amishare(&self) -> assert_cmd::Command {
        let config = self.emu.state_path().join("diagnose-aws-config");
        std::fs::write(
            &config,
            format!(
                "[profile base]\naws_access_key_id = testing\naws_secret_access_key = testing\nregion = {REGION}\n\n\
                 [profile tgt]\nrole_arn = {}\nsource_profile = base\nregion = {REGION}\n\n\
                 [profile src]\nrole_arn = {}\nsource_profile = base\nregion = {REGION}\n",
                self.s("target_role_arn"),
                self.s("source_key_admin_role_arn"),
            ),
        )
        .unwrap();
        let mut cmd = self.emu.amishare();
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_PROFILE", "tgt");
        cmd
    }

    /// `amishare diagnose ARGS --output json`: (exit code, JSON document).
    fn diagnose(&self, args: &[&str]) -> (i32, Value) {
        let out = self
            .amishare()
            .arg("diagnose")
            .args(args)
            .args(["--output", "json"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}): {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), doc)
    }
}

fn codes(doc: &Value) -> Vec<String> {
    doc["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_string())
        .collect()
}

fn root_statement() -> Value {
    json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
           "Principal": {"AWS": format!("arn:aws:iam::{SOURCE_ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"})
}

fn use_statement(condition: Option<Value>) -> Value {
    let mut s = json!({"Sid": "Allow use of the key", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{TARGET_ACCOUNT}:root")},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
        "Resource": "*"});
    if let Some(c) = condition {
        s["Condition"] = c;
    }
    s
}

fn attachment_statement(condition: Value) -> Value {
    json!({"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{TARGET_ACCOUNT}:root")},
        "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
        "Condition": condition})
}

fn assert_failed_launch(doc: &Value, instance: &str) {
    assert_eq!(doc["instance"]["id"], instance);
    assert_eq!(
        doc["instance"]["state_reason"]["code"], "Client.InternalError",
        "{doc:#}"
    );
}

fn first_cause_quotes_create_grant_denial(doc: &Value) {
    first_cause_quotes_create_grant_refusal(doc, "AccessDenied");
}

/// The first cause quotes EC2's refused CreateGrant from CloudTrail with `error_code`.
fn first_cause_quotes_create_grant_refusal(doc: &Value, error_code: &str) {
    let ev = doc["causes"][0]["evidence"].as_array().unwrap();
    assert!(
        ev.iter().any(|e| e["kind"] == "event"
            && e["event_name"] == "CreateGrant"
            && e["error_code"] == error_code),
        "CloudTrail {error_code} quoted as evidence: {ev:#?}"
    );
}

/// Seed 004 (zh): the AMI was shared/copied to another account, and the customer managed key's
/// policy lacks the principal of the requesting account; and the requesting account's IAM entity
/// lacks the KMS permissions. Both causes must be named, the key policy one first, with the key
/// policy fix (target account root added) as a complete document.
#[test]
fn seed_004_zh_key_policy_lacks_target_account() {
    let sc = Scenario::new(&["--share"]);
    sc.target_role_without_kms_rights();
    let (id, state) = sc.launch_in_target(&sc.s("ami_id"));
    assert_eq!(state, "terminated");
    let (code, doc) = sc.diagnose(&[&id, "--key-account-profile", "src"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_failed_launch(&doc, &id);
    assert_eq!(doc["outcome"], "cause-found");
    assert_eq!(
        doc["principal"]["arn"],
        format!("arn:aws:sts::{TARGET_ACCOUNT}:assumed-role/amishare-target/amishare"),
        "principal from CloudTrail's RunInstances"
    );
    let cs = codes(&doc);
    assert_eq!(cs[0], "key-policy-no-access", "{cs:?}");
    assert!(
        cs.contains(&"identity-policy-missing-action".to_string()),
        "{cs:?}"
    );
    first_cause_quotes_create_grant_denial(&doc);
    let fix = &doc["causes"][0]["fix"];
    let policy_doc = fix["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["account"] == SOURCE_ACCOUNT)
        .unwrap();
    let text = policy_doc["content"].to_string();
    assert!(
        text.contains(TARGET_ACCOUNT),
        "the new key policy names the target: {text}"
    );
    assert!(
        fix["commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("aws kms put-key-policy")),
        "{fix:#}"
    );
    // The fix really fixes it: apply both documents (cross account, the key policy AND the
    // launcher's IAM must allow), launch again, and it runs.
    sc.put_key_policy(&policy_doc["content"]);
    // (the identity-policy cause carries the KmsKeyUsagePolicy document)
    let usage = doc["causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["fix"]["documents"].as_array())
        .flatten()
        .find(|d| d["file_name"] == "kms-key-usage-policy.json")
        .unwrap();
    sc.attach_usage_policy(&usage["content"]);
    let (_, state) = sc.launch_in_target(&sc.s("ami_id"));
    assert_eq!(state, "running", "after applying amishare's key policy fix");
}

/// Without the key account's credentials the key policy is unreadable: diagnose says so, says how
/// to see it, and still reports the denial CloudTrail recorded.
#[test]
fn diagnose_emulator_without_key_account_reports_what_it_could_not_see() {
    let sc = Scenario::new(&["--share"]);
    let (id, _) = sc.launch_in_target(&sc.s("ami_id"));
    let (code, doc) = sc.diagnose(&[&id]);
    assert_eq!(code, 1, "{doc:#}");
    assert!(
        codes(&doc).contains(&"kms-access-denied".to_string()),
        "{:?}",
        codes(&doc)
    );
    let unseen = doc["unseen"].to_string();
    assert!(unseen.contains("--key-account-profile"), "{unseen}");
}

/// Key policy names the target account for use of the key but not for CreateGrant.
#[test]
fn diagnose_emulator_missing_create_grant() {
    let sc = Scenario::new(&["--share"]);
    sc.put_key_policy(
        &json!({"Version": "2012-10-17", "Statement": [root_statement(), use_statement(None)]}),
    );
    let (id, state) = sc.launch_in_target(&sc.s("ami_id"));
    assert_eq!(state, "terminated");
    let (code, doc) = sc.diagnose(&[&id, "--key-account-profile", "src"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        codes(&doc)[0],
        "key-policy-missing-action",
        "{:?}",
        codes(&doc)
    );
    let actions = doc["causes"][0]["actions"].to_string();
    assert!(actions.contains("kms:CreateGrant"), "{actions}");
    first_cause_quotes_create_grant_denial(&doc);
}

/// Seed 001 (zh): key use restricted by an aws:SourceIp condition, which EC2's on-behalf calls
/// (from EC2's infrastructure) can never meet.
#[test]
fn seed_001_zh_sourceip_condition_blocks_launch() {
    let sc = Scenario::new(&["--share"]);
    let ip = json!({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}});
    let mut attach_cond = ip.clone();
    attach_cond["Bool"] = json!({"kms:GrantIsForAWSResource": "true"});
    sc.put_key_policy(&json!({"Version": "2012-10-17", "Statement": [
        root_statement(), use_statement(Some(ip)), attachment_statement(attach_cond)]}));
    let (id, state) = sc.launch_in_target(&sc.s("ami_id"));
    assert_eq!(state, "terminated");
    let (code, doc) = sc.diagnose(&[&id, "--key-account-profile", "src"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        codes(&doc)[0],
        "key-policy-condition-fails",
        "{:?}",
        codes(&doc)
    );
    assert!(
        doc["causes"][0]["message"]
            .as_str()
            .unwrap()
            .contains("aws:SourceIp"),
        "{:#}",
        doc["causes"][0]
    );
}

/// An explicit Deny (IP restriction without the aws:ViaAWSService exception) in the key policy.
#[test]
fn diagnose_emulator_explicit_deny_in_key_policy() {
    let sc = Scenario::new(&["--share"]);
    let deny = json!({"Sid": "DenyOutsideCorporateNetwork", "Effect": "Deny",
        "Principal": {"AWS": format!("arn:aws:iam::{TARGET_ACCOUNT}:root")},
        "Action": ["kms:Decrypt", "kms:CreateGrant", "kms:ReEncrypt*", "kms:GenerateDataKey*"], "Resource": "*",
        "Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}});
    sc.put_key_policy(&json!({"Version": "2012-10-17", "Statement": [
        root_statement(), use_statement(None),
        attachment_statement(json!({"Bool": {"kms:GrantIsForAWSResource": "true"}})), deny]}));
    let (id, state) = sc.launch_in_target(&sc.s("ami_id"));
    assert_eq!(state, "terminated");
    let (code, doc) = sc.diagnose(&[&id, "--key-account-profile", "src"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        codes(&doc)[0],
        "key-policy-explicit-deny",
        "{:?}",
        codes(&doc)
    );
    let fixed = doc["causes"][0]["fix"]["documents"][0]["content"].to_string();
    assert!(
        fixed.contains("aws:ViaAWSService"),
        "the Deny gets the AWS-service exception: {fixed}"
    );
    // Applying the fix makes the launch work.
    sc.put_key_policy(&doc["causes"][0]["fix"]["documents"][0]["content"]);
    let (_, state) = sc.launch_in_target(&sc.s("ami_id"));
    assert_eq!(state, "running");
}

/// An AMI whose snapshot is encrypted with the source account's AWS managed key (aws/ebs).
#[test]
fn diagnose_emulator_aws_managed_key() {
    let sc = Scenario::new(&["--share", "--with-aws-managed"]);
    let (id, state) = sc.launch_in_target(&sc.s("aws_managed_ami_id"));
    assert_eq!(state, "terminated");
    let (code, doc) = sc.diagnose(&[&id, "--key-account-profile", "src"]);
    assert_eq!(code, 1, "{doc:#}");
    assert!(
        codes(&doc).contains(&"aws-managed-key".to_string()),
        "{:?} {:#}",
        codes(&doc),
        doc["keys"]
    );
    assert_eq!(codes(&doc)[0], "aws-managed-key", "{:?}", codes(&doc));
}

/// A healthy instance is reported as such (exit 0).
#[test]
fn diagnose_emulator_healthy_instance_exit_0() {
    let sc = Scenario::new(&["--share", "--key-allows-target"]);
    let (id, state) = sc.launch_in_target(&sc.s("ami_id"));
    assert_eq!(state, "running");
    let (code, doc) = sc.diagnose(&[&id]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["outcome"], "no-problem");
    // terminate what this test launched
    let ec2 = sc.target.ec2();
    sc.rt
        .block_on(ec2.terminate_instances().instance_ids(&id).send())
        .unwrap();
}

/// Before launching (`--ami --principal`): the key policy allows the target account, but the
/// target role has no KMS permissions (exit 1, identity-policy-missing-action); after attaching
/// amishare's suggested KmsKeyUsagePolicy, the prediction is "no problem" (exit 0).
#[test]
fn diagnose_emulator_ami_prediction_reads_identity_policies() {
    let sc = Scenario::new(&["--share", "--key-allows-target"]);
    sc.target_role_without_kms_rights();
    let role = sc.s("target_role_arn");
    let ami = sc.s("ami_id");
    let (code, doc) = sc.diagnose(&[
        "--ami",
        &ami,
        "--principal",
        &role,
        "--key-account-profile",
        "src",
    ]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        codes(&doc),
        vec!["identity-policy-missing-action".to_string()],
        "{doc:#}"
    );
    let fix = &doc["causes"][0]["fix"];
    let policy = fix["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["file_name"] == "kms-key-usage-policy.json")
        .unwrap();
    sc.attach_usage_policy(&policy["content"]);
    let (code, doc) = sc.diagnose(&[
        "--ami",
        &ami,
        "--principal",
        &role,
        "--key-account-profile",
        "src",
    ]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["outcome"], "no-problem");
    assert!(doc["principal"]["identity_policies"]
        .to_string()
        .contains("KmsKeyUsagePolicy"));
}

/// Disable (or schedule the deletion of) the source key after sharing, launch in the target,
/// and diagnose with the key account's credentials: (exit code, JSON document).
fn launch_with_unusable_key(
    make_unusable: impl FnOnce(&Scenario, String),
) -> (Scenario, i32, Value) {
    let sc = Scenario::new(&["--share", "--key-allows-target"]);
    make_unusable(&sc, sc.s("source_key_id"));
    let (id, state) = sc.launch_in_target(&sc.s("ami_id"));
    assert_eq!(state, "terminated");
    let (code, doc) = sc.diagnose(&[&id, "--key-account-profile", "src"]);
    assert_failed_launch(&doc, &id);
    (sc, code, doc)
}

/// The first cause is the key's state `code`, quoting DescribeKey's `state` and EC2's CreateGrant
/// refused with `error_code`: KMS answers a disabled key with `DisabledException` and a key
/// pending deletion with `KMSInvalidStateException`, not AccessDenied (AWS KMS developer guide,
/// "Key states of AWS KMS keys").
fn first_cause_is_key_state(doc: &Value, code: &str, state: &str, error_code: &str) {
    assert_eq!(codes(doc)[0], code, "{:?}", codes(doc));
    let cause = &doc["causes"][0];
    let ev = cause["evidence"].as_array().unwrap();
    assert!(
        ev.iter()
            .any(|e| e["kind"] == "key" && e["key_state"] == state),
        "DescribeKey's state quoted: {ev:#?}"
    );
    first_cause_quotes_create_grant_refusal(doc, error_code);
}

/// A disabled key: KMS refuses every use; the fix is to enable it, and enabling it makes the
/// launch work.
#[test]
fn diagnose_emulator_disabled_key() {
    let (sc, code, doc) = launch_with_unusable_key(|sc, key| {
        sc.rt
            .block_on(sc.source.kms().disable_key().key_id(key).send())
            .unwrap();
    });
    assert_eq!(code, 1, "{doc:#}");
    first_cause_is_key_state(&doc, "key-disabled", "Disabled", "DisabledException");
    let cmds = doc["causes"][0]["fix"]["commands"].to_string();
    assert!(cmds.contains("aws kms enable-key --key-id"), "{cmds}");
    sc.rt
        .block_on(
            sc.source
                .kms()
                .enable_key()
                .key_id(sc.s("source_key_id"))
                .send(),
        )
        .unwrap();
    let (id, state) = sc.launch_in_target(&sc.s("ami_id"));
    assert_eq!(state, "running", "after enabling the key");
    sc.rt
        .block_on(
            sc.target
                .ec2()
                .terminate_instances()
                .instance_ids(&id)
                .send(),
        )
        .unwrap();
}

/// A key pending deletion: the fix cancels the deletion and enables the key again.
#[test]
fn diagnose_emulator_key_pending_deletion() {
    let (_sc, code, doc) = launch_with_unusable_key(|sc, key| {
        sc.rt
            .block_on(
                sc.source
                    .kms()
                    .schedule_key_deletion()
                    .key_id(key)
                    .pending_window_in_days(7)
                    .send(),
            )
            .unwrap();
    });
    assert_eq!(code, 1, "{doc:#}");
    first_cause_is_key_state(
        &doc,
        "key-pending-deletion",
        "PendingDeletion",
        "KMSInvalidStateException",
    );
    let cmds = doc["causes"][0]["fix"]["commands"].to_string();
    assert!(
        cmds.contains("aws kms cancel-key-deletion") && cmds.contains("aws kms enable-key"),
        "{cmds}"
    );
}

/// Bad input is exit 2 with a one-line error naming the value and a hint: a misspelt
/// `--key-account-profile`, and an instance id that is not one.
#[test]
fn diagnose_emulator_bad_input_exit_2() {
    let sc = Scenario::new(&["--share"]);
    let out = sc
        .amishare()
        .args([
            "diagnose",
            "i-0123456789abcdef0",
            "--key-account-profile",
            "nosuch",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: profile `nosuch` not found"),
        "{stderr}"
    );
    assert!(stderr.contains("help:"), "{stderr}");
    assert!(out.stdout.is_empty());
    let out = sc
        .amishare()
        .args(["diagnose", "vol-0123"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`vol-0123` is not an instance id"),
        "{stderr}"
    );
}
