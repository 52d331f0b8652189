//! Re-applying a run's edit to a key policy that changed since the run planned it (KMS
//! `PutKeyPolicy` has no conditional write, so concurrent runs race): exactly this run's
//! additions (its [`AddedPrincipal`] records) are merged into the CURRENT document, with the same
//! merge, lock-out and size rules as the first edit; everything else in the current document
//! (statements and principals other runs or people added since) is kept as it is.
//!
//! What the run adds to and what it finds now:
//! - a principal added to a statement that existed when the run planned: the statement must still
//!   be there with the same content apart from its principals (other writers may add or remove
//!   principals); when it is gone or was rewritten (its actions, effect, resources or conditions
//!   changed) the edit stops with [`PolicyEditError::ConcurrentConflict`] naming the statement;
//! - a statement the run created: appended again when it is absent; when another writer created
//!   a statement with the Sid in the meantime (another amishare run, typically), the principals are
//!   merged into it, and it counts as created by amishare (rollback may drop it once empty) only
//!   when it is amishare's template apart from its principals;
//! - a whole statement the run writes (organization-conditioned, `statement` set): added when
//!   absent, left alone when equal, a conflict when a different statement has its Sid;
//! - the Auto Scaling grant-creator statement: its `kms:GranteePrincipal` list is merged too.
//!
//! Nothing here reads or writes AWS: the workflow reads the current policy, calls
//! [`reapply_additions`], writes the result and reads it back
//! (`workflow::copy::apply::key_policy`).

use serde_json::Value;

use super::document::*;
use super::finish::finish;
use super::lockout::*;
use super::*;

/// Merge exactly the additions `added` (planned as the edit `planned_before` -> `planned_after`)
/// into `current`. `changed == false` when every addition is already there (nothing to write);
/// the result's `added` lists only what this merge adds now.
pub fn reapply_additions(
    current: &str,
    key_arn: &str,
    planned_before: &str,
    planned_after: &str,
    added: &[AddedPrincipal],
    editor: &str,
) -> Result<KeyPolicyEdit, PolicyEditError> {
    let editor = Editor::parse(editor, key_arn)?;
    let before = parse_policy(current)?;
    let mut statements = statements_of(&before)?;
    let original = statements.clone();
    let planned_before = statements_of(&parse_policy(planned_before)?)?;
    let planned_after = statements_of(&parse_policy(planned_after)?)?;
    let mut merged = Vec::new();
    let mut changes = Vec::new();
    let mut sids: Vec<&str> = Vec::new();
    for r in added {
        if !sids.contains(&r.sid.as_str()) {
            sids.push(&r.sid);
        }
    }
    for sid in sids {
        let records: Vec<&AddedPrincipal> = added.iter().filter(|r| r.sid == sid).collect();
        let planned = by_sid(&planned_after, sid).ok_or_else(|| conflict(sid, NOT_PLANNED))?;
        let whole = records.iter().any(|r| r.statement.is_some());
        let change = if whole {
            reapply_whole(&mut statements, sid, planned, &records)?
        } else {
            let was = find_target(&planned_before, sid)?.map(|i| &planned_before[i]);
            reapply_principals(&mut statements, sid, planned, was, &records)?
        };
        if let Some((change, records)) = change {
            changes.push(change);
            merged.extend(records);
        }
    }
    changes.sort_by_key(|c| c.index);
    finish(
        current,
        before,
        original,
        statements,
        &editor,
        merged,
        Vec::new(),
        changes,
        Vec::new(),
    )
}

const NOT_PLANNED: &str = "is not in the policy the run planned (the journal is inconsistent)";

fn conflict(sid: &str, what: &str) -> PolicyEditError {
    PolicyEditError::ConcurrentConflict {
        sid: sid.to_string(),
        what: what.to_string(),
    }
}

fn by_sid<'a>(statements: &'a [Value], sid: &str) -> Option<&'a Value> {
    match find_target(statements, sid) {
        Ok(Some(i)) => Some(&statements[i]),
        _ => statements.iter().find(|s| sid_of(s) == Some(sid)),
    }
}

type Reapplied = Option<(StatementChange, Vec<AddedPrincipal>)>;

/// A whole statement the run writes: added when absent, kept when equal, else a conflict.
fn reapply_whole(
    statements: &mut Vec<Value>,
    sid: &str,
    planned: &Value,
    records: &[&AddedPrincipal],
) -> Result<Reapplied, PolicyEditError> {
    match statements.iter().find(|s| sid_of(s) == Some(sid)) {
        Some(s) if canonical(s) == canonical(planned) => Ok(None),
        Some(_) => Err(conflict(sid, "was rewritten by another writer")),
        None => {
            let change = StatementChange {
                kind: StatementChangeKind::Added,
                sid: sid.to_string(),
                index: statements.len(),
                before: None,
                after: Some(planned.clone()),
            };
            statements.push(planned.clone());
            Ok(Some((
                change,
                records.iter().map(|r| (*r).clone()).collect(),
            )))
        }
    }
}

/// Principals added to a statement (one that existed when the run planned: `was`, or one the
/// run created).
fn reapply_principals(
    statements: &mut Vec<Value>,
    sid: &str,
    planned: &Value,
    was: Option<&Value>,
    records: &[&AddedPrincipal],
) -> Result<Reapplied, PolicyEditError> {
    let Some(index) = find_target(statements, sid)? else {
        if was.is_some() {
            return Err(conflict(sid, "was removed by another writer"));
        }
        // Created by this run and still absent: append it as planned (its principals are
        // exactly this run's).
        let change = StatementChange {
            kind: StatementChangeKind::Added,
            sid: sid.to_string(),
            index: statements.len(),
            before: None,
            after: Some(planned.clone()),
        };
        statements.push(planned.clone());
        let records = records
            .iter()
            .map(|r| AddedPrincipal {
                statement_created: true,
                principal_was_string: false,
                ..(*r).clone()
            })
            .collect();
        return Ok(Some((change, records)));
    };
    let statement = &mut statements[index];
    // Created by this run (absent when it planned): someone else created the Sid since. It is
    // amishare's own statement when it equals the planned one apart from principals.
    let created = match was {
        Some(was) if shape(was) != shape(statement) => {
            return Err(conflict(sid, "was rewritten by another writer"))
        }
        Some(_) => false,
        None => shape(planned) == shape(statement),
    };
    let aws = aws_principals(statement, sid)?;
    let was_string = aws.is_some_and(Value::is_string);
    let mut present: Vec<String> = aws.map(principal_strings).unwrap_or_default();
    let mut new = Vec::new();
    for r in records {
        if !present.iter().any(|q| same_principal(q, &r.principal)) {
            present.push(r.principal.clone());
            new.push(AddedPrincipal {
                statement_created: created,
                principal_was_string: was_string,
                ..(*r).clone()
            });
        }
    }
    let before_statement = statement.clone();
    if !new.is_empty() {
        set_aws_principals(statement, present, false);
    }
    merge_grantees(statement, planned);
    if *statement == before_statement {
        return Ok(None);
    }
    let change = StatementChange {
        kind: StatementChangeKind::Modified,
        sid: sid.to_string(),
        index,
        before: Some(before_statement),
        after: Some(statement.clone()),
    };
    Ok(Some((change, new)))
}

/// What must not change under a run's feet: the statement without its principals (and, for the
/// grant-creator statement, without the grantee list amishare extends).
fn shape(statement: &Value) -> Value {
    let mut s = statement.clone();
    if let Some(obj) = s.as_object_mut() {
        obj.shift_remove("Principal");
    }
    if let Some(cond) = s
        .get_mut("Condition")
        .and_then(|c| c.get_mut("StringEquals"))
        .and_then(Value::as_object_mut)
    {
        cond.shift_remove(GRANTEE_KEY);
    }
    canonical(&s)
}

const GRANTEE_KEY: &str = "kms:GranteePrincipal";

/// The grant-creator statement's `kms:GranteePrincipal` values the run planned, merged in.
fn merge_grantees(statement: &mut Value, planned: &Value) {
    let wanted = string_list(planned.pointer("/Condition/StringEquals/kms:GranteePrincipal"));
    if wanted.is_empty() {
        return;
    }
    let slot = &mut statement["Condition"]["StringEquals"][GRANTEE_KEY];
    let mut listed = string_list(Some(slot));
    let before = listed.len();
    for g in wanted {
        if !listed.contains(&g) {
            listed.push(g);
        }
    }
    if listed.len() != before {
        *slot = Value::from(listed);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const EDITOR: &str = "arn:aws:sts::111122223333:assumed-role/admin/amishare";
    const BASE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

    fn add(policy: &str, account: &str) -> KeyPolicyEdit {
        add_key_users(policy, KEY, &[account.to_string()], EDITOR).unwrap()
    }

    fn principals(text: &str, sid: &str) -> Vec<String> {
        let v: Value = serde_json::from_str(text).unwrap();
        let st = v["Statement"].as_array().unwrap();
        let s = st.iter().find(|s| s["Sid"] == sid).unwrap();
        principal_strings(&s["Principal"]["AWS"])
    }

    /// Two runs planned on the same policy; the other one wrote first. This run's additions
    /// are merged into what is there, the other run's stay, the records say the statements
    /// were created by amishare (the other run), so either rollback can drop them once empty.
    #[test]
    fn merges_into_a_statement_another_run_created_and_keeps_its_principals() {
        let mine = add(BASE, "444455556666");
        let theirs = add(BASE, "777788889999");
        let edit =
            reapply_additions(&theirs.text, KEY, BASE, &mine.text, &mine.added, EDITOR).unwrap();
        assert!(edit.changed);
        for sid in [KEY_USE_SID, "Allow attachment of persistent resources"] {
            assert_eq!(
                principals(&edit.text, sid),
                vec![
                    "arn:aws:iam::777788889999:root",
                    "arn:aws:iam::444455556666:root"
                ]
            );
        }
        assert_eq!(edit.added.len(), 2);
        assert!(edit.added.iter().all(|a| a.statement_created));
        // Idempotent: applied again, nothing to write.
        let again =
            reapply_additions(&edit.text, KEY, BASE, &mine.text, &mine.added, EDITOR).unwrap();
        assert!(!again.changed);
        // Rolling back this run leaves the other run's principals.
        let undone = remove_key_users(&edit.text, KEY, &edit.added, EDITOR).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&undone.text).unwrap(),
            serde_json::from_str::<Value>(&theirs.text).unwrap()
        );
        // And then the other's rollback drops the statements, as amishare created them.
        let both = remove_key_users(&undone.text, KEY, &theirs.added, EDITOR).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&both.text).unwrap(),
            serde_json::from_str::<Value>(BASE).unwrap()
        );
    }

    #[test]
    fn unchanged_policy_gives_the_planned_edit() {
        let mine = add(BASE, "444455556666");
        let edit = reapply_additions(BASE, KEY, BASE, &mine.text, &mine.added, EDITOR).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&edit.text).unwrap(),
            serde_json::from_str::<Value>(&mine.text).unwrap()
        );
        assert_eq!(edit.added, mine.added);
    }

    #[test]
    fn a_statement_added_to_that_was_removed_or_rewritten_is_a_conflict_naming_it() {
        let with_users = add(BASE, "777788889999").text;
        let mine = add(&with_users, "444455556666");
        // Removed.
        let removed = remove_key_users(&with_users, KEY, &add(BASE, "777788889999").added, EDITOR)
            .unwrap()
            .text;
        let err = reapply_additions(&removed, KEY, &with_users, &mine.text, &mine.added, EDITOR)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "statement `Allow use of the key` that this run adds to was removed by another writer since the run read the key policy"
        );
        // Rewritten (its actions changed).
        let rewritten = with_users.replace("\"kms:ReEncrypt*\",", "");
        assert_ne!(rewritten, with_users);
        let err = reapply_additions(
            &rewritten,
            KEY,
            &with_users,
            &mine.text,
            &mine.added,
            EDITOR,
        )
        .unwrap_err();
        assert!(
            matches!(err, PolicyEditError::ConcurrentConflict { ref sid, .. } if sid == KEY_USE_SID),
            "{err}"
        );
        // Only other principals added: no conflict.
        let grown = add(&with_users, "123456789012").text;
        let ok =
            reapply_additions(&grown, KEY, &with_users, &mine.text, &mine.added, EDITOR).unwrap();
        assert_eq!(principals(&ok.text, KEY_USE_SID).len(), 3);
        assert!(ok.added.iter().all(|a| !a.statement_created));
    }

    #[test]
    fn org_statements_and_grant_creators_are_merged_too() {
        let scope = OrgScope::Organization {
            org_id: "o-a1b2c3d4e5".into(),
        };
        let org = add_org_statements(BASE, KEY, &[scope], EDITOR).unwrap();
        let theirs = add(BASE, "777788889999");
        let edit =
            reapply_additions(&theirs.text, KEY, BASE, &org.text, &org.added, EDITOR).unwrap();
        let st = edit.policy["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 5);
        // A different statement with the org Sid: conflict.
        let other = edit.text.replace(
            "\"aws:PrincipalOrgID\": \"o-a1b2c3d4e5\"",
            "\"aws:PrincipalOrgID\": \"o-zzzzzzzzzz\"",
        );
        assert_ne!(other, edit.text);
        assert!(matches!(
            reapply_additions(&other, KEY, BASE, &org.text, &org.added, EDITOR),
            Err(PolicyEditError::ConcurrentConflict { .. })
        ));
        // Grant creators: two runs, two roles, two grantees.
        let slr = |a: &str| {
            format!("arn:aws:iam::{a}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")
        };
        let role = |a: &str| format!("arn:aws:iam::{a}:role/amishare-target");
        let gc =
            |p: &str, a: &str| add_grant_creators(p, KEY, &[role(a)], &[slr(a)], EDITOR).unwrap();
        let mine = gc(BASE, "444455556666");
        let theirs = gc(BASE, "777788889999");
        let edit =
            reapply_additions(&theirs.text, KEY, BASE, &mine.text, &mine.added, EDITOR).unwrap();
        let s = &edit.policy["Statement"][1];
        assert_eq!(
            s["Principal"]["AWS"],
            json!([role("777788889999"), role("444455556666")])
        );
        assert_eq!(
            s["Condition"]["StringEquals"][GRANTEE_KEY],
            json!([slr("777788889999"), slr("444455556666")])
        );
    }

    #[test]
    fn the_lock_out_and_size_checks_still_apply() {
        let mine = add(BASE, "444455556666");
        // The current policy no longer lets the editor's account manage the key... and is
        // someone else's business, but the merged result would lock the editor out: refused.
        let locked = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Admins","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/other"},"Action":"kms:*","Resource":"*"}]}"#;
        let err =
            reapply_additions(locked, KEY, BASE, &mine.text, &mine.added, EDITOR).unwrap_err();
        assert!(matches!(err, PolicyEditError::LockOut { .. }), "{err}");
    }
}
