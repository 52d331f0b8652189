//! The guardrail reads of one account: a principal's permissions boundary (IAM GetRole /
//! GetUser `PermissionsBoundary`, GetPolicy, GetPolicyVersion) and EC2's Allowed AMIs setting
//! (GetAllowedImagesSettings: `State`, `ImageCriteria`, `ManagedBy`). No decisions here.

use super::iam::decode_policy_document;
use crate::aws::error::{aws_err, AwsError};
use crate::domain::arn::{Principal, PrincipalKind};
use crate::workflow::allowed_images::{AllowedImagesSettings, ImageCriterion};
use crate::workflow::guardrail_facts::BoundaryDoc;

/// The boundary's ARN of a user or role (a role session: its role); `None` for the root.
async fn boundary_arn(
    iam: &aws_sdk_iam::Client,
    principal_arn: &str,
) -> Result<Option<String>, AwsError> {
    let p = Principal::parse(principal_arn).ok_or_else(|| {
        AwsError::new(
            "iam",
            "GetRole",
            format!("`{principal_arn}` is not a user, role or role session ARN"),
        )
    })?;
    let name = p.name.to_string();
    match p.kind {
        PrincipalKind::User => {
            let out = iam
                .get_user()
                .user_name(&name)
                .send()
                .await
                .map_err(aws_err("iam", "GetUser"))?;
            Ok(out
                .user()
                .and_then(|u| u.permissions_boundary())
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string))
        }
        PrincipalKind::Role | PrincipalKind::AssumedRole => {
            let out = iam
                .get_role()
                .role_name(&name)
                .send()
                .await
                .map_err(aws_err("iam", "GetRole"))?;
            Ok(out
                .role()
                .and_then(|r| r.permissions_boundary())
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string))
        }
        _ => Ok(None),
    }
}

pub(super) async fn permissions_boundary(
    iam: &aws_sdk_iam::Client,
    principal_arn: &str,
) -> Result<Option<BoundaryDoc>, AwsError> {
    let Some(arn) = boundary_arn(iam, principal_arn).await? else {
        return Ok(None);
    };
    let pol = iam
        .get_policy()
        .policy_arn(&arn)
        .send()
        .await
        .map_err(aws_err("iam", "GetPolicy"))?;
    let version = pol
        .policy()
        .and_then(|p| p.default_version_id())
        .unwrap_or("v1")
        .to_string();
    let v = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(&version)
        .send()
        .await
        .map_err(aws_err("iam", "GetPolicyVersion"))?;
    let doc = v
        .policy_version()
        .and_then(|p| p.document())
        .unwrap_or_default();
    Ok(Some(BoundaryDoc {
        arn,
        document: decode_policy_document(doc),
    }))
}

pub(super) async fn allowed_images_settings(
    ec2: &aws_sdk_ec2::Client,
) -> Result<AllowedImagesSettings, AwsError> {
    let out = ec2
        .get_allowed_images_settings()
        .send()
        .await
        .map_err(aws_err("ec2", "GetAllowedImagesSettings"))?;
    Ok(AllowedImagesSettings {
        state: out.state().unwrap_or("disabled").to_string(),
        criteria: out
            .image_criteria()
            .iter()
            .map(|c| ImageCriterion {
                image_providers: c.image_providers().to_vec(),
                image_names: c.image_names().to_vec(),
                marketplace_product_codes: c.marketplace_product_codes().to_vec(),
                maximum_days_since_created: c
                    .creation_date_condition()
                    .and_then(|d| d.maximum_days_since_created()),
                maximum_days_since_deprecated: c
                    .deprecation_time_condition()
                    .and_then(|d| d.maximum_days_since_deprecated()),
            })
            .collect(),
        managed_by: out.managed_by().map(|m| m.as_str().to_string()),
    })
}
