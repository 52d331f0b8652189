//! Where a session's credentials come from, and what `-v` says about it.
//!
//! A profile named explicitly (`--profile`, `--target-profile`, `--org-profile`,
//! `--key-account-profile`, a profile picked in the guided prompts or recorded in a saved plan)
//! resolves credentials from that profile only, with aws-config's
//! `ProfileFileCredentialsProvider` (static keys, `role_arn` + `source_profile` /
//! `credential_source`, SSO, `credential_process`): never from environment variables. The AWS
//! CLI does the same ("Command line options": `--profile` overrides the environment; AWS CLI
//! user guide, "Configuration and credential file settings", precedence). aws-config's
//! `ConfigLoader::profile_name` is not enough: its default chain still asks the environment
//! first (`DefaultCredentialsChain::build`: Environment, then Profile, ...). Without an explicit
//! profile the standard chain applies unchanged, and `AWS_PROFILE` is read by that chain after
//! the environment keys, as in the AWS CLI.
//!
//! [`CredentialSource`] names the source (the profile and its kind, "environment", a role
//! assumed, ...), never a secret; [`record_source`] keeps one line per account for `-v`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::SdkConfig;
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use super::profile::profile_value;

/// Where the credentials of a session come from (for `-v`; never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// A named profile: its name, what kind of credentials it holds, and whether it was named
    /// explicitly (else `AWS_PROFILE` or the default profile, read by the standard chain).
    Profile {
        name: String,
        kind: String,
        explicit: bool,
    },
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (the standard chain's first source).
    Environment,
    /// A role assumed with the credentials of account `by`.
    AssumedRole { role_arn: String, by: String },
    /// Another source of the standard chain (web identity, container, instance metadata).
    Other(&'static str),
    /// Not known (a session built from a caller's own config).
    Unknown,
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::Profile {
                name,
                kind,
                explicit: true,
            } => write!(f, "profile `{name}` ({kind})"),
            CredentialSource::Profile { name, kind, .. } => {
                write!(f, "profile `{name}` ({kind}; standard chain)")
            }
            CredentialSource::Environment => f.write_str("environment"),
            CredentialSource::AssumedRole { role_arn, by } => {
                write!(f, "role `{role_arn}` assumed with the credentials of {by}")
            }
            CredentialSource::Other(what) => f.write_str(what),
            CredentialSource::Unknown => f.write_str("unknown"),
        }
    }
}

/// What kind of credentials `profile` holds, as its settings say (first match wins, in the
/// order aws-config resolves them).
pub fn profile_kind(profile: &str) -> String {
    let v = |key: &str| profile_value(profile, key);
    if let Some(role) = v("role_arn") {
        if let Some(src) = v("source_profile") {
            return format!("role_arn `{role}` + source_profile `{src}`");
        }
        if let Some(src) = v("credential_source") {
            return format!("role_arn `{role}` + credential_source `{src}`");
        }
        if v("web_identity_token_file").is_some() {
            return format!("role_arn `{role}` + web identity token");
        }
        return format!("role_arn `{role}`");
    }
    if v("sso_session").is_some() || v("sso_start_url").is_some() {
        return "SSO".into();
    }
    if v("credential_process").is_some() {
        return "credential_process".into();
    }
    if v("aws_access_key_id").is_some() {
        return "static keys".into();
    }
    "no credentials found in the profile".into()
}

/// The explicit profile's own credentials provider: `profile` only, with the loaded config's
/// region, retry and timeout settings and HTTPS client (`AWS_CA_BUNDLE`) for the STS / SSO calls
/// its chain makes.
pub fn explicit_profile_provider(
    profile: &str,
    config: &SdkConfig,
    http: Option<SharedHttpClient>,
) -> ProfileFileCredentialsProvider {
    let mut conf = ProviderConfig::without_region().with_region(config.region().cloned());
    if let Some(http) = http {
        conf = conf.with_http_client(http);
    }
    if let Some(retry) = config.retry_config() {
        conf = conf.with_retry_config(retry.clone());
    }
    if let Some(timeout) = config.timeout_config() {
        conf = conf.with_timeout_config(timeout.clone());
    }
    ProfileFileCredentialsProvider::builder()
        .configure(&conf)
        .profile_name(profile)
        .build()
}

/// The standard chain's provider, remembering which of its sources answered (the features the
/// credentials carry) so `-v` can say so.
#[derive(Debug, Clone)]
pub struct Observed {
    inner: SharedCredentialsProvider,
    seen: Arc<Mutex<Vec<AwsCredentialFeature>>>,
}

impl Observed {
    pub fn new(inner: SharedCredentialsProvider) -> Self {
        Self {
            inner,
            seen: Arc::default(),
        }
    }

    /// The source of the credentials loaded last (`Unknown` before the first load).
    pub fn source(&self) -> CredentialSource {
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        chain_source(&seen, std::env::var("AWS_PROFILE").ok())
    }
}

impl ProvideCredentials for Observed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let c = self.inner.provide_credentials().await?;
            if let (Some(f), Ok(mut seen)) = (
                c.get_property::<Vec<AwsCredentialFeature>>(),
                self.seen.lock(),
            ) {
                seen.clone_from(f);
            }
            Ok(c)
        })
    }
}

/// The standard chain's source from the features of its credentials (aws-config tags them:
/// `CredentialsEnvVars` for the environment, `CredentialsProfile` for a profile, ...).
fn chain_source(
    features: &[AwsCredentialFeature],
    aws_profile: Option<String>,
) -> CredentialSource {
    use AwsCredentialFeature as F;
    let has = |f: F| features.contains(&f);
    if has(F::CredentialsEnvVars) {
        CredentialSource::Environment
    } else if has(F::CredentialsProfile) || has(F::CredentialsProfileSso) {
        let name = aws_profile
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "default".into());
        CredentialSource::Profile {
            kind: profile_kind(&name),
            name,
            explicit: false,
        }
    } else if has(F::CredentialsProfileStsWebIdToken) || has(F::CredentialsEnvVarsStsWebIdToken) {
        CredentialSource::Other("web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)")
    } else if has(F::CredentialsHttp) {
        CredentialSource::Other("container credentials (ECS / EKS)")
    } else if has(F::CredentialsImds) {
        CredentialSource::Other("instance metadata (IMDS)")
    } else {
        CredentialSource::Unknown
    }
}

/// What each account's credentials were, by role in the run: (account, role) -> source.
type Sources = BTreeMap<(String, String), String>;

fn sources() -> &'static Mutex<Sources> {
    static SOURCES: OnceLock<Mutex<Sources>> = OnceLock::new();
    SOURCES.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Remember, for `-v`, that `account` acts as `role` (`source`, `target`, `organizations`,
/// `key account`) with credentials from `source` (how it was chosen, e.g. the flag, included).
pub fn record_source(account: &str, role: &str, source: String) {
    if let Ok(mut s) = sources().lock() {
        s.insert((account.to_string(), role.to_string()), source);
    }
}

/// The credential sources recorded so far, per (account, role), sorted.
pub fn sources_snapshot() -> Vec<((String, String), String)> {
    sources()
        .lock()
        .map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_source_is_read_from_the_credentials_features() {
        use AwsCredentialFeature as F;
        assert_eq!(
            chain_source(&[F::CredentialsEnvVars], Some("ops".into())),
            CredentialSource::Environment
        );
        assert_eq!(
            chain_source(&[F::CredentialsImds], None).to_string(),
            "instance metadata (IMDS)"
        );
        assert_eq!(chain_source(&[], None), CredentialSource::Unknown);
        let p = chain_source(&[F::CredentialsProfile], None);
        assert!(
            matches!(&p, CredentialSource::Profile { name, explicit: false, .. } if name == "default"),
            "{p:?}"
        );
    }

    #[test]
    fn sources_say_no_secret() {
        let s = CredentialSource::Profile {
            name: "src".into(),
            kind: "role_arn `arn:aws:iam::111122223333:role/R` + source_profile `base`".into(),
            explicit: true,
        };
        assert_eq!(
            s.to_string(),
            "profile `src` (role_arn `arn:aws:iam::111122223333:role/R` + source_profile `base`)"
        );
    }
}
