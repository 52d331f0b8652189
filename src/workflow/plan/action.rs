//! The plan's steps: every change amishare can make ([`Action`]), the API each calls, and how each is
//! shown and undone.

use serde::{Deserialize, Serialize};

use super::*;
use crate::policy::template::KMS_KEY_USAGE_POLICY_NAME;

/// One change to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// PutKeyPolicy with `after`, only if the policy still is `before`.
    PutKeyPolicy {
        key_arn: String,
        before: String,
        after: String,
        added: Vec<AddedPrincipal>,
        /// Unified diff for the reviewer.
        diff: String,
    },
    AddLaunchPermission {
        image_id: String,
        account: String,
    },
    AddCreateVolumePermission {
        snapshot_id: String,
        account: String,
    },
    CreatePolicy {
        name: String,
        document: String,
    },
    CreatePolicyVersion {
        policy_arn: String,
        previous_version: String,
        document: String,
    },
    AttachPolicy {
        policy_arn: String,
        principal_arn: String,
    },
    CopyImage {
        source_image_id: String,
        source_region: String,
        name: String,
        kms_key_id: Option<String>,
        tags: Vec<(String, String)>,
        /// `--copy-duration`: a time-based copy (`SnapshotCopyCompletionDurationMinutes`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        completion_minutes: Option<u32>,
    },
    /// CopyImage inside the source account and region, re-encrypted with a customer managed key
    /// (the source AMI is on AWS managed keys, which no other account can use). The rest of the
    /// workflow is planned on the new AMI once it is available. `existing_image_id`: a copy an
    /// earlier run started, only waited for.
    ReencryptImage {
        source_image_id: String,
        name: String,
        kms_key_id: String,
        tags: Vec<(String, String)>,
        existing_image_id: Option<String>,
    },
    /// Wait for a copy made earlier (by an interrupted run) to become available.
    WaitCopy {
        image_id: String,
    },
    TestLaunch {
        /// `None`: the image the CopyImage step of the same account/region makes.
        image_id: Option<String>,
        instance_type: String,
        subnet_id: Option<String>,
    },
    /// Test-launch the same image as a `--grant` principal (a launcher), after the test launch as
    /// amishare's own target role (issue 11). `how` says how amishare acts as it.
    TestLaunchAs {
        /// `None`: the image the CopyImage step of the same account/region makes.
        image_id: Option<String>,
        launcher: String,
        how: LaunchHow,
        /// Why amishare cannot act as the launcher (`how` = `analysis-only`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        instance_type: String,
        subnet_id: Option<String>,
    },
    RemoveLaunchPermission {
        image_id: String,
        account: String,
    },
    RemoveCreateVolumePermission {
        snapshot_id: String,
        account: String,
    },
    /// Remove the principals added to the key policy (after the copies exist).
    RevokeKeyUsers {
        key_arn: String,
        added: Vec<AddedPrincipal>,
    },
    /// PutKeyPolicy with `after` on a customer managed key of a TARGET account, adding the
    /// launchers that need it (only if the policy still is `before`).
    PutTargetKeyPolicy {
        key_arn: String,
        before: String,
        after: String,
        added: Vec<AddedPrincipal>,
        /// Unified diff for the reviewer.
        diff: String,
    },
    /// CreateGrant, made from the target account, for Auto Scaling's service-linked role on a
    /// key in another account (its policies cannot be edited, so a grant is its only way to the
    /// key). Rollback retires it (the target role is its retiring principal).
    CreateGrant {
        key_arn: String,
        grantee_principal: String,
        /// Operations without the `kms:` prefix, as AWS documents them for Auto Scaling.
        operations: Vec<String>,
        retiring_principal: Option<String>,
        /// The grant's name (a KMS grant name; CreateGrant with the same name, grantee and
        /// operations returns the same grant, so a retried step makes no second one).
        name: String,
    },
    /// iam:CreateServiceLinkedRole for `service` (Auto Scaling's `AWSServiceRoleForAutoScaling` in
    /// an account that never had a group), before the grant or key policy statement naming the
    /// role. Rollback keeps it: every Auto Scaling group of the account uses it.
    CreateServiceLinkedRole {
        service: String,
        role_arn: String,
    },
    /// `--deprecate-in`: EnableImageDeprecation of the copy, `days` after the step runs.
    /// `image_id` `None`: the copy the same account/region's steps make.
    DeprecateImage {
        image_id: Option<String>,
        days: u32,
    },
    /// `--deregistration-protection`: EnableImageDeregistrationProtection of the copy.
    ProtectImage {
        image_id: Option<String>,
        with_cooldown: bool,
    },
    /// `--ssm-parameter`: PutParameter (String, `aws:ec2:image`, overwrite) with the copy's id,
    /// read back (AWS validates such values after answering).
    PublishImageId {
        image_id: Option<String>,
        name: String,
    },
}

impl Action {
    /// The AWS API this step calls (for the review).
    pub fn api(&self) -> &'static str {
        match self {
            Action::PutKeyPolicy { .. } | Action::RevokeKeyUsers { .. } => "kms:PutKeyPolicy",
            Action::AddLaunchPermission { .. } | Action::RemoveLaunchPermission { .. } => {
                "ec2:ModifyImageAttribute"
            }
            Action::AddCreateVolumePermission { .. }
            | Action::RemoveCreateVolumePermission { .. } => "ec2:ModifySnapshotAttribute",
            Action::CreatePolicy { .. } => "iam:CreatePolicy",
            Action::CreatePolicyVersion { .. } => "iam:CreatePolicyVersion",
            Action::AttachPolicy { .. } => "iam:Attach*Policy",
            Action::CopyImage { .. } => "ec2:CopyImage",
            Action::ReencryptImage {
                existing_image_id: Some(_),
                ..
            } => "ec2:DescribeImages",
            Action::ReencryptImage { .. } => "ec2:CopyImage",
            Action::WaitCopy { .. } => "ec2:DescribeImages",
            Action::TestLaunch { .. } => "ec2:RunInstances+TerminateInstances",
            Action::PutTargetKeyPolicy { .. } => "kms:PutKeyPolicy",
            Action::CreateGrant { .. } => "kms:CreateGrant",
            Action::CreateServiceLinkedRole { .. } => "iam:CreateServiceLinkedRole",
            Action::TestLaunchAs { how, .. } => how.api(),
            Action::DeprecateImage { .. } => "ec2:EnableImageDeprecation",
            Action::ProtectImage { .. } => "ec2:EnableImageDeregistrationProtection",
            Action::PublishImageId { .. } => "ssm:PutParameter",
        }
    }

    /// One line for humans.
    pub fn summary(&self) -> String {
        match self {
            Action::PutKeyPolicy { key_arn, added, .. } => key_policy_summary(key_arn, added),
            Action::AddLaunchPermission { image_id, account } => {
                format!("share {image_id} with {account} (launch permission)")
            }
            Action::AddCreateVolumePermission {
                snapshot_id,
                account,
            } => format!("share snapshot {snapshot_id} with {account} (createVolumePermission)"),
            Action::CreatePolicy { name, .. } if name != KMS_KEY_USAGE_POLICY_NAME => {
                format!("create IAM policy {name} (launchers' use of that target key)")
            }
            Action::CreatePolicy { name, .. } => {
                format!("create IAM policy {name} (use of the source key(s))")
            }
            Action::CreatePolicyVersion { policy_arn, .. } => {
                format!("add a default version to {policy_arn} covering the source key(s)")
            }
            Action::AttachPolicy {
                policy_arn,
                principal_arn,
            } => format!("attach {policy_arn} to {principal_arn}"),
            Action::CopyImage { .. } | Action::ReencryptImage { .. } | Action::WaitCopy { .. } => {
                self.copy_summary()
            }
            Action::TestLaunch {
                image_id,
                instance_type,
                ..
            } => format!(
                "test-launch {} as {instance_type} (no public IP), wait until running, terminate",
                image_id.as_deref().unwrap_or("the copy")
            ),
            Action::TestLaunchAs { .. } => self.launch_as_summary(),
            Action::RemoveLaunchPermission { image_id, account } => {
                format!("stop sharing {image_id} with {account}")
            }
            Action::RemoveCreateVolumePermission {
                snapshot_id,
                account,
            } => format!("stop sharing snapshot {snapshot_id} with {account}"),
            Action::RevokeKeyUsers { key_arn, added } => revoke_summary(key_arn, added),
            Action::PutTargetKeyPolicy { key_arn, added, .. } => format!(
                "edit the key policy of target key {key_arn}: add launcher(s) {} to \"Allow use of the key\" and \"Allow attachment of persistent resources\"",
                unique_principals(added).join(", ")
            ),
            Action::CreateGrant {
                key_arn,
                grantee_principal,
                operations,
                ..
            } => format!(
                "create a KMS grant on {key_arn} for {grantee_principal} ({})",
                operations.join(", ")
            ),
            Action::CreateServiceLinkedRole { service, role_arn } => format!(
                "create the service-linked role {role_arn} ({service}; AWS would create it with the account's first Auto Scaling group; rollback keeps it)"
            ),
            Action::DeprecateImage { .. }
            | Action::ProtectImage { .. }
            | Action::PublishImageId { .. } => self.lifecycle_summary(),
        }
    }

    /// [`Action::summary`] of the copy steps.
    fn copy_summary(&self) -> String {
        match self {
            Action::CopyImage {
                source_image_id,
                source_region,
                name,
                kms_key_id,
                completion_minutes,
                ..
            } => format!(
                "copy {source_image_id} from {source_region} as \"{name}\", encrypted with {}{}",
                kms_key_id
                    .as_deref()
                    .unwrap_or("the account's default EBS key"),
                completion_minutes
                    .map(|m| format!(", time-based: done within {m} minutes"))
                    .unwrap_or_default()
            ),
            Action::ReencryptImage {
                source_image_id,
                kms_key_id,
                existing_image_id: Some(id),
                ..
            } => format!(
                "wait for {id} (the copy of {source_image_id} re-encrypted with {kms_key_id} by an earlier run), then plan the rest on it"
            ),
            Action::ReencryptImage {
                source_image_id,
                name,
                kms_key_id,
                ..
            } => format!(
                "copy {source_image_id} inside the source account as \"{name}\", re-encrypted with {kms_key_id}; then plan the rest (key policy, sharing, copies, test launch) on the new AMI"
            ),
            Action::WaitCopy { image_id } => {
                format!("wait for {image_id} (copied by an earlier run) to become available")
            }
            _ => String::new(),
        }
    }

    /// [`Action::summary`] of a test launch as a launcher.
    fn launch_as_summary(&self) -> String {
        let Action::TestLaunchAs {
            image_id,
            launcher,
            how,
            reason,
            instance_type,
            ..
        } = self
        else {
            return String::new();
        };
        let image = image_id.as_deref().unwrap_or("the copy");
        match how {
            LaunchHow::AssumeRole => format!(
                "test-launch {image} as {launcher} (AssumeRole), {instance_type}, wait until running, terminate"
            ),
            LaunchHow::AutoScalingGroup => format!(
                "test-launch {image} as {launcher} through a temporary launch template and Auto Scaling group of one {instance_type}, wait for InService, delete both"
            ),
            LaunchHow::AnalysisOnly => format!(
                "{launcher}: verified by analysis only ({})",
                reason.as_deref().unwrap_or("amishare cannot act as it")
            ),
        }
    }

    /// [`Action::summary`] of the copy's lifecycle settings.
    fn lifecycle_summary(&self) -> String {
        match self {
            Action::DeprecateImage { image_id, days } => format!(
                "deprecate {} in {days} day{}",
                image_id.as_deref().unwrap_or("the copy"),
                if *days == 1 { "" } else { "s" }
            ),
            Action::ProtectImage {
                image_id,
                with_cooldown,
            } => {
                format!(
                    "protect {} from deregistration{}",
                    image_id.as_deref().unwrap_or("the copy"),
                    if *with_cooldown {
                        format!(" (with AWS's {PROTECTION_COOLDOWN_HOURS}-hour cooldown after disabling)")
                    } else {
                        String::new()
                    }
                )
            }
            Action::PublishImageId { image_id, name } => format!(
                "publish the id of {} as SSM parameter {name} (data type {SSM_IMAGE_DATA_TYPE})",
                image_id.as_deref().unwrap_or("the copy")
            ),
            _ => String::new(),
        }
    }

    /// Whether the step runs in a target account (after the source-side steps).
    pub fn is_target_side(&self) -> bool {
        matches!(
            self,
            Action::CreatePolicy { .. }
                | Action::CreatePolicyVersion { .. }
                | Action::AttachPolicy { .. }
                | Action::CopyImage { .. }
                | Action::WaitCopy { .. }
                | Action::TestLaunch { .. }
                | Action::PutTargetKeyPolicy { .. }
                | Action::CreateGrant { .. }
                | Action::CreateServiceLinkedRole { .. }
                | Action::TestLaunchAs { .. }
                | Action::DeprecateImage { .. }
                | Action::ProtectImage { .. }
                | Action::PublishImageId { .. }
        )
    }

    /// Target-account steps that run in the IAM phase, before the copies: IAM policies and
    /// attachments, target key policy edits and grants.
    pub fn is_target_access(&self) -> bool {
        matches!(
            self,
            Action::CreatePolicy { .. }
                | Action::CreatePolicyVersion { .. }
                | Action::AttachPolicy { .. }
                | Action::PutTargetKeyPolicy { .. }
                | Action::CreateGrant { .. }
                | Action::CreateServiceLinkedRole { .. }
        )
    }

    /// The steps of a target account and region's pipeline (copy -> wait -> test launch ->
    /// lifecycle), run after the target accounts' IAM.
    pub fn is_unit_step(&self) -> bool {
        matches!(
            self,
            Action::CopyImage { .. }
                | Action::WaitCopy { .. }
                | Action::TestLaunch { .. }
                | Action::TestLaunchAs { .. }
                | Action::DeprecateImage { .. }
                | Action::ProtectImage { .. }
                | Action::PublishImageId { .. }
        )
    }

    /// A lifecycle setting of the copy (`--deprecate-in`, `--deregistration-protection`,
    /// `--ssm-parameter`).
    pub fn is_lifecycle(&self) -> bool {
        matches!(
            self,
            Action::DeprecateImage { .. }
                | Action::ProtectImage { .. }
                | Action::PublishImageId { .. }
        )
    }

    /// Steps that run after every copy is done.
    pub fn is_revoke(&self) -> bool {
        matches!(
            self,
            Action::RemoveLaunchPermission { .. }
                | Action::RemoveCreateVolumePermission { .. }
                | Action::RevokeKeyUsers { .. }
        )
    }
}

/// How amishare test-launches as a launcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LaunchHow {
    /// AssumeRole into the launcher role (chained from the target role), RunInstances as it.
    AssumeRole,
    /// Auto Scaling's service-linked role: a temporary launch template and group of one.
    AutoScalingGroup,
    /// amishare cannot act as it (an IAM user, a role it may not assume): the policy engine's
    /// verdict is all there is.
    AnalysisOnly,
}

impl LaunchHow {
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchHow::AssumeRole => "assume-role",
            LaunchHow::AutoScalingGroup => "auto-scaling-group",
            LaunchHow::AnalysisOnly => "analysis-only",
        }
    }

    /// The AWS APIs a step of this kind calls.
    pub fn api(self) -> &'static str {
        match self {
            LaunchHow::AssumeRole => "sts:AssumeRole+ec2:RunInstances+TerminateInstances",
            LaunchHow::AutoScalingGroup => {
                "ec2:CreateLaunchTemplate+autoscaling:CreateAutoScalingGroup+DeleteAutoScalingGroup"
            }
            LaunchHow::AnalysisOnly => "none (analysis only)",
        }
    }
}

/// [`Action::summary`] of a source key policy edit.
fn key_policy_summary(key_arn: &str, added: &[AddedPrincipal]) -> String {
    let principals = unique_principals(added);
    let listed = format!(
        "edit the key policy of {key_arn}: add {} to \"Allow use of the key\" and \"Allow attachment of persistent resources\"",
        principals.join(", ")
    );
    match (principals.is_empty(), org_statements(added)) {
        (_, None) => listed,
        (true, Some(org)) => format!("edit the key policy of {key_arn}: {org}"),
        (false, Some(org)) => format!("{listed}; {org}"),
    }
}

/// [`Action::summary`] of `--revoke-after-copy`'s key policy edit.
fn revoke_summary(key_arn: &str, added: &[AddedPrincipal]) -> String {
    let mut removed: Vec<String> = unique_principals(added)
        .into_iter()
        .map(str::to_string)
        .collect();
    removed.extend(
        org_labels(added)
            .into_iter()
            .map(|l| format!("the statements admitting {l}")),
    );
    format!(
        "remove {} from the key policy of {key_arn}",
        removed.join(", ")
    )
}

/// The organizations / OUs of the organization-conditioned statements among `added`, once each.
fn org_labels(added: &[AddedPrincipal]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for l in added.iter().filter_map(|a| a.statement.as_deref()) {
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

/// How the plan shows the organization-conditioned statements it adds, if any.
fn org_statements(added: &[AddedPrincipal]) -> Option<String> {
    let labels = org_labels(added);
    (!labels.is_empty()).then(|| {
        format!(
            "add \"Allow use of the key\" and \"Allow attachment of persistent resources\" statements for every principal of {} (Principal \"*\" conditioned on the organization, used only through EC2 in the key's region)",
            labels.join(", ")
        )
    })
}

/// The principals listed by name (not the organization-conditioned statements' `*`).
fn unique_principals(added: &[AddedPrincipal]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for a in added.iter().filter(|a| a.statement.is_none()) {
        if !out.contains(&a.principal.as_str()) {
            out.push(a.principal.as_str());
        }
    }
    out
}
