//! The policy engine's verdict for every target principal on every customer managed source key,
//! now and after the plan (with the edited key policy and, for principals that get it, the
//! `KmsKeyUsagePolicy`). The copier (amishare's target identity) is checked for a copy, or for a
//! launch with `--share-only`; `--grant` principals for a launch.

use std::collections::BTreeMap;

use crate::domain::arn::assumed_role_arn;
use crate::policy;
use crate::policy::template::KMS_KEY_USAGE_POLICY_NAME;
use crate::workflow::copy::facts::{Discovery, KeyFacts, TargetFacts};
use crate::workflow::inventory::{IdentityPolicies, KeyDescription};
use crate::workflow::plan::{AccessCheck, AccessVerdict, PlanOptions};

fn verdict_of(v: policy::Verdict) -> AccessVerdict {
    match v {
        policy::Verdict::Allow => AccessVerdict::Allow,
        policy::Verdict::Deny => AccessVerdict::Deny,
        policy::Verdict::Undecided => AccessVerdict::Undecided,
    }
}

pub(super) fn identity_docs(p: Option<&IdentityPolicies>) -> Vec<policy::PolicyDocument> {
    p.map(|p| {
        p.policies
            .iter()
            .filter_map(|d| policy::parse_policy(&d.document, &d.name).ok())
            .collect()
    })
    .unwrap_or_default()
}

/// The caller's organization facts for the request context: `aws:PrincipalOrgID` and
/// `aws:PrincipalOrgPaths` (empty when unknown).
pub type OrgFacts = (Option<String>, Vec<String>);

/// Run the policy engine for `principal` on `key` with the given key policy and identity
/// policies; `(verdict, finding codes)` or `unknown` when the inputs cannot be analysed.
pub fn access_verdict(
    key: &KeyDescription,
    key_policy: Option<&str>,
    principal: &str,
    identity: &[policy::PolicyDocument],
    operation: policy::Operation,
    region: &str,
    org: &OrgFacts,
) -> (AccessVerdict, Vec<String>, Vec<policy::Finding>) {
    let parsed = match key_policy.map(|p| policy::parse_policy(p, "key policy")) {
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => return (AccessVerdict::Unknown, vec![], vec![]),
        None => None,
    };
    let info = policy::KeyInfo {
        arn: key.arn.clone(),
        manager: if key.is_aws_managed() {
            policy::KeyManager::Aws
        } else {
            policy::KeyManager::Customer
        },
        policy: parsed,
        grants: Vec::new(),
    };
    let ctx = policy::CallerContext {
        region: Some(region.to_string()),
        org_id: org.0.clone(),
        org_paths: org.1.clone(),
        ..policy::CallerContext::default()
    };
    let req = policy::AnalysisRequest {
        key: &info,
        principal,
        identity_policies: identity,
        operation,
        context: &ctx,
    };
    match policy::analyze(&req) {
        Ok(a) => {
            let codes = a.errors().map(|f| f.code.as_str().to_string()).collect();
            let errors = a.errors().cloned().collect();
            (verdict_of(a.verdict), codes, errors)
        }
        Err(_) => (AccessVerdict::Unknown, vec![], vec![]),
    }
}

/// A principal to check: its ARN, identity policies, the operation, and whether the plan
/// attaches the `KmsKeyUsagePolicy` to it.
struct Who<'a> {
    arn: &'a str,
    policies: Option<&'a IdentityPolicies>,
    operation: policy::Operation,
    gets_usage_policy: bool,
    /// The copier (amishare's own target identity), whose fix [`copier`] decides.
    copier: bool,
}

/// The principals of a target account that the plan is about.
fn principals_of<'a>(t: &'a TargetFacts, opts: &PlanOptions) -> Vec<Who<'a>> {
    let mut who = Vec::new();
    if let Some(id) = &t.identity {
        let operation = if opts.share_only {
            policy::Operation::Launch
        } else {
            policy::Operation::Copy
        };
        let role = assumed_role_arn(&id.arn);
        let granted = t
            .principals
            .iter()
            .any(|p| Some(p.arn.as_str()) == role.as_deref() || p.arn == id.arn);
        who.push(Who {
            arn: &id.arn,
            policies: t.identity_policies.as_ref(),
            operation,
            gets_usage_policy: granted,
            copier: !granted,
        });
    }
    for p in super::source_key_users(t, opts) {
        who.push(Who {
            arn: &p.arn,
            policies: p.policies.as_ref(),
            operation: policy::Operation::Launch,
            gets_usage_policy: true,
            copier: false,
        });
    }
    who
}

/// The access checks, and the copiers the plan attaches the `KmsKeyUsagePolicy` to
/// (`(account, user or role ARN)`) because their IAM lacks the source keys.
#[derive(Default)]
pub struct AccessOut {
    pub checks: Vec<AccessCheck>,
    pub copier_attachments: Vec<(String, String)>,
}

/// What the checks of one target are computed with.
struct Inputs<'a> {
    customer_keys: &'a [&'a KeyFacts],
    edited: &'a BTreeMap<String, String>,
    usage_policy: Option<policy::PolicyDocument>,
}

/// One verdict: `(verdict, finding codes, actions not allowed)`.
type Verdict = (AccessVerdict, Vec<String>, Vec<String>);

impl Inputs<'_> {
    /// The verdict on `k` for `w` with the current (`after` false) or planned key policy, and
    /// the `KmsKeyUsagePolicy` added when `usage`.
    fn verdict(
        &self,
        k: &KeyFacts,
        w: &Who<'_>,
        org: &OrgFacts,
        after: bool,
        usage: bool,
    ) -> Verdict {
        let mut docs = identity_docs(w.policies);
        if usage {
            docs.extend(self.usage_policy.clone());
        }
        let key_policy = if after {
            self.edited
                .get(&k.description.arn)
                .map(String::as_str)
                .or(k.policy.as_deref())
        } else {
            k.policy.as_deref()
        };
        let (v, codes, errors) = access_verdict(
            &k.description,
            key_policy,
            w.arn,
            &docs,
            w.operation,
            &k.description.region,
            org,
        );
        let mut missing: Vec<String> = errors.iter().flat_map(|f| f.actions.clone()).collect();
        missing.sort();
        missing.dedup();
        (v, codes, missing)
    }
}

/// Every target principal on every customer managed key, now and after the plan.
pub fn access_checks(
    d: &Discovery,
    opts: &PlanOptions,
    customer_keys: &[&KeyFacts],
    edited: &BTreeMap<String, String>,
    usage_doc: Option<&str>,
) -> AccessOut {
    let inputs = Inputs {
        customer_keys,
        edited,
        usage_policy: usage_doc
            .and_then(|doc| policy::parse_policy(doc, KMS_KEY_USAGE_POLICY_NAME).ok()),
    };
    let mut out = AccessOut::default();
    for t in &d.targets {
        // What AWS sets as the target principals' aws:PrincipalOrgID / aws:PrincipalOrgPaths,
        // as far as the organization listing told (`--to-org` / `--to-ou`).
        let org: OrgFacts = opts
            .org_targets
            .as_ref()
            .map(|o| o.caller_org_facts(&t.account))
            .unwrap_or_default();
        for mut w in principals_of(t, opts) {
            let mut fix = None;
            if w.copier {
                match copier::decide(d, t, &inputs, &w, &org) {
                    copier::Decision::Nothing => {}
                    copier::Decision::Attach(entity) => {
                        w.gets_usage_policy = true;
                        out.copier_attachments.push((t.account.clone(), entity));
                    }
                    copier::Decision::Block(why) => fix = Some(why),
                }
            }
            for k in customer_keys {
                let (now, codes, missing) = inputs.verdict(k, &w, &org, false, false);
                let (after, _, missing_after) =
                    inputs.verdict(k, &w, &org, true, w.gets_usage_policy);
                out.checks.push(AccessCheck {
                    principal: w.arn.to_string(),
                    key_arn: k.description.arn.clone(),
                    operation: w.operation.as_str().to_string(),
                    now,
                    after_plan: after,
                    findings: codes,
                    missing_actions: missing,
                    fix: (after != AccessVerdict::Allow)
                        .then(|| fix.clone())
                        .flatten(),
                    missing_after_plan: if after == AccessVerdict::Allow {
                        Vec::new()
                    } else {
                        missing_after
                    },
                });
            }
        }
    }
    out
}

#[path = "copier.rs"]
mod copier;
