//! STS AssumeRole, once per role and run: the target role of each target account
//! ([`target_role`], used by [`super::session::AwsSession::assume_role`]) and the launcher roles a
//! test launch acts as (issue 11: [`launcher_credentials`], chained from a target session).
//!
//! One AssumeRole per target account per run (issue 23): the target role's credentials are a
//! [`OneLoad`] provider, shared by every client and region of the account, loaded again only near
//! expiry; concurrent first uses wait for the one call in flight, and a slow STS answer is
//! awaited, not requested again. A launcher role is assumed once per (target identity, role) for
//! every region it is test-launched in; its answer (credentials or STS's denial, with STS's own
//! error code `AccessDenied` and message for the report's "verified by analysis only" reason) is
//! kept for the run, the credentials until they near expiry.
//!
//! AWS: STS API reference "AssumeRole"; IAM user guide "Role chaining" (chained sessions last at
//! most one hour).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;

use super::error::{aws_err, AwsError};
use super::one_load::{refresh_due, OneLoad};

/// The role session name amishare uses (visible in the target account's CloudTrail).
pub const SESSION_NAME: &str = "amishare";

/// The role session name of a launcher's test launch (visible in CloudTrail).
pub const LAUNCHER_SESSION_NAME: &str = "amishare-test-launch";

/// The credentials of `role_arn` assumed (session name `amishare`, with `external_id` when
/// given) through `sts`, loaded once and shared (see the module docs).
pub fn target_role(sts: aws_sdk_sts::Client, role_arn: &str, external_id: Option<&str>) -> OneLoad {
    OneLoad::new(TargetRole {
        sts,
        role_arn: role_arn.to_string(),
        external_id: external_id.map(str::to_string),
    })
}

/// One AssumeRole call for the target role. The STS client is the source session's, which
/// shares the source config's credentials: assuming the role does not resolve the source
/// credentials again while they are valid.
#[derive(Debug)]
struct TargetRole {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    external_id: Option<String>,
}

impl TargetRole {
    async fn assume(&self) -> aws_credential_types::provider::Result {
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(SESSION_NAME)
            .set_external_id(self.external_id.clone())
            .send()
            .await
            .map_err(|e| CredentialsError::provider_error(aws_err("sts", "AssumeRole")(e)))?;
        let c = out.credentials.ok_or_else(|| {
            CredentialsError::unhandled("the AssumeRole answer has no credentials")
        })?;
        let expiry =
            std::time::SystemTime::try_from(c.expiration).map_err(CredentialsError::unhandled)?;
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            Some(expiry),
            "amishare-assume-role",
        ))
    }
}

impl ProvideCredentials for TargetRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}

/// A launcher role's answer: its credentials and session ARN, or STS's error.
type LauncherAnswer = Result<(Credentials, String, SystemTime), AwsError>;

/// (the identity assuming, the launcher role) -> the answer, one call in flight at a time.
type Launchers = HashMap<(String, String), Arc<tokio::sync::Mutex<Option<LauncherAnswer>>>>;

fn launchers() -> &'static Mutex<Launchers> {
    static LAUNCHERS: OnceLock<Mutex<Launchers>> = OnceLock::new();
    LAUNCHERS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The credentials and session ARN of `role_arn` assumed by the identity `caller_arn` through
/// `sts`: one AssumeRole per (caller, role) for the run, shared by every region (see the module
/// docs); [`super::session::AwsSession::assume_launcher`] makes the session.
pub async fn launcher_credentials(
    sts: &aws_sdk_sts::Client,
    caller_arn: &str,
    role_arn: &str,
) -> Result<(Credentials, String), AwsError> {
    let slot = {
        let mut all = launchers().lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            all.entry((caller_arn.to_string(), role_arn.to_string()))
                .or_default(),
        )
    };
    // Held across the call: concurrent first uses of this launcher wait for its one answer.
    let mut answer = slot.lock().await;
    let due = match &*answer {
        Some(Ok((c, _, loaded))) => refresh_due(c.expiry(), *loaded, SystemTime::now()),
        // STS's denial stands for the run; another failure (throttling, 5xx) is asked again.
        Some(Err(e)) => !e.is_access_denied(),
        None => true,
    };
    if due {
        *answer = Some(call_assume_launcher(sts, role_arn).await);
    }
    match answer.clone() {
        Some(Ok((credentials, arn, _))) => Ok((credentials, arn)),
        Some(Err(e)) => Err(e),
        None => Err(AwsError::new("sts", "AssumeRole", "no answer kept")),
    }
}

/// The AssumeRole call of a launcher role.
async fn call_assume_launcher(sts: &aws_sdk_sts::Client, role_arn: &str) -> LauncherAnswer {
    let out = sts
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
    let arn = out
        .assumed_role_user
        .map(|u| u.arn)
        .unwrap_or_else(|| role_arn.to_string());
    Ok((credentials, arn, SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::credentials::CredentialSource;
    use crate::aws::fake_sts::{FakeSts, SOURCE_ACCOUNT, SOURCE_KEY};
    use crate::aws::session::AwsSession;
    use aws_config::{BehaviorVersion, Region};
    use aws_smithy_runtime_api::client::http::SharedHttpClient;
    use std::time::Duration;

    /// A source session whose STS is `sts` (static keys, amishare's identity cache: one
    /// LazyCache shared by every config derived from it).
    async fn source(sts: &FakeSts) -> AwsSession {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(SOURCE_KEY, "s", None, None, "test"))
            .http_client(SharedHttpClient::new(sts.clone()))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .identity_cache(crate::aws::one_load::identity_cache())
            .load()
            .await;
        AwsSession {
            config,
            account: SOURCE_ACCOUNT.into(),
            arn: format!("arn:aws:iam::{SOURCE_ACCOUNT}:role/source"),
            region: "us-east-1".into(),
            credentials: CredentialSource::Unknown,
        }
    }

    /// Issue 23: 100 target accounts, each first used by 64 concurrent calls spread over 5
    /// regions, through a slow STS (400 ms an answer): exactly one AssumeRole per account.
    /// (More than 64 providers share the SDK's identity cache, which evicts partitions: without
    /// [`OneLoad`] accounts were assumed again.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_assume_role_per_account_under_64_concurrent_first_uses() {
        let sts = FakeSts::slow(Duration::from_millis(400));
        let source = source(&sts).await;
        let regions = [
            "us-east-1",
            "us-west-2",
            "eu-west-1",
            "eu-central-1",
            "ap-south-1",
        ];
        let mut uses = Vec::new();
        for n in 0..100 {
            let account = format!("4444555{n:05}");
            let config = source.role_config(&format!("arn:aws:iam::{account}:role/T"), None);
            for i in 0..64 {
                let c = config
                    .to_builder()
                    .region(Region::new(regions[i % regions.len()]))
                    .build();
                let account = account.clone();
                uses.push(tokio::spawn(async move {
                    let who = aws_sdk_sts::Client::new(&c)
                        .get_caller_identity()
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(who.account(), Some(account.as_str()));
                }));
            }
        }
        for u in futures::future::join_all(uses).await {
            u.unwrap();
        }
        let counts = sts.counts();
        assert_eq!(counts.len(), 100);
        let more: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
        assert!(more.is_empty(), "assumed more than once: {more:?}");
    }

    /// A launcher role is assumed once for every region it is test-launched in.
    #[tokio::test]
    async fn a_launcher_role_is_assumed_once_for_every_region() {
        let sts = FakeSts::default();
        let source = source(&sts).await;
        let role = "arn:aws:iam::444455556666:role/Launcher";
        for region in ["us-east-1", "us-west-2", "eu-west-1"] {
            let s = source
                .in_region(region)
                .assume_launcher(role)
                .await
                .unwrap();
            assert_eq!(s.account, "444455556666");
        }
        assert_eq!(sts.counts().get(role), Some(&1));
    }
}
