//! Findings for the principal's side: identity policies that lack actions, AWS managed keys
//! used across accounts, and Auto Scaling's role that needs a grant.

use super::Ctx;
use crate::policy::context::RequestContext;
use crate::policy::eval::{evaluate, Decision, Outcome, Source};
use crate::policy::findings::{
    identity_statements_for, key_statements_for, list_words, Finding, FindingCode, Fix, Severity,
};
use crate::policy::matching::Caller;
use crate::policy::scenario::AUTOSCALING_GRANT_OPERATIONS;
use serde_json::json;

impl Ctx<'_> {
    pub(super) fn aws_managed(&self) -> Finding {
        let r = self.key_region();
        Finding::new(
            FindingCode::AwsManagedKey,
            Severity::Error,
            format!(
                "key `{}` is AWS managed (e.g. `aws/ebs`): account {} can never use it, whatever the policies say",
                self.req.key.arn, self.caller.account
            ),
        )
        .with_fix(Fix {
            summary: format!(
                "in account {}, copy the AMI re-encrypted with a customer managed key, give account {} access to that key, and share the copy",
                self.key_arn.account, self.caller.account
            ),
            commands: vec![format!(
                "aws ec2 copy-image --region {r} --source-region {r} --source-image-id AMI_ID --name NAME --encrypted --kms-key-id CUSTOMER_MANAGED_KEY_ARN"
            )],
            ..Fix::default()
        })
    }

    pub(super) fn identity_reasons(&self, out: &mut Vec<Finding>, slr: bool) {
        let missing: Vec<&Decision> = self
            .denied_not_by_deny()
            .filter(|c| {
                c.identity_required
                    && c.identity_policies.outcome == Outcome::NoMatch
                    && c.grants.outcome != Outcome::Allow
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        let actions: Vec<String> = missing.iter().map(|c| c.action.clone()).collect();
        let failures: Vec<String> = missing
            .iter()
            .flat_map(|c| c.condition_failures.iter())
            .filter(|f| f.source == Source::IdentityPolicy)
            .map(|f| format!("{} ({})", f.statement, f.describe()))
            .fold(Vec::new(), |mut acc, s| {
                if !acc.contains(&s) {
                    acc.push(s);
                }
                acc
            });
        let why = if self.cross_account {
            format!(
                "the key is in account {}, so `{}`'s own IAM policies must allow them too",
                self.key_arn.account, self.caller.arn
            )
        } else {
            "the key policy delegates these actions to IAM".to_string()
        };
        let mut message = if self.req.identity_policies.is_empty() {
            format!(
                "no identity policy of `{}` was given, and none allows {}; {why}",
                self.caller.arn,
                list_words(&actions)
            )
        } else {
            format!(
                "the identity policies of `{}` do not allow {} on the key; {why}",
                self.caller.arn,
                list_words(&actions)
            )
        };
        if !failures.is_empty() {
            message.push_str(&format!("; conditions that fail: {}", failures.join(", ")));
        }
        let fix = if slr {
            Fix {
                summary: format!(
                    "Auto Scaling's service-linked role's policies cannot be edited: name `{}` in the key policy",
                    self.fix_principal()
                ),
                key_policy_statements: key_statements_for(&actions, &[self.fix_principal()]),
                ..Fix::default()
            }
        } else {
            Fix {
                summary: format!(
                    "attach an identity policy (e.g. `KmsKeyUsagePolicy`) with the statements below to `{}`",
                    self.fix_principal()
                ),
                identity_policy_statements: identity_statements_for(&actions, &self.req.key.arn),
                ..Fix::default()
            }
        };
        out.push(
            Finding::new(
                FindingCode::IdentityPolicyMissingAction,
                Severity::Error,
                message,
            )
            .with_actions(actions)
            .with_fix(fix),
        );
    }

    pub(super) fn needs_grant(&self) -> Finding {
        let role = self.caller.policy_arn().to_string();
        let acct = &self.caller.account;
        let missing: Vec<String> = self
            .denied_not_by_deny()
            .map(|c| c.action.clone())
            .collect();
        // Can a principal of the role's account create the grant (a direct call)?
        let granter = Caller::account(&self.caller.partition, acct);
        let mut ctx = RequestContext::direct(
            &granter,
            self.req.context,
            "kms:CreateGrant",
            self.key_region(),
        );
        ctx.set("kms:GranteePrincipal", role.clone());
        ctx.set_multi(
            "kms:GrantOperations",
            AUTOSCALING_GRANT_OPERATIONS
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
        );
        let probe = evaluate(
            self.req.key,
            self.key_arn,
            &granter,
            &[],
            "kms:CreateGrant",
            &ctx,
        );
        let key_allows = matches!(
            probe.key_policy.outcome,
            Outcome::Allow | Outcome::DelegatesToIam
        );
        let grant_stmt = json!({
            "Sid": format!("Allow account {acct} to create grants for Auto Scaling"),
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:{}:iam::{acct}:root", self.caller.partition) },
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": { "StringEquals": { "kms:GranteePrincipal": role } }
        });
        let identity_stmt = json!({
            "Sid": "AllowCreateGrantForAutoScaling",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": self.req.key.arn,
            "Condition": { "StringEquals": { "kms:GranteePrincipal": role } }
        });
        let summary = if key_allows {
            format!(
                "the key policy already lets account {acct}'s IAM principals call kms:CreateGrant directly: have one of them (with the identity statement below) create the grant"
            )
        } else {
            format!(
                "allow account {acct} to call kms:CreateGrant directly (no `kms:GrantIsForAWSResource` condition: this call is not made by an AWS service), then create the grant from account {acct}"
            )
        };
        Finding::new(
            FindingCode::NeedsGrant,
            Severity::Error,
            format!(
                "`{role}` is Auto Scaling's service-linked role in account {acct}: its policies cannot be edited, so it can use key `{}` (account {}) only through a grant, and no grant covers {}",
                self.req.key.arn,
                self.key_arn.account,
                list_words(&missing)
            ),
        )
        .with_actions(missing)
        .with_fix(Fix {
            summary,
            key_policy_statements: if key_allows { Vec::new() } else { vec![grant_stmt] },
            identity_policy_statements: vec![identity_stmt],
            remove: Vec::new(),
            commands: vec![format!(
                "aws kms create-grant --region {} --key-id {} --grantee-principal {role} --operations {}",
                self.key_region(),
                self.req.key.arn,
                AUTOSCALING_GRANT_OPERATIONS.join(" ")
            )],
            ..Fix::default()
        })
    }
}
