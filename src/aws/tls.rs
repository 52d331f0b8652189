//! `AWS_CA_BUNDLE`: the CA certificates to trust for every AWS call (a corporate TLS proxy, a
//! private endpoint), as the AWS CLI and the other SDKs read it. aws-config for Rust does not read
//! the variable, so amishare builds the SDK's HTTPS client itself (rustls, the same client and
//! crypto aws-config uses by default) with a trust store of exactly that bundle: like the AWS CLI,
//! the bundle replaces the system's roots.
//!
//! A certificate the client does not trust is recognised in the error, so the message says to set
//! `AWS_CA_BUNDLE` instead of suggesting a credentials problem.

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use super::options::SessionError;

/// Why `AWS_CA_BUNDLE` cannot be used (a [`SessionError::CaBundle`] for the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundleError {
    pub path: String,
    pub reason: String,
}

impl From<CaBundleError> for SessionError {
    fn from(e: CaBundleError) -> Self {
        SessionError::CaBundle {
            path: e.path,
            reason: e.reason,
        }
    }
}

/// The variable the AWS CLI and SDKs read.
pub const CA_BUNDLE_VAR: &str = "AWS_CA_BUNDLE";

/// The HTTPS client trusting `AWS_CA_BUNDLE`, when the variable is set (and not empty).
pub fn ca_bundle_client() -> Result<Option<SharedHttpClient>, CaBundleError> {
    let Some(path) = std::env::var_os(CA_BUNDLE_VAR).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let shown = path.to_string_lossy().into_owned();
    let bad = |reason: String| CaBundleError {
        path: shown.clone(),
        reason,
    };
    let pem = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(bad("it holds no PEM certificate".into()));
    }
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(pem);
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    Ok(Some(
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context)
            .build_https(),
    ))
}

/// Does this error text say the server's certificate was not trusted?
pub fn is_untrusted_certificate(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("invalid peer certificate")
        || m.contains("unknownissuer")
        || m.contains("unknown issuer")
        || m.contains("certificate verify failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_certificates_are_recognised() {
        assert!(is_untrusted_certificate(
            "dispatch failure: io error: invalid peer certificate: UnknownIssuer"
        ));
        assert!(!is_untrusted_certificate("AccessDenied: not authorized"));
    }
}
