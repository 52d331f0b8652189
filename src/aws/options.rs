//! What a session is built from ([`SessionOptions`]) and why building one fails
//! ([`SessionError`]): the vocabulary [`super::session`] shares with the modules it builds on
//! ([`super::profile`], [`super::retries`], [`super::tls`]), kept below all of them so none of
//! them imports the session module back.

use super::error::AwsError;

/// How to build a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOptions {
    /// A profile named explicitly (`--profile`, `--target-profile`, `--org-profile`,
    /// `--key-account-profile`, a profile picked in the guided prompts or recorded in a saved
    /// plan): credentials from that profile only, never from the environment. `None`: the
    /// standard chain (environment keys first, then `AWS_PROFILE`, ...), as the AWS CLI does.
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
