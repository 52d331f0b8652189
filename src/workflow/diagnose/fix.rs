//! Fixes: the documents to write and the aws CLI commands that apply them, for each cause.
//!
//! The policy engine says what to change ([`policy::Fix`]: statements to add, what to remove);
//! this file turns that into complete documents (the key policy with the statements merged, an
//! identity policy with a statement replaced, or a new `KmsKeyUsagePolicy`) and the commands, in
//! the partition of the ARNs at hand.

use serde_json::{json, Value};

use super::arn::{arn_account, partition_of, principal_name};
use super::documents::{append_statements, in_key_policy, replace_statement, slug};
use super::facts::policy_origin;
use super::types::{CauseFix, FixDocument};
use crate::policy::template::KMS_KEY_USAGE_POLICY_NAME;
use crate::policy::{self, Finding, FindingCode, StatementRef};
use crate::workflow::inventory::{
    IdentityPolicies, IdentityPolicyDoc, ImageInfo, KeyDescription, PolicySource, PrincipalKind,
};

/// What a fix is built from, besides the engine's fix and finding.
pub struct FixContext<'a> {
    pub desc: &'a KeyDescription,
    /// The key policy as read.
    pub key_policy: Option<&'a str>,
    pub identity: Option<&'a IdentityPolicies>,
    /// The principal that launches.
    pub principal: &'a str,
    /// Who would run put-key-policy (for the lock-out check), when known.
    pub editor: Option<&'a str>,
}

/// A disabled key (`pending_deletion: false`) or one pending deletion: the commands that make it
/// usable again.
pub fn key_state_fix(desc: &KeyDescription, pending_deletion: bool) -> CauseFix {
    let cmd = if pending_deletion {
        format!("aws kms cancel-key-deletion --key-id {0} --region {1} && aws kms enable-key --key-id {0} --region {1}", desc.arn, desc.region)
    } else {
        format!(
            "aws kms enable-key --key-id {} --region {}",
            desc.arn, desc.region
        )
    };
    CauseFix {
        summary: format!("make the key usable again in account {}", desc.account),
        key_policy_statements: Vec::new(),
        identity_policy_statements: Vec::new(),
        remove: Vec::new(),
        documents: Vec::new(),
        commands: vec![cmd],
    }
}

pub fn aws_managed_fix(desc: &KeyDescription, image: Option<&ImageInfo>) -> CauseFix {
    let image_id = image.map(|i| i.id.as_str()).unwrap_or("AMI_ID");
    CauseFix {
        summary: format!(
            "in account {}, copy the image re-encrypted with a customer managed key, then share that copy and its key",
            desc.account
        ),
        key_policy_statements: Vec::new(),
        identity_policy_statements: Vec::new(),
        remove: Vec::new(),
        documents: Vec::new(),
        commands: vec![
            format!(
                "aws ec2 copy-image --source-image-id {image_id} --source-region {0} --region {0} --name COPY_NAME --encrypted --kms-key-id CUSTOMER_KEY_ARN",
                desc.region
            ),
            "amishare copy COPY_AMI_ID --to TARGET_ACCOUNT".to_string(),
        ],
    }
}

/// Turn the engine's fix into documents and commands.
pub fn build_fix(fx: &policy::Fix, finding: &Finding, ctx: &FixContext<'_>) -> CauseFix {
    let mut documents = Vec::new();
    let mut commands = fx.commands.clone();
    let replace = fx.remove.iter().any(|r| r.starts_with("replace statement"));
    let on_key_statement = finding.statement.as_ref().filter(|s| in_key_policy(s));
    let on_identity_statement = finding.statement.as_ref().filter(|s| !in_key_policy(s));

    let key_change = !fx.key_policy_statements.is_empty()
        || (on_key_statement.is_some() && !fx.remove.is_empty());
    if key_change {
        key_policy_change(
            fx,
            on_key_statement,
            replace,
            ctx,
            &mut documents,
            &mut commands,
        );
    }
    if !fx.identity_policy_statements.is_empty()
        || on_identity_statement.is_some() && !fx.remove.is_empty()
    {
        identity_change(
            fx,
            on_identity_statement,
            replace,
            ctx,
            &mut documents,
            &mut commands,
        );
    }
    if finding.code == FindingCode::AwsManagedKey && commands.is_empty() {
        commands = aws_managed_fix(ctx.desc, None).commands;
    }
    CauseFix {
        summary: fx.summary.clone(),
        key_policy_statements: fx.key_policy_statements.clone(),
        identity_policy_statements: fx.identity_policy_statements.clone(),
        remove: fx.remove.clone(),
        documents,
        commands,
    }
}

/// Key policy: the complete new document when the current one was read, else the commands to
/// fetch it, edit it and put it back.
fn key_policy_change(
    fx: &policy::Fix,
    on_statement: Option<&StatementRef>,
    replace: bool,
    ctx: &FixContext<'_>,
    documents: &mut Vec<FixDocument>,
    commands: &mut Vec<String>,
) {
    let desc = ctx.desc;
    let file = format!("key-policy-{}.json", slug(&desc.key_id));
    let new_doc = ctx
        .key_policy
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .map(|cur| match on_statement {
            Some(s) if replace => {
                replace_statement(&cur, s.index, fx.key_policy_statements.first().cloned())
            }
            Some(s) if fx.key_policy_statements.is_empty() => {
                replace_statement(&cur, s.index, None)
            }
            _ => merged_key_policy(&cur, desc, &fx.key_policy_statements, ctx.editor),
        });
    match new_doc {
        Some(doc) => {
            documents.push(FixDocument {
                file_name: file.clone(),
                account: desc.account.clone(),
                content: doc,
            });
            commands.push(format!(
                "aws kms put-key-policy --key-id {} --policy-name default --policy file://{file} --region {}   # in account {}",
                desc.arn, desc.region, desc.account
            ));
        }
        None => {
            commands.push(format!(
                "aws kms get-key-policy --key-id {} --policy-name default --region {} --query Policy --output text > {file}   # in account {}; then add the statements below",
                desc.arn, desc.region, desc.account
            ));
            commands.push(format!(
                "aws kms put-key-policy --key-id {} --policy-name default --policy file://{file} --region {}",
                desc.arn, desc.region
            ));
        }
    }
}

/// Identity side: the policy the finding points at with its statement replaced or removed, or a
/// new `KmsKeyUsagePolicy` created and attached to the principal.
fn identity_change(
    fx: &policy::Fix,
    on_statement: Option<&StatementRef>,
    replace: bool,
    ctx: &FixContext<'_>,
    documents: &mut Vec<FixDocument>,
    commands: &mut Vec<String>,
) {
    let principal = ctx.principal;
    let identity = ctx.identity;
    let account = arn_account(principal).unwrap_or("ACCOUNT").to_string();
    let existing = on_statement.and_then(|s| {
        identity.and_then(|i| {
            i.policies
                .iter()
                .find(|d| policy_origin(d) == s.policy)
                .map(|d| (s, d))
        })
    });
    match existing {
        Some((sref, doc)) if replace || fx.identity_policy_statements.is_empty() => {
            if let Ok(cur) = serde_json::from_str::<Value>(&doc.document) {
                let new_doc = replace_statement(
                    &cur,
                    sref.index,
                    if replace {
                        fx.identity_policy_statements.first().cloned()
                    } else {
                        None
                    },
                );
                let file = format!("{}.json", slug(&doc.name));
                documents.push(FixDocument {
                    file_name: file.clone(),
                    account: account.clone(),
                    content: new_doc,
                });
                commands.push(identity_update_command(doc, identity, &file));
            }
        }
        _ => {
            let file = "kms-key-usage-policy.json".to_string();
            documents.push(FixDocument {
                file_name: file.clone(),
                account: account.clone(),
                content: json!({"Version": "2012-10-17", "Statement": fx.identity_policy_statements}),
            });
            commands.push(format!(
                "aws iam create-policy --policy-name {KMS_KEY_USAGE_POLICY_NAME} --policy-document file://{file}   # in account {account}"
            ));
            commands.push(attach_command(
                principal,
                &account,
                identity,
                &[principal, &ctx.desc.arn],
            ));
        }
    }
}

/// The key policy with the fix statements: through the policy editor (principals merged into the
/// standard statements, lockout check) when the fix adds principals to them, else appended.
fn merged_key_policy(
    cur: &Value,
    desc: &KeyDescription,
    add: &[Value],
    editor: Option<&str>,
) -> Value {
    let standard = [
        "Allow use of the key",
        "Allow attachment of persistent resources",
    ];
    let all_standard = add.iter().all(|s| {
        s.get("Sid")
            .and_then(Value::as_str)
            .is_some_and(|sid| standard.contains(&sid))
    });
    if all_standard {
        if let Some(editor) = editor {
            let mut principals: Vec<String> = Vec::new();
            for s in add {
                let aws = s.get("Principal").and_then(|p| p.get("AWS"));
                let list: Vec<String> = match aws {
                    Some(Value::String(p)) => vec![p.clone()],
                    Some(Value::Array(ps)) => ps
                        .iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                };
                for p in list {
                    if !principals.contains(&p) {
                        principals.push(p);
                    }
                }
            }
            if !principals.is_empty() {
                if let Ok(edit) =
                    policy::edit::add_key_users(&cur.to_string(), &desc.arn, &principals, editor)
                {
                    return edit.policy;
                }
            }
        }
    }
    append_statements(cur, add)
}

/// The command that attaches the new `KmsKeyUsagePolicy` of `account` to `principal`, in the
/// partition of `partition_from` (the principal's ARN, else the key's).
fn attach_command(
    principal: &str,
    account: &str,
    identity: Option<&IdentityPolicies>,
    partition_from: &[&str],
) -> String {
    let policy_arn = format!(
        "arn:{}:iam::{account}:policy/{KMS_KEY_USAGE_POLICY_NAME}",
        partition_of(partition_from)
    );
    let (kind, name) = principal_name(principal);
    let name = identity.and_then(|i| i.name.clone()).unwrap_or(name);
    match kind {
        PrincipalKind::User => {
            format!("aws iam attach-user-policy --user-name {name} --policy-arn {policy_arn}")
        }
        PrincipalKind::Group => {
            format!("aws iam attach-group-policy --group-name {name} --policy-arn {policy_arn}")
        }
        PrincipalKind::Role | PrincipalKind::AssumedRole => {
            format!("aws iam attach-role-policy --role-name {name} --policy-arn {policy_arn}")
        }
        PrincipalKind::Root => {
            format!("attach {policy_arn} to the users, groups or roles that launch")
        }
    }
}

fn identity_update_command(
    doc: &IdentityPolicyDoc,
    identity: Option<&IdentityPolicies>,
    file: &str,
) -> String {
    if let Some(arn) = &doc.arn {
        return format!(
            "aws iam create-policy-version --policy-arn {arn} --policy-document file://{file} --set-as-default"
        );
    }
    let owner = doc
        .group
        .clone()
        .or_else(|| identity.and_then(|i| i.name.clone()))
        .unwrap_or_default();
    let kind = match (doc.source, identity.map(|i| i.kind)) {
        (PolicySource::GroupInline, _) | (_, Some(PrincipalKind::Group)) => "group",
        (_, Some(PrincipalKind::User)) => "user",
        _ => "role",
    };
    format!(
        "aws iam put-{kind}-policy --{kind}-name {owner} --policy-name {} --policy-document file://{file}",
        doc.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Severity;

    fn key(arn: &str, account: &str, region: &str) -> KeyDescription {
        KeyDescription {
            arn: arn.to_string(),
            key_id: arn.rsplit('/').next().unwrap_or(arn).to_string(),
            account: account.to_string(),
            region: region.to_string(),
            key_manager: Some("CUSTOMER".into()),
            key_state: Some("Enabled".into()),
            multi_region: None,
            description: None,
            origin: None,
            key_spec: None,
            aliases: None,
        }
    }

    /// The identity-side fix (a new KmsKeyUsagePolicy, created and attached) names the policy in
    /// the partition of the ARNs at hand, not always `arn:aws:`.
    #[test]
    fn identity_fix_is_in_the_partition_of_the_principal() {
        let cases = [
            (
                "arn:aws-cn:iam::111122223333:role/Launcher",
                key("arn:aws-cn:kms:cn-north-1:444455556666:key/k1", "444455556666", "cn-north-1"),
                "aws iam attach-role-policy --role-name Launcher --policy-arn arn:aws-cn:iam::111122223333:policy/KmsKeyUsagePolicy",
            ),
            (
                "arn:aws-us-gov:sts::111122223333:assumed-role/Deployer/session",
                key("arn:aws-us-gov:kms:us-gov-west-1:444455556666:key/k2", "444455556666", "us-gov-west-1"),
                "aws iam attach-role-policy --role-name Deployer --policy-arn arn:aws-us-gov:iam::111122223333:policy/KmsKeyUsagePolicy",
            ),
            (
                "arn:aws-us-gov:iam::111122223333:user/alice",
                key("arn:aws-us-gov:kms:us-gov-east-1:111122223333:key/k3", "111122223333", "us-gov-east-1"),
                "aws iam attach-user-policy --user-name alice --policy-arn arn:aws-us-gov:iam::111122223333:policy/KmsKeyUsagePolicy",
            ),
            (
                "arn:aws:iam::111122223333:root",
                key("arn:aws:kms:eu-west-1:444455556666:key/k4", "444455556666", "eu-west-1"),
                "attach arn:aws:iam::111122223333:policy/KmsKeyUsagePolicy to the users, groups or roles that launch",
            ),
        ];
        for (principal, desc, attach) in cases {
            let fx = policy::Fix {
                summary: "attach an identity policy".into(),
                identity_policy_statements: vec![json!({
                    "Sid": "AllowUseOfTheKey", "Effect": "Allow",
                    "Action": ["kms:CreateGrant"], "Resource": [desc.arn.clone()]
                })],
                ..policy::Fix::default()
            };
            let finding = Finding::new(
                FindingCode::IdentityPolicyMissingAction,
                Severity::Error,
                "the identity policies lack kms:CreateGrant",
            )
            .with_fix(fx.clone());
            let ctx = FixContext {
                desc: &desc,
                key_policy: None,
                identity: None,
                principal,
                editor: None,
            };
            let fix = build_fix(&fx, &finding, &ctx);
            assert_eq!(
                fix.commands,
                vec![
                    "aws iam create-policy --policy-name KmsKeyUsagePolicy --policy-document file://kms-key-usage-policy.json   # in account 111122223333".to_string(),
                    attach.to_string(),
                ],
                "{principal}"
            );
            assert_eq!(fix.documents.len(), 1, "{principal}");
            assert_eq!(fix.documents[0].account, "111122223333", "{principal}");
        }
    }

    #[test]
    fn partition_falls_back_to_the_key_arn() {
        let cmd = attach_command(
            "AROAEXAMPLEID",
            "111122223333",
            None,
            &["AROAEXAMPLEID", "arn:aws-cn:kms:cn-north-1:1:key/k"],
        );
        assert!(
            cmd.contains("arn:aws-cn:iam::111122223333:policy/KmsKeyUsagePolicy"),
            "{cmd}"
        );
    }
}
