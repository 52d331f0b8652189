//! The connections a workflow talks through: one [`Conn`] (a reader and a writer) per account and
//! region, the source's and every target account's ([`World`]). Built by the CLI's composition
//! root from the credentials it resolved; used by copy, apply and rollback.

use std::collections::BTreeMap;

use super::inventory::CallerIdentity;

/// Clients for one account in one region.
pub struct Conn<R, W> {
    pub reader: R,
    pub writer: W,
}

/// A target account: its clients per region (none: no credentials, hand-off only).
pub struct TargetAccess<R, W> {
    pub account: String,
    pub identity: Option<CallerIdentity>,
    pub regions: BTreeMap<String, Conn<R, W>>,
}

/// Every account and region the workflow talks to.
pub struct World<R, W> {
    /// The source account in the source region.
    pub source: Conn<R, W>,
    pub targets: Vec<TargetAccess<R, W>>,
}

impl<R, W> World<R, W> {
    pub fn target(&self, account: &str) -> Option<&TargetAccess<R, W>> {
        self.targets.iter().find(|t| t.account == account)
    }

    pub fn target_conn(&self, account: &str, region: &str) -> Option<&Conn<R, W>> {
        self.target(account).and_then(|t| t.regions.get(region))
    }
}
