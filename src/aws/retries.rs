//! amishare's retry settings: the default retry config (adaptive mode, Retry Behavior 2.1),
//! `--max-attempts`, and the retry partition of every client (one per service, account and
//! region). Used by [`super::session`].

use aws_config::retry::{RetryConfig, RetryMode};
use aws_config::SdkConfig;
use aws_smithy_types::retry::RetrySpec;

use super::options::SessionOptions;

/// Attempts per call in amishare's default (adaptive) retry mode.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// The loaded retry config, or amishare's adaptive default when nothing configured one (no
/// `--max-attempts`, no `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE`, and aws-config fell back to its
/// own default: standard mode, 3 attempts).
pub(super) fn default_retries(config: SdkConfig, opts: &SessionOptions) -> SdkConfig {
    let configured = opts.max_attempts.is_some()
        || std::env::var_os("AWS_MAX_ATTEMPTS").is_some()
        || std::env::var_os("AWS_RETRY_MODE").is_some();
    let sdk_default = config
        .retry_config()
        .is_none_or(|r| r.mode() == RetryMode::Standard && r.max_attempts() == 3);
    if configured || !sdk_default {
        return config;
    }
    config
        .to_builder()
        .retry_config(default_retry_config())
        .build()
}

/// amishare's default: adaptive mode, [`DEFAULT_MAX_ATTEMPTS`] attempts, under Retry Behavior
/// 2.1. Under the SDK's legacy behaviour (2.0, what a plain `RetryConfig::adaptive()` gets) the
/// adaptive rate limiter charges a throttled retry 10 tokens ("RetryTimeout" cost) from a bucket
/// whose fill rate a throttle drops to 0.7 x the partition's measured rate, at least 0.5/s, and
/// capacity to about 1 token: in a partition of one account and region, which sends a request
/// or two a second, EVERY throttled retry waited (10 - 1) / 0.5 = 18 s (aws-smithy-runtime
/// 1.16, `client_rate_limiter.rs` and `check_rate_limiter_for_delay` in `strategy/standard.rs`;
/// measured: the 20 x 3 bench with 30 % of EC2 calls throttled waited 17 s on average after a
/// throttled attempt and took 327 s, 118 s of it discovery). Under 2.1 every attempt costs one
/// send token and the backoff is the exponential one with jitter (from 1 s for throttling),
/// so the limiter still slows a throttled partition down without parking it.
fn default_retry_config() -> RetryConfig {
    RetryConfig::adaptive()
        .with_max_attempts(DEFAULT_MAX_ATTEMPTS)
        .with_retry_spec(RetrySpec::v2_1())
}

pub(super) fn retry_config(max_attempts: u32) -> RetryConfig {
    match max_attempts {
        0 | 1 => RetryConfig::disabled(),
        n => RetryConfig::standard().with_max_attempts(n),
    }
}

/// The retry partition of a `service` client of `account` in `region` (see
/// [`AwsSession`]'s clients): also for a client moved to another region
/// (`SdkReader::in_region`), whose partition must follow the region.
pub(crate) fn retry_partition(
    service: &str,
    account: &str,
    region: &str,
) -> aws_sdk_ec2::config::retry::RetryPartition {
    aws_sdk_ec2::config::retry::RetryPartition::new(format!("{service}-{account}-{region}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn adaptive_retries_unless_configured() {
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_some()
            || std::env::var_os("AWS_RETRY_MODE").is_some()
        {
            return;
        }
        let plain = SdkConfig::builder()
            .retry_config(RetryConfig::standard())
            .build();
        let r = default_retries(plain.clone(), &SessionOptions::default());
        let r = r.retry_config().unwrap();
        assert_eq!(
            (r.mode(), r.max_attempts()),
            (RetryMode::Adaptive, DEFAULT_MAX_ATTEMPTS)
        );
        assert!(
            r.retry_spec()
                .is_some_and(|s| s.is_at_least(RetrySpec::V2_1)),
            "retry behaviour 2.1: one send token per attempt, not 10 per throttled retry"
        );
        let given = SessionOptions {
            max_attempts: Some(1),
            ..SessionOptions::default()
        };
        let r = default_retries(plain, &given);
        assert_eq!(r.retry_config().unwrap().mode(), RetryMode::Standard);
        let profile = SdkConfig::builder()
            .retry_config(RetryConfig::standard().with_max_attempts(9))
            .build();
        let r = default_retries(profile, &SessionOptions::default());
        assert_eq!(r.retry_config().unwrap().max_attempts(), 9);
    }

    #[test]
    fn retries_configurable() {
        assert_eq!(retry_config(1).max_attempts(), 1);
        assert_eq!(retry_config(7).max_attempts(), 7);
    }
}
