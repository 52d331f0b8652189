//! The end of every edit: the new document's text (pretty when it fits the 32 KB limit, else
//! compact), the lock-out check, and the [`KeyPolicyEdit`] value. Shared by every edit
//! (`apply`, `org`, `grant_creator`, `reapply`), below all of them.

use super::lockout::*;
use super::*;

#[allow(clippy::too_many_arguments)]
pub(super) fn finish(
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
