//! Adapters that implement the workflow's ports with `aws-sdk-*` clients.
//!
//! - [`session`]: the composition of SDK clients: credentials and region per account (profiles,
//!   SSO, env, AssumeRole, `AWS_ENDPOINT_URL`), who they are, and the clients they hand out.
//! - [`reader`] / [`writer`]: the `Reader` / `Writer` ports, one file per AWS service.
//! - [`error`]: SDK errors mapped to `AwsError`, keeping the AWS error code and request id.
//! - [`calls`]: API calls counted per account and region (an SDK interceptor; `-v` shows them).
//! - [`credentials`]: where each session's credentials come from (an explicit profile only, or
//!   the standard chain), named for `-v`; [`one_load`]: credentials loaded once and shared;
//!   [`assume`]: AssumeRole once per target account and launcher role.
//! - [`options`]: what a session is built from and why building one fails.

pub mod assume;
pub mod calls;
pub mod credentials;
pub mod error;
#[cfg(test)]
mod fake_sts;
pub mod one_load;
pub mod options;
pub mod profile;
pub mod reader;
pub mod retries;
pub mod session;
pub mod tls;
pub mod writer;

/// The former name of [`session`], kept so `crate::aws::clients::...` paths keep working.
pub use self::session as clients;
