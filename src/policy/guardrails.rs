//! Guardrails: the policy types AWS evaluates for a KMS request beside the key policy, the
//! identity policies and grants (docs/DOMAIN.md "Guardrails"), decided per request.
//!
//! AWS's rules this module follows (IAM user guide, "Policy evaluation logic"
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html> and
//! "How AWS enforcement code logic evaluates requests to allow or deny access"
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html>):
//! - an explicit Deny in any applicable policy (SCP, RCP, boundary, session policy) wins;
//! - SCPs (Organizations user guide, "SCP evaluation"
//!   <https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html>):
//!   every level of the caller account's path (root, each OU, the account) must have an Allow
//!   that covers the request; they do not apply to the management account nor to service-linked
//!   roles, and they limit the caller whatever the key policy grants;
//! - RCPs (Organizations user guide, "Resource control policies"
//!   <https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html>;
//!   KMS developer guide, "Resource control policies in AWS KMS"
//!   <https://docs.aws.amazon.com/kms/latest/developerguide/resource-control-policies.html>):
//!   apply to keys of member accounts of the KEY OWNER's organization for every caller; not to
//!   AWS managed keys, not to the management account's keys, not to service-linked roles' calls.
//!   The AWS managed `RCPFullAWSAccess` (an Allow of everything) is attached at every level and
//!   cannot be detached, and customer RCPs can only Deny: only Denies decide;
//! - a permissions boundary (IAM user guide, "Permissions boundaries for IAM entities"
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html>) and
//!   session policies (IAM user guide, "Session policies"
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session>)
//!   limit what identity-based policies grant. Within one account, a resource-based policy (the
//!   key policy) that names the IAM user's ARN or the role SESSION's ARN is not limited by their
//!   implicit deny; one that names the role's ARN, or the account (delegation to IAM), is.
//!   Across accounts the identity side must allow, so both always limit.
//!
//! A layer that could not be read is [`Known::Unseen`]: its decision is `unseen`, never `allow`.

use super::context::RequestContext;
use super::eval::{
    eval_statement, evaluate, Decision, KeyArn, KeyInfo, KeyManager, Outcome, StatementMatch,
    Verdict,
};
use super::layers::{
    Boundary, Guardrails, Known, Layer, LayerDecision, LayerOutcome, OrgLevel, OrgPath,
};
use super::matching::{Caller, CallerKind, PrincipalPattern};
use super::model::{Effect, PolicyDocument, StatementRef};

/// [`evaluate`] with the guardrail layers: any layer that denies makes the verdict `Deny`; a
/// layer that could not be read turns an `Allow` into `Undecided` (never a clean allow).
pub fn evaluate_guarded(
    key: &KeyInfo,
    key_arn: &KeyArn,
    caller: &Caller,
    identity_policies: &[PolicyDocument],
    action: &str,
    ctx: &RequestContext,
    guardrails: &Guardrails,
) -> Decision {
    let mut d = evaluate(key, key_arn, caller, identity_policies, action, ctx);
    if guardrails.is_empty() {
        return d;
    }
    let action_lc = action.to_ascii_lowercase();
    let names_caller = d.key_policy.outcome == Outcome::Allow
        && key_policy_names_caller(key, &d.key_policy.statements, caller);
    d.guardrails = evaluate_layers(
        guardrails,
        &Request {
            key,
            key_account: &key_arn.account,
            caller,
            action_lc: &action_lc,
            ctx,
            resource_names_caller: names_caller,
        },
    );
    if d.guardrails.iter().any(LayerDecision::denies) {
        d.verdict = Verdict::Deny;
    } else if d.verdict == Verdict::Allow
        && d.guardrails
            .iter()
            .any(|l| l.outcome == LayerOutcome::Unseen)
    {
        d.verdict = Verdict::Undecided;
    }
    d
}

/// The request of the `aws:ec2-infrastructure` role that decrypts under the grant EC2 created
/// for the caller: only the organization layers decide it (the grant gives the access; the
/// role has no boundary or session policy). `None` when neither SCPs nor RCPs are known.
pub(crate) fn infrastructure_decision(
    key: &KeyInfo,
    key_arn: &KeyArn,
    caller: &Caller,
    caller_ctx: &super::context::CallerContext,
    ebs_id: &str,
) -> Option<Decision> {
    let g = &caller_ctx.guardrails;
    if g.scps.is_absent() && g.rcps.is_absent() {
        return None;
    }
    let (infra, ctx) =
        RequestContext::ec2_infrastructure(caller, caller_ctx, &key_arn.region, ebs_id)?;
    let org_only = Guardrails {
        scps: g.scps.clone(),
        rcps: g.rcps.clone(),
        ..Guardrails::default()
    };
    let action = "kms:Decrypt";
    let layers = evaluate_layers(
        &org_only,
        &Request {
            key,
            key_account: &key_arn.account,
            caller: &infra,
            action_lc: "kms:decrypt",
            ctx: &ctx,
            resource_names_caller: false,
        },
    );
    let verdict = if layers.iter().any(LayerDecision::denies) {
        Verdict::Deny
    } else if layers.iter().any(|l| l.outcome == LayerOutcome::Unseen) {
        Verdict::Undecided
    } else {
        Verdict::Allow
    };
    let none = || super::eval::SourceDecision {
        outcome: Outcome::NoMatch,
        statements: Vec::new(),
        grants: Vec::new(),
    };
    Some(Decision {
        action: action.to_string(),
        verdict,
        policies_verdict: Verdict::Allow,
        key_policy: none(),
        identity_policies: none(),
        grants: super::eval::SourceDecision {
            outcome: Outcome::Allow,
            statements: Vec::new(),
            grants: vec![format!("the grant EC2 creates for `{}`", infra.arn)],
        },
        identity_required: false,
        condition_failures: Vec::new(),
        unresolved_variables: Vec::new(),
        guardrails: layers,
        principal: Some(infra.arn),
    })
}

/// A service-linked role (`role/aws-service-role/...`, or a session of `AWSServiceRoleFor...`).
pub fn is_service_linked_role(caller: &Caller) -> bool {
    match caller.kind {
        CallerKind::Role => caller.arn.contains(":role/aws-service-role/"),
        CallerKind::AssumedRole => caller
            .role_name
            .as_deref()
            .is_some_and(|n| n.starts_with("AWSServiceRoleFor")),
        _ => false,
    }
}

/// The request being decided, with what the base evaluation found.
pub(crate) struct Request<'a> {
    pub key: &'a KeyInfo,
    pub key_account: &'a str,
    pub caller: &'a Caller,
    pub action_lc: &'a str,
    pub ctx: &'a RequestContext,
    /// The key policy (same account) names the caller's own user or session ARN in an Allow
    /// that applies: the boundary's and session policies' implicit deny do not limit it.
    pub resource_names_caller: bool,
}

/// Decide every known guardrail layer for one request.
pub(crate) fn evaluate_layers(g: &Guardrails, r: &Request<'_>) -> Vec<LayerDecision> {
    let mut out = Vec::new();
    if let Some(d) = scp_decision(&g.scps, r) {
        out.push(d);
    }
    if let Some(d) = rcp_decision(&g.rcps, r) {
        out.push(d);
    }
    if let Some(d) = boundary_decision(&g.boundary, r) {
        out.push(d);
    }
    if let Some(d) = session_decision(&g.session_policies, r) {
        out.push(d);
    }
    out
}

/// Applying statements with the id of their policy.
type Matches = Vec<(String, StatementRef)>;

/// Allow and Deny statements of `docs` that apply to the request.
fn matching<'d>(
    docs: impl IntoIterator<Item = (&'d str, &'d PolicyDocument)>,
    r: &Request<'_>,
    principal_element: bool,
) -> (Matches, Matches) {
    let (mut allows, mut denies) = (Vec::new(), Vec::new());
    for (id, doc) in docs {
        for st in &doc.statements {
            let m = eval_statement(
                st,
                r.caller,
                r.action_lc,
                &r.key.arn,
                principal_element,
                r.ctx,
            );
            if let StatementMatch::Matched(_) = m {
                let sref = StatementRef::new(doc, st);
                match st.effect {
                    Effect::Allow => allows.push((id.to_string(), sref)),
                    Effect::Deny => denies.push((id.to_string(), sref)),
                }
            }
        }
    }
    (allows, denies)
}

fn deny_of(
    layer: Layer,
    denies: Vec<(String, StatementRef)>,
    level: Option<String>,
) -> LayerDecision {
    let mut d = LayerDecision::new(layer, LayerOutcome::ExplicitDeny);
    d.policy = denies.first().map(|(id, _)| id.clone());
    d.level = level;
    d.statements = denies.into_iter().map(|(_, s)| s).collect();
    d
}

fn level_docs(level: &OrgLevel) -> impl Iterator<Item = (&str, &PolicyDocument)> {
    level.policies.iter().map(|p| (p.id.as_str(), &p.document))
}

/// SCPs: an explicit Deny at any level wins; every level must have an Allow.
fn scp_decision(scps: &Known<OrgPath>, r: &Request<'_>) -> Option<LayerDecision> {
    let path = match scps {
        Known::Absent => return None,
        Known::Unseen(u) => return Some(LayerDecision::unseen(Layer::Scp, u)),
        Known::Known(p) => p,
    };
    let exempt = |why: String| Some(LayerDecision::new(Layer::Scp, LayerOutcome::Exempt).note(why));
    if path.management_account {
        return exempt("SCPs do not apply to the organization's management account".into());
    }
    if is_service_linked_role(r.caller) {
        return exempt("SCPs do not apply to service-linked roles".into());
    }
    let mut allowed = Vec::new();
    let mut missing = None;
    for level in &path.levels {
        let (allows, denies) = matching(level_docs(level), r, false);
        if !denies.is_empty() {
            return Some(deny_of(Layer::Scp, denies, Some(level.target.clone())));
        }
        if allows.is_empty() && missing.is_none() {
            missing = Some(level);
        }
        allowed.extend(allows);
    }
    Some(match missing {
        Some(level) => {
            let mut d = LayerDecision::new(Layer::Scp, LayerOutcome::NoAllow);
            d.level = Some(level.target.clone());
            d.policy = (level.policies.len() == 1).then(|| level.policies[0].id.clone());
            d
        }
        None => {
            let mut d = LayerDecision::new(Layer::Scp, LayerOutcome::Allow);
            d.statements = allowed.into_iter().map(|(_, s)| s).collect();
            d
        }
    })
}

/// RCPs of the key owner's organization: only Denies decide (`RCPFullAWSAccess` allows the
/// rest at every level and cannot be detached).
fn rcp_decision(rcps: &Known<OrgPath>, r: &Request<'_>) -> Option<LayerDecision> {
    let path = match rcps {
        Known::Absent => return None,
        Known::Unseen(u) => return Some(LayerDecision::unseen(Layer::Rcp, u)),
        Known::Known(p) => p,
    };
    let exempt = |why: String| Some(LayerDecision::new(Layer::Rcp, LayerOutcome::Exempt).note(why));
    if r.key.manager == KeyManager::Aws {
        return exempt("RCPs do not apply to AWS managed keys".into());
    }
    if path.management_account {
        return exempt(format!(
            "RCPs do not apply to resources of the management account ({})",
            r.key_account
        ));
    }
    if is_service_linked_role(r.caller) {
        return exempt("RCPs do not apply to calls by service-linked roles".into());
    }
    for level in &path.levels {
        let (_, denies) = matching(level_docs(level), r, true);
        if !denies.is_empty() {
            return Some(deny_of(Layer::Rcp, denies, Some(level.target.clone())));
        }
    }
    Some(LayerDecision::new(Layer::Rcp, LayerOutcome::Allow))
}

/// The implicit deny of a boundary or session policies does not limit a same-account key
/// policy that names the caller's own user or session ARN.
fn implicit_deny_exempt(r: &Request<'_>) -> bool {
    r.resource_names_caller && r.caller.account == r.key_account
}

fn limiting_decision(
    layer: Layer,
    docs: &[(&str, &PolicyDocument)],
    r: &Request<'_>,
) -> LayerDecision {
    let (allows, denies) = matching(docs.iter().copied(), r, false);
    if !denies.is_empty() {
        return deny_of(layer, denies, None);
    }
    if !allows.is_empty() {
        let mut d = LayerDecision::new(layer, LayerOutcome::Allow);
        d.policy = allows.first().map(|(id, _)| id.clone());
        d.statements = allows.into_iter().map(|(_, s)| s).collect();
        return d;
    }
    if implicit_deny_exempt(r) {
        return LayerDecision::new(layer, LayerOutcome::Exempt).note(format!(
            "the key policy names `{}` itself in the same account: a {}'s implicit deny does not limit it",
            r.caller.arn,
            layer.words()
        ));
    }
    let mut d = LayerDecision::new(layer, LayerOutcome::NoAllow);
    d.policy = (docs.len() == 1).then(|| docs[0].0.to_string());
    d
}

fn boundary_decision(b: &Known<Boundary>, r: &Request<'_>) -> Option<LayerDecision> {
    match b {
        Known::Absent => None,
        Known::Unseen(u) => Some(LayerDecision::unseen(Layer::PermissionsBoundary, u)),
        Known::Known(_) if is_service_linked_role(r.caller) => Some(
            LayerDecision::new(Layer::PermissionsBoundary, LayerOutcome::Exempt)
                .note("service-linked roles have no permissions boundary"),
        ),
        Known::Known(b) => Some(limiting_decision(
            Layer::PermissionsBoundary,
            &[(b.arn.as_str(), &b.document)],
            r,
        )),
    }
}

fn session_decision(s: &Known<Vec<PolicyDocument>>, r: &Request<'_>) -> Option<LayerDecision> {
    match s {
        Known::Absent => None,
        Known::Unseen(u) => Some(LayerDecision::unseen(Layer::SessionPolicy, u)),
        Known::Known(docs) if docs.is_empty() => None,
        Known::Known(docs) => Some(limiting_decision(
            Layer::SessionPolicy,
            &docs
                .iter()
                .map(|d| (d.origin.as_str(), d))
                .collect::<Vec<_>>(),
            r,
        )),
    }
}

/// Whether an applying Allow statement of the key policy names the caller's own user ARN or
/// role session ARN (not its role, not its account, not `*`).
pub(crate) fn key_policy_names_caller(
    key: &KeyInfo,
    allows: &[StatementRef],
    caller: &Caller,
) -> bool {
    if !matches!(
        caller.kind,
        CallerKind::User | CallerKind::AssumedRole | CallerKind::FederatedUser
    ) {
        return false;
    }
    let Some(doc) = &key.policy else {
        return false;
    };
    allows.iter().any(|sref| {
        doc.statements
            .iter()
            .find(|st| st.index == sref.index && st.effect == Effect::Allow)
            .and_then(|st| st.principal.as_ref())
            .is_some_and(|p| {
                !p.negated
                    && p.patterns
                        .iter()
                        .any(|pat| matches!(pat, PrincipalPattern::Exact(a) if *a == caller.arn))
            })
    })
}
