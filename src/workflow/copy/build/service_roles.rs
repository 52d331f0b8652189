//! Auto Scaling's service-linked role `AWSServiceRoleForAutoScaling` where a `--grant` names it
//! and it does not exist yet (an account that never had an Auto Scaling group, e.g. a new
//! account of an OU). KMS refuses a key policy or a grant naming a role that does not exist, and
//! without its grant the test group's launch fails with `Client.InternalError`, so the plan
//! creates the role (iam:CreateServiceLinkedRole, `autoscaling.amazonaws.com`) before the grant
//! or key policy statement that names it: the same role AWS creates with the account's first
//! group (Auto Scaling user guide, "Service-linked roles for Amazon EC2 Auto Scaling"; the
//! CreateAutoScalingGroup API reference: "which it creates if it does not exist"). Rollback
//! keeps it: every group of the account launches with it. Pure.

use std::borrow::Cow;

use super::Draft;
use crate::workflow::copy::discover::is_missing_service_role;
use crate::workflow::copy::facts::Discovery;
use crate::workflow::plan::{Action, PlanOptions};

/// The service Auto Scaling's service-linked role is linked to.
pub const AUTOSCALING_SERVICE: &str = "autoscaling.amazonaws.com";

/// Plan the creation of every missing Auto Scaling role of the target accounts amishare has
/// credentials for; the discovery as the rest of the plan sees it (those roles existing).
pub fn plan_service_roles<'a>(
    d: &'a Discovery,
    opts: &PlanOptions,
    draft: &mut Draft,
) -> Cow<'a, Discovery> {
    let mut planned: Option<Discovery> = None;
    let iam_region = opts
        .target_regions
        .first()
        .cloned()
        .unwrap_or_else(|| d.source_region.clone());
    for (i, t) in d.targets.iter().enumerate() {
        if t.identity.is_none() {
            continue;
        }
        for (j, p) in t.principals.iter().enumerate() {
            if !is_missing_service_role(p) {
                continue;
            }
            draft.push(
                &t.account,
                &iam_region,
                Action::CreateServiceLinkedRole {
                    service: AUTOSCALING_SERVICE.to_string(),
                    role_arn: p.arn.clone(),
                },
            );
            draft.notes.push(format!(
                "{}: Auto Scaling's service-linked role does not exist yet: the plan creates it (rollback keeps it)",
                t.account
            ));
            planned.get_or_insert_with(|| d.clone()).targets[i].principals[j].error = None;
        }
    }
    planned.map_or(Cow::Borrowed(d), Cow::Owned)
}
