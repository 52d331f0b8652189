//! The fake cloud's guardrail reads: permissions boundaries (by user or role ARN) and the
//! Allowed AMIs setting per `account/region` (default: `disabled`, as AWS's default is). No
//! decisions: the workflow and the policy engine decide.

use super::{role_of, Cloud, FakeReader};
use crate::workflow::allowed_images::AllowedImagesSettings;
use crate::workflow::guardrail_facts::BoundaryDoc;
use crate::workflow::ports::{AwsError, Seen};

/// What the fake keeps.
#[derive(Debug, Default)]
pub struct GuardrailState {
    /// User or role ARN -> its boundary.
    pub boundaries: std::collections::BTreeMap<String, BoundaryDoc>,
    /// `account/region` -> the setting.
    pub allowed_images: std::collections::BTreeMap<String, AllowedImagesSettings>,
}

impl Cloud {
    /// Set `principal`'s (a user or role ARN) permissions boundary.
    pub fn set_boundary(&self, principal: &str, policy_arn: &str, document: &str) {
        self.lock().guardrails.boundaries.insert(
            principal.to_string(),
            BoundaryDoc {
                arn: policy_arn.to_string(),
                document: document.to_string(),
            },
        );
    }

    /// Set the Allowed AMIs setting of `account` in `region`.
    pub fn set_allowed_images(&self, account: &str, region: &str, s: AllowedImagesSettings) {
        self.lock()
            .guardrails
            .allowed_images
            .insert(format!("{account}/{region}"), s);
    }
}

impl FakeReader {
    pub(super) fn boundary_of(
        &self,
        principal_arn: &str,
    ) -> Result<Seen<Option<BoundaryDoc>>, AwsError> {
        let s = match self.0.call("GetRole", principal_arn) {
            Ok(s) => s,
            Err(e) => return Seen::from_result(Err(e)),
        };
        Ok(Seen::Visible(
            s.guardrails
                .boundaries
                .get(&role_of(principal_arn))
                .cloned(),
        ))
    }

    pub(super) fn allowed_images(&self) -> Result<Seen<AllowedImagesSettings>, AwsError> {
        let key = format!("{}/{}", self.0.account(), self.0.region);
        let s = match self.0.call("GetAllowedImagesSettings", &key) {
            Ok(s) => s,
            Err(e) => return Seen::from_result(Err(e)),
        };
        Ok(Seen::Visible(
            s.guardrails
                .allowed_images
                .get(&key)
                .cloned()
                .unwrap_or_else(|| AllowedImagesSettings {
                    state: "disabled".into(),
                    ..AllowedImagesSettings::default()
                }),
        ))
    }
}
