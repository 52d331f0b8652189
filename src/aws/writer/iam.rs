//! IAM writes: customer managed policies (get, create, new default version, restore, delete) and
//! their attachment to users, roles and groups; a service's service-linked role.

use crate::aws::error::{aws_err, AwsError};
use crate::aws::reader::decode_policy_document;
use crate::domain::arn::Principal;
use crate::workflow::ports_write::ManagedPolicy;

/// `(kind, name)` of an IAM user/role/group ARN (the name without its path).
fn principal_kind_name(arn: &str) -> Result<(&'static str, String), AwsError> {
    Principal::parse(arn)
        .and_then(|p| Some((p.kind.iam_entity()?, p.name.to_string())))
        .ok_or_else(|| AwsError {
            code: Some("InvalidPrincipal".into()),
            ..AwsError::new(
                "iam",
                "AttachPolicy",
                format!("`{arn}` is not an IAM user, role or group ARN"),
            )
        })
}

pub(super) async fn get_managed_policy(
    iam: &aws_sdk_iam::Client,
    policy_arn: &str,
) -> Result<Option<ManagedPolicy>, AwsError> {
    let policy = match iam.get_policy().policy_arn(policy_arn).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = aws_err("iam", "GetPolicy")(e);
            if e.is_not_found() {
                return Ok(None);
            }
            return Err(e);
        }
    };
    let default_version = policy
        .policy()
        .and_then(|p| p.default_version_id())
        .unwrap_or("v1")
        .to_string();
    let version = iam
        .get_policy_version()
        .policy_arn(policy_arn)
        .version_id(&default_version)
        .send()
        .await
        .map_err(aws_err("iam", "GetPolicyVersion"))?;
    let document = version
        .policy_version()
        .and_then(|v| v.document())
        .map(decode_policy_document)
        .unwrap_or_default();
    let versions = iam
        .list_policy_versions()
        .policy_arn(policy_arn)
        .send()
        .await
        .map_err(aws_err("iam", "ListPolicyVersions"))?
        .versions()
        .iter()
        .filter_map(|v| v.version_id().map(str::to_string))
        .collect();
    Ok(Some(ManagedPolicy {
        arn: policy_arn.to_string(),
        default_version,
        document,
        versions,
    }))
}

pub(super) async fn create_policy(
    iam: &aws_sdk_iam::Client,
    name: &str,
    document: &str,
    description: &str,
) -> Result<String, AwsError> {
    let out = iam
        .create_policy()
        .policy_name(name)
        .policy_document(document)
        .description(description)
        .send()
        .await
        .map_err(aws_err("iam", "CreatePolicy"))?;
    out.policy()
        .and_then(|p| p.arn())
        .map(str::to_string)
        .ok_or_else(|| AwsError::new("iam", "CreatePolicy", "the answer has no policy ARN"))
}

pub(super) async fn create_policy_version(
    iam: &aws_sdk_iam::Client,
    policy_arn: &str,
    document: &str,
) -> Result<String, AwsError> {
    let versions = iam
        .list_policy_versions()
        .policy_arn(policy_arn)
        .send()
        .await
        .map_err(aws_err("iam", "ListPolicyVersions"))?;
    let all = versions.versions();
    if all.len() >= 5 {
        // IAM keeps five versions: drop the oldest non-default one.
        let oldest = all
            .iter()
            .filter(|v| !v.is_default_version())
            .min_by_key(|v| v.create_date().map(|d| d.secs()).unwrap_or(i64::MAX));
        if let Some(id) = oldest.and_then(|v| v.version_id()) {
            iam.delete_policy_version()
                .policy_arn(policy_arn)
                .version_id(id)
                .send()
                .await
                .map_err(aws_err("iam", "DeletePolicyVersion"))?;
        }
    }
    let out = iam
        .create_policy_version()
        .policy_arn(policy_arn)
        .policy_document(document)
        .set_as_default(true)
        .send()
        .await
        .map_err(aws_err("iam", "CreatePolicyVersion"))?;
    out.policy_version()
        .and_then(|v| v.version_id())
        .map(str::to_string)
        .ok_or_else(|| AwsError::new("iam", "CreatePolicyVersion", "the answer has no version id"))
}

pub(super) async fn restore_policy_version(
    iam: &aws_sdk_iam::Client,
    policy_arn: &str,
    default_version: &str,
    delete_version: &str,
) -> Result<(), AwsError> {
    iam.set_default_policy_version()
        .policy_arn(policy_arn)
        .version_id(default_version)
        .send()
        .await
        .map_err(aws_err("iam", "SetDefaultPolicyVersion"))?;
    delete_policy_version(iam, policy_arn, delete_version).await
}

async fn delete_policy_version(
    iam: &aws_sdk_iam::Client,
    policy_arn: &str,
    version: &str,
) -> Result<(), AwsError> {
    iam.delete_policy_version()
        .policy_arn(policy_arn)
        .version_id(version)
        .send()
        .await
        .map_err(aws_err("iam", "DeletePolicyVersion"))?;
    Ok(())
}

pub(super) async fn delete_policy(
    iam: &aws_sdk_iam::Client,
    policy_arn: &str,
) -> Result<(), AwsError> {
    let versions = iam
        .list_policy_versions()
        .policy_arn(policy_arn)
        .send()
        .await
        .map_err(aws_err("iam", "ListPolicyVersions"))?;
    for v in versions
        .versions()
        .iter()
        .filter(|v| !v.is_default_version())
    {
        if let Some(id) = v.version_id() {
            delete_policy_version(iam, policy_arn, id).await?;
        }
    }
    iam.delete_policy()
        .policy_arn(policy_arn)
        .send()
        .await
        .map_err(aws_err("iam", "DeletePolicy"))?;
    Ok(())
}

pub(super) async fn set_policy_attachment(
    iam: &aws_sdk_iam::Client,
    principal_arn: &str,
    policy_arn: &str,
    attach: bool,
) -> Result<(), AwsError> {
    let (kind, name) = principal_kind_name(principal_arn)?;
    // One IAM call per (principal kind, attach or detach): the same request with another
    // builder type each, hence a macro rather than a function.
    macro_rules! call {
        ($op:ident, $name_field:ident, $operation:literal) => {
            iam.$op()
                .$name_field(name)
                .policy_arn(policy_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("iam", $operation))
        };
    }
    match (kind, attach) {
        ("user", true) => call!(attach_user_policy, user_name, "AttachUserPolicy"),
        ("user", false) => call!(detach_user_policy, user_name, "DetachUserPolicy"),
        ("role", true) => call!(attach_role_policy, role_name, "AttachRolePolicy"),
        ("role", false) => call!(detach_role_policy, role_name, "DetachRolePolicy"),
        (_, true) => call!(attach_group_policy, group_name, "AttachGroupPolicy"),
        (_, false) => call!(detach_group_policy, group_name, "DetachGroupPolicy"),
    }
}

/// CreateServiceLinkedRole for `service`: `Some(role ARN)`, or `None` when the role exists
/// already (IAM answers `InvalidInput` "... has been taken in this account"; the role is the
/// one wanted, so a retried step is not a failure).
pub(super) async fn create_service_linked_role(
    iam: &aws_sdk_iam::Client,
    service: &str,
) -> Result<Option<String>, AwsError> {
    let out = iam
        .create_service_linked_role()
        .aws_service_name(service)
        .send()
        .await
        .map_err(aws_err("iam", "CreateServiceLinkedRole"));
    match out {
        Ok(o) => Ok(o.role().map(|r| r.arn().to_string())),
        Err(e)
            if e.code.as_deref() == Some("EntityAlreadyExists")
                || (e.code.as_deref() == Some("InvalidInput")
                    && e.message.contains("has been taken")) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_names_drop_the_path() {
        assert_eq!(
            principal_kind_name("arn:aws:iam::444455556666:role/ops/Deployer").unwrap(),
            ("role", "Deployer".to_string())
        );
        assert_eq!(
            principal_kind_name("arn:aws:iam::444455556666:user/alice").unwrap(),
            ("user", "alice".to_string())
        );
        assert!(principal_kind_name("arn:aws:iam::444455556666:root").is_err());
    }
}
