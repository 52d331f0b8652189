//! The lock-out check: after an edit, the editor must still be allowed `kms:PutKeyPolicy`
//! (the evaluator first, a structural check when the evaluator cannot parse the policy).

use super::document::*;
use super::*;
use crate::domain::arn::Arn;

/// The principal that will call PutKeyPolicy.
#[derive(Debug)]
pub(super) struct Editor<'a> {
    pub(super) arn: &'a str,
    pub(super) key_arn: &'a str,
    pub(super) key_region: &'a str,
    pub(super) partition: &'a str,
    pub(super) account: &'a str,
    /// For a role session (`arn:aws:sts::ID:assumed-role/NAME/SESSION`): the role name.
    pub(super) session_role: Option<&'a str>,
}

impl<'a> Editor<'a> {
    pub(super) fn parse(arn: &'a str, key_arn: &'a str) -> Result<Self, PolicyEditError> {
        let key = validate_key_arn(key_arn)?;
        let invalid = |reason: &str| PolicyEditError::InvalidEditor {
            editor: arn.to_string(),
            reason: reason.to_string(),
        };
        if !arn.starts_with("arn:") {
            return Err(invalid("expected an IAM or STS ARN"));
        }
        let Some(Arn {
            partition,
            service,
            region: "",
            account,
            resource,
        }) = Arn::parse(arn)
        else {
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
pub(super) fn aws_values_any(principal: &Value, f: impl Fn(&str) -> bool) -> bool {
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

pub(super) fn root_account_of(value: &str) -> Option<&str> {
    crate::policy::template::root_account(value)
}

/// The lock-out check described in the module documentation.
pub(super) fn editor_keeps_put_key_policy(policy: &Value, editor: &Editor) -> bool {
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
pub(super) fn structural_lock_out_check(policy: &Value, editor: &Editor) -> bool {
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
