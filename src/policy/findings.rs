//! Findings (stable codes of docs/DESIGN.md plus warning codes), severities, fixes, and the
//! statements fixes add.
//!
//! The fix statements come from `policy::template` (the templates in `policies/`); when a template
//! refuses a principal or key ARN (e.g. a federated user), the same seed-004 shape is built here
//! with `serde_json::json!` so a fix is always shown.

use super::model::StatementRef;
use serde::Serialize;
use serde_json::{json, Value};

/// Stable finding codes. Errors explain a denial; the others are lints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingCode {
    /// The key policy grants the principal (or its account) nothing relevant.
    KeyPolicyNoAccess,
    /// The key policy grants some but not all required actions.
    KeyPolicyMissingAction,
    /// A matching Allow has a condition the on-behalf request cannot meet.
    KeyPolicyConditionFails,
    /// A Deny in the key policy applies.
    KeyPolicyExplicitDeny,
    /// (Cross-account or delegated) the principal's IAM policies lack an action.
    IdentityPolicyMissingAction,
    /// A Deny in the principal's IAM policies applies.
    IdentityPolicyExplicitDeny,
    /// The key is AWS managed (`aws/ebs`): it cannot be used by another account.
    AwsManagedKey,
    /// The principal can only get access through a grant (Auto Scaling's role).
    NeedsGrant,
    /// A statement can never match (no Resource, service principal misuse,
    /// GrantIsForAWSResource on non-grant actions only, ...).
    IneffectiveStatement,
    /// A principal the policy language rejects (partial wildcard).
    InvalidPrincipal,
    /// Warning: Allow to `"*"` without any condition.
    WildcardPrincipalUnconditioned,
    /// Warning: an `aws:SourceIp` condition that EC2's on-behalf calls cannot meet (Allow), or an
    /// IP Deny without the `aws:ViaAWSService` exception.
    SourceipBlocksAwsServices,
    /// Warning: the same for `aws:SourceVpc` / `aws:SourceVpce`.
    SourcevpcBlocksAwsServices,
    /// Warning: `kms:*` (or `*`) allowed to another account.
    OverbroadKmsStar,
    /// Warning: `kms:GrantIsForAWSResource` on a statement that also lists non-grant actions,
    /// which that statement then never allows.
    GrantConditionOnNonGrantAction,
    /// Warning: a `NotPrincipal` Deny that lists a role but not its sessions (or not the
    /// account), so it still denies the role's sessions.
    NotprincipalMissesSession,
    /// Info: `kms:CreateGrant` allowed to another account without
    /// `kms:GrantIsForAWSResource` (grants for anyone, not only AWS resources).
    CreategrantUnconstrained,
    /// A Deny in a service control policy on the caller account's path applies.
    ScpExplicitDeny,
    /// A level of the caller account's path (root, OU, account) has no SCP that allows it.
    ScpNoAllow,
    /// A Deny in a resource control policy of the key owner's organization applies.
    RcpExplicitDeny,
    /// A Deny in the caller's permissions boundary applies.
    PermissionsBoundaryExplicitDeny,
    /// The caller's permissions boundary does not allow the action.
    PermissionsBoundaryNoAllow,
    /// A Deny in a session policy of the caller's session applies.
    SessionPolicyExplicitDeny,
    /// No session policy of the caller's session allows the action.
    SessionPolicyNoAllow,
    /// Warning: a guardrail layer could not be read, so the verdict cannot be `allow`.
    GuardrailUnseen,
}

impl FindingCode {
    /// Every code, in documentation order.
    pub const ALL: &'static [FindingCode] = &[
        Self::KeyPolicyNoAccess,
        Self::KeyPolicyMissingAction,
        Self::KeyPolicyConditionFails,
        Self::KeyPolicyExplicitDeny,
        Self::IdentityPolicyMissingAction,
        Self::IdentityPolicyExplicitDeny,
        Self::AwsManagedKey,
        Self::NeedsGrant,
        Self::IneffectiveStatement,
        Self::InvalidPrincipal,
        Self::WildcardPrincipalUnconditioned,
        Self::SourceipBlocksAwsServices,
        Self::SourcevpcBlocksAwsServices,
        Self::OverbroadKmsStar,
        Self::GrantConditionOnNonGrantAction,
        Self::NotprincipalMissesSession,
        Self::CreategrantUnconstrained,
        Self::ScpExplicitDeny,
        Self::ScpNoAllow,
        Self::RcpExplicitDeny,
        Self::PermissionsBoundaryExplicitDeny,
        Self::PermissionsBoundaryNoAllow,
        Self::SessionPolicyExplicitDeny,
        Self::SessionPolicyNoAllow,
        Self::GuardrailUnseen,
    ];

    /// The kebab-case code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyPolicyNoAccess => "key-policy-no-access",
            Self::KeyPolicyMissingAction => "key-policy-missing-action",
            Self::KeyPolicyConditionFails => "key-policy-condition-fails",
            Self::KeyPolicyExplicitDeny => "key-policy-explicit-deny",
            Self::IdentityPolicyMissingAction => "identity-policy-missing-action",
            Self::IdentityPolicyExplicitDeny => "identity-policy-explicit-deny",
            Self::AwsManagedKey => "aws-managed-key",
            Self::NeedsGrant => "needs-grant",
            Self::IneffectiveStatement => "ineffective-statement",
            Self::InvalidPrincipal => "invalid-principal",
            Self::WildcardPrincipalUnconditioned => "wildcard-principal-unconditioned",
            Self::SourceipBlocksAwsServices => "sourceip-blocks-aws-services",
            Self::SourcevpcBlocksAwsServices => "sourcevpc-blocks-aws-services",
            Self::OverbroadKmsStar => "overbroad-kms-star",
            Self::GrantConditionOnNonGrantAction => "grant-condition-on-non-grant-action",
            Self::NotprincipalMissesSession => "notprincipal-misses-session",
            Self::CreategrantUnconstrained => "creategrant-unconstrained",
            Self::ScpExplicitDeny => "scp-explicit-deny",
            Self::ScpNoAllow => "scp-no-allow",
            Self::RcpExplicitDeny => "rcp-explicit-deny",
            Self::PermissionsBoundaryExplicitDeny => "permissions-boundary-explicit-deny",
            Self::PermissionsBoundaryNoAllow => "permissions-boundary-no-allow",
            Self::SessionPolicyExplicitDeny => "session-policy-explicit-deny",
            Self::SessionPolicyNoAllow => "session-policy-no-allow",
            Self::GuardrailUnseen => "guardrail-unseen",
        }
    }
}

impl std::fmt::Display for FindingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// A reason the access is denied, or a policy KMS rejects.
    Error,
    /// A security or hygiene problem, or one that will bite another scenario.
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// What to change.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fix {
    /// One line: what to do.
    pub summary: String,
    /// Statements to add to (or, when `remove` names a statement, to put in place of it in) the
    /// key policy.
    pub key_policy_statements: Vec<Value>,
    /// Statements for the principal's identity policy (`KmsKeyUsagePolicy`).
    pub identity_policy_statements: Vec<Value>,
    /// What to remove or replace, in words (statements by Sid or index, conditions).
    pub remove: Vec<String>,
    /// Commands to run (AWS CLI), when the fix is not a policy change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// Statements for the guardrail policy the finding names (`Finding::policy`: an SCP, RCP,
    /// permissions boundary or session policy), to add or to put in place of `remove`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_statements: Vec<Value>,
}

/// One reason or lint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub code: FindingCode,
    pub severity: Severity,
    /// The guardrail layer that decided (`scp`, `rcp`, `permissions-boundary`,
    /// `session-policy`); none for the key policy, identity policies and grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<super::layers::Layer>,
    /// The deciding guardrail policy: SCP/RCP id, boundary ARN, session policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// One line naming the statement, action, principal or condition.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<StatementRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    pub fix: Option<Fix>,
}

impl Finding {
    pub fn new(code: FindingCode, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            code,
            severity,
            layer: None,
            policy: None,
            message: message.into(),
            statement: None,
            actions: Vec::new(),
            fix: None,
        }
    }

    #[must_use]
    pub fn with_statement(mut self, s: StatementRef) -> Self {
        self.statement = Some(s);
        self
    }

    #[must_use]
    pub fn with_layer(mut self, layer: super::layers::Layer, policy: Option<String>) -> Self {
        self.layer = Some(layer);
        self.policy = policy;
        self
    }

    #[must_use]
    pub fn with_actions(mut self, actions: Vec<String>) -> Self {
        self.actions = actions;
        self
    }

    #[must_use]
    pub fn with_fix(mut self, fix: Fix) -> Self {
        self.fix = Some(fix);
        self
    }
}

/// Sid of seed 004's key-policy statement for the cryptographic actions.
pub const SID_USE: &str = "Allow use of the key";
/// Sid of seed 004's key-policy statement for grants.
pub const SID_ATTACH: &str = "Allow attachment of persistent resources";

/// The grant actions of "Allow attachment of persistent resources".
pub const ATTACH_ACTIONS: &[&str] = &["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"];
/// The actions of "Allow use of the key".
pub const USE_ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
];

fn principal_value(principals: &[String]) -> Value {
    match principals {
        [one] => json!({ "AWS": one }),
        many => json!({ "AWS": many }),
    }
}

/// Key policy "Allow use of the key" for `principals`.
pub fn key_use_statement(principals: &[String]) -> Value {
    if let Ok(v) = super::template::key_use_statement(principals) {
        return v;
    }
    json!({
        "Sid": SID_USE,
        "Effect": "Allow",
        "Principal": principal_value(principals),
        "Action": USE_ACTIONS,
        "Resource": "*"
    })
}

/// Key policy "Allow attachment of persistent resources" for `principals`.
pub fn key_attachment_statement(principals: &[String]) -> Value {
    if let Ok(v) = super::template::key_attachment_statement(principals) {
        return v;
    }
    json!({
        "Sid": SID_ATTACH,
        "Effect": "Allow",
        "Principal": principal_value(principals),
        "Action": ATTACH_ACTIONS,
        "Resource": "*",
        "Condition": { "Bool": { "kms:GrantIsForAWSResource": "true" } }
    })
}

/// The statement with `sid` of the template `KmsKeyUsagePolicy` for `key_arns`.
fn usage_policy_statement(key_arns: &[String], sid: &str) -> Option<Value> {
    let policy = super::template::kms_key_usage_policy(key_arns).ok()?;
    policy
        .get("Statement")?
        .as_array()?
        .iter()
        .find(|s| s.get("Sid").and_then(Value::as_str) == Some(sid))
        .cloned()
}

/// The statements of the target account's `KmsKeyUsagePolicy`, scoped to `key_arns`.
pub fn identity_use_statement(key_arns: &[String]) -> Value {
    if let Some(v) = usage_policy_statement(key_arns, super::template::USAGE_POLICY_USE_SID) {
        return v;
    }
    json!({
        "Sid": "AllowUseOfTheKey",
        "Effect": "Allow",
        "Action": USE_ACTIONS,
        "Resource": key_arns
    })
}

/// `KmsKeyUsagePolicy`'s grant statement, scoped to `key_arns`.
pub fn identity_attachment_statement(key_arns: &[String]) -> Value {
    if let Some(v) = usage_policy_statement(key_arns, super::template::USAGE_POLICY_ATTACHMENT_SID)
    {
        return v;
    }
    json!({
        "Sid": "AllowAttachmentOfPersistentResources",
        "Effect": "Allow",
        "Action": ATTACH_ACTIONS,
        "Resource": key_arns,
        "Condition": { "Bool": { "kms:GrantIsForAWSResource": "true" } }
    })
}

/// Whether an action needing a fix belongs to the grant group.
fn is_attach_action(a: &str) -> bool {
    ATTACH_ACTIONS.iter().any(|x| x.eq_ignore_ascii_case(a))
}

/// The key policy statements that cover `actions` for `principals`.
pub fn key_statements_for(actions: &[String], principals: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    if actions.iter().any(|a| !is_attach_action(a)) {
        out.push(key_use_statement(principals));
    }
    if actions.iter().any(|a| is_attach_action(a)) {
        out.push(key_attachment_statement(principals));
    }
    out
}

/// The identity policy statements that cover `actions` on `key_arn`.
pub fn identity_statements_for(actions: &[String], key_arn: &str) -> Vec<Value> {
    let arns = [key_arn.to_string()];
    let mut out = Vec::new();
    if actions.iter().any(|a| !is_attach_action(a)) {
        out.push(identity_use_statement(&arns));
    }
    if actions.iter().any(|a| is_attach_action(a)) {
        out.push(identity_attachment_statement(&arns));
    }
    out
}

/// `a`, `a and b`, `a, b and c` with backticks.
pub fn list_words(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {}", init.join(", "), last),
    }
}

#[cfg(test)]
mod tests {
    use super::FindingCode;

    /// The position of every variant in [`FindingCode::ALL`]; an exhaustive match, so a new
    /// variant does not compile until it is listed here (and then must be in `ALL`).
    fn position(c: FindingCode) -> usize {
        match c {
            FindingCode::KeyPolicyNoAccess => 0,
            FindingCode::KeyPolicyMissingAction => 1,
            FindingCode::KeyPolicyConditionFails => 2,
            FindingCode::KeyPolicyExplicitDeny => 3,
            FindingCode::IdentityPolicyMissingAction => 4,
            FindingCode::IdentityPolicyExplicitDeny => 5,
            FindingCode::AwsManagedKey => 6,
            FindingCode::NeedsGrant => 7,
            FindingCode::IneffectiveStatement => 8,
            FindingCode::InvalidPrincipal => 9,
            FindingCode::WildcardPrincipalUnconditioned => 10,
            FindingCode::SourceipBlocksAwsServices => 11,
            FindingCode::SourcevpcBlocksAwsServices => 12,
            FindingCode::OverbroadKmsStar => 13,
            FindingCode::GrantConditionOnNonGrantAction => 14,
            FindingCode::NotprincipalMissesSession => 15,
            FindingCode::CreategrantUnconstrained => 16,
            FindingCode::ScpExplicitDeny => 17,
            FindingCode::ScpNoAllow => 18,
            FindingCode::RcpExplicitDeny => 19,
            FindingCode::PermissionsBoundaryExplicitDeny => 20,
            FindingCode::PermissionsBoundaryNoAllow => 21,
            FindingCode::SessionPolicyExplicitDeny => 22,
            FindingCode::SessionPolicyNoAllow => 23,
            FindingCode::GuardrailUnseen => 24,
        }
    }

    #[test]
    fn as_str_is_the_serde_string_of_every_variant() {
        assert_eq!(FindingCode::ALL.len(), 25);
        for (i, code) in FindingCode::ALL.iter().enumerate() {
            assert_eq!(position(*code), i, "{code:?} out of place in ALL");
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::String(code.as_str().to_string())
            );
            assert_eq!(code.to_string(), code.as_str());
        }
    }
}
