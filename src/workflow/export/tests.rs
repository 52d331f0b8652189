#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use serde_json::Value;

use super::terraform::{hcl_string, META_ARGUMENTS, PROVIDER_ARGUMENTS};
use super::*;
use crate::workflow::plan::Step;

const PLAN_V1: &str = include_str!("../../../tests/fixtures/golden/plan-v1.json");
const TARGET: &str = "444455556666";
const SECOND: &str = "777788889999";

fn plan() -> Plan {
    serde_json::from_str(PLAN_V1).unwrap()
}

/// The golden plan with a second target account that gets the same IAM and copy steps.
fn two_targets() -> Plan {
    let mut p = plan();
    p.options.target_accounts.push(SECOND.into());
    let extra: Vec<Step> = p
        .steps
        .iter()
        .filter(|s| s.account == TARGET)
        .enumerate()
        .map(|(i, s)| {
            let text = serde_json::to_string(s).unwrap().replace(TARGET, SECOND);
            let mut step: Step = serde_json::from_str(&text).unwrap();
            step.id = format!("x{i}");
            step
        })
        .collect();
    p.steps.extend(extra);
    p
}

fn export_of(plans: &[Plan], format: ExportFormat) -> Vec<ExportFile> {
    export(
        ExportInput {
            plans,
            planned_only: true,
            created: &[],
        },
        format,
    )
}

fn file<'a>(files: &'a [ExportFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| {
            panic!(
                "no {path} in {:?}",
                files.iter().map(|f| &f.path).collect::<Vec<_>>()
            )
        })
        .contents
}

/// Every `resource "TYPE" "NAME"` block and the top-level argument / block names inside it;
/// plus `provider "aws"` blocks as type `provider.aws`. Heredoc bodies are skipped.
fn blocks(hcl: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut depth = 0usize;
    let mut in_heredoc = false;
    for line in hcl.lines() {
        let t = line.trim();
        if in_heredoc {
            in_heredoc = t != "EOT";
            continue;
        }
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        if t.starts_with('}') {
            depth -= 1;
            continue;
        }
        if depth == 0 && t.ends_with('{') {
            let words: Vec<&str> = t.split_whitespace().collect();
            let kind = match words.as_slice() {
                ["resource", ty, ..] => ty.trim_matches('"').to_string(),
                ["provider", name, ..] => format!("provider.{}", name.trim_matches('"')),
                [other, ..] => (*other).to_string(),
                [] => String::new(),
            };
            out.push((kind, BTreeSet::new()));
        } else if depth == 1 {
            let name = t
                .split(|c: char| c == '=' || c == '{' || c.is_whitespace())
                .next()
                .unwrap();
            out.last_mut().unwrap().1.insert(name.to_string());
        }
        if t.ends_with("<<EOT") {
            in_heredoc = true;
        }
        if t.ends_with('{') {
            depth += 1;
        }
    }
    assert_eq!(depth, 0, "unbalanced braces in\n{hcl}");
    out
}

#[test]
fn terraform_uses_only_documented_arguments_of_the_documented_resources() {
    for plans in [vec![plan()], vec![two_targets()]] {
        for f in export_of(&plans, ExportFormat::Terraform)
            .iter()
            .filter(|f| f.path.ends_with(".tf"))
        {
            for (kind, args) in blocks(&f.contents) {
                let allowed: Vec<&str> = match kind.as_str() {
                    "terraform" | "import" => continue,
                    "provider.aws" => PROVIDER_ARGUMENTS.to_vec(),
                    ty => DOCUMENTED_ARGUMENTS
                        .iter()
                        .find(|(t, _)| *t == ty)
                        .unwrap_or_else(|| panic!("{}: undocumented resource type {ty}", f.path))
                        .1
                        .iter()
                        .chain(META_ARGUMENTS)
                        .copied()
                        .collect(),
                };
                for a in &args {
                    assert!(
                        allowed.contains(&a.as_str()),
                        "{}: {kind} has argument {a}",
                        f.path
                    );
                }
            }
            assert!(!f.contents.contains("bypass_policy_lockout_safety_check ="));
        }
    }
}

#[test]
fn the_source_account_gets_the_merged_key_policy_and_the_shares() {
    let p = plan();
    let files = export_of(std::slice::from_ref(&p), ExportFormat::Terraform);
    let tf = file(&files, "111122223333/main.tf");
    let Action::PutKeyPolicy { after, key_arn, .. } = &p.steps[0].action else {
        panic!("s1 is not the key policy edit");
    };
    let start = tf.find("<<EOT\n").unwrap() + 6;
    let end = start + tf[start..].find("\nEOT").unwrap();
    let exported: Value = serde_json::from_str(&tf[start..end].replace("$${", "${")).unwrap();
    assert_eq!(exported, serde_json::from_str::<Value>(after).unwrap());
    assert!(tf.contains(&format!("key_id   = \"{key_arn}\"")));
    assert!(tf.contains("REPLACES THE WHOLE KEY POLICY"));
    assert_eq!(
        tf.matches("resource \"aws_ami_launch_permission\"").count(),
        1
    );
    assert_eq!(
        tf.matches("resource \"aws_snapshot_create_volume_permission\"")
            .count(),
        2
    );
    // The revoke steps are comments, not resources that would undo the shares at once.
    assert!(tf.contains("after the copies exist (--revoke-after-copy)"));
}

#[test]
fn the_target_account_gets_the_iam_and_the_copies_but_not_the_test_launch() {
    let files = export_of(&[plan()], ExportFormat::Terraform);
    let tf = file(&files, "444455556666/main.tf");
    assert!(tf.contains("resource \"aws_iam_policy\" \"kms_key_usage_policy\""));
    assert!(tf.contains("role       = \"amishare-target\""));
    assert!(tf.contains("policy_arn = aws_iam_policy.kms_key_usage_policy.arn"));
    assert_eq!(tf.matches("resource \"aws_ami_copy\"").count(), 2);
    assert!(tf.lines().any(|l| l.trim_start().starts_with("provider ")
        && l.ends_with("= aws.acct_444455556666_us_west_2")));
    assert!(tf.contains("alias               = \"acct_444455556666_us_west_2\""));
    assert!(tf.contains("not exported: test-launch the copy"));
    assert!(!tf.contains("aws_instance"));
    // Every provider reference names a declared alias.
    for line in tf
        .lines()
        .filter(|l| l.contains("provider") && l.contains("aws."))
    {
        let alias = line.split("aws.").nth(1).unwrap().trim();
        assert!(
            tf.contains(&format!("alias               = \"{alias}\"")),
            "{alias}"
        );
    }
}

#[test]
fn hcl_strings_escape_quotes_and_template_sequences() {
    assert_eq!(hcl_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    assert_eq!(hcl_string("${aws:username}"), "\"$${aws:username}\"");
    assert_eq!(hcl_string("%{if}"), "\"%%{if}\"");
    assert_eq!(hcl_string("x\ny"), "\"x\\ny\"");
}

#[test]
fn an_existing_usage_policy_is_imported_in_terraform_and_versioned_by_cli_in_cloudformation() {
    let mut p = plan();
    let arn = "arn:aws:iam::444455556666:policy/KmsKeyUsagePolicy".to_string();
    for s in &mut p.steps {
        if let Action::CreatePolicy { document, .. } = &s.action {
            s.action = Action::CreatePolicyVersion {
                policy_arn: arn.clone(),
                previous_version: "v1".into(),
                document: document.clone(),
            };
        }
    }
    let tf = export_of(std::slice::from_ref(&p), ExportFormat::Terraform);
    let main = file(&tf, "444455556666/main.tf");
    assert!(main.contains(&format!(
        "import {{\n  provider = aws.acct_444455556666_us_east_1\n  to       = aws_iam_policy.kms_key_usage_policy\n  id       = \"{arn}\""
    )));
    let cfn = export_of(&[p], ExportFormat::CloudFormation);
    assert!(!cfn.iter().any(|f| f.path == "444455556666.template.json"));
    let sh = file(&cfn, "444455556666/commands.sh");
    assert!(sh.contains(&format!("aws iam create-policy-version --policy-arn {arn} --policy-document file://KmsKeyUsagePolicy.json --set-as-default")));
    assert!(sh.contains("aws iam attach-role-policy --role-name amishare-target"));
    file(&cfn, "444455556666/KmsKeyUsagePolicy.json");
}

#[test]
fn cloudformation_holds_the_managed_policy_and_commands_for_the_rest() {
    let p = plan();
    let files = export_of(std::slice::from_ref(&p), ExportFormat::CloudFormation);
    let template: Value = serde_json::from_str(file(&files, "444455556666.template.json")).unwrap();
    let resources = template["Resources"].as_object().unwrap();
    assert_eq!(resources.len(), 1);
    let policy = &resources["KmsKeyUsagePolicy"];
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    assert_eq!(
        policy["Properties"]["Roles"],
        serde_json::json!(["amishare-target"])
    );
    assert_eq!(
        policy["Properties"]["ManagedPolicyName"],
        "KmsKeyUsagePolicy"
    );
    // The source account has no template (nothing there CloudFormation can express).
    assert!(!files.iter().any(|f| f.path == "111122223333.template.json"));
    let sh = file(&files, "111122223333/commands.sh");
    let key_file = "key-policy-a10ef50f-2d51-4eab-90b7-c3b0230fb97d.json";
    assert!(sh.contains(&format!("--policy-name default --policy file://{key_file}")));
    assert!(!sh.contains("\naws kms put-key-policy --bypass"));
    assert!(!sh
        .lines()
        .any(|l| l.starts_with("aws ") && l.contains("bypass")));
    assert!(sh.contains("--launch-permission 'Add=[{UserId=444455556666}]'"));
    let Action::PutKeyPolicy { after, .. } = &p.steps[0].action else {
        panic!("s1 is not the key policy edit");
    };
    let written: Value =
        serde_json::from_str(file(&files, &format!("111122223333/{key_file}"))).unwrap();
    assert_eq!(written, serde_json::from_str::<Value>(after).unwrap());
    let target_sh = file(&files, "444455556666/commands.sh");
    assert_eq!(target_sh.matches("\naws ec2 copy-image").count(), 2);
    assert!(!target_sh.contains("run-instances"));
}

#[test]
fn several_target_accounts_also_get_one_stackset_template_with_parameters_per_account() {
    let files = export_of(&[plan()], ExportFormat::CloudFormation);
    assert!(!files.iter().any(|f| f.path.starts_with("stackset/")));
    let files = export_of(&[two_targets()], ExportFormat::CloudFormation);
    let template: Value =
        serde_json::from_str(file(&files, "stackset/target-iam.template.json")).unwrap();
    let statements = template["Resources"]["KmsKeyUsagePolicy"]["Properties"]["PolicyDocument"]
        ["Statement"]
        .as_array()
        .unwrap();
    assert!(statements
        .iter()
        .all(|s| s["Resource"] == serde_json::json!({"Ref": "KeyArns"})));
    for account in [TARGET, SECOND] {
        let params: Value =
            serde_json::from_str(file(&files, &format!("stackset/{account}.parameters.json")))
                .unwrap();
        assert_eq!(params[0]["ParameterKey"], "KeyArns");
        assert_eq!(
            params[0]["ParameterValue"],
            "arn:aws:kms:us-east-1:111122223333:key/a10ef50f-2d51-4eab-90b7-c3b0230fb97d"
        );
        assert_eq!(params[1]["ParameterValue"], "amishare-target");
    }
}

#[test]
fn the_readme_lists_every_file_and_is_recognised_as_amishares() {
    for format in [ExportFormat::Terraform, ExportFormat::CloudFormation] {
        let files = export_of(&[two_targets()], format);
        let readme = file(&files, README);
        let listed = manifest_of(readme).unwrap();
        let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(
            listed.iter().collect::<BTreeSet<_>>(),
            paths.iter().collect::<BTreeSet<_>>()
        );
    }
    assert_eq!(manifest_of("some other README"), None);
}

#[test]
fn applied_part_keeps_only_the_completed_steps() {
    let p = plan();
    let part = applied_part(&p, &["s1".to_string(), "s7".to_string()]);
    let ids: Vec<&str> = part.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s1", "s7"]);
}

#[test]
fn a_handoff_account_gets_its_iam_from_the_handoff() {
    let mut p = plan();
    p.steps.retain(|s| s.account != TARGET);
    p.handoffs.push(crate::workflow::plan::Handoff {
        account: TARGET.into(),
        policy_name: "KmsKeyUsagePolicy".into(),
        policy_document: "{\"Version\":\"2012-10-17\",\"Statement\":[]}".into(),
        commands: vec![
            "aws iam create-policy --policy-name KmsKeyUsagePolicy --policy-document file://KmsKeyUsagePolicy.json".into(),
            "aws ec2 copy-image --region us-east-1 --source-region us-east-1 --source-image-id ami-99e22d13404c3b13b --name x --encrypted".into(),
        ],
    });
    let files = export_of(std::slice::from_ref(&p), ExportFormat::Terraform);
    let tf = file(&files, "444455556666/main.tf");
    assert!(tf.contains("resource \"aws_iam_policy\" \"kms_key_usage_policy\""));
    assert!(tf.contains("resource \"aws_iam_role_policy_attachment\""));
    assert!(tf.contains("hand-off"));
    // The hand-off's copy command, commented on its own line; the IAM commands are the resources.
    assert!(tf.contains("\n#   aws ec2 copy-image --region us-east-1 --source-region us-east-1"));
    assert!(!tf.contains("aws iam create-policy"));
    assert!(tf
        .lines()
        .filter(|l| l.contains("copy-image"))
        .all(|l| l.starts_with('#')));
    let cfn = export_of(&[p], ExportFormat::CloudFormation);
    let sh = file(&cfn, "444455556666/commands.sh");
    assert!(sh.contains("\n#   aws ec2 copy-image --region us-east-1"));
}

#[test]
fn format_names_parse() {
    assert_eq!(
        ExportFormat::parse("terraform"),
        Some(ExportFormat::Terraform)
    );
    assert_eq!(
        ExportFormat::parse("CloudFormation"),
        Some(ExportFormat::CloudFormation)
    );
    assert_eq!(ExportFormat::parse("pulumi"), None);
}

#[test]
fn a_launch_permission_for_an_organization_or_ou_uses_its_own_argument() {
    let mut p = plan();
    let org = "arn:aws:organizations::111122223333:organization/o-abc123";
    let ou = "arn:aws:organizations::111122223333:ou/o-abc123/ou-ab12-cdef3456";
    for (i, grantee) in [org, ou].into_iter().enumerate() {
        let mut step = p.steps[1].clone();
        step.id = format!("o{i}");
        step.action = Action::AddLaunchPermission {
            image_id: "ami-99e22d13404c3b13b".into(),
            account: grantee.into(),
        };
        p.steps.push(step);
    }
    let files = export_of(std::slice::from_ref(&p), ExportFormat::Terraform);
    let tf = file(&files, "111122223333/main.tf");
    assert!(tf.contains(&format!("organization_arn = \"{org}\"")));
    assert!(tf.contains(&format!("organizational_unit_arn = \"{ou}\"")));
    let files = export_of(&[p], ExportFormat::CloudFormation);
    let sh = file(&files, "111122223333/commands.sh");
    assert!(sh.contains(&format!("'Add=[{{OrganizationArn={org}}}]'")));
    assert!(sh.contains(&format!("'Add=[{{OrganizationalUnitArn={ou}}}]'")));
}

/// The golden plan's changes with a KMS grant and a second new policy (with its attachment) in
/// the target account, rendered.
fn with_grant_and_second_policy(format: ExportFormat) -> Vec<ExportFile> {
    let plans = [plan()];
    let mut accounts = changes(&plans);
    let target = accounts.iter_mut().find(|a| a.account == TARGET).unwrap();
    let at = |change| Located {
        step: Some("g1".into()),
        region: "us-east-1".into(),
        change,
    };
    target.changes.push(at(Change::Grant {
        name: "amishare-asg".into(),
        key_arn: "arn:aws:kms:us-east-1:111122223333:key/a10ef50f-2d51-4eab-90b7-c3b0230fb97d"
            .into(),
        grantee_principal: "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling".into(),
        operations: vec!["Decrypt".into(), "CreateGrant".into()],
        retiring_principal: Some("arn:aws:iam::444455556666:role/amishare-target".into()),
    }));
    target.changes.push(at(Change::UsagePolicy {
        name: "AmishareLauncherKeyUse".into(),
        document: "{\"Version\":\"2012-10-17\",\"Statement\":[]}".into(),
        existing_arn: None,
    }));
    target.changes.push(at(Change::Attach {
        policy_arn: "arn:aws:iam::444455556666:policy/AmishareLauncherKeyUse".into(),
        principal_arn: "arn:aws:iam::444455556666:user/ops".into(),
    }));
    let input = ExportInput {
        plans: &plans,
        planned_only: true,
        created: &[],
    };
    render(&input, &accounts, format)
}

#[test]
fn a_kms_grant_is_an_aws_kms_grant_in_terraform_and_a_create_grant_command_in_cloudformation() {
    let tf = with_grant_and_second_policy(ExportFormat::Terraform);
    let main = file(&tf, "444455556666/main.tf");
    assert!(main.contains("resource \"aws_kms_grant\" \"grant_amishare_asg\""));
    assert!(main.contains("operations         = [\"Decrypt\", \"CreateGrant\"]"));
    for (kind, args) in blocks(main)
        .into_iter()
        .filter(|(k, _)| k == "aws_kms_grant")
    {
        let allowed = DOCUMENTED_ARGUMENTS
            .iter()
            .find(|(t, _)| *t == kind)
            .unwrap()
            .1;
        assert!(
            args.iter()
                .all(|a| allowed.contains(&a.as_str()) || a == "provider"),
            "{args:?}"
        );
    }
    // The second policy's attachment refers to its own resource.
    assert!(main.contains("policy_arn = aws_iam_policy.policy_amisharelauncherkeyuse.arn"));
    let cfn = with_grant_and_second_policy(ExportFormat::CloudFormation);
    let sh = file(&cfn, "444455556666/commands.sh");
    assert!(sh.contains("aws kms create-grant --region us-east-1 --key-id arn:aws:kms:us-east-1:111122223333:key/a10ef50f-2d51-4eab-90b7-c3b0230fb97d --grantee-principal arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling --operations Decrypt CreateGrant --name amishare-asg --retiring-principal arn:aws:iam::444455556666:role/amishare-target"));
}

/// Auto Scaling's service-linked role the plan creates (issue 18): an
/// `aws_iam_service_linked_role` with documented arguments only, and the aws CLI command.
#[test]
fn a_service_linked_role_is_exported_as_a_resource_and_a_command() {
    let plans = [plan()];
    let mut accounts = changes(&plans);
    let target = accounts.iter_mut().find(|a| a.account == TARGET).unwrap();
    target.changes.insert(
        0,
        Located {
            step: Some("s0".into()),
            region: "us-east-1".into(),
            change: Change::ServiceLinkedRole {
                service: "autoscaling.amazonaws.com".into(),
                role_arn: "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling".into(),
            },
        },
    );
    let input = ExportInput {
        plans: &plans,
        planned_only: true,
        created: &[],
    };
    let tf = render(&input, &accounts, ExportFormat::Terraform);
    let main = file(&tf, "444455556666/main.tf");
    assert!(
        main.contains("aws_service_name = \"autoscaling.amazonaws.com\""),
        "{main}"
    );
    let found = blocks(main)
        .into_iter()
        .filter(|(k, _)| k == "aws_iam_service_linked_role")
        .collect::<Vec<_>>();
    assert_eq!(found.len(), 1, "{main}");
    let allowed = DOCUMENTED_ARGUMENTS
        .iter()
        .find(|(t, _)| *t == "aws_iam_service_linked_role")
        .unwrap()
        .1;
    assert!(found[0]
        .1
        .iter()
        .all(|a| allowed.contains(&a.as_str()) || a == "provider"));
    let cfn = render(&input, &accounts, ExportFormat::CloudFormation);
    let sh = file(&cfn, "444455556666/commands.sh");
    assert!(
        sh.contains(
            "aws iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com"
        ),
        "{sh}"
    );
}

#[test]
fn every_new_policy_of_an_account_is_in_its_template_with_its_own_attachments() {
    let cfn = with_grant_and_second_policy(ExportFormat::CloudFormation);
    let template: Value = serde_json::from_str(file(&cfn, "444455556666.template.json")).unwrap();
    let resources = template["Resources"].as_object().unwrap();
    assert_eq!(resources.len(), 2);
    let second = &resources["AmishareLauncherKeyUse"]["Properties"];
    assert_eq!(second["Users"], serde_json::json!(["ops"]));
    assert!(second.get("Roles").is_none());
    assert_eq!(
        resources["KmsKeyUsagePolicy"]["Properties"]["Roles"],
        serde_json::json!(["amishare-target"])
    );
    let sh = file(&cfn, "444455556666/commands.sh");
    assert!(sh.contains(
        "attach it to arn:aws:iam::444455556666:user/ops: in 444455556666.template.json"
    ));
}

#[test]
fn after_a_run_the_created_policy_is_imported_and_the_copy_named() {
    let plans = [plan()];
    let created = [("s7".to_string(), vec!["ami-0c0c0c0c0c0c0c0c0".to_string()])];
    let files = export(
        ExportInput {
            plans: &plans,
            planned_only: false,
            created: &created,
        },
        ExportFormat::Terraform,
    );
    let main = file(&files, "444455556666/main.tf");
    assert!(main.contains("KmsKeyUsagePolicy was created by this run: import it"));
    assert!(main.contains(
        "  to       = aws_iam_policy.kms_key_usage_policy\n  id       = \"arn:aws:iam::444455556666:policy/KmsKeyUsagePolicy\""
    ));
    assert!(
        main.contains("# This run created ami-0c0c0c0c0c0c0c0c0: aws_ami_copy documents no import")
    );
    assert!(main.contains(" changed in account 444455556666"));
    // A dry run imports nothing it did not find.
    let dry = export_of(&plans, ExportFormat::Terraform);
    assert!(!file(&dry, "444455556666/main.tf").contains("import {"));
}
