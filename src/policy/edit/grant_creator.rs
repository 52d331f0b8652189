//! The key policy statement that lets principals of another account create grants for Auto
//! Scaling's service-linked role: `kms:CreateGrant` WITHOUT the GrantIsForAWSResource condition
//! (the grant is created by a direct call, not by an AWS service), limited with
//! `kms:GranteePrincipal` to the service-linked roles (KMS developer guide, "conditions-kms";
//! AWS Knowledge Center "kms-launch-ec2-instance"; Auto Scaling user guide, "Required AWS KMS key
//! policy for use with encrypted volumes"). Same merge, lock-out and size rules as
//! [`super::add_key_users`]; its [`AddedPrincipal`] records are undone by
//! [`super::remove_key_users`] (the statement is dropped when amishare created it).

use serde_json::{json, Value};

use super::document::*;
use super::finish::finish;
use super::lockout::*;
use super::*;

/// The Sid of the statement [`add_grant_creators`] writes.
pub const GRANT_CREATOR_SID: &str = "Allow creating grants for Auto Scaling";

/// Adds `creators` (IAM role/user ARNs of another account) to the statement that allows
/// `kms:CreateGrant` for exactly `grantees` (the Auto Scaling service-linked roles); creates the
/// statement when absent. `editor` as for [`super::add_key_users`].
pub fn add_grant_creators(
    policy_json: &str,
    key_arn: &str,
    creators: &[String],
    grantees: &[String],
    editor: &str,
) -> Result<KeyPolicyEdit, PolicyEditError> {
    let editor = Editor::parse(editor, key_arn)?;
    let before = parse_policy(policy_json)?;
    let mut statements = statements_of(&before)?;
    let original = statements.clone();
    let sid = GRANT_CREATOR_SID;
    let mut added = Vec::new();
    let mut changes = Vec::new();
    match find_target(&statements, sid)? {
        Some(index) => {
            let statement = &mut statements[index];
            let aws = aws_principals(statement, sid)?;
            let was_string = aws.is_some_and(Value::is_string);
            let mut present: Vec<String> = aws.map(principal_strings).unwrap_or_default();
            let before_statement = statement.clone();
            for c in creators {
                if !present.iter().any(|q| q == c) {
                    present.push(c.clone());
                    added.push(AddedPrincipal {
                        sid: sid.to_string(),
                        principal: c.clone(),
                        statement_created: false,
                        principal_was_string: was_string,
                        statement: None,
                    });
                }
            }
            set_aws_principals(statement, present, false);
            let condition = &mut statement["Condition"]["StringEquals"]["kms:GranteePrincipal"];
            let mut listed = string_list(Some(condition));
            for g in grantees {
                if !listed.contains(g) {
                    listed.push(g.clone());
                }
            }
            *condition = json!(listed);
            if *statement != before_statement {
                changes.push(StatementChange {
                    kind: StatementChangeKind::Modified,
                    sid: sid.to_string(),
                    index,
                    before: Some(before_statement),
                    after: Some(statement.clone()),
                });
            }
        }
        None => {
            let statement = json!({
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"AWS": creators},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:GranteePrincipal": grantees}},
            });
            changes.push(StatementChange {
                kind: StatementChangeKind::Added,
                sid: sid.to_string(),
                index: statements.len(),
                before: None,
                after: Some(statement.clone()),
            });
            added.extend(creators.iter().map(|c| AddedPrincipal {
                sid: sid.to_string(),
                principal: c.clone(),
                statement_created: true,
                principal_was_string: false,
                statement: None,
            }));
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const EDITOR: &str = "arn:aws:sts::111122223333:assumed-role/admin/amishare";
    const CREATOR: &str = "arn:aws:iam::444455556666:role/amishare-target";
    const SLR: &str = "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";
    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

    #[test]
    fn adds_an_unconditioned_create_grant_limited_to_the_grantee_and_undoes_it() {
        let creators = vec![CREATOR.to_string()];
        let grantees = vec![SLR.to_string()];
        let edit = add_grant_creators(POLICY, KEY, &creators, &grantees, EDITOR).unwrap();
        assert!(edit.changed);
        let st = &edit.policy["Statement"][1];
        assert_eq!(st["Sid"], GRANT_CREATOR_SID);
        assert_eq!(st["Action"], "kms:CreateGrant");
        assert_eq!(st["Principal"]["AWS"], json!([CREATOR]));
        assert_eq!(
            st["Condition"],
            json!({"StringEquals": {"kms:GranteePrincipal": [SLR]}})
        );
        assert!(st["Condition"].get("Bool").is_none());
        // Idempotent.
        let again = add_grant_creators(&edit.text, KEY, &creators, &grantees, EDITOR).unwrap();
        assert!(!again.changed);
        // Rollback's inverse drops the statement amishare created.
        let undone = super::super::remove_key_users(&edit.text, KEY, &edit.added, EDITOR).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&undone.text).unwrap(),
            serde_json::from_str::<Value>(POLICY).unwrap()
        );
    }
}
