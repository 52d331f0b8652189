//! The parsed form of IAM identity policies, KMS key policies and KMS grants.
//!
//! Every parsed document keeps the original `serde_json::Value` (the crate uses serde_json's
//! `preserve_order`), so an unmodified document serialises back with the same statements, in the
//! same order, with the same keys, including elements this model does not know; a statement's
//! own JSON is [`PolicyDocument::statement_value`].

use super::condition::Condition;
use super::matching::PrincipalPattern;
use serde::Serialize;
use serde_json::Value;

/// A parsed policy document (identity policy or key policy).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    /// Where it came from (file name, `key policy of ...`), for messages.
    pub origin: String,
    pub version: Option<String>,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
    /// The document exactly as read.
    pub original: Value,
}

impl PolicyDocument {
    /// The document exactly as read.
    pub fn value(&self) -> &Value {
        &self.original
    }

    /// The statement at `index` exactly as read (the `Statement` object itself when the document
    /// holds a single statement object).
    pub fn statement_value(&self, index: usize) -> Option<&Value> {
        match self.original.get("Statement")? {
            Value::Array(items) => items.get(index),
            one @ Value::Object(_) if index == 0 => Some(one),
            _ => None,
        }
    }

    /// Pretty JSON of the original document (same statements, order and keys).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.original).unwrap_or_default()
    }

    /// Compact JSON of the original document (what the 32,768-byte limit counts).
    pub fn to_json_compact(&self) -> String {
        serde_json::to_string(&self.original).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalElement {
    /// `NotPrincipal`.
    pub negated: bool,
    pub patterns: Vec<PrincipalPattern>,
}

/// `Action`/`NotAction` or `Resource`/`NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameList {
    /// `NotAction` / `NotResource`.
    pub negated: bool,
    /// For actions: lowercased. For resources: as written.
    pub items: Vec<String>,
    /// The items as written (actions keep their original case here).
    pub written: Vec<String>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Position in the document's `Statement` array (0 when it was a single object).
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
    /// `None` for identity policies (no Principal element).
    pub principal: Option<PrincipalElement>,
    pub action: NameList,
    /// `None` when the statement has no Resource/NotResource (then it has no effect).
    pub resource: Option<NameList>,
    /// All conditions; they AND together.
    pub conditions: Vec<Condition>,
}

impl Statement {
    /// `Sid` if present, else `Statement[i]`.
    pub fn label(&self) -> String {
        match &self.sid {
            Some(s) if !s.is_empty() => s.clone(),
            _ => format!("Statement[{}]", self.index),
        }
    }
}

/// A statement reference in results: which document and which statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementRef {
    pub policy: String,
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl StatementRef {
    pub fn new(doc: &PolicyDocument, st: &Statement) -> Self {
        Self {
            policy: doc.origin.clone(),
            index: st.index,
            sid: st.sid.clone().filter(|s| !s.is_empty()),
        }
    }

    /// `Sid` or `Statement[i]`.
    pub fn label(&self) -> String {
        match &self.sid {
            Some(s) => format!("`{s}`"),
            None => format!("Statement[{}]", self.index),
        }
    }
}

impl std::fmt::Display for StatementRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} in {}", self.label(), self.policy)
    }
}

/// Constraints of a grant (`EncryptionContextSubset` / `EncryptionContextEquals`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantConstraints {
    pub subset: Option<Vec<(String, String)>>,
    pub equals: Option<Vec<(String, String)>>,
}

/// A KMS grant as `kms list-grants` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub grant_id: Option<String>,
    pub name: Option<String>,
    pub grantee_principal: String,
    pub grantee: PrincipalPattern,
    /// Operation names without the `kms:` prefix, e.g. `Decrypt`.
    pub operations: Vec<String>,
    pub constraints: GrantConstraints,
    pub original: Value,
}

impl Grant {
    /// `GrantId` or `Name` or the grantee, for messages.
    pub fn label(&self) -> String {
        self.grant_id
            .clone()
            .or_else(|| self.name.clone())
            .unwrap_or_else(|| format!("grant to {}", self.grantee_principal))
    }
}
