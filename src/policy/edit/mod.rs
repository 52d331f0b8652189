//! Editing a KMS key policy: add the target accounts/principals to the "Allow use of the key" and
//! "Allow attachment of persistent resources" statements (seed 004), and the exact inverse for
//! rollback.
//!
//! Rules:
//! - The statements are found by exact (case-sensitive) `Sid`; with several, the first `Allow`
//!   statement with a `Principal` is used. Missing statements are created from the templates and
//!   appended at the end. No other statement is touched.
//! - A principal already present (exactly, or as the equivalent bare account id / root ARN) is not
//!   added again, so applying an edit twice changes nothing (`changed == false`).
//! - Principal forms are kept: `{"AWS": "x"}` becomes an array only when a principal is added, key
//!   order of objects is preserved. amishare never merges into a statement whose principal is
//!   `*`, and writes a wildcard principal only in its own organization-conditioned statements
//!   ([`add_org_statements`], `--to-org` / `--to-ou`: `Principal {"AWS": "*"}` with
//!   `aws:PrincipalOrgID` or `aws:PrincipalOrgPaths` AND `kms:ViaService`), never elsewhere.
//! - The result is refused when the text that would be sent exceeds 32,768 bytes (KMS counts the
//!   whole `Policy` string, whitespace included; the pretty form is sent when it fits, else the
//!   compact form) or when it would lock the editor out of `kms:PutKeyPolicy`.
//!
//! Lock-out check (key policy alone): the edited policy is evaluated with the policy evaluator
//! ([`super::evaluate_key_request`]) for `kms:PutKeyPolicy` by the editor on the key, as a direct
//! request (no `kms:ViaService`, `aws:ViaAWSService` false, no other caller context known, so
//! conditions on MFA, source IP, tags and the like count as unmet). An Allow of the editor, its
//! role (for a role session) or `*` passes; so does an Allow of the editor's account root
//! (delegation to IAM), because the editor's IAM policies are unknown here: amishare assumes the
//! caller holds `kms:PutKeyPolicy` in IAM when the key policy delegates to its account (it had to,
//! to edit the policy before). An explicit Deny or no match refuses the edit. When the evaluator
//! cannot parse the edited policy, a structural fallback is used: some `Allow` without
//! `Condition` names the editor, its role, its account root or `*` for an action matching
//! `kms:PutKeyPolicy` with a `Resource`, and no `Deny` without `Condition` applies (a `NotPrincipal`
//! Deny applies unless it lists the editor's account, its role for a role session, and its exact
//! ARN: the evaluator's rule, so a role ARN alone does not exempt the role's sessions). Refusing
//! wrongly is safe; locking out is not.
//!
//! The editor must be in the key's account: PutKeyPolicy only works there.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::context::{CallerContext, RequestContext};
use super::diff::{diff_policies, PolicyDiff};
use super::eval::{evaluate_key_request, KeyInfo, KeyManager, Outcome};
use super::matching::{
    glob_match_ignore_case as glob_ignore_case, not_principal_excludes, Caller, PrincipalPattern,
};
use super::parse::{parse_policy_value, type_name};
pub use super::statement::StatementChangeKind;
use super::template::{
    is_account_id, is_partition, key_policy_principals_in, key_statements_for, same_principal,
    validate_key_arn, TemplateError, KEY_ATTACHMENT_ACTIONS, KEY_USE_ACTIONS, KEY_USE_SID,
};

mod apply;
mod document;
mod finish;
mod grant_creator;
mod lockout;
mod org;
mod reapply;
#[cfg(test)]
mod tests;

pub use apply::{add_key_users, remove_key_users};
pub use grant_creator::{add_grant_creators, GRANT_CREATOR_SID};
pub use org::{add_org_statements, org_statement_sids, org_statements, OrgScope};
pub use reapply::reapply_additions;

/// The largest key policy KMS accepts, in bytes.
pub const KEY_POLICY_MAX_BYTES: usize = 32_768;

/// One principal amishare put into one statement: what rollback needs to undo exactly that.
/// Journal these (they are `Deserialize`) and pass them to [`remove_key_users`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedPrincipal {
    /// Sid of the statement ("Allow use of the key" or "Allow attachment of persistent resources").
    pub sid: String,
    /// The principal as written (account ids are written as root ARNs).
    pub principal: String,
    /// amishare created the statement (so rollback may drop it once it is empty).
    pub statement_created: bool,
    /// The statement's `Principal.AWS` was a single string before amishare turned it into an array.
    pub principal_was_string: bool,
    /// Set when amishare wrote the whole statement `sid` (an organization-conditioned statement,
    /// `principal` is then `*`): who it admits, for people (`organization o-x`, `OU ou-y (...)`).
    /// Rollback removes that statement. Absent in journals written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
}

/// One changed statement, with its JSON before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementChange {
    /// Added, modified or removed.
    pub kind: StatementChangeKind,
    /// The statement's Sid.
    pub sid: String,
    /// Index in the edited policy (in the original policy for a removed statement).
    pub index: usize,
    /// The statement before (absent when added).
    pub before: Option<Value>,
    /// The statement after (absent when removed).
    pub after: Option<Value>,
}

/// The result of an edit: the new policy, the text to send with PutKeyPolicy, and what changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyPolicyEdit {
    /// The policy as it was (for [`KeyPolicyEdit::diff`]).
    #[serde(skip)]
    pub before: Value,
    /// The edited policy.
    pub policy: Value,
    /// The text to send: pretty JSON when it fits the size limit, else compact JSON; the input
    /// unchanged when nothing changed (then there is nothing to send).
    pub text: String,
    /// Whether anything changed; when false, do not call PutKeyPolicy.
    pub changed: bool,
    /// Principals added (journal them for rollback).
    pub added: Vec<AddedPrincipal>,
    /// Principals removed (by [`remove_key_users`]).
    pub removed: Vec<AddedPrincipal>,
    /// Statement-level changes, in policy order.
    pub statement_changes: Vec<StatementChange>,
    /// Things the reviewer should know, e.g. an existing statement lacks a template action.
    pub warnings: Vec<String>,
}

/// Why a key policy could not be edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyEditError {
    /// The text is not JSON.
    #[error("key policy is not valid JSON: {reason} at line {line}, column {column}")]
    InvalidJson {
        /// The parser's message.
        reason: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The document is not a JSON object.
    #[error("key policy must be a JSON object, found {found}")]
    NotAnObject {
        /// The JSON type found.
        found: &'static str,
    },
    /// `Statement` is missing.
    #[error("key policy has no `Statement`")]
    MissingStatement,
    /// `Statement` is neither an object nor an array.
    #[error("key policy `Statement` must be an object or an array, found {found}")]
    InvalidStatement {
        /// The JSON type found.
        found: &'static str,
    },
    /// An element of `Statement` is not an object.
    #[error("statement {index} of the key policy must be an object, found {found}")]
    StatementNotObject {
        /// 0-based index.
        index: usize,
        /// The JSON type found.
        found: &'static str,
    },
    /// The statement to merge into has a principal amishare cannot extend.
    #[error("statement `{sid}` has an unsupported `Principal`: {reason}")]
    UnsupportedPrincipal {
        /// The statement's Sid.
        sid: String,
        /// What is wrong.
        reason: String,
    },
    /// The statement to merge into allows every principal.
    #[error("statement `{sid}` allows principal `*`; amishare does not add principals to a wildcard statement")]
    WildcardStatement {
        /// The statement's Sid.
        sid: String,
    },
    /// Statements with the Sid exist but none is an `Allow` with a `Principal`.
    #[error("statement `{sid}` exists but is not an `Allow` statement with a `Principal`")]
    SidConflict {
        /// The Sid.
        sid: String,
    },
    /// A principal or the key ARN is invalid.
    #[error(transparent)]
    Input(#[from] TemplateError),
    /// The editor is not a principal ARN.
    #[error("invalid editor `{editor}`: {reason}")]
    InvalidEditor {
        /// The value given.
        editor: String,
        /// What is wrong.
        reason: String,
    },
    /// The editor is not in the key's account.
    #[error("`{editor}` cannot edit the policy of key `{key_arn}`: PutKeyPolicy works only in the key's account `{key_account}`")]
    EditorNotInKeyAccount {
        /// The editor.
        editor: String,
        /// The key.
        key_arn: String,
        /// The key's account.
        key_account: String,
    },
    /// The result would be larger than KMS accepts.
    #[error("the edited key policy would be {bytes} bytes, over the KMS limit of {limit} bytes")]
    TooLarge {
        /// Size of the compact form.
        bytes: usize,
        /// [`KEY_POLICY_MAX_BYTES`].
        limit: usize,
    },
    /// The result would not let the editor call PutKeyPolicy again.
    #[error("the edited key policy would lock `{editor}` out of `kms:PutKeyPolicy`")]
    LockOut {
        /// The editor.
        editor: String,
    },
    /// A statement with the Sid of an organization-conditioned statement exists and differs.
    #[error(
        "statement `{sid}` exists and differs from the statement amishare writes with that Sid"
    )]
    OrgStatementDiffers {
        /// The Sid.
        sid: String,
    },
    /// Another writer removed or rewrote a statement this run adds to, since the run read the
    /// key policy ([`reapply_additions`]).
    #[error("statement `{sid}` that this run adds to {what} since the run read the key policy")]
    ConcurrentConflict {
        /// The statement's Sid.
        sid: String,
        /// What happened to it.
        what: String,
    },
    /// Removing the principal would leave a statement amishare did not create without principals.
    #[error("removing `{principal}` would leave statement `{sid}` without principals")]
    WouldEmptyStatement {
        /// The statement's Sid.
        sid: String,
        /// The principal to remove.
        principal: String,
    },
}

impl KeyPolicyEdit {
    /// The reviewable diff of this edit (statement summary and unified JSON diff).
    pub fn diff(&self) -> PolicyDiff {
        diff_policies(Some(&self.before), Some(&self.policy))
    }
}

impl PolicyEditError {
    /// Advice for the user, printed separately from the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            PolicyEditError::InvalidJson { .. }
            | PolicyEditError::NotAnObject { .. }
            | PolicyEditError::MissingStatement
            | PolicyEditError::InvalidStatement { .. }
            | PolicyEditError::StatementNotObject { .. } => Some(
                "a key policy is an object with `Version` and `Statement` (an object or an array of objects)"
                    .to_string(),
            ),
            PolicyEditError::UnsupportedPrincipal { .. } => Some(
                "the statement's `Principal` must be an object whose `AWS` is a string or an array of strings"
                    .to_string(),
            ),
            PolicyEditError::OrgStatementDiffers { sid } => Some(format!(
                "rename or remove statement `{sid}`, or pass `--key-policy-principals accounts` to list the accounts instead"
            )),
            PolicyEditError::WildcardStatement { sid } | PolicyEditError::SidConflict { sid } => {
                Some(format!(
                    "rename statement `{sid}` or grant the target principals in the key policy yourself"
                ))
            }
            PolicyEditError::Input(e) => e.hint(),
            PolicyEditError::InvalidEditor { .. } => Some(
                "give the caller's ARN as `sts get-caller-identity` returns it".to_string(),
            ),
            PolicyEditError::EditorNotInKeyAccount { key_account, .. } => Some(format!(
                "run the key policy edit with credentials of account `{key_account}`"
            )),
            PolicyEditError::TooLarge { .. } => Some(
                "remove unused statements or principals from the key policy, or grant the target account root instead of many principals"
                    .to_string(),
            ),
            PolicyEditError::LockOut { .. } => Some(
                "the key policy must keep an unconditioned Allow of `kms:PutKeyPolicy` for the caller, its role or its account root; edit it by hand (amishare never bypasses the lockout safety check)"
                    .to_string(),
            ),
            PolicyEditError::ConcurrentConflict { sid, .. } => Some(format!(
                "look at statement `{sid}` in the key policy now, then run `amishare copy` again to plan on it (or `amishare rollback RUN_ID`)"
            )),
            PolicyEditError::WouldEmptyStatement { sid, .. } => Some(format!(
                "statement `{sid}` was changed since amishare edited it; remove the principal by hand"
            )),
        }
    }
}
