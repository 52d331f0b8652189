//! KMS writes: the key policy; grants for Auto Scaling's service-linked role.

use aws_sdk_kms::types::GrantOperation;

use crate::aws::error::{aws_err, AwsError};
use crate::workflow::ports_write::GrantRequest;

pub(super) async fn put_key_policy(
    kms: &aws_sdk_kms::Client,
    key_arn: &str,
    policy: &str,
) -> Result<(), AwsError> {
    kms.put_key_policy()
        .key_id(key_arn)
        .policy_name("default")
        .policy(policy)
        .send()
        .await
        .map_err(aws_err("kms", "PutKeyPolicy"))?;
    Ok(())
}

/// The client for the region a key ARN names (KMS is regional: a grant is made in the key's
/// region); the client as given for anything else.
fn in_key_region(kms: &aws_sdk_kms::Client, key_arn: &str) -> aws_sdk_kms::Client {
    match crate::domain::arn::Arn::parse(key_arn).map(|a| a.region) {
        Some(region) if !region.is_empty() => {
            let conf = kms
                .config()
                .to_builder()
                .region(aws_sdk_kms::config::Region::new(region.to_string()))
                .build();
            aws_sdk_kms::Client::from_conf(conf)
        }
        _ => kms.clone(),
    }
}

/// CreateGrant, a direct call (so `kms:GrantIsForAWSResource` is false): returns the grant id.
pub(super) async fn create_grant(
    kms: &aws_sdk_kms::Client,
    request: &GrantRequest,
) -> Result<String, AwsError> {
    let mut call = in_key_region(kms, &request.key_arn)
        .create_grant()
        .key_id(&request.key_arn)
        .grantee_principal(&request.grantee_principal)
        .name(&request.name);
    for op in &request.operations {
        call = call.operations(GrantOperation::from(op.as_str()));
    }
    if let Some(r) = &request.retiring_principal {
        call = call.retiring_principal(r);
    }
    let out = call.send().await.map_err(aws_err("kms", "CreateGrant"))?;
    out.grant_id
        .ok_or_else(|| AwsError::new("kms", "CreateGrant", "the answer has no GrantId"))
}

/// RetireGrant by key and grant id.
pub(super) async fn retire_grant(
    kms: &aws_sdk_kms::Client,
    key_arn: &str,
    grant_id: &str,
) -> Result<(), AwsError> {
    in_key_region(kms, key_arn)
        .retire_grant()
        .key_id(key_arn)
        .grant_id(grant_id)
        .send()
        .await
        .map_err(aws_err("kms", "RetireGrant"))?;
    Ok(())
}
