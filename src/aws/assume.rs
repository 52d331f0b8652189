//! AssumeRole into a launcher role (issue 11: the test launch as the principals that will launch
//! the copy), chained from a target session. Unlike [`super::session::AwsSession::assume_role`]
//! (the target role, refreshed by a provider), the launcher's credentials are fetched once with a
//! direct STS call, so a denial keeps STS's own error code (`AccessDenied`) and message for the
//! report's "verified by analysis only" reason. A test launch lasts minutes; the credentials last
//! the STS default of one hour.
//!
//! AWS: STS API reference "AssumeRole"; IAM user guide "Role chaining" (chained sessions last at
//! most one hour).

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;

use super::error::{aws_err, AwsError};
use super::session::AwsSession;
use crate::domain::arn::account_of;

/// The role session name of a launcher's test launch (visible in CloudTrail).
pub const LAUNCHER_SESSION_NAME: &str = "amishare-test-launch";

/// A session acting as `role_arn`, assumed with `session`'s credentials.
pub async fn assume_launcher(session: &AwsSession, role_arn: &str) -> Result<AwsSession, AwsError> {
    let out = session
        .sts()
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(LAUNCHER_SESSION_NAME)
        .send()
        .await
        .map_err(aws_err("sts", "AssumeRole"))?;
    let c = out
        .credentials
        .ok_or_else(|| AwsError::new("sts", "AssumeRole", "the answer has no credentials"))?;
    let expiry = std::time::SystemTime::try_from(c.expiration).ok();
    let credentials = Credentials::new(
        c.access_key_id,
        c.secret_access_key,
        Some(c.session_token),
        expiry,
        "amishare-launcher",
    );
    let config = session
        .config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build();
    let arn = out
        .assumed_role_user
        .map(|u| u.arn)
        .unwrap_or_else(|| role_arn.to_string());
    Ok(AwsSession {
        config,
        account: account_of(role_arn)
            .map(str::to_string)
            .unwrap_or_else(|| session.account.clone()),
        arn,
        region: session.region.clone(),
    })
}
