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
//!   order of objects is preserved. amishare never writes a wildcard principal and never merges
//!   into a statement whose principal is `*`.
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
            PolicyEditError::WouldEmptyStatement { sid, .. } => Some(format!(
                "statement `{sid}` was changed since amishare edited it; remove the principal by hand"
            )),
        }
    }
}

/// Adds `principals` (account ids or IAM root/user/role ARNs) to the key policy's
/// "Allow use of the key" and "Allow attachment of persistent resources" statements.
///
/// `key_arn` is the key whose policy this is; `editor` is the ARN of the principal that will call
/// PutKeyPolicy (as `sts get-caller-identity` returns it); the result must keep it able to do so.
pub fn add_key_users(
    policy_json: &str,
    key_arn: &str,
    principals: &[String],
    editor: &str,
) -> Result<KeyPolicyEdit, PolicyEditError> {
    let editor = Editor::parse(editor, key_arn)?;
    let before = parse_policy(policy_json)?;
    let principals = key_policy_principals_in(principals, editor.partition)?;
    let mut statements = statements_of(&before)?;
    let original = statements.clone();
    let mut added = Vec::new();
    let mut changes = Vec::new();
    let mut warnings = Vec::new();

    for (sid, template) in key_statements_for(&principals)? {
        match find_target(&statements, sid)? {
            Some(index) => {
                let statement = &mut statements[index];
                let aws = aws_principals(statement, sid)?;
                let was_string = aws.is_some_and(Value::is_string);
                let mut present: Vec<String> = aws.map(principal_strings).unwrap_or_default();
                let mut new = Vec::new();
                for p in &principals {
                    if !present.iter().any(|q| same_principal(q, p)) {
                        present.push(p.clone());
                        new.push(p.clone());
                    }
                }
                warnings.extend(compatibility_warnings(statement, sid, index, &template));
                if new.is_empty() {
                    continue;
                }
                let before_statement = statement.clone();
                set_aws_principals(statement, present, false);
                changes.push(StatementChange {
                    kind: StatementChangeKind::Modified,
                    sid: sid.to_string(),
                    index,
                    before: Some(before_statement),
                    after: Some(statement.clone()),
                });
                added.extend(new.into_iter().map(|principal| AddedPrincipal {
                    sid: sid.to_string(),
                    principal,
                    statement_created: false,
                    principal_was_string: was_string,
                }));
            }
            None => {
                changes.push(StatementChange {
                    kind: StatementChangeKind::Added,
                    sid: sid.to_string(),
                    index: statements.len(),
                    before: None,
                    after: Some(template.clone()),
                });
                added.extend(principals.iter().map(|principal| AddedPrincipal {
                    sid: sid.to_string(),
                    principal: principal.clone(),
                    statement_created: true,
                    principal_was_string: false,
                }));
                statements.push(template);
            }
        }
    }
    changes.sort_by_key(|c| c.index);
    finish(
        policy_json,
        before,
        original,
        statements,
        &editor,
        added,
        Vec::new(),
        changes,
        warnings,
    )
}

/// Removes what [`add_key_users`] added (the `added` records from its result, e.g. from the run
/// journal): each principal is removed from its statement (in whichever equivalent form it is
/// now written), other principals stay; a statement is dropped only when amishare created it and
/// it has no principal left. Principals already gone are skipped, so this is idempotent too.
pub fn remove_key_users(
    policy_json: &str,
    key_arn: &str,
    added: &[AddedPrincipal],
    editor: &str,
) -> Result<KeyPolicyEdit, PolicyEditError> {
    let editor = Editor::parse(editor, key_arn)?;
    let before = parse_policy(policy_json)?;
    let mut statements = statements_of(&before)?;
    let original = statements.clone();
    let mut removed = Vec::new();
    let mut touched: Vec<(usize, Value)> = Vec::new();

    for record in added {
        let Some(index) = find_target(&statements, &record.sid)? else {
            continue;
        };
        let statement = &mut statements[index];
        let Some(aws) = aws_principals(statement, &record.sid)? else {
            continue;
        };
        let present = principal_strings(aws);
        let kept: Vec<String> = present
            .iter()
            .filter(|q| !same_principal(q, &record.principal))
            .cloned()
            .collect();
        if kept.len() == present.len() {
            continue;
        }
        if !touched.iter().any(|(i, _)| *i == index) {
            touched.push((index, statement.clone()));
        }
        let others = statement
            .get("Principal")
            .and_then(Value::as_object)
            .is_some_and(|p| p.keys().any(|k| k != "AWS"));
        if kept.is_empty() && !others {
            let created = added
                .iter()
                .any(|r| r.sid == record.sid && r.statement_created);
            if !created {
                return Err(PolicyEditError::WouldEmptyStatement {
                    sid: record.sid.clone(),
                    principal: record.principal.clone(),
                });
            }
        }
        let as_string = added
            .iter()
            .any(|r| r.sid == record.sid && r.principal_was_string);
        set_aws_principals(statement, kept, as_string);
        removed.push(record.clone());
    }

    // Build the change list against the original indexes, then drop emptied statements.
    let mut changes = Vec::new();
    let mut drop = Vec::new();
    for (index, before_statement) in touched {
        let statement = &statements[index];
        if principal_is_empty(statement) {
            drop.push(index);
            changes.push(StatementChange {
                kind: StatementChangeKind::Removed,
                sid: sid_of(statement).unwrap_or_default().to_string(),
                index,
                before: Some(before_statement),
                after: None,
            });
        } else {
            changes.push(StatementChange {
                kind: StatementChangeKind::Modified,
                sid: sid_of(statement).unwrap_or_default().to_string(),
                index,
                before: Some(before_statement),
                after: Some(statement.clone()),
            });
        }
    }
    drop.sort_unstable();
    for index in drop.into_iter().rev() {
        statements.remove(index);
    }
    // Indexes of modified statements move down past dropped ones.
    let dropped: Vec<usize> = changes
        .iter()
        .filter(|c| c.kind == StatementChangeKind::Removed)
        .map(|c| c.index)
        .collect();
    for change in &mut changes {
        if change.kind == StatementChangeKind::Modified {
            change.index -= dropped.iter().filter(|d| **d < change.index).count();
        }
    }
    changes.sort_by_key(|c| c.index);
    finish(
        policy_json,
        before,
        original,
        statements,
        &editor,
        Vec::new(),
        removed,
        changes,
        Vec::new(),
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    policy_json: &str,
    before: Value,
    original: Vec<Value>,
    statements: Vec<Value>,
    editor: &Editor,
    added: Vec<AddedPrincipal>,
    removed: Vec<AddedPrincipal>,
    statement_changes: Vec<StatementChange>,
    warnings: Vec<String>,
) -> Result<KeyPolicyEdit, PolicyEditError> {
    if statements == original {
        return Ok(KeyPolicyEdit {
            policy: before.clone(),
            before,
            text: policy_json.to_string(),
            changed: false,
            added,
            removed,
            statement_changes,
            warnings,
        });
    }
    let mut policy = before.clone();
    if let Some(obj) = policy.as_object_mut() {
        // Keep a single-object `Statement` an object while it stays a single statement.
        let value = match (obj.get("Statement"), statements.as_slice()) {
            (Some(Value::Object(_)), [only]) => only.clone(),
            _ => Value::Array(statements),
        };
        obj.insert("Statement".to_string(), value);
    }
    let text = serialise_within_limit(&policy)?;
    if !editor_keeps_put_key_policy(&policy, editor) {
        return Err(PolicyEditError::LockOut {
            editor: editor.arn.to_string(),
        });
    }
    Ok(KeyPolicyEdit {
        before,
        policy,
        text,
        changed: true,
        added,
        removed,
        statement_changes,
        warnings,
    })
}

/// The text to send: pretty when it fits, else compact; an error when neither fits.
fn serialise_within_limit(policy: &Value) -> Result<String, PolicyEditError> {
    let pretty = serde_json::to_string_pretty(policy).unwrap_or_default();
    if !pretty.is_empty() && pretty.len() <= KEY_POLICY_MAX_BYTES {
        return Ok(pretty);
    }
    let compact = serde_json::to_string(policy).unwrap_or_default();
    if compact.len() <= KEY_POLICY_MAX_BYTES && !compact.is_empty() {
        Ok(compact)
    } else {
        Err(PolicyEditError::TooLarge {
            bytes: compact.len(),
            limit: KEY_POLICY_MAX_BYTES,
        })
    }
}

fn parse_policy(policy_json: &str) -> Result<Value, PolicyEditError> {
    let value: Value =
        serde_json::from_str(policy_json).map_err(|e| PolicyEditError::InvalidJson {
            reason: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_string(),
            line: e.line(),
            column: e.column(),
        })?;
    if !value.is_object() {
        return Err(PolicyEditError::NotAnObject {
            found: type_name(&value),
        });
    }
    Ok(value)
}

fn statements_of(policy: &Value) -> Result<Vec<Value>, PolicyEditError> {
    let statements = match policy.get("Statement") {
        None => return Err(PolicyEditError::MissingStatement),
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        Some(other) => {
            return Err(PolicyEditError::InvalidStatement {
                found: type_name(other),
            })
        }
    };
    for (index, statement) in statements.iter().enumerate() {
        if !statement.is_object() {
            return Err(PolicyEditError::StatementNotObject {
                index,
                found: type_name(statement),
            });
        }
    }
    Ok(statements)
}

fn sid_of(statement: &Value) -> Option<&str> {
    statement.get("Sid").and_then(Value::as_str)
}

/// The first `Allow` statement with `Principal` and this exact Sid; an error when statements
/// with the Sid exist but none qualifies (creating another would duplicate the Sid).
fn find_target(statements: &[Value], sid: &str) -> Result<Option<usize>, PolicyEditError> {
    let mut seen = false;
    for (index, statement) in statements.iter().enumerate() {
        if sid_of(statement) != Some(sid) {
            continue;
        }
        seen = true;
        if statement.get("Effect").and_then(Value::as_str) == Some("Allow")
            && statement.get("Principal").is_some()
        {
            return Ok(Some(index));
        }
    }
    if seen {
        Err(PolicyEditError::SidConflict {
            sid: sid.to_string(),
        })
    } else {
        Ok(None)
    }
}

/// The statement's `Principal.AWS` value (None when the principal has no `AWS` key), after
/// checking that amishare can extend it.
fn aws_principals<'a>(
    statement: &'a Value,
    sid: &str,
) -> Result<Option<&'a Value>, PolicyEditError> {
    let unsupported = |reason: &str| PolicyEditError::UnsupportedPrincipal {
        sid: sid.to_string(),
        reason: reason.to_string(),
    };
    let principal = match statement.get("Principal") {
        Some(Value::String(s)) if s == "*" => {
            return Err(PolicyEditError::WildcardStatement {
                sid: sid.to_string(),
            })
        }
        Some(Value::Object(map)) => map,
        _ => return Err(unsupported("expected an object such as `{\"AWS\": [...]}`")),
    };
    let Some(aws) = principal.get("AWS") else {
        return Ok(None);
    };
    let values: Vec<&Value> = match aws {
        Value::String(_) => vec![aws],
        Value::Array(list) => list.iter().collect(),
        _ => return Err(unsupported("`AWS` must be a string or an array of strings")),
    };
    for value in values {
        match value.as_str() {
            Some("*") => {
                return Err(PolicyEditError::WildcardStatement {
                    sid: sid.to_string(),
                })
            }
            Some(_) => {}
            None => return Err(unsupported("`AWS` must be a string or an array of strings")),
        }
    }
    Ok(Some(aws))
}

fn principal_strings(aws: &Value) -> Vec<String> {
    match aws {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Writes `Principal.AWS` (appending the key when absent, keeping the key order); an empty list
/// removes the key. A single principal is written as a string when `as_string`.
fn set_aws_principals(statement: &mut Value, principals: Vec<String>, as_string: bool) {
    let Some(principal) = statement
        .get_mut("Principal")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if principals.is_empty() {
        principal.shift_remove("AWS");
        return;
    }
    let value = match principals.as_slice() {
        [only] if as_string => Value::String(only.clone()),
        _ => Value::from(principals),
    };
    match principal.get_mut("AWS") {
        Some(slot) => *slot = value,
        None => {
            principal.insert("AWS".to_string(), value);
        }
    }
}

fn principal_is_empty(statement: &Value) -> bool {
    statement
        .get("Principal")
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
}

/// Warnings when an existing statement does not grant what the template grants.
fn compatibility_warnings(
    statement: &Value,
    sid: &str,
    index: usize,
    template: &Value,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let patterns = string_list(statement.get("Action"));
    let wanted: &[&str] = if sid == KEY_USE_SID {
        &KEY_USE_ACTIONS
    } else {
        &KEY_ATTACHMENT_ACTIONS
    };
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|a| !patterns.iter().any(|p| glob_ignore_case(p, a)))
        .collect();
    if statement.get("NotAction").is_some() || !missing.is_empty() {
        warnings.push(format!(
            "statement `{sid}` (index {index}) does not grant {}; the added principals get only what it grants",
            if missing.is_empty() {
                "the template's actions (it uses `NotAction`)".to_string()
            } else {
                missing
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }
    if !string_list(statement.get("Resource"))
        .iter()
        .any(|r| r == "*")
    {
        warnings.push(format!(
            "statement `{sid}` (index {index}) has no `\"Resource\": \"*\"`; it may not apply to the key"
        ));
    }
    if statement.get("Condition").map(canonical) != template.get("Condition").map(canonical) {
        warnings.push(format!(
            "statement `{sid}` (index {index}) has a different `Condition` from amishare's template; the added principals are subject to it"
        ));
    }
    warnings
}

/// Booleans and numbers as strings, single values as one-element lists: `Bool` accepts `true`
/// and `"true"`, a condition value may be a string or a list.
fn canonical(value: &Value) -> Value {
    let scalar = |v: &Value| match v {
        Value::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    };
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), canonical(v)))
                .collect(),
        ),
        Value::Array(list) => Value::Array(list.iter().map(scalar).collect()),
        other => Value::Array(vec![scalar(other)]),
    }
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value.map(principal_strings).unwrap_or_default()
}

/// The principal that will call PutKeyPolicy.
#[derive(Debug)]
struct Editor<'a> {
    arn: &'a str,
    key_arn: &'a str,
    key_region: &'a str,
    partition: &'a str,
    account: &'a str,
    /// For a role session (`arn:aws:sts::ID:assumed-role/NAME/SESSION`): the role name.
    session_role: Option<&'a str>,
}

impl<'a> Editor<'a> {
    fn parse(arn: &'a str, key_arn: &'a str) -> Result<Self, PolicyEditError> {
        let key = validate_key_arn(key_arn)?;
        let invalid = |reason: &str| PolicyEditError::InvalidEditor {
            editor: arn.to_string(),
            reason: reason.to_string(),
        };
        let rest = arn
            .strip_prefix("arn:")
            .ok_or_else(|| invalid("expected an IAM or STS ARN"))?;
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [partition, service, "", account, resource] = parts[..] else {
            return Err(invalid(
                "expected `arn:PARTITION:iam::ACCOUNT:...` or `arn:PARTITION:sts::ACCOUNT:...`",
            ));
        };
        if !is_partition(partition) || !matches!(service, "iam" | "sts") || !is_account_id(account)
        {
            return Err(invalid(
                "expected `arn:PARTITION:iam::ACCOUNT:...` or `arn:PARTITION:sts::ACCOUNT:...`",
            ));
        }
        if resource.is_empty() || resource.contains('*') || resource.contains('?') {
            return Err(invalid("the resource part must name one principal"));
        }
        let segments: Vec<&str> = resource.split('/').collect();
        let session_role = match (service, segments.as_slice()) {
            ("sts", ["assumed-role", role, _session]) => Some(*role),
            _ => None,
        };
        if account != key.account {
            return Err(PolicyEditError::EditorNotInKeyAccount {
                editor: arn.to_string(),
                key_arn: key_arn.to_string(),
                key_account: key.account.to_string(),
            });
        }
        Ok(Editor {
            arn,
            key_arn,
            key_region: key.region,
            partition: key.partition,
            account,
            session_role,
        })
    }

    fn matches_principal_value(&self, value: &str) -> bool {
        if value == "*" || value == self.arn {
            return true;
        }
        if root_account_of(value) == Some(self.account) {
            return true;
        }
        // A role ARN (with any path) matches that role's sessions.
        if let Some(role) = self.session_role {
            let prefix = format!("arn:{}:iam::{}:role/", self.partition, self.account);
            if let Some(path_and_name) = value.strip_prefix(&prefix) {
                return path_and_name.rsplit('/').next() == Some(role);
            }
        }
        false
    }

    /// Whether a `NotPrincipal` element exempts the editor, by the evaluator's own rule
    /// ([`not_principal_excludes`]): it must list every identity the request carries (the
    /// account, the role for a role session, and the exact ARN), so a role ARN alone does not
    /// exempt the role's sessions. An editor the evaluator cannot parse is never exempt.
    fn exempted_by_not_principal(&self, principal: &Value) -> bool {
        let Ok(caller) = Caller::parse(self.arn) else {
            return false;
        };
        let patterns: Vec<PrincipalPattern> = match principal {
            Value::String(s) if s == "*" => vec![PrincipalPattern::Any],
            Value::Object(map) => map
                .get("AWS")
                .map(principal_strings)
                .unwrap_or_default()
                .iter()
                .map(|v| PrincipalPattern::aws(v.trim()))
                .collect(),
            _ => Vec::new(),
        };
        not_principal_excludes(&patterns, &caller)
    }

    fn matches_principal(&self, principal: &Value) -> bool {
        aws_values_any(principal, |v| self.matches_principal_value(v))
    }
}

/// `"*"`, or whether some `AWS` value of a principal object satisfies `f`.
fn aws_values_any(principal: &Value, f: impl Fn(&str) -> bool) -> bool {
    match principal {
        Value::String(s) => s == "*",
        Value::Object(map) => map
            .get("AWS")
            .map(principal_strings)
            .unwrap_or_default()
            .iter()
            .any(|v| f(v)),
        _ => false,
    }
}

fn root_account_of(value: &str) -> Option<&str> {
    super::template::root_account(value)
}

/// The lock-out check described in the module documentation.
fn editor_keeps_put_key_policy(policy: &Value, editor: &Editor) -> bool {
    const ACTION: &str = "kms:PutKeyPolicy";
    let Ok(document) = parse_policy_value(policy, "edited key policy") else {
        return structural_lock_out_check(policy, editor);
    };
    let Ok(caller) = Caller::parse(editor.arn) else {
        return structural_lock_out_check(policy, editor);
    };
    let key = KeyInfo {
        arn: editor.key_arn.to_string(),
        manager: KeyManager::Customer,
        policy: Some(document),
        grants: Vec::new(),
    };
    let ctx = RequestContext::direct(
        &caller,
        &CallerContext::default(),
        ACTION,
        editor.key_region,
    );
    match evaluate_key_request(&key, editor.arn, &[], ACTION, &ctx) {
        Ok(decision) => matches!(
            decision.key_policy.outcome,
            Outcome::Allow | Outcome::DelegatesToIam
        ),
        Err(_) => structural_lock_out_check(policy, editor),
    }
}

/// The structural fallback of the lock-out check (module documentation).
fn structural_lock_out_check(policy: &Value, editor: &Editor) -> bool {
    let statements = match policy.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    let mut allowed = false;
    for statement in statements {
        let applies_to_editor = match (statement.get("Principal"), statement.get("NotPrincipal")) {
            (Some(p), _) => editor.matches_principal(p),
            // The evaluator's rule: a role ARN in `NotPrincipal` does not exempt its sessions.
            (None, Some(np)) => !editor.exempted_by_not_principal(np),
            (None, None) => false,
        };
        let action = match (statement.get("Action"), statement.get("NotAction")) {
            (Some(a), _) => string_list(Some(a))
                .iter()
                .any(|p| glob_ignore_case(p, "kms:PutKeyPolicy")),
            (None, Some(na)) => !string_list(Some(na))
                .iter()
                .any(|p| glob_ignore_case(p, "kms:PutKeyPolicy")),
            (None, None) => false,
        };
        let conditioned = statement.get("Condition").is_some();
        if !applies_to_editor || !action || conditioned {
            continue;
        }
        match statement.get("Effect").and_then(Value::as_str) {
            // A Deny applies unless it excludes every resource (`NotResource: "*"`).
            Some("Deny") => {
                let excluded = string_list(statement.get("NotResource"))
                    .iter()
                    .any(|r| r == "*");
                if !excluded {
                    return false;
                }
            }
            Some("Allow") => {
                // `Resource` is "*" (this key) or a KMS key ARN (the key's own ARN is unknown here).
                let resource = string_list(statement.get("Resource"))
                    .iter()
                    .any(|r| r == "*" || (r.starts_with("arn:") && r.contains(":kms:")));
                allowed |= resource;
            }
            _ => {}
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::template::KEY_ATTACHMENT_SID;
    use serde_json::json;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn editor(arn: &str) -> Editor<'_> {
        Editor::parse(arn, KEY).unwrap()
    }

    #[test]
    fn glob_is_case_insensitive_with_wildcards() {
        for (p, t, m) in [
            ("kms:*", "kms:PutKeyPolicy", true),
            ("KMS:put*", "kms:PutKeyPolicy", true),
            ("kms:Put?eyPolicy", "kms:PutKeyPolicy", true),
            ("*", "kms:PutKeyPolicy", true),
            ("kms:Put", "kms:PutKeyPolicy", false),
            ("kms:ReEncrypt*", "kms:ReEncrypt*", true),
            ("kms:ReEncrypt", "kms:ReEncrypt*", false),
            ("kms:*Policy", "kms:GetKeyPolicy", true),
            ("", "kms:Decrypt", false),
        ] {
            assert_eq!(glob_ignore_case(p, t), m, "{p} {t}");
        }
    }

    /// The evaluator path and the structural fallback agree on these policies.
    #[test]
    fn lock_out_checks_agree() {
        let root = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
                                           "Action": "kms:*", "Resource": "*"}]});
        let admin = json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::111122223333:role/ops/Admin"]},
            "Action": ["kms:Describe*", "kms:Put*"], "Resource": "*"}]});
        let not_action = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"},
            "NotAction": "kms:Decrypt", "Resource": "*"}});
        let conditioned = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
            "Action": "kms:*", "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]});
        let denied = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:role/ops/Admin"},
             "Action": "kms:PutKeyPolicy", "Resource": "*"}]});
        let no_resource = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
                                                 "Action": "kms:*"}]});
        let session = "arn:aws:sts::111122223333:assumed-role/Admin/s";
        let user = "arn:aws:iam::111122223333:user/bob";
        let cases = [
            (&root, session, true),
            (&root, user, true),
            (&admin, session, true),
            (&admin, user, false),
            (&admin, "arn:aws:iam::111122223333:role/ops/Admin", true),
            (&not_action, user, true),
            (&conditioned, user, false),
            (&denied, user, false),
            (&no_resource, user, false),
        ];
        for (i, (policy, who, expected)) in cases.into_iter().enumerate() {
            let e = editor(who);
            assert_eq!(
                structural_lock_out_check(policy, &e),
                expected,
                "structural case {i}"
            );
            assert_eq!(
                editor_keeps_put_key_policy(policy, &e),
                expected,
                "evaluator case {i}"
            );
        }
        // A NotPrincipal deny that lists only the role does not exempt the role's sessions (AWS),
        // nor the role itself (its account is not listed).
        for who in [session, "arn:aws:iam::111122223333:role/ops/Admin"] {
            let e = editor(who);
            assert!(!structural_lock_out_check(&denied, &e), "{who}");
            assert!(!editor_keeps_put_key_policy(&denied, &e), "{who}");
        }
    }

    /// A `NotPrincipal` Deny exempts the editor only when it lists every identity of the request
    /// (account, role, exact ARN): the evaluator and the structural fallback agree, whether called
    /// directly or reached because the evaluator cannot parse the edited policy.
    #[test]
    fn not_principal_deny_fallback_agrees_with_evaluator() {
        const ROLE: &str = "arn:aws:iam::111122223333:role/ops/Admin";
        const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/Admin/s";
        const ROOT: &str = "arn:aws:iam::111122223333:root";
        const USER: &str = "arn:aws:iam::111122223333:user/bob";
        let policy = |not_principal: Value| {
            json!({"Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"},
                {"Effect": "Deny", "NotPrincipal": not_principal, "Action": "kms:PutKeyPolicy", "Resource": "*"}]})
        };
        let cases = [
            (json!({"AWS": ROLE}), SESSION, false),
            (json!({"AWS": ROLE}), ROLE, false),
            (json!({"AWS": [SESSION]}), SESSION, false),
            (json!({"AWS": [ROLE, SESSION]}), SESSION, false),
            (json!({"AWS": [ROLE, ROOT]}), SESSION, false),
            (json!({"AWS": [ROLE, SESSION, ROOT]}), SESSION, true),
            (json!({"AWS": [ROLE, ROOT]}), ROLE, true),
            (json!({"AWS": USER}), USER, false),
            (json!({"AWS": [USER, "111122223333"]}), USER, true),
            (json!({"AWS": [SESSION, ROOT]}), USER, false),
            (json!("*"), USER, true),
        ];
        for (i, (not_principal, who, expected)) in cases.into_iter().enumerate() {
            let e = editor(who);
            let policy = policy(not_principal);
            assert_eq!(
                structural_lock_out_check(&policy, &e),
                expected,
                "structural case {i}"
            );
            assert_eq!(
                editor_keeps_put_key_policy(&policy, &e),
                expected,
                "evaluator case {i}"
            );
            // The same policy plus a statement the evaluator refuses: the fallback decides.
            let mut unparsable = policy.clone();
            unparsable["Statement"].as_array_mut().unwrap().push(json!(
                {"Effect": "Allow", "Principal": {"Unknown": "x"}, "Action": "kms:Decrypt", "Resource": "*"}));
            assert!(parse_policy_value(&unparsable, "test").is_err());
            assert_eq!(
                editor_keeps_put_key_policy(&unparsable, &e),
                expected,
                "fallback case {i}"
            );
        }
    }

    #[test]
    fn equivalent_conditions_raise_no_warning() {
        let template = json!({"Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}});
        let base = json!({"Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*"});
        let with = |condition: Value| {
            let mut st = base.clone();
            st["Condition"] = condition;
            compatibility_warnings(&st, KEY_ATTACHMENT_SID, 3, &template)
        };
        assert!(with(json!({"Bool": {"kms:GrantIsForAWSResource": true}})).is_empty());
        assert!(with(json!({"bool": {"kms:grantisforawsresource": ["true"]}})).is_empty());
        let warnings = with(json!({"Bool": {"kms:GrantIsForAWSResource": "false"}}));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("different `Condition`"));
        let warnings = compatibility_warnings(&base, KEY_ATTACHMENT_SID, 3, &template);
        assert_eq!(warnings.len(), 1, "no condition at all");
    }

    #[test]
    fn editor_must_be_an_iam_or_sts_arn() {
        for bad in [
            "Deployer",
            "arn:aws:iam::111122223333:",
            "arn:aws:iam::111122223333:role/*",
            "arn:aws:s3:::bucket",
            "arn:aws:iam:us-east-1:111122223333:user/x",
        ] {
            let err = Editor::parse(bad, KEY).unwrap_err();
            assert!(
                matches!(err, PolicyEditError::InvalidEditor { .. }),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().contains(&format!("`{bad}`")));
        }
    }
}
