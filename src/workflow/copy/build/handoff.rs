//! The hand-off for a target account amishare has no credentials for: the `KmsKeyUsagePolicy`
//! document and the exact `aws iam` / `aws ec2` commands its admin runs.

use crate::domain::arn::{account_of, partition_of, Principal};
use crate::policy::template::KMS_KEY_USAGE_POLICY_NAME;
use crate::workflow::copy::facts::{Discovery, TargetFacts};
use crate::workflow::copy::usage_policy_arn;
use crate::workflow::plan::{Handoff, PlanOptions};

fn shell_quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./:@=".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

pub fn handoff(
    d: &Discovery,
    opts: &PlanOptions,
    t: &TargetFacts,
    usage_doc: Option<&str>,
    copy_name: &str,
    instance_type: &str,
) -> Handoff {
    let account = &t.account;
    let partition = partition_of(&d.source.arn);
    let policy_arn = usage_policy_arn(partition, account);
    let mut commands = Vec::new();
    // Auto Scaling's service-linked role must exist before a grant or key policy names it
    // (`service_roles.rs`); IAM answers InvalidInput when it exists already.
    if opts.grants.iter().any(|g| {
        account_of(g) == Some(account.as_str())
            && crate::domain::arn::is_autoscaling_service_role(g)
    }) {
        commands.push(format!(
            "aws iam create-service-linked-role --aws-service-name {}  # unless AWSServiceRoleForAutoScaling exists",
            super::service_roles::AUTOSCALING_SERVICE
        ));
    }
    if usage_doc.is_some() {
        commands.push(format!(
            "aws iam create-policy --policy-name {KMS_KEY_USAGE_POLICY_NAME} --policy-document file://{KMS_KEY_USAGE_POLICY_NAME}.json"
        ));
        // The source key is used by whoever launches the shared original (`--share-only`: the
        // `--grant` launchers), or by whoever runs the copy-image command below (copy mode: the
        // launchers then launch the copy, on the target's key, and get nothing on the source key).
        let grants: Vec<&String> = opts
            .grants
            .iter()
            .filter(|_| opts.share_only)
            .filter(|g| account_of(g) == Some(account.as_str()))
            // Auto Scaling's service-linked role takes no IAM policy.
            .filter(|g| !crate::domain::arn::is_autoscaling_service_role(g))
            .collect();
        if grants.is_empty() {
            let who = if opts.share_only {
                "<ROLE-THAT-LAUNCHES>"
            } else {
                "<ROLE-THAT-RUNS-COPY-IMAGE>"
            };
            commands.push(format!(
                "aws iam attach-role-policy --role-name {who} --policy-arn {policy_arn}"
            ));
        }
        for g in grants {
            let parsed = Principal::parse(g);
            let name = parsed
                .map(|p| p.name)
                .filter(|n| !n.is_empty())
                .unwrap_or(g);
            let kind = parsed.and_then(|p| p.kind.iam_entity()).unwrap_or("role");
            commands.push(format!(
                "aws iam attach-{kind}-policy --{kind}-name {} --policy-arn {policy_arn}",
                shell_quote(name)
            ));
        }
    }
    for region in &opts.target_regions {
        if opts.share_only {
            continue;
        }
        let key = opts
            .target_key
            .as_deref()
            .map(|k| format!(" --kms-key-id {}", shell_quote(k)))
            .unwrap_or_default();
        let timed = super::lifecycle::copy_duration_arg(opts);
        commands.push(format!(
            "aws ec2 copy-image --region {region} --source-region {} --source-image-id {} --name {} --encrypted{key}{timed}",
            d.source_region,
            d.image.id,
            shell_quote(copy_name)
        ));
        commands.push(format!(
            "aws ec2 run-instances --region {region} --image-id <COPIED-AMI-ID> --instance-type {instance_type} --network-interfaces DeviceIndex=0,AssociatePublicIpAddress=false --tag-specifications 'ResourceType=instance,Tags=[{{Key=amishare:purpose,Value=test-launch}}]'"
        ));
        commands.extend(super::lifecycle::handoff_commands(
            opts,
            region,
            shell_quote,
        ));
    }
    Handoff {
        account: account.clone(),
        policy_name: KMS_KEY_USAGE_POLICY_NAME.into(),
        policy_document: usage_doc.unwrap_or("{}").to_string(),
        commands,
    }
}
