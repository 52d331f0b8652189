//! SDK configuration and clients per account and region.
//!
//! [`AwsSession::load`] resolves credentials and region with aws-config's default chain (env,
//! profile incl. SSO, web identity, IMDS), an optional named profile and region override, and
//! honours `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`) natively; an explicit endpoint in
//! [`SessionOptions`] wins. [`AwsSession::assume_role`] derives a session for another account
//! with STS AssumeRole (session name `amishare`). Every session knows who it is (STS
//! GetCallerIdentity) and hands out clients for EC2, KMS, IAM, STS and CloudTrail.
//!
//! Credentials are resolved once per session: every client of a session shares the SDK identity
//! cache of its [`SdkConfig`], and the STS client that assumes a target role is built from the
//! source session's config, so it reuses the cached source credentials. (aws-config's
//! `AssumeRoleProvider` is not used: it builds its STS client with `IdentityCache::no_cache()`, so
//! a source profile with `role_arn` + `source_profile` was assumed again for every target.)
//!
//! Retries ([`super::retries`]): when nothing configures them, the SDK's ADAPTIVE retry mode
//! with [`DEFAULT_MAX_ATTEMPTS`] attempts under Retry Behavior 2.1: a run over an organization
//! (dozens of accounts x regions at once) meets throttling, and adaptive mode adds a client-side rate limiter that slows the
//! requests down when AWS throttles, on top of the exponential backoff (AWS SDKs and Tools
//! reference guide, "Retry behavior"). `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` and the profile's
//! `max_attempts` / `retry_mode` are honoured (a profile that sets exactly the SDK default,
//! standard mode with 3 attempts, cannot be told from none and gets the adaptive default);
//! [`SessionOptions::max_attempts`] wins over all; an invalid value of either variable is
//! refused as bad input before aws-config sees it (it would panic). Every client has a retry
//! partition of its own service, account and region (AWS throttles per account and region), so
//! the rate limiter and retry quota of one target never slow another down.

use crate::domain::arn::{partition_of, role_arn, DEFAULT_PARTITION};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;

use super::error::{aws_err, AwsError};
use super::profile::{invalid_retry_env, invalid_retry_profile, profile_exists};
pub(crate) use super::retries::retry_partition;
pub use super::retries::DEFAULT_MAX_ATTEMPTS;
use super::retries::{default_retries, retry_config};
use crate::workflow::inventory::CallerIdentity;

/// The role session name amishare uses (visible in the target account's CloudTrail).
pub const SESSION_NAME: &str = "amishare";

/// How to build a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOptions {
    /// A named profile (`--profile`); `None`: the default chain (which reads `AWS_PROFILE`).
    pub profile: Option<String>,
    /// A region override (`--region`); `None`: from the environment / profile.
    pub region: Option<String>,
    /// An explicit endpoint; `None`: aws-config reads `AWS_ENDPOINT_URL` itself.
    pub endpoint_url: Option<String>,
    /// Maximum attempts per call, standard retry mode; `Some(1)` disables retries; `None`: what
    /// the environment/profile says (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, `max_attempts`), else
    /// the SDK default (standard mode, 3 attempts).
    pub max_attempts: Option<u32>,
}

impl SessionOptions {
    /// Same options, another region (for reading a key or a copy in another region).
    #[must_use]
    pub fn in_region(&self, region: &str) -> Self {
        Self {
            region: Some(region.to_string()),
            ..self.clone()
        }
    }
}

/// The role to assume in another account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleSpec {
    /// A full role ARN.
    Arn(String),
    /// A role name (may include a path) in the given account.
    Name { name: String, account: String },
}

impl RoleSpec {
    /// `--target-role NAME|ARN` for account `account`.
    pub fn parse(value: &str, account: &str) -> Self {
        if value.starts_with("arn:") {
            RoleSpec::Arn(value.to_string())
        } else {
            RoleSpec::Name {
                name: value.trim_start_matches('/').to_string(),
                account: account.to_string(),
            }
        }
    }

    /// The role ARN: `arn:aws:iam::ACCOUNT:role/NAME` for a name (commercial partition; see
    /// [`RoleSpec::arn_in`]).
    pub fn arn(&self) -> String {
        self.arn_in(DEFAULT_PARTITION)
    }

    /// The role ARN in `partition` (`aws`, `aws-cn`, `aws-us-gov`): a name becomes
    /// `arn:PARTITION:iam::ACCOUNT:role/NAME`; an ARN stays as given.
    pub fn arn_in(&self, partition: &str) -> String {
        match self {
            RoleSpec::Arn(arn) => arn.clone(),
            RoleSpec::Name { name, account } => role_arn(partition, account, name),
        }
    }
}

/// Why a session could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no AWS region configured{}", profile.as_ref().map(|p| format!(" for profile `{p}`")).unwrap_or_default())]
    NoRegion { profile: Option<String> },
    #[error("cannot tell who the credentials are: {0}")]
    Identity(AwsError),
    #[error("cannot assume role `{role_arn}`: {source}")]
    AssumeRole { role_arn: String, source: AwsError },
    #[error("profile `{profile}` not found in the AWS config or credentials file")]
    ProfileNotFound { profile: String },
    #[error("`{var}={value}` is not valid: {expected}")]
    BadRetrySetting {
        var: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("`{key} = {value}` in profile `{profile}` is not valid: {expected}")]
    BadProfileRetrySetting {
        profile: String,
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("`AWS_CA_BUNDLE={path}` cannot be used: {reason}")]
    CaBundle { path: String, reason: String },
    #[error("the AWS endpoint's TLS certificate is not trusted: {0}")]
    UntrustedCertificate(AwsError),
}

impl SessionError {
    /// Advice for the user, separate from the message.
    pub fn hint(&self) -> &'static str {
        match self {
            SessionError::NoRegion { .. } => "pass `--region`, set `AWS_REGION`, or set `region` in the profile",
            SessionError::Identity(_) => "check the credentials: `aws sts get-caller-identity` (with the same profile) must work; an SSO profile needs `aws sso login` first",
            SessionError::AssumeRole { .. } => "the role must exist and trust the source account (and the external id, if one is required)",
            SessionError::ProfileNotFound { .. } => "list the profiles with `aws configure list-profiles`, or set `AWS_CONFIG_FILE`",
            SessionError::BadRetrySetting { .. } => "fix or unset the variable (unset: the SDK default, standard mode with 3 attempts)",
            SessionError::BadProfileRetrySetting { .. } => "fix or remove the setting in the AWS config file (removed: the SDK default, standard mode with 3 attempts)",
            SessionError::CaBundle { .. } => "point `AWS_CA_BUNDLE` at a readable PEM file of CA certificates, or unset it",
            SessionError::UntrustedCertificate(_) => "set `AWS_CA_BUNDLE` to the PEM file of the CA that signed the endpoint's certificate (a TLS proxy's or private endpoint's CA)",
        }
    }

    /// The user's input or configuration is at fault (exit 2: a misspelt profile, no region),
    /// rather than AWS failing.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            SessionError::ProfileNotFound { .. }
                | SessionError::NoRegion { .. }
                | SessionError::BadRetrySetting { .. }
                | SessionError::BadProfileRetrySetting { .. }
                | SessionError::CaBundle { .. }
        )
    }
}

/// Credentials and region for one account, with who they are.
#[derive(Debug, Clone)]
pub struct AwsSession {
    pub config: SdkConfig,
    pub account: String,
    pub arn: String,
    pub region: String,
}

/// aws-config's default loader with the options' overrides; anything not overridden (retries
/// included) comes from the environment and the profile.
fn config_loader(opts: &SessionOptions) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(n) = opts.max_attempts {
        loader = loader.retry_config(retry_config(n));
    }
    if let Some(profile) = &opts.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &opts.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader
}

impl AwsSession {
    /// Load a session from the default chain / named profile, with region and endpoint
    /// overrides, and ask STS who it is.
    pub async fn load(opts: &SessionOptions) -> Result<Self, SessionError> {
        if opts.max_attempts.is_none() {
            let profile = opts.profile.as_deref();
            if let Some(e) = invalid_retry_env().or_else(|| invalid_retry_profile(profile)) {
                return Err(e);
            }
        }
        let mut loader = config_loader(opts);
        if let Some(client) = super::tls::ca_bundle_client()? {
            loader = loader.http_client(client);
        }
        let config = default_retries(loader.load().await, opts);
        let r = Self::from_config(config, opts.profile.clone()).await;
        match (&r, &opts.profile) {
            (Err(SessionError::NoRegion { .. } | SessionError::Identity(_)), Some(p))
                if !profile_exists(p) =>
            {
                Err(SessionError::ProfileNotFound { profile: p.clone() })
            }
            _ => r,
        }
    }

    /// A session from an already built config (tests, or a caller with its own setup).
    pub async fn from_config(
        config: SdkConfig,
        profile: Option<String>,
    ) -> Result<Self, SessionError> {
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or(SessionError::NoRegion { profile })?;
        let who = who_am_i(&config).await.map_err(|e| {
            if super::tls::is_untrusted_certificate(&e.message) {
                SessionError::UntrustedCertificate(e)
            } else {
                SessionError::Identity(e)
            }
        })?;
        Ok(Self {
            config,
            account: who.account,
            arn: who.arn,
            region,
        })
    }

    /// A session for `role` assumed with this session's credentials (session name `amishare`),
    /// optionally with an external id; verified with GetCallerIdentity.
    pub async fn assume_role(
        &self,
        role: &RoleSpec,
        external_id: Option<&str>,
    ) -> Result<Self, SessionError> {
        // A role named without an ARN is in the partition of the credentials that assume it.
        let role_arn = role.arn_in(partition_of(&self.arn));
        let provider = AssumedRole {
            sts: self.sts(),
            role_arn: role_arn.clone(),
            external_id: external_id.map(str::to_string),
        };
        let config = self
            .config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        let who = who_am_i(&config)
            .await
            .map_err(|source| SessionError::AssumeRole {
                role_arn: role_arn.clone(),
                source,
            })?;
        Ok(Self {
            config,
            account: who.account,
            arn: who.arn,
            region: self.region.clone(),
        })
    }

    /// The same credentials in another region (identity is per account, not re-read).
    #[must_use]
    pub fn in_region(&self, region: &str) -> Self {
        Self {
            config: self
                .config
                .to_builder()
                .region(Region::new(region.to_string()))
                .build(),
            account: self.account.clone(),
            arn: self.arn.clone(),
            region: region.to_string(),
        }
    }

    pub fn identity(&self) -> CallerIdentity {
        CallerIdentity {
            account: self.account.clone(),
            arn: self.arn.clone(),
        }
    }

    /// The interceptor that counts this session's calls (`aws::calls`, shown by `-v`).
    fn counter(&self) -> super::calls::CountCalls {
        super::calls::CountCalls {
            account: self.account.clone(),
        }
    }

    /// The retry partition of this session's `service` client: one per service, account and
    /// region. AWS throttles per account and Region ("Amazon EC2 throttles EC2 API requests for
    /// each AWS account on a per-Region basis", EC2 developer guide, "Request throttling for the
    /// Amazon EC2 API", docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html), so the
    /// adaptive rate limiter and the retry quota of one target must not slow the others down
    /// (the SDK's default partition is per service and region, shared by every account).
    fn retry_partition(&self, service: &str) -> aws_sdk_ec2::config::retry::RetryPartition {
        retry_partition(service, &self.account, &self.region)
    }

    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&self.config)
                .interceptor(self.counter())
                .retry_partition(self.retry_partition("organizations"))
                .build(),
        )
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&self.config)
                .interceptor(self.counter())
                .retry_partition(self.retry_partition("ec2"))
                .build(),
        )
    }

    pub fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(&self.config)
                .interceptor(self.counter())
                .retry_partition(self.retry_partition("kms"))
                .build(),
        )
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&self.config)
                .interceptor(self.counter())
                .retry_partition(self.retry_partition("iam"))
                .build(),
        )
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.config)
                .interceptor(self.counter())
                .retry_partition(self.retry_partition("sts"))
                .build(),
        )
    }

    pub fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.config)
    }

    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.config)
    }

    pub fn cloudtrail(&self) -> aws_sdk_cloudtrail::Client {
        aws_sdk_cloudtrail::Client::from_conf(
            aws_sdk_cloudtrail::config::Builder::from(&self.config)
                .interceptor(self.counter())
                .retry_partition(self.retry_partition("cloudtrail"))
                .build(),
        )
    }
}

/// Credentials of a role assumed (session name `amishare`) with an STS client of the source
/// session, which shares the source config's identity cache: refreshing these credentials does
/// not resolve the source credentials again while they are valid.
#[derive(Debug)]
struct AssumedRole {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    external_id: Option<String>,
}

impl AssumedRole {
    async fn assume(&self) -> aws_credential_types::provider::Result {
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(SESSION_NAME)
            .set_external_id(self.external_id.clone())
            .send()
            .await
            .map_err(CredentialsError::provider_error)?;
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

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}

/// STS GetCallerIdentity with this config.
pub async fn who_am_i(config: &SdkConfig) -> Result<CallerIdentity, AwsError> {
    let out = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(aws_err("sts", "GetCallerIdentity"))?;
    caller_identity(out.account(), out.arn())
}

/// Build a [`CallerIdentity`] from GetCallerIdentity's fields, refusing an incomplete answer.
pub fn caller_identity(
    account: Option<&str>,
    arn: Option<&str>,
) -> Result<CallerIdentity, AwsError> {
    match (account, arn) {
        (Some(account), Some(arn)) => Ok(CallerIdentity {
            account: account.to_string(),
            arn: arn.to_string(),
        }),
        _ => Err(AwsError::new(
            "sts",
            "GetCallerIdentity",
            "the answer lacks the account or the ARN",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_spec_from_name_or_arn() {
        assert_eq!(
            RoleSpec::parse("OrganizationAccountAccessRole", "444455556666").arn(),
            "arn:aws:iam::444455556666:role/OrganizationAccountAccessRole"
        );
        assert_eq!(
            RoleSpec::parse("/ops/Deployer", "444455556666").arn(),
            "arn:aws:iam::444455556666:role/ops/Deployer"
        );
        assert_eq!(
            RoleSpec::parse("arn:aws:iam::777788889999:role/X", "444455556666").arn(),
            "arn:aws:iam::777788889999:role/X"
        );
        assert_eq!(
            RoleSpec::parse("OrganizationAccountAccessRole", "444455556666").arn_in("aws-cn"),
            "arn:aws-cn:iam::444455556666:role/OrganizationAccountAccessRole"
        );
        assert_eq!(
            RoleSpec::parse("ops/Deployer", "444455556666").arn_in("aws-us-gov"),
            "arn:aws-us-gov:iam::444455556666:role/ops/Deployer"
        );
    }

    #[test]
    fn every_account_and_region_has_its_own_retry_partition() {
        let session = |account: &str, region: &str| AwsSession {
            config: SdkConfig::builder()
                .region(Region::new(region.to_string()))
                .behavior_version(BehaviorVersion::latest())
                .build(),
            account: account.to_string(),
            arn: format!("arn:aws:iam::{account}:root"),
            region: region.to_string(),
        };
        let name = |s: &AwsSession| s.ec2().config().retry_partition().map(ToString::to_string);
        let a = session("444455556666", "us-east-1");
        assert_eq!(name(&a).as_deref(), Some("ec2-444455556666-us-east-1"));
        assert_ne!(name(&a), name(&session("444455557777", "us-east-1")));
        assert_ne!(name(&a), name(&a.in_region("eu-west-1")));
    }

    /// The profile's `max_attempts` reaches the SdkConfig (amishare's loader sets no retry config
    /// of its own), and `SessionOptions::max_attempts` wins over it.
    #[tokio::test]
    #[allow(deprecated)] // ProfileFiles: the re-export aws-config still takes
    #[allow(clippy::print_stderr)] // a test says why it skipped
    async fn profile_max_attempts_is_honoured() {
        use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_some() {
            eprintln!("skipped: AWS_MAX_ATTEMPTS is set and takes precedence over the profile");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        let credentials = dir.path().join("credentials");
        std::fs::write(
            &config,
            "[profile slow]\nregion = us-east-1\nmax_attempts = 9\n",
        )
        .unwrap();
        std::fs::write(&credentials, "").unwrap();
        let files = || {
            ProfileFiles::builder()
                .with_file(ProfileFileKind::Config, &config)
                .with_file(ProfileFileKind::Credentials, &credentials)
                .build()
        };
        let attempts = |opts: SessionOptions| {
            let loader = config_loader(&opts).profile_files(files());
            async move { loader.load().await.retry_config().map(|r| r.max_attempts()) }
        };
        let slow = SessionOptions {
            profile: Some("slow".to_string()),
            ..SessionOptions::default()
        };
        assert_eq!(attempts(slow.clone()).await, Some(9));
        let overridden = SessionOptions {
            max_attempts: Some(2),
            ..slow
        };
        assert_eq!(attempts(overridden).await, Some(2));
    }
}
