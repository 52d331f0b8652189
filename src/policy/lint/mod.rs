//! Lints: problems reported even when access is allowed (docs/DESIGN.md's warning codes), one
//! function per rule: `common` holds the rules for every statement, `key` those for key policy
//! statements only.
//!
//! | code | severity | what | rule |
//! | --- | --- | --- | --- |
//! | `invalid-principal` | error | partial wildcard in a principal (`role/*`): KMS rejects the policy | `key::invalid_principal` |
//! | `ineffective-statement` | warning | no Resource; no Principal; `ec2.amazonaws.com` service principal; `kms:GrantIsForAWSResource` on non-grant actions only | `common::no_resource`, `key::no_principal`, `key::ec2_service_principal`, `common::grant_condition_on_non_grant_actions` |
//! | `grant-condition-on-non-grant-action` | warning | `kms:GrantIsForAWSResource` on a statement mixing grant and non-grant actions | `common::grant_condition_on_non_grant_actions` |
//! | `sourceip-blocks-aws-services` | warning | Allow conditioned on `aws:SourceIp`; IP Deny without the `aws:ViaAWSService` exception | `common::network_condition_blocks_ebs` |
//! | `sourcevpc-blocks-aws-services` | warning | the same for `aws:SourceVpc`/`aws:SourceVpce` | `common::network_condition_blocks_ebs` |
//! | `wildcard-principal-unconditioned` | warning | Allow to `"*"` without a condition | `key::wildcard_principal_unconditioned` |
//! | `overbroad-kms-star` | warning | `kms:*` or `*` allowed to another account | `key::overbroad_kms_star` |
//! | `notprincipal-misses-session` | warning | NotPrincipal Deny listing a role without its session ARN or account | `key::notprincipal_misses_session` |
//! | `creategrant-unconstrained` | info | CreateGrant to another account without `kms:GrantIsForAWSResource` | `key::creategrant_unconstrained` |

mod common;
mod key;

pub use super::statement::replacement_fix;

use super::eval::{KeyArn, KeyInfo};
use super::findings::Finding;
use super::model::{PolicyDocument, Statement, StatementRef};

/// One statement being linted, with what every rule needs.
struct Subject<'a> {
    doc: &'a PolicyDocument,
    st: &'a Statement,
    /// `key policy` or `identity policy`, for messages.
    where_: &'static str,
    r: StatementRef,
    label: String,
}

impl<'a> Subject<'a> {
    fn new(doc: &'a PolicyDocument, st: &'a Statement, where_: &'static str) -> Self {
        let r = StatementRef::new(doc, st);
        let label = r.label();
        Self {
            doc,
            st,
            where_,
            r,
            label,
        }
    }
}

/// Lint the key policy and the identity policies.
pub fn lint(key: &KeyInfo, key_arn: &KeyArn, identity: &[PolicyDocument]) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(doc) = &key.policy {
        out.extend(lint_key_policy(doc, &key_arn.account));
    }
    for doc in identity {
        for st in &doc.statements {
            common::lint(&Subject::new(doc, st, "identity policy"), &mut out);
        }
    }
    out
}

/// Lint a key policy on its own (`key_account`: the key's account).
pub fn lint_key_policy(doc: &PolicyDocument, key_account: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for st in &doc.statements {
        let s = Subject::new(doc, st, "key policy");
        common::lint(&s, &mut out);
        key::lint(&s, key_account, &mut out);
    }
    out
}
