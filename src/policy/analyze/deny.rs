//! Findings for explicit denies: which Deny applies, and the Deny rewritten with the
//! `aws:ViaAWSService` exception when a network condition catches EC2's on-behalf calls.

use super::{find_statement, group_by_statement, is_network_key, Ctx};
use crate::policy::eval::{Decision, Outcome, Source};
use crate::policy::findings::{list_words, Finding, FindingCode, Fix, Severity};
use crate::policy::model::StatementRef;
use crate::policy::statement::{
    has_via_aws_service_exception, replacement_fix, with_via_aws_service_exception,
};

impl Ctx<'_> {
    pub(super) fn explicit_denies(&self, out: &mut Vec<Finding>) {
        for (source, code) in [
            (Source::KeyPolicy, FindingCode::KeyPolicyExplicitDeny),
            (
                Source::IdentityPolicy,
                FindingCode::IdentityPolicyExplicitDeny,
            ),
        ] {
            let pairs = self.checks.iter().flat_map(|c| {
                let sd = match source {
                    Source::KeyPolicy => &c.key_policy,
                    Source::IdentityPolicy => &c.identity_policies,
                };
                let refs = if sd.outcome == Outcome::ExplicitDeny {
                    sd.statements.clone()
                } else {
                    Vec::new()
                };
                refs.into_iter().map(move |s| (s, c.action.clone()))
            });
            for (sref, actions) in group_by_statement(pairs) {
                out.push(self.deny_finding(source, code, sref, actions));
            }
        }
    }

    pub(super) fn deny_finding(
        &self,
        source: Source,
        code: FindingCode,
        sref: StatementRef,
        actions: Vec<String>,
    ) -> Finding {
        let where_ = match source {
            Source::KeyPolicy => "key policy",
            Source::IdentityPolicy => "identity policy",
        };
        let st = match source {
            Source::KeyPolicy => find_statement(self.req.key.policy.iter(), &sref),
            Source::IdentityPolicy => find_statement(self.req.identity_policies.iter(), &sref),
        };
        let network: Vec<String> = st
            .as_ref()
            .map(|(s, _)| {
                s.conditions
                    .iter()
                    .filter(|c| is_network_key(&c.key))
                    .map(|c| c.describe())
                    .collect()
            })
            .unwrap_or_default();
        let mut message = format!(
            "{where_} statement {} denies {} to `{}` on EC2's behalf",
            sref.label(),
            list_words(&actions),
            self.caller.arn
        );
        let fix = match st {
            Some((s, json)) if !network.is_empty() && !has_via_aws_service_exception(s) => {
                message.push_str(&format!(
                    " ({} cannot hold for calls EC2 makes from its own infrastructure)",
                    network.join(", ")
                ));
                replacement_fix(
                    where_,
                    &sref.label(),
                    format!(
                        "add the exception `\"Bool\": {{\"aws:ViaAWSService\": \"false\"}}` to {} so it no longer applies to calls AWS services make on your behalf",
                        sref.label()
                    ),
                    with_via_aws_service_exception(&json),
                )
            }
            _ => Fix {
                summary: format!(
                    "remove or narrow Deny statement {} so it does not cover `{}` for {}",
                    sref.label(),
                    self.caller.arn,
                    list_words(&actions)
                ),
                remove: vec![format!(
                    "statement {} of the {where_} ({})",
                    sref.label(),
                    sref.policy
                )],
                ..Fix::default()
            },
        };
        Finding::new(code, Severity::Error, message)
            .with_statement(sref)
            .with_actions(actions)
            .with_fix(fix)
    }

    pub(super) fn denied_not_by_deny(&self) -> impl Iterator<Item = &Decision> {
        self.checks.iter().filter(|c| {
            c.policies_verdict != crate::policy::eval::Verdict::Allow
                && c.key_policy.outcome != Outcome::ExplicitDeny
                && c.identity_policies.outcome != Outcome::ExplicitDeny
        })
    }
}
