//! `amishare diagnose --asg NAME` (issue 11): why an Auto Scaling group's launch failed. Reads the
//! group's failed scaling activity and its launch template's AMI ([`GroupReader`]), runs the
//! shared diagnosis ([`super::diagnose_launch`]) for the group's launching principal, the Auto
//! Scaling service-linked role, and names per key the launch used the cause and the fix: the
//! role's permissions hold no KMS action and cannot be edited, so a customer managed key of the
//! group's account must allow it in its key policy, and a key of another account needs a KMS
//! grant for it, created from the group's account.
//!
//! AWS: Auto Scaling user guide "Required AWS KMS key policy for use with encrypted volumes"
//! (the two key-policy statements, and `aws kms create-grant` with the operations below for a
//! key in another account); Knowledge Center "kms-launch-ec2-instance".

use std::future::Future;

use serde::Serialize;
use serde_json::{json, Value};

use super::{diagnose_launch, DiagnoseOptions, DiagnoseTarget, Diagnosis, DiagnosisOutcome};
use crate::domain::arn::partition_of;
use crate::domain::states::KeyManager;
use crate::workflow::ports::{AwsError, Reader};

/// The grant operations AWS documents for the Auto Scaling service-linked role.
pub const AUTOSCALING_GRANT_OPERATIONS: [&str; 8] = [
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "DescribeKey",
    "CreateGrant",
];

/// One scaling activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activity {
    /// `Successful`, `Failed`, `Cancelled`, `InProgress`, ...
    pub status_code: String,
    pub status_message: Option<String>,
    pub description: Option<String>,
    pub start_time: Option<String>,
}

/// What a group shows: its launch template and the AMI in it, its activities (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupFacts {
    pub name: String,
    /// The launch template (name or id) and version the group launches.
    pub launch_template: Option<String>,
    pub launch_template_version: Option<String>,
    /// The AMI of that launch template version.
    pub image_id: Option<String>,
    pub activities: Vec<Activity>,
}

/// Reads an Auto Scaling group (DescribeAutoScalingGroups, DescribeLaunchTemplateVersions,
/// DescribeScalingActivities). `Ok(None)`: no such group.
pub trait GroupReader: Send + Sync {
    fn group_facts(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<GroupFacts>, AwsError>> + Send;
}

/// The fix of one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupKeyFix {
    pub key_arn: String,
    /// `key-policy-statement` (same account), `grant` (another account), `none` (AWS managed
    /// key of another account: it cannot be used at all).
    pub kind: &'static str,
    pub cause: String,
    pub fix: String,
    /// Statements to add to the key policy (`key-policy-statement`).
    pub key_policy_statements: Vec<Value>,
    /// Commands to run (`grant`: in the group's account).
    pub commands: Vec<String>,
}

/// The diagnosis of a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupDiagnosis {
    pub group: String,
    pub account: String,
    pub region: String,
    /// Who launches the group's instances: the service-linked role.
    pub principal: String,
    pub launch_template: Option<String>,
    pub image_id: Option<String>,
    /// The newest `Failed` or `Cancelled` scaling activity.
    pub failed_activity: Option<Activity>,
    pub outcome: DiagnosisOutcome,
    /// One line.
    pub summary: String,
    /// The keys the launch used, with the cause and the fix where one is needed.
    pub keys: Vec<GroupKeyFix>,
    /// The shared diagnosis for the service-linked role and the AMI.
    pub launch: Option<Diagnosis>,
}

/// Why `diagnose --asg` could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupDiagnoseError {
    #[error("no Auto Scaling group `{name}` in {region}")]
    NotFound { name: String, region: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// The Auto Scaling service-linked role of `account` (in the partition of `like_arn`).
pub fn autoscaling_role_arn(like_arn: &str, account: &str) -> String {
    format!(
        "arn:{}:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
        partition_of(like_arn)
    )
}

/// Diagnose group `name`: `groups` and `reader` read the group's account and region, `key_reader`
/// (optional) the key's own account.
pub async fn diagnose_group<G: GroupReader, R: Reader>(
    groups: &G,
    reader: &R,
    key_reader: Option<&R>,
    name: &str,
    options: &DiagnoseOptions,
) -> Result<GroupDiagnosis, GroupDiagnoseError> {
    let facts = groups
        .group_facts(name)
        .await?
        .ok_or_else(|| GroupDiagnoseError::NotFound {
            name: name.to_string(),
            region: reader.region().to_string(),
        })?;
    let me = reader.identity();
    let principal = autoscaling_role_arn(&me.arn, &me.account);
    let launch = match &facts.image_id {
        Some(image_id) => {
            let target = DiagnoseTarget::Ami {
                image_id: image_id.clone(),
                principal: principal.clone(),
            };
            diagnose_launch(reader, key_reader, &target, options)
                .await
                .ok()
        }
        None => None,
    };
    Ok(decide_group(
        facts,
        &me.account,
        reader.region(),
        principal,
        launch,
    ))
}

/// Facts -> the group's diagnosis (no I/O).
pub fn decide_group(
    facts: GroupFacts,
    account: &str,
    region: &str,
    principal: String,
    launch: Option<Diagnosis>,
) -> GroupDiagnosis {
    let failed_activity = facts
        .activities
        .iter()
        .find(|a| matches!(a.status_code.as_str(), "Failed" | "Cancelled"))
        .cloned();
    let engine_denies = launch
        .as_ref()
        .is_some_and(|d| d.outcome == DiagnosisOutcome::CauseFound);
    let mut keys = Vec::new();
    for k in launch.iter().flat_map(|d| d.keys.iter()) {
        let Some(desc) = &k.description else { continue };
        if let Some(fix) = key_fix(
            &desc.arn,
            &desc.account,
            desc.key_manager.as_ref(),
            account,
            &principal,
            &desc.region,
        ) {
            keys.push(fix);
        }
    }
    let needs_fix = engine_denies || failed_activity.is_some();
    if !needs_fix {
        keys.retain(|k| k.kind == "none");
    }
    let outcome = if !keys.is_empty() {
        DiagnosisOutcome::CauseFound
    } else if failed_activity.is_some() {
        DiagnosisOutcome::Undecided
    } else {
        DiagnosisOutcome::NoProblem
    };
    let summary = match (&failed_activity, keys.first()) {
        (_, Some(k)) => k.cause.clone(),
        (Some(a), None) => format!(
            "the group's launch failed ({}), but no key it uses explains it",
            a.status_message.as_deref().unwrap_or(&a.status_code)
        ),
        (None, None) => "no failed scaling activity, and the service-linked role can use every key the launch uses".to_string(),
    };
    GroupDiagnosis {
        group: facts.name,
        account: account.to_string(),
        region: region.to_string(),
        principal,
        launch_template: facts.launch_template,
        image_id: facts.image_id,
        failed_activity,
        outcome,
        summary,
        keys,
        launch,
    }
}

/// The cause and fix for one key the group's launch uses (`None`: nothing to fix there).
fn key_fix(
    key_arn: &str,
    key_account: &str,
    manager: Option<&KeyManager>,
    account: &str,
    role: &str,
    key_region: &str,
) -> Option<GroupKeyFix> {
    let aws_managed = manager == Some(&KeyManager::Aws);
    if aws_managed && key_account == account {
        return None; // the account's own aws/ebs key: AWS allows its services
    }
    if aws_managed {
        return Some(GroupKeyFix {
            key_arn: key_arn.to_string(),
            kind: "none",
            cause: format!("{key_arn} is an AWS managed key of account {key_account}: no other account can use it"),
            fix: "copy the AMI inside its account re-encrypted with a customer managed key (`amishare copy --reencrypt-with KEY`)".into(),
            key_policy_statements: Vec::new(),
            commands: Vec::new(),
        });
    }
    if key_account == account {
        return Some(GroupKeyFix {
            key_arn: key_arn.to_string(),
            kind: "key-policy-statement",
            cause: format!("the key policy of {key_arn} does not let {role} use the key (its permissions hold no KMS action and cannot be edited)"),
            fix: format!("add the two statements below to the key policy of {key_arn}"),
            key_policy_statements: vec![
                json!({"Sid": "Allow service-linked role use of the customer managed key", "Effect": "Allow",
                       "Principal": {"AWS": role},
                       "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                       "Resource": "*"}),
                json!({"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
                       "Principal": {"AWS": role}, "Action": "kms:CreateGrant", "Resource": "*",
                       "Condition": {"Bool": {"kms:GrantIsForAWSResource": true}}}),
            ],
            commands: Vec::new(),
        });
    }
    Some(GroupKeyFix {
        key_arn: key_arn.to_string(),
        kind: "grant",
        cause: format!("{key_arn} is in account {key_account}: {role} can use it only through a KMS grant"),
        fix: format!("in account {account}, create a grant for {role} (the key policy must let account {account} call kms:CreateGrant without the kms:GrantIsForAWSResource condition, and its IAM must allow it)"),
        key_policy_statements: Vec::new(),
        commands: vec![format!(
            "aws kms create-grant --region {key_region} --key-id {key_arn} --grantee-principal {role} --operations {}",
            AUTOSCALING_GRANT_OPERATIONS.join(" ")
        )],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP_ACCOUNT: &str = "444455556666";
    const KEY_IN_GROUP_ACCOUNT: &str =
        "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const KEY_ELSEWHERE: &str =
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn role() -> String {
        autoscaling_role_arn("arn:aws:iam::444455556666:role/x", GROUP_ACCOUNT)
    }

    #[test]
    fn the_fix_depends_on_whose_key_it_is() {
        let role = role();
        let own = key_fix(
            KEY_IN_GROUP_ACCOUNT,
            GROUP_ACCOUNT,
            Some(&KeyManager::Customer),
            GROUP_ACCOUNT,
            &role,
            "us-east-1",
        )
        .unwrap();
        assert_eq!(own.kind, "key-policy-statement");
        assert_eq!(own.key_policy_statements.len(), 2);
        assert_eq!(own.key_policy_statements[1]["Action"], "kms:CreateGrant");
        assert_eq!(
            own.key_policy_statements[1]["Condition"]["Bool"]["kms:GrantIsForAWSResource"],
            true
        );
        let other = key_fix(
            KEY_ELSEWHERE,
            "111122223333",
            Some(&KeyManager::Customer),
            GROUP_ACCOUNT,
            &role,
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(other.kind, "grant");
        assert_eq!(
            other.commands,
            [format!(
                "aws kms create-grant --region eu-west-1 --key-id {KEY_ELSEWHERE} --grantee-principal {role} --operations Encrypt Decrypt ReEncryptFrom ReEncryptTo GenerateDataKey GenerateDataKeyWithoutPlaintext DescribeKey CreateGrant"
            )]
        );
        let foreign_aws = key_fix(
            KEY_ELSEWHERE,
            "111122223333",
            Some(&KeyManager::Aws),
            GROUP_ACCOUNT,
            &role,
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(foreign_aws.kind, "none");
        assert!(key_fix(
            KEY_IN_GROUP_ACCOUNT,
            GROUP_ACCOUNT,
            Some(&KeyManager::Aws),
            GROUP_ACCOUNT,
            &role,
            "us-east-1",
        )
        .is_none());
    }

    #[test]
    fn a_failed_activity_without_a_key_to_blame_is_undecided_and_none_is_no_problem() {
        let failed = GroupFacts {
            name: "web".into(),
            activities: vec![Activity {
                status_code: "Failed".into(),
                status_message: Some("Client.InternalError: Client error on launch".into()),
                description: None,
                start_time: None,
            }],
            ..GroupFacts::default()
        };
        let d = decide_group(failed, GROUP_ACCOUNT, "us-east-1", role(), None);
        assert_eq!(d.outcome, DiagnosisOutcome::Undecided);
        assert!(
            d.summary.contains("Client error on launch"),
            "{}",
            d.summary
        );
        let fine = GroupFacts {
            name: "web".into(),
            ..GroupFacts::default()
        };
        let d = decide_group(fine, GROUP_ACCOUNT, "us-east-1", role(), None);
        assert_eq!(d.outcome, DiagnosisOutcome::NoProblem);
        assert!(d.failed_activity.is_none());
    }
}
