//! Key-policy statements that admit a whole organization or OU (`--to-org`, `--to-ou`) instead
//! of listing every account: `Principal {"AWS": "*"}` conditioned on the caller's organization
//! (`aws:PrincipalOrgID`) or its place in it (`ForAnyValue:StringLike` on
//! `aws:PrincipalOrgPaths`, `o-x/r-x/ou-a/ou-b/*` = the OU and every OU under it), AND on
//! `kms:ViaService` = `ec2.<key region>.amazonaws.com` (the key is only ever used through EC2:
//! launches and copies of the shared AMI); the attachment statement also requires
//! `kms:GrantIsForAWSResource` (IAM user guide, "AWS global condition context keys":
//! aws:PrincipalOrgID, aws:PrincipalOrgPaths; KMS developer guide, "kms:ViaService",
//! "kms:GrantIsForAWSResource").
//!
//! Why: a key policy is at most 32,768 bytes. Every listed account costs two root ARNs (about
//! 60 bytes) in the two usage statements, so an organization of a few hundred accounts cannot be
//! listed at all; these statements cost the same for 1 or 5,000 accounts, and accounts that join
//! the OU later are covered without another edit.
//!
//! `kms:CallerAccount` is deliberately NOT added: it would have to list every account again
//! (the size problem above, and a rerun per new account), while the org condition already binds
//! the caller's account to the organization / OU (the keys are set by AWS from the caller's
//! account, they cannot be forged by the request), and `kms:ViaService` binds the use to EC2 in
//! the key's region. The lint (`wildcard-principal-unconditioned`) accepts these statements.
//!
//! Each statement has its own stable Sid (per organization / per OU), so adding is idempotent
//! (an equal statement with that Sid is left alone: `changed == false`), and the journal records
//! one [`AddedPrincipal`] with `statement` set per statement, which
//! [`super::remove_key_users`] undoes by removing exactly that statement. A statement with the Sid
//! that differs from what amishare writes is never overwritten (an error). Lock-out and size
//! checks are the same as for [`super::add_key_users`].

use serde_json::{json, Value};

use super::document::*;
use super::finish::finish;
use super::lockout::*;
use super::*;

/// Who an organization-conditioned statement admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgScope {
    /// Every account of the organization `o-...` (`aws:PrincipalOrgID`).
    Organization {
        /// The organization id (`o-...`).
        org_id: String,
    },
    /// Every account under an OU, nested OUs included (`aws:PrincipalOrgPaths`).
    Unit {
        /// The OU id (`ou-...`), for the Sid.
        ou_id: String,
        /// The OU's path as AWS writes it: `o-x/r-x/ou-a/.../ou-id/` (trailing slash).
        path: String,
    },
}

impl OrgScope {
    /// For people and the journal: `organization o-x` / `OU ou-y (o-x/r-x/ou-y/*)`.
    pub fn label(&self) -> String {
        match self {
            OrgScope::Organization { org_id } => format!("organization {org_id}"),
            OrgScope::Unit { ou_id, path } => format!("OU {ou_id} ({})", path_pattern(path)),
        }
    }

    fn sid_suffix(&self) -> String {
        match self {
            OrgScope::Organization { org_id } => format!("by organization {org_id}"),
            OrgScope::Unit { ou_id, .. } => format!("by OU {ou_id}"),
        }
    }

    /// The condition that admits the scope's principals.
    fn condition(&self) -> (&'static str, Value) {
        match self {
            OrgScope::Organization { org_id } => {
                ("StringEquals", json!({ "aws:PrincipalOrgID": org_id }))
            }
            OrgScope::Unit { path, .. } => (
                "ForAnyValue:StringLike",
                json!({ "aws:PrincipalOrgPaths": [path_pattern(path)] }),
            ),
        }
    }
}

/// `o-x/r-x/ou-a/` -> `o-x/r-x/ou-a/*`: the OU and everything under it.
fn path_pattern(path: &str) -> String {
    let p = path.trim_end_matches('*');
    if p.ends_with('/') {
        format!("{p}*")
    } else {
        format!("{p}/*")
    }
}

/// The Sids of the two statements for `scope` (use, attachment).
pub fn org_statement_sids(scope: &OrgScope) -> [String; 2] {
    let suffix = scope.sid_suffix();
    [
        format!("{KEY_USE_SID} {suffix}"),
        format!("{} {suffix}", super::super::template::KEY_ATTACHMENT_SID),
    ]
}

/// The two statements amishare writes for `scope` on a key of `key_region`.
pub fn org_statements(scope: &OrgScope, key_region: &str) -> [(String, Value); 2] {
    let [use_sid, attach_sid] = org_statement_sids(scope);
    let via = format!("ec2.{key_region}.amazonaws.com");
    let (op, org_condition) = scope.condition();
    let mut use_condition = json!({ "StringEquals": { "kms:ViaService": via } });
    merge_condition(&mut use_condition, op, &org_condition);
    let mut attach_condition = use_condition.clone();
    attach_condition["Bool"] = json!({ "kms:GrantIsForAWSResource": "true" });
    [
        (
            use_sid.clone(),
            json!({
                "Sid": use_sid,
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": KEY_USE_ACTIONS,
                "Resource": "*",
                "Condition": use_condition,
            }),
        ),
        (
            attach_sid.clone(),
            json!({
                "Sid": attach_sid,
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": KEY_ATTACHMENT_ACTIONS,
                "Resource": "*",
                "Condition": attach_condition,
            }),
        ),
    ]
}

fn merge_condition(condition: &mut Value, op: &str, keys: &Value) {
    let Some(map) = keys.as_object() else { return };
    for (k, v) in map {
        condition[op][k] = v.clone();
    }
}

/// Adds the organization-conditioned statements for every scope to the key policy (appended at
/// the end, each once). `editor` as for [`super::add_key_users`].
pub fn add_org_statements(
    policy_json: &str,
    key_arn: &str,
    scopes: &[OrgScope],
    editor: &str,
) -> Result<KeyPolicyEdit, PolicyEditError> {
    let editor = Editor::parse(editor, key_arn)?;
    let key_region = validate_key_arn(key_arn)?.region.to_string();
    let before = parse_policy(policy_json)?;
    let mut statements = statements_of(&before)?;
    let original = statements.clone();
    let mut added = Vec::new();
    let mut changes = Vec::new();
    for scope in scopes {
        for (sid, statement) in org_statements(scope, &key_region) {
            let existing = statements.iter().find(|s| sid_of(s) == Some(sid.as_str()));
            match existing {
                Some(s) if canonical(s) == canonical(&statement) => continue,
                Some(_) => return Err(PolicyEditError::OrgStatementDiffers { sid }),
                None => {}
            }
            changes.push(StatementChange {
                kind: StatementChangeKind::Added,
                sid: sid.clone(),
                index: statements.len(),
                before: None,
                after: Some(statement.clone()),
            });
            added.push(AddedPrincipal {
                sid,
                principal: "*".to_string(),
                statement_created: true,
                principal_was_string: false,
                statement: Some(scope.label()),
            });
            statements.push(statement);
        }
    }
    finish(
        policy_json,
        before,
        original,
        statements,
        &editor,
        added,
        Vec::new(),
        changes,
        Vec::new(),
    )
}

/// Removes the statements of `records` (those with `statement` set) by Sid; returns the
/// statements left and the records whose statement was found and removed, with its index in
/// the input and its JSON (for the change list). Only statements whose principal is the
/// wildcard amishare wrote are removed.
pub(super) fn remove_org_statements(
    statements: &mut Vec<Value>,
    records: &[AddedPrincipal],
) -> Vec<(AddedPrincipal, Value)> {
    let mut out = Vec::new();
    for record in records.iter().filter(|r| r.statement.is_some()) {
        let found = statements.iter().position(|s| {
            sid_of(s) == Some(record.sid.as_str())
                && s.get("Principal") == Some(&json!({"AWS": "*"}))
        });
        if let Some(index) = found {
            out.push((record.clone(), statements.remove(index)));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const EDITOR: &str = "arn:aws:sts::111122223333:assumed-role/admin/amishare";
    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

    fn ou() -> OrgScope {
        OrgScope::Unit {
            ou_id: "ou-ab12-22222222".into(),
            path: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/".into(),
        }
    }

    fn org() -> OrgScope {
        OrgScope::Organization {
            org_id: "o-a1b2c3d4e5".into(),
        }
    }

    #[test]
    fn writes_conditioned_wildcard_statements_idempotently_and_undoes_exactly_them() {
        let edit = add_org_statements(POLICY, KEY, &[org(), ou()], EDITOR).unwrap();
        assert!(edit.changed);
        let st = edit.policy["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 5);
        assert_eq!(
            st[1]["Sid"],
            "Allow use of the key by organization o-a1b2c3d4e5"
        );
        assert_eq!(st[1]["Principal"], json!({"AWS": "*"}));
        assert_eq!(
            st[1]["Condition"],
            json!({"StringEquals": {"kms:ViaService": "ec2.eu-west-1.amazonaws.com",
                                    "aws:PrincipalOrgID": "o-a1b2c3d4e5"}})
        );
        assert_eq!(
            st[2]["Sid"],
            "Allow attachment of persistent resources by organization o-a1b2c3d4e5"
        );
        assert_eq!(
            st[2]["Condition"]["Bool"],
            json!({"kms:GrantIsForAWSResource": "true"})
        );
        assert_eq!(
            st[4]["Condition"],
            json!({
                "StringEquals": {"kms:ViaService": "ec2.eu-west-1.amazonaws.com"},
                "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths":
                    ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/*"]},
                "Bool": {"kms:GrantIsForAWSResource": "true"}
            })
        );
        assert_eq!(edit.added.len(), 4);
        assert!(edit.added.iter().all(|a| a.statement.is_some()));
        // A rerun changes nothing.
        let again = add_org_statements(&edit.text, KEY, &[org(), ou()], EDITOR).unwrap();
        assert!(!again.changed);
        // The inverse restores the policy exactly (as JSON).
        let undone = super::super::remove_key_users(&edit.text, KEY, &edit.added, EDITOR).unwrap();
        assert!(undone.changed);
        assert_eq!(
            serde_json::from_str::<Value>(&undone.text).unwrap(),
            serde_json::from_str::<Value>(POLICY).unwrap()
        );
        assert_eq!(undone.removed.len(), 4);
        // Twice: nothing left to remove.
        let twice = super::super::remove_key_users(&undone.text, KEY, &edit.added, EDITOR).unwrap();
        assert!(!twice.changed);
    }

    #[test]
    fn journal_records_round_trip_and_old_records_still_load() {
        let edit = add_org_statements(POLICY, KEY, &[ou()], EDITOR).unwrap();
        let text = serde_json::to_string(&edit.added).unwrap();
        assert!(
            text.contains("\"statement\":\"OU ou-ab12-22222222 ("),
            "{text}"
        );
        let back: Vec<AddedPrincipal> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, edit.added);
        // A record written before the field existed: no `statement`, and none written back.
        let old = r#"{"sid":"Allow use of the key","principal":"arn:aws:iam::444455556666:root","statement_created":true,"principal_was_string":false}"#;
        let rec: AddedPrincipal = serde_json::from_str(old).unwrap();
        assert_eq!(rec.statement, None);
        assert_eq!(serde_json::to_string(&rec).unwrap(), old);
    }

    #[test]
    fn a_different_statement_with_the_sid_is_not_overwritten() {
        let edit = add_org_statements(POLICY, KEY, &[org()], EDITOR).unwrap();
        let changed = edit.text.replace(
            "\"aws:PrincipalOrgID\": \"o-a1b2c3d4e5\"",
            "\"aws:PrincipalOrgID\": \"o-zzzzzzzzzz\"",
        );
        assert_ne!(changed, edit.text);
        let err = add_org_statements(&changed, KEY, &[org()], EDITOR).unwrap_err();
        assert!(matches!(err, PolicyEditError::OrgStatementDiffers { .. }));
    }

    #[test]
    fn the_statements_are_the_same_size_for_any_number_of_accounts() {
        // 600 listed accounts do not fit the 32 KB limit; one org statement pair does.
        let accounts: Vec<String> = (0..600)
            .map(|i| format!("{:012}", 200_000_000_000u64 + i))
            .collect();
        let listed = super::super::add_key_users(POLICY, KEY, &accounts, EDITOR);
        assert!(
            matches!(listed, Err(PolicyEditError::TooLarge { .. })),
            "{:?}",
            listed.map(|e| e.text.len())
        );
        let org_edit = add_org_statements(POLICY, KEY, &[ou()], EDITOR).unwrap();
        assert!(org_edit.text.len() < 4_000, "{}", org_edit.text.len());
    }

    #[test]
    fn the_key_lints_accept_what_amishare_writes() {
        let edit = add_org_statements(POLICY, KEY, &[org(), ou()], EDITOR).unwrap();
        let doc = crate::policy::parse_policy(&edit.text, "key policy").unwrap();
        let findings = crate::policy::lint::lint_key_policy(&doc, "111122223333");
        assert!(
            findings
                .iter()
                .all(|f| f.severity != crate::policy::Severity::Warning
                    && f.severity != crate::policy::Severity::Error),
            "{findings:#?}"
        );
    }
}
