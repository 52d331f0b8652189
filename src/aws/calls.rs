//! API calls counted per account and region (for `-v`): an SDK interceptor that every client of
//! an [`AwsSession`](super::session::AwsSession) carries, counting each attempt sent (retries
//! included, as AWS bills and throttles them) under the session's account and the region the
//! request goes to.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use aws_config::Region;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// (account, region) -> attempts sent.
type Counts = BTreeMap<(String, String), u64>;

fn counts() -> &'static Mutex<Counts> {
    static COUNTS: OnceLock<Mutex<Counts>> = OnceLock::new();
    COUNTS.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Count one attempt for `account` in `region`.
pub fn record(account: &str, region: &str) {
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
    }
}
