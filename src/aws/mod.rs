//! Adapters that implement the workflow's ports with `aws-sdk-*` clients.
//!
//! - [`session`]: the composition of SDK clients: credentials and region per account (profiles,
//!   SSO, env, AssumeRole, `AWS_ENDPOINT_URL`), who they are, and the clients they hand out.
//! - [`reader`] / [`writer`]: the `Reader` / `Writer` ports, one file per AWS service.
//! - [`error`]: SDK errors mapped to `AwsError`, keeping the AWS error code and request id.
//! - [`calls`]: API calls counted per account and region (an SDK interceptor; `-v` shows them).

pub mod assume;
pub mod calls;
pub mod error;
pub mod profile;
pub mod reader;
pub mod retries;
pub mod session;
pub mod tls;
pub mod writer;

/// The former name of [`session`], kept so `crate::aws::clients::...` paths keep working.
pub use self::session as clients;
