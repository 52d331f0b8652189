//! Adapters that implement the workflow's ports with `aws-sdk-*` clients: credentials and clients
//! per account/region (profiles, SSO, env, AssumeRole, `AWS_ENDPOINT_URL`) and error mapping that
//! keeps the AWS error code and request id.

pub mod clients;
pub mod error;
pub mod reader;
pub mod writer;
