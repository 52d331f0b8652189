//! Changes as infrastructure code (`--export terraform|cloudformation DIR`): what a [`Plan`]
//! changes in each account, as Terraform or CloudFormation files for review. Pure: it reads the
//! plan value only (no AWS call, no filesystem); `cli/export.rs` writes the files.
//!
//! [`changes`] turns every step into a [`Change`] of its account (an exhaustive match over
//! [`Action`]: a new step kind is a compile error here, never a silent gap); `terraform.rs`,
//! `cloudformation.rs` and `stackset.rs` render them; `readme.rs` writes `README.txt`, which also
//! lists every file written (the CLI replaces only those on a later export into the same DIR).

mod cloudformation;
mod readme;
mod stackset;
mod terraform;
#[cfg(test)]
mod tests;

pub use readme::{manifest_of, README, README_MARK};
pub use terraform::{DOCUMENTED_ARGUMENTS, META_ARGUMENTS, PROVIDER_ARGUMENTS};

use crate::domain::arn::{account_of, partition_of};
use crate::policy::template::KMS_KEY_USAGE_POLICY_NAME;
use crate::workflow::copy::usage_policy_arn;
use crate::workflow::plan::{Action, Handoff, Plan};

/// The two kinds of infrastructure code amishare writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Terraform,
    CloudFormation,
}

impl ExportFormat {
    /// `terraform` or `cloudformation` (the flag's values).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "terraform" | "tf" => Some(Self::Terraform),
            "cloudformation" | "cfn" => Some(Self::CloudFormation),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Terraform => "terraform",
            Self::CloudFormation => "cloudformation",
        }
    }
}

/// One file to write: its path relative to the export directory (`/`-separated) and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    pub path: String,
    pub contents: String,
}

/// One change amishare makes (or would make) in an account, in infrastructure terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The key's whole policy after the edit (the merged document).
    KeyPolicy {
        key_arn: String,
        policy: String,
    },
    LaunchPermission {
        image_id: String,
        account: String,
    },
    SnapshotPermission {
        snapshot_id: String,
        account: String,
    },
    /// An IAM managed policy (the `KmsKeyUsagePolicy`, or another amishare writes);
    /// `existing_arn`: it exists and gets a new default version.
    UsagePolicy {
        name: String,
        document: String,
        existing_arn: Option<String>,
    },
    Attach {
        policy_arn: String,
        principal_arn: String,
    },
    /// A KMS grant made from this account (e.g. for Auto Scaling's service-linked role on a key
    /// in another account). Operations without the `kms:` prefix.
    Grant {
        name: String,
        key_arn: String,
        grantee_principal: String,
        operations: Vec<String>,
        retiring_principal: Option<String>,
    },
    /// A service's service-linked role (Auto Scaling's, in an account that never had a group).
    ServiceLinkedRole {
        service: String,
        role_arn: String,
    },
    /// A CopyImage into this account and region (or, re-encrypting, inside the source account).
    Copy {
        source_image_id: String,
        source_region: String,
        name: String,
        kms_key_id: Option<String>,
        tags: Vec<(String, String)>,
    },
    /// A step that is not infrastructure (a test launch, a wait), or one that comes later
    /// (`--revoke-after-copy`): shown as a comment (each line of `text` commented).
    Comment {
        text: String,
    },
}

/// A change with where it happens and which plan step (if any) it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub step: Option<String>,
    pub region: String,
    pub change: Change,
}

/// Every change in one account, in plan order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChanges {
    pub account: String,
    pub is_source: bool,
    pub changes: Vec<Located>,
}

/// What the files are made from: the plans (a `--reencrypt-with` run has two) and where they
/// came from, for the headers.
#[derive(Debug, Clone, Copy)]
pub struct ExportInput<'a> {
    pub plans: &'a [Plan],
    /// `true`: a dry run (what would change); `false`: what a run applied.
    pub planned_only: bool,
    /// After a run: what each step created, by step id (e.g. the copy's AMI id).
    pub created: &'a [(String, Vec<String>)],
}

impl ExportInput<'_> {
    fn run_id(&self) -> &str {
        self.plans.first().map_or("", |p| p.run_id.as_str())
    }

    /// What the run's step `step` created (empty for a dry run).
    fn created_by(&self, step: Option<&str>) -> &[String] {
        step.and_then(|id| self.created.iter().find(|(s, _)| s == id))
            .map_or(&[], |(_, ids)| ids.as_slice())
    }

    /// The partition of the source keys (`aws` when there are none).
    fn partition(&self) -> &str {
        self.plans
            .iter()
            .flat_map(|p| p.keys.first())
            .next()
            .map_or("aws", |k| partition_of(&k.arn))
    }

    fn source_image(&self) -> &str {
        self.plans
            .first()
            .map_or("", |p| p.source.image_id.as_str())
    }

    fn source_region(&self) -> &str {
        self.plans.first().map_or("", |p| p.source.region.as_str())
    }
}

/// The files for these plans in this format: one set per account, the StackSet template (for
/// CloudFormation and several target accounts), and `README.txt`.
pub fn export(input: ExportInput<'_>, format: ExportFormat) -> Vec<ExportFile> {
    render(&input, &changes(input.plans), format)
}

/// The files for these accounts' changes.
fn render(
    input: &ExportInput<'_>,
    accounts: &[AccountChanges],
    format: ExportFormat,
) -> Vec<ExportFile> {
    let mut files = match format {
        ExportFormat::Terraform => terraform::files(input, accounts),
        ExportFormat::CloudFormation => {
            let mut files = cloudformation::files(input, accounts);
            files.extend(stackset::files(input, accounts));
            files
        }
    };
    files.push(readme::readme(input, accounts, format, &files));
    files
}

/// The plan with only the steps a run completed (`done`: their ids), for exporting what was
/// applied.
pub fn applied_part(plan: &Plan, done: &[String]) -> Plan {
    let mut out = plan.clone();
    out.steps.retain(|s| done.contains(&s.id));
    out
}

/// Every account's changes, the source account first, then the targets in plan order.
pub fn changes(plans: &[Plan]) -> Vec<AccountChanges> {
    let mut out: Vec<AccountChanges> = Vec::new();
    for plan in plans {
        for step in &plan.steps {
            let change = change_of(plan, &step.action);
            entry(&mut out, plan, &step.account).changes.push(Located {
                step: Some(step.id.clone()),
                region: step.region.clone(),
                change,
            });
        }
        for h in &plan.handoffs {
            let region = plan
                .options
                .target_regions
                .first()
                .cloned()
                .unwrap_or_else(|| plan.source.region.clone());
            let changes = handoff_changes(plan, h);
            let acc = entry(&mut out, plan, &h.account);
            for change in changes {
                acc.changes.push(Located {
                    step: None,
                    region: region.clone(),
                    change,
                });
            }
        }
    }
    out
}

fn entry<'a>(
    out: &'a mut Vec<AccountChanges>,
    plan: &Plan,
    account: &str,
) -> &'a mut AccountChanges {
    let at = match out.iter().position(|a| a.account == account) {
        Some(i) => i,
        None => {
            out.push(AccountChanges {
                account: account.to_string(),
                is_source: account == plan.source.account,
                changes: Vec::new(),
            });
            out.len() - 1
        }
    };
    &mut out[at]
}

/// The target-side IAM of an account amishare has no credentials for (its admin applies it),
/// and a note that the copy and test launch are in the hand-off commands.
fn handoff_changes(plan: &Plan, h: &Handoff) -> Vec<Change> {
    let (account, name, document) = (&h.account, &h.policy_name, &h.policy_document);
    let copy_commands = &h.commands;
    let partition = plan.keys.first().map_or("aws", |k| partition_of(&k.arn));
    let policy_arn = usage_policy_arn(partition, account);
    let mut out = vec![Change::UsagePolicy {
        name: name.to_string(),
        document: document.to_string(),
        existing_arn: None,
    }];
    for g in plan
        .options
        .grants
        .iter()
        .filter(|g| account_of(g) == Some(account.as_str()))
    {
        out.push(Change::Attach {
            policy_arn: policy_arn.clone(),
            principal_arn: g.clone(),
        });
    }
    let mut text = format!(
        "hand-off: amishare has no credentials for {account}; its admin copies the AMI with the \
         hand-off's command(s), run with credentials for {account}:"
    );
    for c in copy_commands
        .iter()
        .filter(|c| c.starts_with("aws ec2 copy-image"))
    {
        text.push_str(&format!("\n  {c}"));
    }
    out.push(Change::Comment { text });
    out
}

/// One step as a change. Exhaustive on purpose: a new step kind must decide how it is exported.
fn change_of(plan: &Plan, action: &Action) -> Change {
    let comment = |text: String| Change::Comment { text };
    match action {
        Action::PutKeyPolicy { key_arn, after, .. } => Change::KeyPolicy {
            key_arn: key_arn.clone(),
            policy: after.clone(),
        },
        Action::AddLaunchPermission { image_id, account } => Change::LaunchPermission {
            image_id: image_id.clone(),
            account: account.clone(),
        },
        Action::AddCreateVolumePermission {
            snapshot_id,
            account,
        } => Change::SnapshotPermission {
            snapshot_id: snapshot_id.clone(),
            account: account.clone(),
        },
        Action::CreatePolicy { name, document } => Change::UsagePolicy {
            name: name.clone(),
            document: document.clone(),
            existing_arn: None,
        },
        Action::CreatePolicyVersion {
            policy_arn,
            document,
            ..
        } => Change::UsagePolicy {
            name: policy_arn
                .rsplit('/')
                .next()
                .unwrap_or(KMS_KEY_USAGE_POLICY_NAME)
                .to_string(),
            document: document.clone(),
            existing_arn: Some(policy_arn.clone()),
        },
        Action::AttachPolicy {
            policy_arn,
            principal_arn,
        } => Change::Attach {
            policy_arn: policy_arn.clone(),
            principal_arn: principal_arn.clone(),
        },
        Action::CopyImage {
            source_image_id,
            source_region,
            name,
            kms_key_id,
            tags,
            ..
        } => Change::Copy {
            source_image_id: source_image_id.clone(),
            source_region: source_region.clone(),
            name: name.clone(),
            kms_key_id: kms_key_id.clone(),
            tags: tags.clone(),
        },
        Action::ReencryptImage {
            existing_image_id: Some(id),
            ..
        } => comment(format!(
            "not exported: waiting for {id}, the re-encrypted copy an earlier run started"
        )),
        Action::ReencryptImage {
            source_image_id,
            name,
            kms_key_id,
            tags,
            existing_image_id: None,
        } => Change::Copy {
            source_image_id: source_image_id.clone(),
            source_region: plan.source.region.clone(),
            name: name.clone(),
            kms_key_id: Some(kms_key_id.clone()),
            tags: tags.clone(),
        },
        Action::WaitCopy { image_id } => comment(format!(
            "not exported: waiting for {image_id}, a copy an earlier run started (it exists already)"
        )),
        Action::PutTargetKeyPolicy { key_arn, after, .. } => Change::KeyPolicy {
            key_arn: key_arn.clone(),
            policy: after.clone(),
        },
        Action::CreateGrant {
            key_arn,
            grantee_principal,
            operations,
            retiring_principal,
            name,
        } => Change::Grant {
            name: name.clone(),
            key_arn: key_arn.clone(),
            grantee_principal: grantee_principal.clone(),
            operations: operations.clone(),
            retiring_principal: retiring_principal.clone(),
        },
        Action::CreateServiceLinkedRole { service, role_arn } => Change::ServiceLinkedRole {
            service: service.clone(),
            role_arn: role_arn.clone(),
        },
        Action::DeprecateImage { .. }
        | Action::ProtectImage { .. }
        | Action::PublishImageId { .. } => comment(format!(
            "not exported: {} (a setting of the copy amishare makes once it exists; see the plan)",
            action.summary()
        )),
        Action::TestLaunch { .. } | Action::TestLaunchAs { .. } => comment(format!(
            "not exported: {}; the test launch is a check amishare makes, not infrastructure",
            action.summary()
        )),
        Action::RemoveLaunchPermission { .. }
        | Action::RemoveCreateVolumePermission { .. }
        | Action::RevokeKeyUsers { .. } => comment(format!(
            "after the copies exist (--revoke-after-copy): {}; in code, remove the matching resource above (for the key policy: put back the statements without these principals)",
            action.summary()
        )),
    }
}

/// The name of a key (the id after `key/`), or the whole reference when it is not a key ARN.
pub(crate) fn key_id_of(key_arn: &str) -> &str {
    key_arn.rsplit('/').next().unwrap_or(key_arn)
}

/// `[a-z0-9_]` only, for resource and file names.
pub(crate) fn slug(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}
