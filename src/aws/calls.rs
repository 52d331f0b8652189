//! API calls counted per account and region (for `-v`): an SDK interceptor that every client of
//! an [`AwsSession`](super::session::AwsSession) carries, counting each attempt sent (retries
//! included, as AWS bills and throttles them) under the session's account and the region the
//! request goes to. It also counts the attempts AWS answered with a throttling error, and the
//! throttling errors the SDK's retries did not absorb: [`SdkThrottleSignal`] hands those totals
//! to the workflow's adaptive concurrency (`workflow::throttle`). STS AssumeRole attempts are
//! also counted per calling account (one per target account and launcher role is expected).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use aws_config::Region;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::workflow::throttle::{Counts as Totals, ThrottleSignal};

/// (account, region) -> attempts sent.
type Counts = BTreeMap<(String, String), u64>;

fn counts() -> &'static Mutex<Counts> {
    static COUNTS: OnceLock<Mutex<Counts>> = OnceLock::new();
    COUNTS.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Totals over every account and region: attempts, throttled attempts, surfaced throttling.
static CALLS: AtomicU64 = AtomicU64::new(0);
static THROTTLED: AtomicU64 = AtomicU64::new(0);
static SURFACED: AtomicU64 = AtomicU64::new(0);

fn throttled_counts() -> &'static Mutex<Counts> {
    static COUNTS: OnceLock<Mutex<Counts>> = OnceLock::new();
    COUNTS.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// The error codes AWS throttles with (the SDK's own list of throttling errors, aws-runtime's
/// retry classifiers; `Throttl` covers Throttling, ThrottlingException, ThrottledException,
/// RequestThrottled(Exception), EC2ThrottledException).
const THROTTLING_CODES: [&str; 7] = [
    "Throttl",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "BandwidthLimitExceeded",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceeded",
];

/// Is this answer a throttling error? HTTP 429, or an error status whose error type header
/// (JSON protocols) or body (XML protocols: EC2, IAM, STS) names a throttling code.
fn is_throttling(resp: &HttpResponse) -> bool {
    let status = resp.status().as_u16();
    if status < 400 {
        return false;
    }
    if status == 429 {
        return true;
    }
    let header = resp.headers().get("x-amzn-ErrorType").unwrap_or("");
    let body = resp
        .body()
        .bytes()
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(4096)]).into_owned())
        .unwrap_or_default();
    THROTTLING_CODES
        .iter()
        .any(|c| header.contains(c) || body.contains(c))
}

/// Count one throttled attempt for `account` in `region`.
pub fn record_throttled(account: &str, region: &str) {
    THROTTLED.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut c) = throttled_counts().lock() {
        *c.entry((account.to_string(), region.to_string()))
            .or_insert(0) += 1;
    }
}

/// The throttled attempts counted so far, per (account, region), sorted.
pub fn throttled_snapshot() -> Vec<((String, String), u64)> {
    throttled_counts()
        .lock()
        .map(|c| c.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default()
}

/// The process's totals, for the workflow's adaptive concurrency.
#[derive(Debug, Clone, Copy, Default)]
pub struct SdkThrottleSignal;

impl ThrottleSignal for SdkThrottleSignal {
    fn totals(&self) -> Totals {
        Totals {
            calls: CALLS.load(Ordering::Relaxed),
            throttled: THROTTLED.load(Ordering::Relaxed),
            surfaced: SURFACED.load(Ordering::Relaxed),
        }
    }
}

fn assume_role_counts() -> &'static Mutex<BTreeMap<String, u64>> {
    static COUNTS: OnceLock<Mutex<BTreeMap<String, u64>>> = OnceLock::new();
    COUNTS.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Count one STS AssumeRole attempt made with `account`'s credentials.
pub fn record_assume_role(account: &str) {
    if let Ok(mut c) = assume_role_counts().lock() {
        *c.entry(account.to_string()).or_insert(0) += 1;
    }
}

/// The STS AssumeRole attempts counted so far, per calling account, sorted (`-v`: one per
/// target account and launcher role is the expected number).
pub fn assume_role_snapshot() -> Vec<(String, u64)> {
    assume_role_counts()
        .lock()
        .map(|c| c.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default()
}

/// Count one attempt for `account` in `region`.
pub fn record(account: &str, region: &str) {
    CALLS.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut c) = counts().lock() {
        *c.entry((account.to_string(), region.to_string()))
            .or_insert(0) += 1;
    }
}

/// The calls counted so far, per (account, region), sorted.
pub fn snapshot() -> Vec<((String, String), u64)> {
    counts()
        .lock()
        .map(|c| c.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default()
}

/// The interceptor: counts every attempt of a client of `account`'s session; the region is the
/// request's own (a client switched to another region counts there; IAM, Organizations and the
/// other global services count under the region their client was built in).
#[derive(Debug, Clone)]
pub struct CountCalls {
    pub account: String,
}

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "amishare::CountCalls"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let region = cfg
            .load::<Region>()
            .map_or_else(|| "-".to_string(), ToString::to_string);
        record(&self.account, &region);
        if cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == "AssumeRole" && m.service().eq_ignore_ascii_case("sts"))
        {
            record_assume_role(&self.account);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.response().is_some_and(is_throttling) {
            let region = cfg
                .load::<Region>()
                .map_or_else(|| "-".to_string(), ToString::to_string);
            record_throttled(&self.account, &region);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The last attempt's answer is the call's: a throttling error here reached amishare.
        if context.response().is_some_and(is_throttling) {
            SURFACED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_per_account_and_region() {
        record("000000000077", "eu-west-3");
        record("000000000077", "eu-west-3");
        record("000000000077", "ap-south-2");
        let s = snapshot();
        let get = |r: &str| {
            s.iter()
                .find(|((a, reg), _)| a == "000000000077" && reg == r)
                .map(|(_, n)| *n)
        };
        assert_eq!(get("eu-west-3"), Some(2));
        assert_eq!(get("ap-south-2"), Some(1));
        let before = SdkThrottleSignal.totals();
        record_throttled("000000000077", "eu-west-3");
        let after = SdkThrottleSignal.totals();
        assert!(after.throttled > before.throttled);
        assert!(throttled_snapshot()
            .iter()
            .any(|((a, r), n)| a == "000000000077" && r == "eu-west-3" && *n >= 1));
    }

    fn answer(status: u16, header: Option<&str>, body: &str) -> HttpResponse {
        let mut r = HttpResponse::new(
            status.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(body.to_string()),
        );
        if let Some(h) = header {
            r.headers_mut().insert("x-amzn-ErrorType", h.to_string());
        }
        r
    }

    #[test]
    fn throttling_answers_are_recognised() {
        let ec2 = "<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors></Response>";
        assert!(is_throttling(&answer(503, None, ec2)));
        assert!(is_throttling(&answer(
            400,
            Some("ThrottlingException"),
            "{}"
        )));
        assert!(is_throttling(&answer(429, None, "")));
        let iam = "<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>";
        assert!(is_throttling(&answer(400, None, iam)));
        assert!(!is_throttling(&answer(200, None, ec2)), "a success never");
        let denied = "<Response><Errors><Error><Code>UnauthorizedOperation</Code></Error></Errors></Response>";
        assert!(!is_throttling(&answer(403, None, denied)));
        assert!(!is_throttling(&answer(500, Some("InternalFailure"), "{}")));
    }
}
