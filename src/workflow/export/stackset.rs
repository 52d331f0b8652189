//! The target-side IAM of several target accounts as ONE CloudFormation StackSet template
//! (`stackset/target-iam.template.json`), with what differs per account as parameters: the key
//! ARNs the `KmsKeyUsagePolicy` covers and the roles, users and groups it is attached to
//! (`stackset/<account>.parameters.json`, for `create-stack-instances --parameter-overrides`).

use serde_json::{json, Value};

use super::cloudformation::{new_policies, pretty, Attachments, DESCRIPTION_PREFIX};
use super::{AccountChanges, ExportFile, ExportInput};
use crate::policy::template::KMS_KEY_USAGE_POLICY_NAME;

/// The template's path in the export directory.
pub const TEMPLATE: &str = "stackset/target-iam.template.json";

/// The StackSet files, when at least two target accounts get a new usage policy whose
/// documents differ only in their key ARNs.
pub fn files(input: &ExportInput<'_>, accounts: &[AccountChanges]) -> Vec<ExportFile> {
    let mut per_account: Vec<(&str, Vec<String>, Attachments)> = Vec::new();
    let mut shape: Option<(String, Value)> = None;
    for a in accounts.iter().filter(|a| !a.is_source) {
        let mut policies = new_policies(a);
        if policies.is_empty() {
            continue;
        }
        // one policy, KmsKeyUsagePolicy: else the per-account templates (which hold all of an
        // account's new policies) are the way
        if policies.len() > 1 || policies[0].0 != KMS_KEY_USAGE_POLICY_NAME {
            return Vec::new();
        }
        let (name, document, attached) = policies.remove(0);
        let Some((generic, keys)) = generic_document(&document) else {
            return Vec::new();
        };
        match &shape {
            None => shape = Some((name, generic)),
            Some((n, g)) if *n == name && *g == generic => {}
            Some(_) => return Vec::new(),
        }
        per_account.push((&a.account, keys, attached));
    }
    let Some((name, generic)) = shape else {
        return Vec::new();
    };
    if per_account.len() < 2 {
        return Vec::new();
    }
    let mut out = vec![ExportFile {
        path: TEMPLATE.to_string(),
        contents: pretty(&template(input, &name, generic)),
    }];
    for (account, keys, attached) in per_account {
        let param = |k: &str, v: String| json!({"ParameterKey": k, "ParameterValue": v});
        out.push(ExportFile {
            path: format!("stackset/{account}.parameters.json"),
            contents: pretty(&json!([
                param("KeyArns", keys.join(",")),
                param("RoleNames", attached.roles.join(",")),
                param("UserNames", attached.users.join(",")),
                param("GroupNames", attached.groups.join(",")),
            ])),
        });
    }
    out
}

/// The document with every statement's `Resource` replaced by `{"Ref": "KeyArns"}`, and the
/// key ARNs it named; `None` when the statements do not all name the same keys.
fn generic_document(document: &str) -> Option<(Value, Vec<String>)> {
    let mut doc: Value = serde_json::from_str(document).ok()?;
    let statements = doc.get_mut("Statement")?.as_array_mut()?;
    let mut keys: Option<Vec<String>> = None;
    for s in statements.iter_mut() {
        let resource = s.get_mut("Resource")?;
        let mut these: Vec<String> = match resource {
            Value::String(r) => vec![r.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => return None,
        };
        these.sort();
        match &keys {
            None => keys = Some(these),
            Some(k) if *k == these => {}
            Some(_) => return None,
        }
        *resource = json!({"Ref": "KeyArns"});
    }
    Some((doc, keys?))
}

fn template(input: &ExportInput<'_>, name: &str, document: Value) -> Value {
    let list = |description: &str| json!({"Type": "CommaDelimitedList", "Default": "", "Description": description});
    let has = |p: &str| json!({"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": p}]}, ""]}]});
    let maybe = |c: &str, p: &str| json!({"Fn::If": [c, {"Ref": p}, {"Ref": "AWS::NoValue"}]});
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "{DESCRIPTION_PREFIX} {} from plan {}: the target-side IAM ({name} and its attachments) of every target account, for one StackSet",
            env!("CARGO_PKG_VERSION"), input.run_id()
        ),
        "Parameters": {
            "KeyArns": {
                "Type": "CommaDelimitedList",
                "Description": "ARNs of the source KMS keys the policy covers"
            },
            "RoleNames": list("Names (not ARNs) of the roles to attach the policy to"),
            "UserNames": list("Names (not ARNs) of the users to attach the policy to"),
            "GroupNames": list("Names (not ARNs) of the groups to attach the policy to"),
        },
        "Conditions": {
            "HasRoles": has("RoleNames"),
            "HasUsers": has("UserNames"),
            "HasGroups": has("GroupNames"),
        },
        "Resources": {
            "KmsKeyUsagePolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "ManagedPolicyName": name,
                    "Description": "Use of the KMS keys of AMIs shared by amishare",
                    "PolicyDocument": document,
                    "Roles": maybe("HasRoles", "RoleNames"),
                    "Users": maybe("HasUsers", "UserNames"),
                    "Groups": maybe("HasGroups", "GroupNames"),
                }
            }
        }
    })
}
