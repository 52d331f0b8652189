//! Target accounts from the organization: `--to-ou` (every account under an OU, nested OUs
//! included), `--to-org` (every account of the organization), `--to-accounts-file`, combined with
//! `--to`.
//!
//! Reading goes through the [`OrgReader`] port (Organizations ListChildren /
//! ListAccountsForParent / ListAccounts, every page; implemented by
//! `aws::reader::organizations`). [`resolve`] is pure: it keeps the first occurrence of every
//! account (the order given), drops the source account from what the organization listed (it
//! is where the AMI is) and skips accounts that are not `ACTIVE` (suspended or closing accounts
//! cannot run a copy), reporting each skip. [`parse_accounts_file`] reads the accounts file.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use serde::{Deserialize, Serialize};

use super::ports::AwsError;

/// One account as the Organizations API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, `CLOSED`, ... (the account's `State`, else its
    /// older `Status`); `None` when AWS said neither.
    pub state: Option<String>,
    /// The OUs from the requested OU down to the account's parent, as [`list_requested`] walked
    /// them (empty when listed by ListAccounts): the account's place for `aws:PrincipalOrgPaths`.
    pub chain: Vec<String>,
}

/// The organization (DescribeOrganization).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgInfo {
    /// `o-...`.
    pub id: String,
    /// The management account's id (part of the organization's and its OUs' ARNs).
    pub management_account: String,
}

/// The READ port of the organization (the management or a delegated administrator account).
pub trait OrgReader: Send + Sync {
    /// The OUs directly under `parent` (a root or OU id), every page.
    fn child_ous(&self, parent: &str)
        -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;

    /// The accounts directly under `parent`, every page.
    fn accounts_for_parent(
        &self,
        parent: &str,
    ) -> impl Future<Output = Result<Vec<OrgAccount>, AwsError>> + Send;

    /// Every account of the organization, every page.
    fn all_accounts(&self) -> impl Future<Output = Result<Vec<OrgAccount>, AwsError>> + Send;

    /// The organization's id and management account (DescribeOrganization).
    fn organization(&self) -> impl Future<Output = Result<OrgInfo, AwsError>> + Send;

    /// The parent (an OU or a root `r-...` id) of an OU or an account (ListParents); `None`
    /// when AWS lists none.
    fn parent_of(
        &self,
        child: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;

    /// The policies of `kind` attached directly to `target` (a root, OU or account id):
    /// ListPoliciesForTarget, every page. Readers that cannot list them answer an error (the
    /// layer is then `unseen`, never a clean allow).
    fn policies_for_target(
        &self,
        target: &str,
        kind: super::inventory_guardrails::OrgPolicyKind,
    ) -> impl Future<Output = Result<Vec<super::inventory_guardrails::PolicySummary>, AwsError>> + Send
    {
        let _ = (target, kind);
        async {
            Err(AwsError::new(
                "organizations",
                "ListPoliciesForTarget",
                "this reader cannot list organization policies",
            ))
        }
    }

    /// A policy's document (DescribePolicy `Content`).
    fn policy_content(
        &self,
        policy_id: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send {
        let _ = policy_id;
        async {
            Err(AwsError::new(
                "organizations",
                "DescribePolicy",
                "this reader cannot read organization policies",
            ))
        }
    }
}

/// Which principals the source key policy names for organization targets
/// (`--key-policy-principals`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyPolicyPrincipals {
    /// One statement pair per organization / OU: `Principal "*"` conditioned on
    /// `aws:PrincipalOrgID` / `aws:PrincipalOrgPaths` and `kms:ViaService` (the size of the key
    /// policy does not grow with the accounts).
    #[default]
    Org,
    /// Every account listed by its root ARN (as for `--to`).
    Accounts,
}

impl KeyPolicyPrincipals {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// What the command line asked for besides `--to`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgRequest {
    /// `--to-ou` (repeatable).
    pub ous: Vec<String>,
    /// `--to-org`.
    pub whole_org: bool,
}

impl OrgRequest {
    pub fn is_empty(&self) -> bool {
        self.ous.is_empty() && !self.whole_org
    }
}

/// An account left out of the targets, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedAccount {
    pub account: String,
    /// `suspended`, `pending-closure`, `source account`, ... (for people).
    pub reason: String,
}

/// How the targets were chosen: what the organization gave and what was left out. Kept in the
/// plan's options (optional: absent when only `--to` was given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgTargets {
    /// `ou ou-xxxx-yyyyyyyy`, `organization`, `file PATH`: where accounts came from.
    pub from: Vec<String>,
    /// The accounts the organization listed that were left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedAccount>,
    /// `--to-org` / `--to-ou` ids (for sharing with an OrganizationArn / OrganizationalUnitArn).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ous: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whole_org: bool,
    /// The organization's id (DescribeOrganization), when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// The organization's management account, when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_account: Option<String>,
    /// The path of every `--to-ou` OU (`o-x/r-x/ou-a/ou-b/`, as `aws:PrincipalOrgPaths` has it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ou_paths: BTreeMap<String, String>,
    /// The target accounts that only the organization gave (not `--to` / the file), with the
    /// path of the OU they are in (empty when only ListAccounts named them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, String>,
    /// `--key-policy-principals`.
    #[serde(default, skip_serializing_if = "KeyPolicyPrincipals::is_default")]
    pub key_policy_principals: KeyPolicyPrincipals,
}

/// Every account the organization lists for the request: the OUs' trees (breadth first, each
/// OU read once) and, for `--to-org`, ListAccounts.
pub async fn list_requested<O: OrgReader>(
    org: &O,
    request: &OrgRequest,
) -> Result<Vec<OrgAccount>, AwsError> {
    let mut out = Vec::new();
    if request.whole_org {
        out.extend(org.all_accounts().await?);
    }
    let mut seen_ous = BTreeSet::new();
    for ou in &request.ous {
        let mut queue = vec![vec![ou.clone()]];
        while let Some(chain) = queue.pop() {
            let Some(parent) = chain.last().cloned() else {
                continue;
            };
            if !seen_ous.insert(parent.clone()) {
                continue;
            }
            out.extend(
                org.accounts_for_parent(&parent)
                    .await?
                    .into_iter()
                    .map(|a| OrgAccount {
                        chain: chain.clone(),
                        ..a
                    }),
            );
            let children = org.child_ous(&parent).await?;
            queue.extend(children.into_iter().rev().map(|c| {
                let mut next = chain.clone();
                next.push(c);
                next
            }));
        }
    }
    Ok(out)
}

/// The target accounts: `explicit` (`--to` and the accounts file, in that order, kept as given)
/// then the organization's `listed` accounts that are `ACTIVE` and not the source account;
/// each account once. Returns the targets and the skipped accounts.
pub fn resolve(
    explicit: &[String],
    listed: &[OrgAccount],
    source_account: &str,
) -> (Vec<String>, Vec<SkippedAccount>) {
    let mut targets: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for a in explicit {
        if seen.insert(a.clone()) {
            targets.push(a.clone());
        }
    }
    let mut skipped = Vec::new();
    for a in listed {
        if !seen.insert(a.id.clone()) {
            continue;
        }
        let state = a.state.as_deref().unwrap_or("ACTIVE");
        if a.id == source_account {
            skipped.push(SkippedAccount {
                account: a.id.clone(),
                reason: "the source account".into(),
            });
        } else if !state.eq_ignore_ascii_case("ACTIVE") {
            skipped.push(SkippedAccount {
                account: a.id.clone(),
                reason: state.to_ascii_lowercase().replace('_', "-"),
            });
        } else {
            targets.push(a.id.clone());
        }
    }
    (targets, skipped)
}

/// A bad line of an accounts file: its 1-based number and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub text: String,
}

/// The account ids of an accounts file: one a line; blank lines and `#` comments (whole line or
/// after the id) ignored. The first line that is not a 12-digit id is an error.
pub fn parse_accounts_file(text: &str) -> Result<Vec<String>, BadLine> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.len() != 12 || !line.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadLine {
                line: i + 1,
                text: line.to_string(),
            });
        }
        out.push(line.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn acct(id: &str, state: &str) -> OrgAccount {
        OrgAccount {
            id: id.into(),
            state: Some(state.into()),
            chain: Vec::new(),
        }
    }

    #[test]
    fn resolve_dedupes_skips_source_and_suspended() {
        let listed = [
            acct("444455556666", "ACTIVE"),
            acct("111122223333", "ACTIVE"),
            acct("555566667777", "SUSPENDED"),
            acct("666677778888", "PENDING_CLOSURE"),
            acct("777788889999", "ACTIVE"),
            acct("777788889999", "ACTIVE"),
        ];
        let (targets, skipped) = resolve(&["444455556666".into()], &listed, "111122223333");
        assert_eq!(targets, ["444455556666", "777788889999"]);
        let reasons: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.account.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("111122223333", "the source account"),
                ("555566667777", "suspended"),
                ("666677778888", "pending-closure")
            ]
        );
    }

    #[test]
    fn explicit_source_account_is_kept() {
        // `--to SOURCE` is a same-account copy (to other regions): the user asked for it.
        let (targets, skipped) = resolve(&["111122223333".into()], &[], "111122223333");
        assert_eq!(targets, ["111122223333"]);
        assert!(skipped.is_empty());
    }

    #[test]
    fn accounts_file_lines() {
        let text = "# prod accounts\n444455556666\n\n  555566667777  # payments\n444455556666\n";
        assert_eq!(
            parse_accounts_file(text).unwrap(),
            ["444455556666", "555566667777", "444455556666"]
        );
        assert_eq!(
            parse_accounts_file("444455556666\n12345\n"),
            Err(BadLine {
                line: 2,
                text: "12345".into()
            })
        );
    }

    /// An organization in memory: parent -> (child OUs, accounts).
    struct Tree(BTreeMap<String, (Vec<String>, Vec<OrgAccount>)>);

    impl OrgReader for Tree {
        async fn child_ous(&self, parent: &str) -> Result<Vec<String>, AwsError> {
            Ok(self.0.get(parent).map(|e| e.0.clone()).unwrap_or_default())
        }
        async fn accounts_for_parent(&self, parent: &str) -> Result<Vec<OrgAccount>, AwsError> {
            Ok(self.0.get(parent).map(|e| e.1.clone()).unwrap_or_default())
        }
        async fn all_accounts(&self) -> Result<Vec<OrgAccount>, AwsError> {
            Ok(self.0.values().flat_map(|e| e.1.clone()).collect())
        }
        async fn organization(&self) -> Result<OrgInfo, AwsError> {
            Ok(OrgInfo {
                id: "o-a1b2c3d4e5".into(),
                management_account: "111122223333".into(),
            })
        }
        async fn parent_of(&self, child: &str) -> Result<Option<String>, AwsError> {
            Ok(self
                .0
                .iter()
                .find(|(_, e)| e.0.iter().any(|c| c == child))
                .map(|(p, _)| p.clone()))
        }
    }

    #[tokio::test]
    async fn nested_ous_are_walked_once() {
        let mut t = BTreeMap::new();
        t.insert(
            "ou-a".to_string(),
            (
                vec!["ou-b".to_string(), "ou-c".to_string()],
                vec![acct("000000000001", "ACTIVE")],
            ),
        );
        t.insert(
            "ou-b".to_string(),
            (
                vec!["ou-d".to_string()],
                vec![acct("000000000002", "ACTIVE")],
            ),
        );
        t.insert(
            "ou-c".to_string(),
            (vec![], vec![acct("000000000003", "SUSPENDED")]),
        );
        t.insert(
            "ou-d".to_string(),
            (vec![], vec![acct("000000000004", "ACTIVE")]),
        );
        let req = OrgRequest {
            ous: vec!["ou-a".into(), "ou-b".into()],
            whole_org: false,
        };
        let listed = list_requested(&Tree(t), &req).await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|a| a.id.as_str()).collect();
        let chain_of = |id: &str| {
            listed
                .iter()
                .find(|a| a.id == id)
                .map(|a| a.chain.join("/"))
                .unwrap_or_default()
        };
        assert_eq!(chain_of("000000000004"), "ou-a/ou-b/ou-d");
        assert_eq!(chain_of("000000000003"), "ou-a/ou-c");
        assert_eq!(
            ids,
            [
                "000000000001",
                "000000000002",
                "000000000004",
                "000000000003"
            ]
        );
    }

    #[tokio::test]
    async fn an_ou_path_goes_up_to_the_root() {
        let mut t = BTreeMap::new();
        t.insert("r-ab12".to_string(), (vec!["ou-a".to_string()], vec![]));
        t.insert("ou-a".to_string(), (vec!["ou-b".to_string()], vec![]));
        t.insert("ou-b".to_string(), (vec![], vec![]));
        let (info, paths) = crate::workflow::org_scope::describe(&Tree(t), &["ou-b".into()])
            .await
            .unwrap();
        assert_eq!(info.id, "o-a1b2c3d4e5");
        assert_eq!(paths["ou-b"], "o-a1b2c3d4e5/r-ab12/ou-a/ou-b/");
    }
}
