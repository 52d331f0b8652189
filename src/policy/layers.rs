//! The values of the guardrail layers (docs/DOMAIN.md "Guardrails"): what is known of each
//! layer around one principal's requests on one key ([`Guardrails`]: the caller account's SCPs,
//! the key owner's RCPs, the caller's permissions boundary and session policies) and what each
//! layer decided for one request ([`LayerDecision`]). The evaluation is `guardrails.rs`.

use super::model::{PolicyDocument, StatementRef};
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
    pub(crate) fn new(layer: Layer, outcome: LayerOutcome) -> Self {
        Self {
            layer,
            outcome,
            policy: None,
            level: None,
            statements: Vec::new(),
            note: None,
        }
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub(crate) fn unseen(layer: Layer, u: &Unseen) -> Self {
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
