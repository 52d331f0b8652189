//! A reviewable diff of two policy documents (a key policy before/after an edit, or an IAM
//! policy against nothing or its previous version): a statement-level summary naming the
//! principals, actions and resources that changed, and a unified text diff of the pretty-printed
//! JSON (3 lines of context, `--- before` / `+++ after`). Plain text; colour is the CLI's job.
//!
//! Statements are paired by `Sid` (first unpaired statement with the same Sid), then identical
//! statements without Sid, then remaining statements without Sid at the same index.

use std::fmt;

use serde::Serialize;
use serde_json::Value;
use similar::TextDiff;

pub use super::statement::StatementChangeKind;

/// Lines of context in the unified diff.
pub const CONTEXT_LINES: usize = 3;

/// The diff of two policy documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDiff {
    /// Changed statements: added and modified in the order of the new document, then removed.
    pub statements: Vec<StatementDiff>,
    /// Unified diff of the pretty-printed JSON; empty when the documents are equal.
    pub unified: String,
}

/// One changed statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementDiff {
    /// Added, modified or removed.
    pub kind: StatementChangeKind,
    /// The Sid, or `#INDEX` (0-based, in the new document unless removed) without one.
    pub label: String,
    /// Index in the old document.
    pub index_before: Option<usize>,
    /// Index in the new document.
    pub index_after: Option<usize>,
    /// Principals (values of `Principal`; non-AWS ones as `Service:NAME` etc.) now present.
    pub principals_added: Vec<String>,
    /// Principals no longer present.
    pub principals_removed: Vec<String>,
    /// `Action` values now present.
    pub actions_added: Vec<String>,
    /// `Action` values no longer present.
    pub actions_removed: Vec<String>,
    /// `Resource` values now present.
    pub resources_added: Vec<String>,
    /// `Resource` values no longer present.
    pub resources_removed: Vec<String>,
    /// Conditions (`Operator key = value, ...`) now present.
    pub conditions_added: Vec<String>,
    /// Conditions no longer present.
    pub conditions_removed: Vec<String>,
    /// Other elements whose value changed (`Effect`, `NotAction`, ...).
    pub other_changes: Vec<String>,
}

impl PolicyDiff {
    /// Whether the documents are equal.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty() && self.unified.is_empty()
    }
}

/// Diffs two policy documents; `None` stands for "no policy" (a policy being created or deleted).
pub fn diff_policies(before: Option<&Value>, after: Option<&Value>) -> PolicyDiff {
    let old = before.map(statements).unwrap_or_default();
    let new = after.map(statements).unwrap_or_default();
    let pairs = pair_statements(&old, &new);

    let mut out = Vec::new();
    for (j, statement) in new.iter().enumerate() {
        match pairs.iter().find(|(_, n)| *n == j) {
            Some((i, _)) => {
                if old[*i] != *statement {
                    out.push(statement_diff(
                        StatementChangeKind::Modified,
                        Some((*i, old[*i])),
                        Some((j, statement)),
                    ));
                }
            }
            None => out.push(statement_diff(
                StatementChangeKind::Added,
                None,
                Some((j, statement)),
            )),
        }
    }
    for (i, statement) in old.iter().enumerate() {
        if !pairs.iter().any(|(o, _)| *o == i) {
            out.push(statement_diff(
                StatementChangeKind::Removed,
                Some((i, statement)),
                None,
            ));
        }
    }
    PolicyDiff {
        statements: out,
        unified: unified_diff(&pretty(before), &pretty(after)),
    }
}

/// Unified diff of two texts with [`CONTEXT_LINES`] lines of context and `--- before` /
/// `+++ after` headers; empty when equal.
pub fn unified_diff(before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .header("before", "after")
        .to_string()
}

fn pretty(policy: Option<&Value>) -> String {
    match policy {
        Some(p) => {
            let mut text = serde_json::to_string_pretty(p).unwrap_or_default();
            text.push('\n');
            text
        }
        None => String::new(),
    }
}

fn statements(policy: &Value) -> Vec<&Value> {
    match policy.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    }
}

fn sid(statement: &Value) -> Option<&str> {
    statement.get("Sid").and_then(Value::as_str)
}

/// Pairs of (old index, new index).
fn pair_statements(old: &[&Value], new: &[&Value]) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let old_free = |pairs: &Vec<(usize, usize)>, i: usize| !pairs.iter().any(|(o, _)| *o == i);
    let new_free = |pairs: &Vec<(usize, usize)>, j: usize| !pairs.iter().any(|(_, n)| *n == j);
    // 1. by Sid
    for (j, n) in new.iter().enumerate() {
        let Some(s) = sid(n) else { continue };
        if let Some(i) = (0..old.len()).find(|&i| old_free(&pairs, i) && sid(old[i]) == Some(s)) {
            pairs.push((i, j));
        }
    }
    // 2. identical statements without Sid
    for (j, n) in new.iter().enumerate() {
        if !new_free(&pairs, j) || sid(n).is_some() {
            continue;
        }
        if let Some(i) = (0..old.len()).find(|&i| old_free(&pairs, i) && old[i] == *n) {
            pairs.push((i, j));
        }
    }
    // 3. remaining statements without Sid at the same index
    for (j, n) in new.iter().enumerate() {
        if new_free(&pairs, j)
            && sid(n).is_none()
            && j < old.len()
            && old_free(&pairs, j)
            && sid(old[j]).is_none()
        {
            pairs.push((j, j));
        }
    }
    pairs
}

fn statement_diff(
    kind: StatementChangeKind,
    old: Option<(usize, &Value)>,
    new: Option<(usize, &Value)>,
) -> StatementDiff {
    let label = new
        .or(old)
        .map(|(index, s)| {
            sid(s)
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{index}"))
        })
        .unwrap_or_default();
    let old_s = old.map(|(_, s)| s);
    let new_s = new.map(|(_, s)| s);
    let (principals_added, principals_removed) = set_diff(&principals(old_s), &principals(new_s));
    let (actions_added, actions_removed) =
        set_diff(&values(old_s, "Action"), &values(new_s, "Action"));
    let (resources_added, resources_removed) =
        set_diff(&values(old_s, "Resource"), &values(new_s, "Resource"));
    let (conditions_added, conditions_removed) = set_diff(&conditions(old_s), &conditions(new_s));
    let mut other_changes = Vec::new();
    if let (Some(o), Some(n)) = (old_s, new_s) {
        let mut keys: Vec<&String> = Vec::new();
        for s in [o, n] {
            if let Some(map) = s.as_object() {
                for k in map.keys() {
                    if !keys.contains(&k)
                        && !matches!(
                            k.as_str(),
                            "Principal" | "Action" | "Resource" | "Condition"
                        )
                    {
                        keys.push(k);
                    }
                }
            }
        }
        other_changes = keys
            .into_iter()
            .filter(|k| o.get(k.as_str()) != n.get(k.as_str()))
            .cloned()
            .collect();
    }
    StatementDiff {
        kind,
        label,
        index_before: old.map(|(i, _)| i),
        index_after: new.map(|(j, _)| j),
        principals_added,
        principals_removed,
        actions_added,
        actions_removed,
        resources_added,
        resources_removed,
        conditions_added,
        conditions_removed,
        other_changes,
    }
}

/// `Operator key = value` (values joined with `, `), one per operator and key.
fn conditions(statement: Option<&Value>) -> Vec<String> {
    let Some(Value::Object(operators)) = statement.and_then(|s| s.get("Condition")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (operator, keys) in operators {
        match keys {
            Value::Object(keys) => {
                for (key, values) in keys {
                    out.push(format!("{operator} {key} = {}", strings(values).join(", ")));
                }
            }
            other => out.push(format!("{operator} {other}")),
        }
    }
    out
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        other => vec![other.to_string()],
    }
}

fn values(statement: Option<&Value>, key: &str) -> Vec<String> {
    statement
        .and_then(|s| s.get(key))
        .map(strings)
        .unwrap_or_default()
}

fn principals(statement: Option<&Value>) -> Vec<String> {
    match statement.and_then(|s| s.get("Principal")) {
        Some(Value::Object(map)) => map
            .iter()
            .flat_map(|(kind, v)| {
                strings(v).into_iter().map(move |p| {
                    if kind == "AWS" {
                        p
                    } else {
                        format!("{kind}:{p}")
                    }
                })
            })
            .collect(),
        Some(other) => strings(other),
        None => Vec::new(),
    }
}

/// (in `new` but not `old`, in `old` but not `new`), each in its document's order.
fn set_diff(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let added = new.iter().filter(|v| !old.contains(v)).cloned().collect();
    let removed = old.iter().filter(|v| !new.contains(v)).cloned().collect();
    (added, removed)
}

impl fmt::Display for StatementDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sign, verb, index) = match self.kind {
            StatementChangeKind::Added => ('+', "added", self.index_after),
            StatementChangeKind::Modified => ('~', "modified", self.index_after),
            StatementChangeKind::Removed => ('-', "removed", self.index_before),
        };
        write!(f, "{sign} {verb} statement \"{}\"", self.label)?;
        if let Some(i) = index {
            write!(f, " (index {i})")?;
        }
        let groups: [(&str, &[String]); 8] = [
            ("+ principal", &self.principals_added),
            ("- principal", &self.principals_removed),
            ("+ action", &self.actions_added),
            ("- action", &self.actions_removed),
            ("+ resource", &self.resources_added),
            ("- resource", &self.resources_removed),
            ("+ condition", &self.conditions_added),
            ("- condition", &self.conditions_removed),
        ];
        // For whole statements added or removed, list the content once without signs.
        let whole = self.kind != StatementChangeKind::Modified;
        for (name, items) in groups {
            for item in items {
                let name = if whole { &name[2..] } else { name };
                write!(f, "\n    {name} {item}")?;
            }
        }
        if !self.other_changes.is_empty() {
            write!(f, "\n    changed: {}", self.other_changes.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for PolicyDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "no changes");
        }
        if self.statements.is_empty() {
            writeln!(
                f,
                "no statement changed (formatting or top-level elements only)"
            )?;
        }
        for statement in &self.statements {
            writeln!(f, "{statement}")?;
        }
        if !self.unified.is_empty() {
            writeln!(f)?;
            f.write_str(&self.unified)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statements_pair_by_sid_then_identity_then_index() {
        let before = json!({"Statement": [
            {"Sid": "A", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:Decrypt", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"}, "Action": "kms:Encrypt", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:Delete*", "Resource": "*"},
            {"Sid": "Gone", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:Sign", "Resource": "*"}
        ]});
        let after = json!({"Statement": [
            // moved to the front, unchanged: no entry
            {"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"}, "Action": "kms:Encrypt", "Resource": "*"},
            {"Sid": "A", "Effect": "Allow", "Principal": {"AWS": ["111122223333", "444455556666"]},
             "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": ["ec2.us-east-1.amazonaws.com"]}}},
            // same index as the old Deny, no Sid: modified
            {"Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
            {"Sid": "New", "Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "kms:Verify", "Resource": "*"}
        ]});
        let diff = diff_policies(Some(&before), Some(&after));
        let summary: Vec<(StatementChangeKind, &str, Option<usize>, Option<usize>)> = diff
            .statements
            .iter()
            .map(|s| (s.kind, s.label.as_str(), s.index_before, s.index_after))
            .collect();
        assert_eq!(
            summary,
            [
                (StatementChangeKind::Modified, "A", Some(0), Some(1)),
                (StatementChangeKind::Modified, "#2", Some(2), Some(2)),
                (StatementChangeKind::Added, "New", None, Some(3)),
                (StatementChangeKind::Removed, "Gone", Some(3), None),
            ]
        );
        let a = &diff.statements[0];
        assert_eq!(a.principals_added, ["444455556666"]);
        assert_eq!(a.actions_added, ["kms:DescribeKey"]);
        assert!(a.actions_removed.is_empty() && a.principals_removed.is_empty());
        assert_eq!(
            a.conditions_added,
            ["StringEquals kms:ViaService = ec2.us-east-1.amazonaws.com"]
        );
        assert!(a.other_changes.is_empty());
        let deny = &diff.statements[1];
        assert_eq!(deny.actions_added, ["kms:ScheduleKeyDeletion"]);
        assert_eq!(deny.actions_removed, ["kms:Delete*"]);
        assert_eq!(
            diff.statements[2].to_string(),
            "+ added statement \"New\" (index 3)\n    principal 444455556666\n    action kms:Verify\n    resource *"
        );
        assert!(diff.unified.starts_with("--- before\n+++ after\n@@ "));
    }

    #[test]
    fn effect_and_not_elements_are_reported_as_other_changes() {
        let before = json!({"Statement": {"Sid": "X", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                          "NotAction": "kms:Decrypt", "Resource": "*"}});
        let after = json!({"Statement": {"Sid": "X", "Effect": "Deny", "Principal": {"Service": "ec2.amazonaws.com"},
                                         "NotAction": "kms:Encrypt", "Resource": "*"}});
        let diff = diff_policies(Some(&before), Some(&after));
        assert_eq!(diff.statements.len(), 1);
        assert_eq!(diff.statements[0].other_changes, ["Effect", "NotAction"]);
        assert_eq!(
            diff.statements[0].to_string(),
            "~ modified statement \"X\" (index 0)\n    changed: Effect, NotAction"
        );
    }

    #[test]
    fn non_aws_principals_are_labelled() {
        let after = json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": ["111122223333"], "Service": ["ec2.amazonaws.com"], "Federated": "cognito-identity.amazonaws.com"},
            "Action": "kms:Decrypt", "Resource": "*"}]});
        let diff = diff_policies(None, Some(&after));
        assert_eq!(
            diff.statements[0].principals_added,
            [
                "111122223333",
                "Service:ec2.amazonaws.com",
                "Federated:cognito-identity.amazonaws.com"
            ]
        );
        assert_eq!(diff.statements[0].label, "#0");
    }

    #[test]
    fn deleting_a_policy_and_equal_documents() {
        let p = json!({"Version": "2012-10-17", "Statement": []});
        let gone = diff_policies(Some(&p), None);
        assert!(gone.statements.is_empty());
        assert!(gone.unified.contains("-  \"Version\": \"2012-10-17\","));
        assert_eq!(
            gone.to_string().lines().next(),
            Some("no statement changed (formatting or top-level elements only)")
        );
        assert!(diff_policies(Some(&p), Some(&p)).is_empty());
        assert_eq!(unified_diff("a\n", "a\n"), "");
        assert_eq!(
            unified_diff("a\nb\n", "a\nc\n"),
            "--- before\n+++ after\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
        );
    }
}
