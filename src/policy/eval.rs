//! Single-request evaluation: AWS's decision logic for one KMS action on one key
//! (docs/DOMAIN.md "How access to a KMS key is decided").

use super::context::RequestContext;
use super::layers::LayerDecision;
use super::matching::{
    glob_match, not_principal_excludes, parse_arn, Caller, PrincipalError, PrincipalMatch,
};
use super::model::{Effect, Grant, PolicyDocument, Statement, StatementRef};
use serde::Serialize;

/// Who manages the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyManager {
    #[default]
    Customer,
    /// An AWS managed key such as `aws/ebs`: never usable by another account.
    Aws,
}

/// What is known about the KMS key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
    pub arn: String,
    pub manager: KeyManager,
    /// `None` when the key policy could not be read (the key policy's decision is then unknown).
    pub policy: Option<PolicyDocument>,
    pub grants: Vec<Grant>,
}

/// The parts of a KMS key ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyArn {
    pub partition: String,
    pub region: String,
    pub account: String,
}

/// An input the evaluator cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Principal(#[from] PrincipalError),
    #[error("`{value}` is not a KMS key ARN (expected `arn:aws:kms:REGION:ACCOUNT:key/KEY_ID`)")]
    KeyArn { value: String },
}

impl KeyArn {
    pub fn parse(s: &str) -> Result<Self, PolicyError> {
        let err = || PolicyError::KeyArn {
            value: s.to_string(),
        };
        let arn = parse_arn(s).ok_or_else(err)?;
        if arn.service != "kms"
            || arn.region.is_empty()
            || !super::matching::is_account_id(arn.account)
            || !(arn.resource.starts_with("key/") || arn.resource.starts_with("alias/"))
            || arn.resource.len() <= 4
        {
            return Err(err());
        }
        Ok(Self {
            partition: arn.partition.to_string(),
            region: arn.region.to_string(),
            account: arn.account.to_string(),
        })
    }
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Allow,
    Deny,
    /// The key policy could not be read and nothing else decides.
    Undecided,
}

/// What one source of permissions (key policy, identity policies, grants) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Allows the request by itself (for identity policies: allows it on the IAM side).
    Allow,
    /// Allows only the principal's account (`arn:aws:iam::ID:root`): IAM policies decide.
    DelegatesToIam,
    ExplicitDeny,
    NoMatch,
    /// Not known (the key policy could not be read).
    Unknown,
}

/// One source's outcome and the statements (or grants) that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceDecision {
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<StatementRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<String>,
}

impl SourceDecision {
    fn new(outcome: Outcome) -> Self {
        Self::decided(outcome, Vec::new(), Vec::new())
    }

    fn decided(outcome: Outcome, statements: Vec<StatementRef>, grants: Vec<String>) -> Self {
        Self {
            outcome,
            statements,
            grants,
        }
    }
}

/// Which policy a statement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    KeyPolicy,
    IdentityPolicy,
}

/// An Allow statement that names the principal, action and resource but whose condition the
/// request does not meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionFailure {
    pub source: Source,
    pub statement: StatementRef,
    /// The operator as written.
    pub operator: String,
    /// The condition key as written.
    pub key: String,
    pub values: Vec<String>,
    /// The request's values of that key (`None`: absent from the request).
    pub request_values: Option<Vec<String>>,
}

impl ConditionFailure {
    /// `Operator key = value`.
    pub fn describe(&self) -> String {
        let vals = if self.values.len() == 1 {
            format!("`{}`", self.values[0])
        } else {
            format!(
                "[{}]",
                self.values
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        format!("{} `{}`: {}", self.operator, self.key, vals)
    }
}

/// A policy variable that had no value in the request, in a condition of a statement that
/// otherwise applies (principal, action and resource match): the value holding it is effectively
/// null, so positive operators do not match it and negated ones do (IAM user guide, "Policy
/// variables with no value").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnresolvedVariable {
    pub source: Source,
    pub statement: StatementRef,
    pub effect: Effect,
    /// Whether the statement applied to the request (all its conditions held).
    pub applied: bool,
    /// The operator as written.
    pub operator: String,
    /// The condition key as written.
    pub key: String,
    /// The variable as written, e.g. `${aws:PrincipalTag/team}`.
    pub variable: String,
}

/// The decision for one KMS request by one principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// e.g. `kms:CreateGrant`.
    pub action: String,
    pub verdict: Verdict,
    /// The verdict of the key policy, identity policies and grants alone (before guardrails).
    #[serde(skip)]
    pub policies_verdict: Verdict,
    pub key_policy: SourceDecision,
    pub identity_policies: SourceDecision,
    pub grants: SourceDecision,
    /// Whether the identity policies must allow the request (cross-account, or the key policy
    /// delegates to IAM).
    pub identity_required: bool,
    /// Allow statements that would have applied but for a condition.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub condition_failures: Vec<ConditionFailure>,
    /// Policy variables without a value in statements that otherwise apply.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unresolved_variables: Vec<UnresolvedVariable>,
    /// What each known guardrail layer (SCP, RCP, permissions boundary, session policy) decided.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<LayerDecision>,
    /// Who makes this request when it is not the analysed principal: the
    /// `aws:ec2-infrastructure` role that decrypts under EC2's grant at attach time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

impl Decision {
    /// The guardrail layers that deny the request.
    pub fn denying_layers(&self) -> impl Iterator<Item = &LayerDecision> {
        self.guardrails.iter().filter(|l| l.denies())
    }
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }
}

/// How one statement relates to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementMatch {
    /// Principal, action or resource do not match.
    NotApplicable,
    /// Everything matches except the condition at this index.
    ConditionFailed(usize),
    Matched(PrincipalMatch),
}

fn action_matches(st: &Statement, action_lc: &str) -> bool {
    let any = st.action.items.iter().any(|p| glob_match(p, action_lc));
    any != st.action.negated
}

/// Whether a statement's Resource covers the key (in a key policy `*` means "this key").
pub fn resource_matches(st: &Statement, key_arn: &str) -> bool {
    let Some(res) = &st.resource else {
        return false;
    };
    let any = res.items.iter().any(|p| p == "*" || glob_match(p, key_arn));
    any != res.negated
}

/// How the statement's Principal/NotPrincipal relates to the caller. Identity policies (no
/// Principal element) always apply to their principal.
pub fn principal_matches(
    st: &Statement,
    caller: &Caller,
    key_policy: bool,
) -> Option<PrincipalMatch> {
    match &st.principal {
        None => (!key_policy).then_some(PrincipalMatch::Direct),
        Some(el) if el.negated => {
            (!not_principal_excludes(&el.patterns, caller)).then_some(PrincipalMatch::Direct)
        }
        Some(el) => {
            let mut best = None;
            for p in &el.patterns {
                match p.matches(caller) {
                    Some(PrincipalMatch::Direct) => return Some(PrincipalMatch::Direct),
                    Some(m) => best = Some(m),
                    None => {}
                }
            }
            best
        }
    }
}

/// Evaluate one statement against one request. `action_lc` must be lowercase.
pub fn eval_statement(
    st: &Statement,
    caller: &Caller,
    action_lc: &str,
    key_arn: &str,
    key_policy: bool,
    ctx: &RequestContext,
) -> StatementMatch {
    if !action_matches(st, action_lc) || !resource_matches(st, key_arn) {
        return StatementMatch::NotApplicable;
    }
    let Some(pm) = principal_matches(st, caller, key_policy) else {
        return StatementMatch::NotApplicable;
    };
    for (i, c) in st.conditions.iter().enumerate() {
        if !c.eval(ctx) {
            return StatementMatch::ConditionFailed(i);
        }
    }
    StatementMatch::Matched(pm)
}

fn failure(
    source: Source,
    doc: &PolicyDocument,
    st: &Statement,
    i: usize,
    ctx: &RequestContext,
) -> Option<ConditionFailure> {
    let c = st.conditions.get(i)?;
    Some(ConditionFailure {
        source,
        statement: StatementRef::new(doc, st),
        operator: c.operator_name.clone(),
        key: c.key.clone(),
        values: c.raw_values(),
        request_values: ctx.get_lc(&c.key_lc).map(<[String]>::to_vec),
    })
}

/// Does the grant give the caller this action? `Some(Account)` for a grant to the caller's
/// account (then IAM must delegate).
pub fn grant_matches(
    g: &Grant,
    caller: &Caller,
    action: &str,
    ctx: &RequestContext,
) -> Option<PrincipalMatch> {
    let pm = g.grantee.matches(caller)?;
    let op = action.strip_prefix("kms:").unwrap_or(action);
    if !g.operations.iter().any(|o| o.eq_ignore_ascii_case(op)) {
        return None;
    }
    let c = &g.constraints;
    if c.subset.is_none() && c.equals.is_none() {
        return Some(pm);
    }
    if ctx.encryption_context.is_empty() {
        // Operations without an encryption context: only CreateGrant is permitted by a
        // constrained grant (the new grant must be at least as strict).
        return op.eq_ignore_ascii_case("CreateGrant").then_some(pm);
    }
    let fits = |k: &str, v: &str| match ctx.encryption_context.get(k) {
        Some(None) => true,
        Some(Some(x)) => x == v,
        None => false,
    };
    if let Some(sub) = &c.subset {
        if !sub.iter().all(|(k, v)| fits(k, v)) {
            return None;
        }
    }
    if let Some(eq) = &c.equals {
        if eq.len() != ctx.encryption_context.len() || !eq.iter().all(|(k, v)| fits(k, v)) {
            return None;
        }
    }
    Some(pm)
}

/// Evaluate one KMS request (`action` like `kms:PutKeyPolicy`) by `principal` on `key` with the
/// given request context. Pure; used by `analyze` and by the lock-out check of policy editing.
pub fn evaluate_key_request(
    key: &KeyInfo,
    principal: &str,
    identity_policies: &[PolicyDocument],
    action: &str,
    ctx: &RequestContext,
) -> Result<Decision, PolicyError> {
    let caller = Caller::parse(principal)?;
    let key_arn = KeyArn::parse(&key.arn)?;
    Ok(evaluate(
        key,
        &key_arn,
        &caller,
        identity_policies,
        action,
        ctx,
    ))
}

/// Collects, while statements are evaluated, the Allow statements stopped by a condition and the
/// variables without a value.
#[derive(Default)]
struct Notes {
    failures: Vec<ConditionFailure>,
    unresolved: Vec<UnresolvedVariable>,
}

impl Notes {
    fn note(
        &mut self,
        source: Source,
        doc: &PolicyDocument,
        st: &Statement,
        m: StatementMatch,
        ctx: &RequestContext,
    ) {
        let evaluated = match m {
            StatementMatch::NotApplicable => return,
            StatementMatch::ConditionFailed(i) => {
                if st.effect == Effect::Allow {
                    self.failures.extend(failure(source, doc, st, i, ctx));
                }
                i + 1
            }
            StatementMatch::Matched(_) => st.conditions.len(),
        };
        let conditions = st.conditions.iter().take(evaluated);
        for c in conditions.filter(|c| c.values.iter().any(|v| v.has_vars)) {
            for variable in c.unresolved_variables(ctx) {
                self.unresolved.push(UnresolvedVariable {
                    source,
                    statement: StatementRef::new(doc, st),
                    effect: st.effect,
                    applied: matches!(m, StatementMatch::Matched(_)),
                    operator: c.operator_name.clone(),
                    key: c.key.clone(),
                    variable: variable.to_string(),
                });
            }
        }
    }
}

/// What the key policy says (`Unknown` when it could not be read).
fn key_policy_decision(
    key: &KeyInfo,
    caller: &Caller,
    action_lc: &str,
    ctx: &RequestContext,
    notes: &mut Notes,
) -> SourceDecision {
    let Some(doc) = &key.policy else {
        return SourceDecision::new(Outcome::Unknown);
    };
    let (mut denies, mut direct, mut delegated) = (Vec::new(), Vec::new(), Vec::new());
    for st in &doc.statements {
        let m = eval_statement(st, caller, action_lc, &key.arn, true, ctx);
        if let StatementMatch::Matched(pm) = m {
            match (st.effect, pm) {
                (Effect::Deny, _) => denies.push(StatementRef::new(doc, st)),
                (Effect::Allow, PrincipalMatch::Direct) => direct.push(StatementRef::new(doc, st)),
                (Effect::Allow, PrincipalMatch::Account) => {
                    delegated.push(StatementRef::new(doc, st))
                }
            }
        }
        notes.note(Source::KeyPolicy, doc, st, m, ctx);
    }
    if !denies.is_empty() {
        SourceDecision::decided(Outcome::ExplicitDeny, denies, Vec::new())
    } else if !direct.is_empty() {
        SourceDecision::decided(Outcome::Allow, direct, Vec::new())
    } else if !delegated.is_empty() {
        SourceDecision::decided(Outcome::DelegatesToIam, delegated, Vec::new())
    } else {
        SourceDecision::new(Outcome::NoMatch)
    }
}

/// What the caller's identity policies say about the key ARN.
fn identity_decision(
    key: &KeyInfo,
    caller: &Caller,
    identity_policies: &[PolicyDocument],
    action_lc: &str,
    ctx: &RequestContext,
    notes: &mut Notes,
) -> SourceDecision {
    let (mut denies, mut allows) = (Vec::new(), Vec::new());
    for doc in identity_policies {
        for st in &doc.statements {
            let m = eval_statement(st, caller, action_lc, &key.arn, false, ctx);
            if let StatementMatch::Matched(_) = m {
                match st.effect {
                    Effect::Deny => denies.push(StatementRef::new(doc, st)),
                    Effect::Allow => allows.push(StatementRef::new(doc, st)),
                }
            }
            notes.note(Source::IdentityPolicy, doc, st, m, ctx);
        }
    }
    if !denies.is_empty() {
        SourceDecision::decided(Outcome::ExplicitDeny, denies, Vec::new())
    } else if !allows.is_empty() {
        SourceDecision::decided(Outcome::Allow, allows, Vec::new())
    } else {
        SourceDecision::new(Outcome::NoMatch)
    }
}

/// What the key's grants say.
fn grants_decision(
    key: &KeyInfo,
    caller: &Caller,
    action: &str,
    ctx: &RequestContext,
) -> SourceDecision {
    let (mut direct, mut account) = (Vec::new(), Vec::new());
    for g in &key.grants {
        match grant_matches(g, caller, action, ctx) {
            Some(PrincipalMatch::Direct) => direct.push(g.label()),
            Some(PrincipalMatch::Account) => account.push(g.label()),
            None => {}
        }
    }
    if !direct.is_empty() {
        SourceDecision::decided(Outcome::Allow, Vec::new(), direct)
    } else if !account.is_empty() {
        SourceDecision::decided(Outcome::DelegatesToIam, Vec::new(), account)
    } else {
        SourceDecision::new(Outcome::NoMatch)
    }
}

/// [`evaluate_key_request`] with the principal and key ARN already parsed (no guardrail
/// layers: see [`super::guardrails::evaluate_guarded`]).
pub fn evaluate(
    key: &KeyInfo,
    key_arn: &KeyArn,
    caller: &Caller,
    identity_policies: &[PolicyDocument],
    action: &str,
    ctx: &RequestContext,
) -> Decision {
    evaluate_base(key, key_arn, caller, identity_policies, action, ctx)
}

fn evaluate_base(
    key: &KeyInfo,
    key_arn: &KeyArn,
    caller: &Caller,
    identity_policies: &[PolicyDocument],
    action: &str,
    ctx: &RequestContext,
) -> Decision {
    let action_lc = action.to_ascii_lowercase();
    let cross_account = caller.account != key_arn.account;
    let mut notes = Notes::default();
    let key_policy = key_policy_decision(key, caller, &action_lc, ctx, &mut notes);
    let identity = identity_decision(key, caller, identity_policies, &action_lc, ctx, &mut notes);
    let grants = grants_decision(key, caller, action, ctx);
    let id_allow = identity.outcome == Outcome::Allow;

    let explicit_deny =
        key_policy.outcome == Outcome::ExplicitDeny || identity.outcome == Outcome::ExplicitDeny;
    let key_ok = match key_policy.outcome {
        Outcome::Allow => !cross_account || id_allow,
        Outcome::DelegatesToIam => id_allow,
        _ => false,
    };
    let grant_ok = match grants.outcome {
        Outcome::Allow => true,
        Outcome::DelegatesToIam => id_allow,
        _ => false,
    };
    let aws_managed_cross = key.manager == KeyManager::Aws && cross_account;
    let verdict = if explicit_deny || aws_managed_cross {
        Verdict::Deny
    } else if key_ok || grant_ok {
        Verdict::Allow
    } else if key_policy.outcome == Outcome::Unknown {
        Verdict::Undecided
    } else {
        Verdict::Deny
    };
    Decision {
        action: action.to_string(),
        verdict,
        policies_verdict: verdict,
        identity_required: cross_account || key_policy.outcome == Outcome::DelegatesToIam,
        key_policy,
        identity_policies: identity,
        grants,
        condition_failures: notes.failures,
        unresolved_variables: notes.unresolved,
        guardrails: Vec::new(),
        principal: None,
    }
}
