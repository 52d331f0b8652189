//! SDK configuration and clients per account and region.
//!
//! [`AwsSession::load`] resolves credentials and region: a profile named explicitly
//! ([`SessionOptions::profile`]) gives the credentials from that profile only, never from the
//! environment ([`super::credentials`]); without one, aws-config's standard chain (environment,
//! `AWS_PROFILE` / default profile incl. SSO, web identity, container, IMDS). Region, retries and
//! endpoints resolve as aws-config does for the profile (a region override wins), honouring
//! `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`) natively; an explicit endpoint in
//! [`SessionOptions`] wins. [`AwsSession::assume_role`] derives a session for another account
//! with STS AssumeRole (session name `amishare`, [`super::assume`]). Every session knows who it
//! is (STS GetCallerIdentity), where its credentials come from ([`CredentialSource`], for `-v`),
//! and hands out clients for EC2, KMS, IAM, STS and CloudTrail.
//!
//! Credentials are loaded once per session and account ([`OneLoad`]): every client and region
//! of a session shares one load, refreshed only near expiry, and the STS client that assumes a
//! target role is built from the source session's config, so it reuses the source credentials.
//! (aws-config's `AssumeRoleProvider` is not used: it builds its STS client with
//! `IdentityCache::no_cache()`, so a source profile with `role_arn` + `source_profile` was
//! assumed again for every target.)
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

use crate::domain::arn::{account_of, partition_of, role_arn, DEFAULT_PARTITION};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;

use super::credentials::{explicit_profile_provider, profile_kind, CredentialSource, Observed};
use super::error::{aws_err, AwsError};
use super::one_load::OneLoad;
pub use super::options::{SessionError, SessionOptions};
use super::profile::{invalid_retry_env, invalid_retry_profile, profile_exists};
pub(crate) use super::retries::retry_partition;
pub use super::retries::DEFAULT_MAX_ATTEMPTS;
use super::retries::{default_retries, retry_config};
use crate::workflow::inventory::CallerIdentity;

pub use super::assume::SESSION_NAME;

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

/// Credentials and region for one account, with who they are.
#[derive(Debug, Clone)]
pub struct AwsSession {
    pub config: SdkConfig,
    pub account: String,
    pub arn: String,
    pub region: String,
    /// Where the credentials come from (`-v`; never a secret).
    pub credentials: CredentialSource,
}

/// aws-config's default loader with the options' overrides; anything not overridden (retries
/// included) comes from the environment and the profile.
fn config_loader(opts: &SessionOptions) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .identity_cache(super::one_load::identity_cache());
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
        let http = super::tls::ca_bundle_client()?;
        if let Some(client) = &http {
            loader = loader.http_client(client.clone());
        }
        let config = default_retries(loader.load().await, opts);
        // An explicit profile's credentials come from that profile only; the standard chain
        // (environment first) otherwise. Either way one load is shared by every client.
        let (provider, observed) = match &opts.profile {
            Some(p) => (
                SharedCredentialsProvider::new(OneLoad::new(explicit_profile_provider(
                    p, &config, http,
                ))),
                None,
            ),
            None => {
                let chain = config.credentials_provider().ok_or_else(|| {
                    SessionError::Identity(AwsError::new(
                        "sts",
                        "GetCallerIdentity",
                        "no credentials provider",
                    ))
                })?;
                let observed = Observed::new(chain);
                (
                    SharedCredentialsProvider::new(OneLoad::new(observed.clone())),
                    Some(observed),
                )
            }
        };
        let config = config.to_builder().credentials_provider(provider).build();
        let r = Self::from_config(config, opts.profile.clone()).await;
        let named = opts
            .profile
            .clone()
            .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
        match (r, named) {
            (Err(SessionError::NoRegion { .. } | SessionError::Identity(_)), Some(p))
                if !profile_exists(&p) =>
            {
                Err(SessionError::ProfileNotFound { profile: p })
            }
            (Ok(mut session), _) => {
                session.credentials = match (&opts.profile, observed) {
                    (Some(name), _) => CredentialSource::Profile {
                        name: name.clone(),
                        kind: profile_kind(name),
                        explicit: true,
                    },
                    (None, Some(o)) => o.source(),
                    (None, None) => CredentialSource::Unknown,
                };
                Ok(session)
            }
            (r, _) => r,
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
            credentials: CredentialSource::Unknown,
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
        let config = self.role_config(&role_arn, external_id);
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
            credentials: CredentialSource::AssumedRole {
                role_arn,
                by: self.account.clone(),
            },
        })
    }

    /// This session's config acting as `role_arn` (assumed once, when first used, and shared by
    /// every client and region made from the config: [`super::assume::target_role`]).
    pub(crate) fn role_config(&self, role_arn: &str, external_id: Option<&str>) -> SdkConfig {
        let provider = super::assume::target_role(self.sts(), role_arn, external_id);
        self.config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build()
    }

    /// A session acting as the launcher role `role_arn`, assumed with this session's
    /// credentials (session name `amishare-test-launch`): one AssumeRole per (this identity,
    /// role) for the run, shared by every region ([`super::assume::launcher_credentials`]).
    pub async fn assume_launcher(&self, role_arn: &str) -> Result<Self, AwsError> {
        let (credentials, arn) =
            super::assume::launcher_credentials(&self.sts(), &self.arn, role_arn).await?;
        let config = self
            .config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        Ok(Self {
            config,
            account: account_of(role_arn)
                .map(str::to_string)
                .unwrap_or_else(|| self.account.clone()),
            arn,
            region: self.region.clone(),
            credentials: CredentialSource::AssumedRole {
                role_arn: role_arn.to_string(),
                by: self.account.clone(),
            },
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
            credentials: self.credentials.clone(),
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
            credentials: CredentialSource::Unknown,
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
