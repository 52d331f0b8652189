//! KMS writes: the key policy.

use crate::aws::error::{aws_err, AwsError};

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
