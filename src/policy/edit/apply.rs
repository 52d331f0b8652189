//! The two edits: add principals to the usage statements, and the exact inverse for rollback.

use super::document::*;
use super::finish::finish;
use super::lockout::*;
use super::*;

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
                    statement: None,
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
                    statement: None,
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

    for record in added.iter().filter(|r| r.statement.is_none()) {
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

    let mut changes = drop_emptied(&mut statements, touched);
    // Whole statements amishare wrote (organization-conditioned): removed by Sid.
    for (record, statement) in super::org::remove_org_statements(&mut statements, added) {
        let index = original
            .iter()
            .position(|s| sid_of(s) == Some(record.sid.as_str()))
            .unwrap_or_default();
        changes.push(StatementChange {
            kind: StatementChangeKind::Removed,
            sid: record.sid.clone(),
            index,
            before: Some(statement),
            after: None,
        });
        removed.push(record);
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

/// The changes of the statements [`remove_key_users`] touched (`(original index, statement
/// before)`), against the original indexes; the statements left without principals are dropped.
fn drop_emptied(statements: &mut Vec<Value>, touched: Vec<(usize, Value)>) -> Vec<StatementChange> {
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
    changes
}
