//! The pure policy core: parse, evaluate, explain and edit IAM identity and KMS key policies.
//!
//! This module must not depend on tokio, the AWS SDK, the filesystem or the network; everything
//! here takes values and returns values, so it is testable with table tests and fixtures.
