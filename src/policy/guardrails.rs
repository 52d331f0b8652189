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
use super::eval::{eval_statement, KeyInfo, KeyManager, StatementMatch};
use super::matching::{Caller, CallerKind, PrincipalPattern};
use super::model::{Effect, PolicyDocument, StatementRef};
use serde::Serialize;

/// A guardrail layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    Scp,
    Rcp,
    PermissionsBoundary,
    SessionPolicy,
}

impl Layer {
    /// The kebab-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scp => "scp",
            Self::Rcp => "rcp",
            Self::PermissionsBoundary => "permissions-boundary",
            Self::SessionPolicy => "session-policy",
        }
    }

    /// Words for messages.
    pub fn words(self) -> &'static str {
        match self {
            Self::Scp => "service control policy",
            Self::Rcp => "resource control policy",
            Self::PermissionsBoundary => "permissions boundary",
            Self::SessionPolicy => "session policy",
        }
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One organization policy (SCP or RCP) as attached.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgPolicy {
    /// The policy id (`p-...`), or where the document came from when the id is not known.
    pub id: String,
    pub document: PolicyDocument,
}

/// The organization policies attached at one level of an account's path.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgLevel {
    /// The root (`r-...`), OU (`ou-...`) or account id; a label such as `level 1` when unknown.
    pub target: String,
    pub policies: Vec<OrgPolicy>,
}

/// The organization policies on an account's path, root first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgPath {
    pub levels: Vec<OrgLevel>,
    /// The account is its organization's management account (no SCP or RCP applies to it).
    pub management_account: bool,
}

/// A permissions boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
    /// The managed policy's ARN (or the file it was read from).
    pub arn: String,
    pub document: PolicyDocument,
}

/// A layer that could not be read, and how an administrator checks it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unseen {
    /// Why it could not be read (e.g. `AccessDenied` on `organizations:ListPoliciesForTarget`).
    pub reason: String,
    /// The exact command that shows it.
    pub command: String,
}

/// What is known of one layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Known<T> {
    /// The layer does not exist here (no organization, no boundary, no session policy) or was
    /// not given: it is not evaluated.
    #[default]
    Absent,
    Known(T),
    /// It may exist but could not be read.
    Unseen(Unseen),
}

impl<T> Known<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Self::Absent)
    }
}

/// Every guardrail around one principal's requests on one key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Guardrails {
    /// The SCPs on the CALLER's account path.
    pub scps: Known<OrgPath>,
    /// The RCPs on the KEY OWNER's account path.
    pub rcps: Known<OrgPath>,
    /// The caller's permissions boundary.
    pub boundary: Known<Boundary>,
    /// The session policies passed when the caller's session was created.
    pub session_policies: Known<Vec<PolicyDocument>>,
}

impl Guardrails {
    /// No layer known or unseen: nothing to evaluate.
    pub fn is_empty(&self) -> bool {
        self.scps.is_absent()
            && self.rcps.is_absent()
            && self.boundary.is_absent()
            && self.session_policies.is_absent()
    }
}

/// What one layer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerOutcome {
    Allow,
    ExplicitDeny,
    /// Nothing in the layer allows the request (for SCPs: at one level of the path).
    NoAllow,
    /// The layer does not apply to this request (the reason is in `note`).
    Exempt,
    /// The layer could not be read.
    Unseen,
}

/// One layer's decision for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerDecision {
    pub layer: Layer,
    pub outcome: LayerOutcome,
    /// The deciding policy: SCP/RCP id, boundary ARN, session policy origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// SCP/RCP: the level of the path (root, OU, account) that decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The deciding statements (the Denies, or the Allows).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<StatementRef>,
    /// Why the layer is exempt, or the command that shows an unseen layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl LayerDecision {
    fn new(layer: Layer, outcome: LayerOutcome) -> Self {
        Self {
            layer,
            outcome,
            policy: None,
            level: None,
            statements: Vec::new(),
            note: None,
        }
    }

    fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    fn unseen(layer: Layer, u: &Unseen) -> Self {
        Self::new(layer, LayerOutcome::Unseen)
            .note(format!("{}; check with `{}`", u.reason, u.command))
    }

    /// Whether this layer denies the request (explicitly or by lacking an Allow).
    pub fn denies(&self) -> bool {
        matches!(
            self.outcome,
            LayerOutcome::ExplicitDeny | LayerOutcome::NoAllow
        )
    }
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
