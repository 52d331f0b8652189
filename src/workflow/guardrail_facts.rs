//! Discovery of the organization guardrails (docs/DOMAIN.md "Guardrails"): per account its path
//! (root, OUs, account) and the SCPs or RCPs attached at each level, read through the
//! [`OrgReader`] port with the management or a delegated administrator account's credentials
//! (`--org-profile`). Every level is read once however many accounts share it (ListParents,
//! ListPoliciesForTarget and DescribePolicy are cached), so an OU of 20 accounts costs one
//! ListPoliciesForTarget per OU and one DescribePolicy per policy, plus one ListParents and one
//! ListPoliciesForTarget per account.
//!
//! A level that cannot be read makes the whole path [`PathFact::Unseen`], with the exact
//! command an administrator runs to see it: the plan then says `unseen`, never a clean `allow`.
//! [`PathFact::to_known`] turns the facts into the policy engine's [`crate::policy::OrgPath`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use super::inventory_guardrails::{BoundaryDoc, OrgPolicyKind, PolicySummary};
use super::org_targets::OrgReader;
use super::ports::AwsError;
use crate::policy::{self, Known, OrgLevel, OrgPath, OrgPolicy};

/// `aws iam get-role|get-user ... --query ...PermissionsBoundary` for a principal ARN (a role
/// session: its role).
pub fn boundary_command(arn: &str) -> String {
    use crate::domain::arn::{Principal, PrincipalKind};
    match Principal::parse(arn) {
        Some(p) if p.kind == PrincipalKind::User => format!(
            "aws iam get-user --user-name {} --query User.PermissionsBoundary",
            p.name
        ),
        Some(p) if !p.name.is_empty() => format!(
            "aws iam get-role --role-name {} --query Role.PermissionsBoundary",
            p.name
        ),
        _ => "aws iam get-role --role-name ROLE --query Role.PermissionsBoundary".to_string(),
    }
}

/// A principal's permissions boundary as discovery saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum BoundaryFact {
    /// It has no permissions boundary.
    None,
    Known(BoundaryDoc),
    Unseen {
        reason: String,
        command: String,
    },
}

impl BoundaryFact {
    /// The engine's view (a document that does not parse is unseen).
    pub fn to_known(&self) -> Known<policy::Boundary> {
        match self {
            BoundaryFact::None => Known::Absent,
            BoundaryFact::Unseen { reason, command } => Known::Unseen(policy::Unseen {
                reason: reason.clone(),
                command: command.clone(),
            }),
            BoundaryFact::Known(b) => match policy::parse_policy(&b.document, &b.arn) {
                Ok(document) => Known::Known(policy::Boundary {
                    arn: b.arn.clone(),
                    document,
                }),
                Err(e) => Known::Unseen(policy::Unseen {
                    reason: format!("amishare cannot read the permissions boundary: {e}"),
                    command: format!("aws iam get-policy --policy-arn {}", b.arn),
                }),
            },
        }
    }
}

/// A region's Allowed AMIs setting as discovery saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum AllowedImagesFact {
    Known(super::allowed_images::AllowedImagesSettings),
    Unseen { reason: String, command: String },
}

/// Every guardrail discovery read (empty when none was read).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GuardrailDiscovery {
    /// Target account -> the SCPs on its path (read with `--org-profile`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scps: BTreeMap<String, PathFact>,
    /// The RCPs on the source (key owner) account's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcps: Option<PathFact>,
    /// Principal ARN -> its permissions boundary.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub boundaries: BTreeMap<String, BoundaryFact>,
    /// `account/region` -> the Allowed AMIs setting.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allowed_images: BTreeMap<String, AllowedImagesFact>,
}

impl GuardrailDiscovery {
    pub fn is_empty(&self) -> bool {
        self.scps.is_empty()
            && self.rcps.is_none()
            && self.boundaries.is_empty()
            && self.allowed_images.is_empty()
    }

    /// The engine's guardrails for `principal` of `account` on a key of the source account.
    pub fn for_principal(&self, account: &str, principal: &str) -> policy::Guardrails {
        policy::Guardrails {
            scps: self
                .scps
                .get(account)
                .map(|p| p.to_known(OrgPolicyKind::ServiceControlPolicy))
                .unwrap_or_default(),
            rcps: self
                .rcps
                .as_ref()
                .map(|p| p.to_known(OrgPolicyKind::ResourceControlPolicy))
                .unwrap_or_default(),
            boundary: self
                .boundaries
                .get(principal)
                .map(BoundaryFact::to_known)
                .unwrap_or_default(),
            session_policies: Known::Absent,
        }
    }
}

/// One attached policy with its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyFact {
    pub id: String,
    pub name: String,
    /// The policy document as DescribePolicy returned it.
    pub content: String,
}

/// The policies attached at one level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LevelFact {
    /// `r-...`, `ou-...` or the account id.
    pub target: String,
    pub policies: Vec<PolicyFact>,
}

/// An account's path with the policies of one kind at each level, root first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum PathFact {
    Known {
        levels: Vec<LevelFact>,
        /// The organization's management account: no SCP or RCP applies to it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        management_account: bool,
    },
    /// Could not be read: why, and the command that shows it.
    Unseen { reason: String, command: String },
}

impl PathFact {
    /// The engine's view: each policy parsed (a policy that does not parse makes the path
    /// unseen, with the command that shows it).
    pub fn to_known(&self, kind: OrgPolicyKind) -> Known<OrgPath> {
        let (levels, management_account) = match self {
            PathFact::Unseen { reason, command } => {
                return Known::Unseen(policy::Unseen {
                    reason: reason.clone(),
                    command: command.clone(),
                })
            }
            PathFact::Known {
                levels,
                management_account,
            } => (levels, *management_account),
        };
        let mut out = Vec::new();
        for l in levels {
            let mut policies = Vec::new();
            for p in &l.policies {
                let origin = format!("{} {} ({})", kind.short(), p.id, p.name);
                match policy::parse_policy(&p.content, &origin) {
                    Ok(document) => policies.push(OrgPolicy {
                        id: p.id.clone(),
                        document,
                    }),
                    Err(e) => {
                        return Known::Unseen(policy::Unseen {
                            reason: format!("amishare cannot read {origin}: {e}"),
                            command: format!(
                                "aws organizations describe-policy --policy-id {}",
                                p.id
                            ),
                        })
                    }
                }
            }
            out.push(OrgLevel {
                target: l.target.clone(),
                policies,
            });
        }
        Known::Known(OrgPath {
            levels: out,
            management_account,
        })
    }
}

/// Reads paths and their policies, each level and each policy once.
pub struct OrgGuardrailReader<'a, O: OrgReader> {
    org: &'a O,
    management_account: Option<String>,
    parents: BTreeMap<String, Result<Option<String>, AwsError>>,
    attached: BTreeMap<(String, OrgPolicyKind), Result<Vec<PolicySummary>, AwsError>>,
    contents: BTreeMap<String, Result<String, AwsError>>,
}

/// Deeper than any organization can be (root + 5 OU levels + account).
const MAX_DEPTH: usize = 8;

/// Organizations reads in flight at once when prefetching (its API is throttled per account;
/// the SDK's adaptive retries absorb the rest).
const CONCURRENT_READS: usize = 8;

impl<'a, O: OrgReader> OrgGuardrailReader<'a, O> {
    /// `management_account`: the organization's management account (DescribeOrganization),
    /// to which no SCP or RCP applies.
    pub fn new(org: &'a O, management_account: Option<String>) -> Self {
        Self {
            org,
            management_account,
            parents: BTreeMap::new(),
            attached: BTreeMap::new(),
            contents: BTreeMap::new(),
        }
    }

    /// Parents already known from listing the organization (`--to-ou` / `--to-org`): member
    /// account -> its `aws:PrincipalOrgPaths` path (`o-x/r-x/ou-a/ou-b/`), each link of which
    /// saves a ListParents call. An empty path (ListAccounts only) tells nothing.
    pub fn know_paths<'p>(&mut self, paths: impl IntoIterator<Item = (&'p String, &'p String)>) {
        for (account, path) in paths {
            // Skip the organization id: root, OUs (top down), then the account.
            let mut chain: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).skip(1).collect();
            if chain.is_empty() {
                continue;
            }
            chain.push(account);
            for pair in chain.windows(2) {
                self.parents
                    .entry(pair[1].to_string())
                    .or_insert_with(|| Ok(Some(pair[0].to_string())));
            }
        }
    }

    async fn parent(&mut self, child: &str) -> Result<Option<String>, AwsError> {
        if let Some(r) = self.parents.get(child) {
            return r.clone();
        }
        let r = self.org.parent_of(child).await;
        self.parents.insert(child.to_string(), r.clone());
        r
    }

    /// The account's path: root, each OU, the account.
    pub async fn path(&mut self, account: &str) -> Result<Vec<String>, AwsError> {
        let mut path = vec![account.to_string()];
        let mut at = account.to_string();
        while !at.starts_with("r-") {
            if path.len() > MAX_DEPTH {
                return Err(AwsError::new(
                    "organizations",
                    "ListParents",
                    format!("the path of account {account} does not reach a root"),
                ));
            }
            match self.parent(&at).await? {
                Some(p) => {
                    path.push(p.clone());
                    at = p;
                }
                None => break,
            }
        }
        path.reverse();
        Ok(path)
    }

    /// Read the policies of `kind` attached to each of `levels` (roots, OUs, accounts) at once,
    /// at most [`CONCURRENT_READS`] in flight, then every policy's content the same way: the
    /// path facts that follow read nothing more. Each level and policy is still read once.
    pub async fn prefetch(&mut self, levels: &[String], kind: OrgPolicyKind) {
        use futures::stream::{self, StreamExt};
        let org = self.org;
        let todo: BTreeSet<String> = levels
            .iter()
            .filter(|t| !self.attached.contains_key(&((*t).clone(), kind)))
            .cloned()
            .collect();
        let listed: Vec<(String, Result<Vec<PolicySummary>, AwsError>)> = stream::iter(todo)
            .map(|t| async move {
                let r = org.policies_for_target(&t, kind).await;
                (t, r)
            })
            .buffer_unordered(CONCURRENT_READS)
            .collect()
            .await;
        let mut ids = BTreeSet::new();
        for (t, r) in listed {
            if let Ok(found) = &r {
                ids.extend(found.iter().map(|p| p.id.clone()));
            }
            self.attached.insert((t, kind), r);
        }
        ids.retain(|id| !self.contents.contains_key(id));
        let contents: Vec<(String, Result<String, AwsError>)> = stream::iter(ids)
            .map(|id| async move {
                let r = org.policy_content(&id).await;
                (id, r)
            })
            .buffer_unordered(CONCURRENT_READS)
            .collect()
            .await;
        self.contents.extend(contents);
    }

    async fn level(&mut self, target: &str, kind: OrgPolicyKind) -> Result<LevelFact, AwsError> {
        let key = (target.to_string(), kind);
        let listed = match self.attached.get(&key) {
            Some(r) => r.clone(),
            None => {
                let r = self.org.policies_for_target(target, kind).await;
                self.attached.insert(key, r.clone());
                r
            }
        }?;
        let mut policies = Vec::new();
        for s in listed {
            let content = match self.contents.get(&s.id) {
                Some(r) => r.clone(),
                None => {
                    let r = self.org.policy_content(&s.id).await;
                    self.contents.insert(s.id.clone(), r.clone());
                    r
                }
            }?;
            policies.push(PolicyFact {
                id: s.id,
                name: s.name,
                content,
            });
        }
        Ok(LevelFact {
            target: target.to_string(),
            policies,
        })
    }

    /// The policies of `kind` on `account`'s path; unseen (with the command) when a level
    /// cannot be read.
    pub async fn path_fact(&mut self, account: &str, kind: OrgPolicyKind) -> PathFact {
        if self.management_account.as_deref() == Some(account) {
            return PathFact::Known {
                levels: Vec::new(),
                management_account: true,
            };
        }
        let path = match self.path(account).await {
            Ok(p) => p,
            Err(e) => {
                return PathFact::Unseen {
                    reason: e.to_string(),
                    command: format!("aws organizations list-parents --child-id {account}"),
                }
            }
        };
        let mut levels = Vec::new();
        for target in path {
            match self.level(&target, kind).await {
                Ok(l) => levels.push(l),
                Err(e) => {
                    return PathFact::Unseen {
                        reason: e.to_string(),
                        command: format!(
                            "aws organizations list-policies-for-target --target-id {target} --filter {}",
                            kind.filter()
                        ),
                    }
                }
            }
        }
        PathFact::Known {
            levels,
            management_account: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::org::FakeOrg;

    const DENY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoGrants","Effect":"Deny","Action":"kms:CreateGrant","Resource":"*"}]}"#;

    /// root -> ou-prod (20 accounts) with a deny on ou-blocked (3 of them under it).
    fn org() -> FakeOrg {
        let mut o = FakeOrg::new("r-root");
        o.ou("ou-prod", "r-root");
        o.ou("ou-blocked", "ou-prod");
        for i in 0..20 {
            let parent = if i < 3 { "ou-blocked" } else { "ou-prod" };
            o.account(&format!("1000000000{i:02}"), parent);
        }
        o.attach_full_access(&["r-root", "ou-prod", "ou-blocked"]);
        o.attach(
            "ou-blocked",
            "p-nogrants",
            "NoGrants",
            DENY,
            OrgPolicyKind::ServiceControlPolicy,
        );
        o
    }

    #[tokio::test]
    async fn every_level_is_read_once_for_many_accounts() {
        let o = org();
        let mut r = OrgGuardrailReader::new(&o, Some("999999999999".into()));
        let mut blocked = Vec::new();
        for i in 0..20 {
            let account = format!("1000000000{i:02}");
            let fact = r
                .path_fact(&account, OrgPolicyKind::ServiceControlPolicy)
                .await;
            let PathFact::Known { levels, .. } = &fact else {
                panic!("{fact:?}")
            };
            if levels
                .iter()
                .any(|l| l.policies.iter().any(|p| p.id == "p-nogrants"))
            {
                blocked.push(account);
            }
        }
        assert_eq!(blocked, ["100000000000", "100000000001", "100000000002"]);
        let calls = o.calls();
        // One ListPoliciesForTarget per OU and root, plus one per account; one DescribePolicy
        // per policy; one ListParents per account and OU.
        assert_eq!(calls.list_policies, 3 + 20);
        assert_eq!(calls.describe_policy, 2);
        assert_eq!(calls.list_parents, 20 + 2);
    }

    /// Prefetching every level at once reads each level and policy once, and the path facts
    /// that follow read nothing more.
    #[tokio::test]
    async fn prefetched_levels_are_read_once_and_path_facts_read_no_more() {
        let o = org();
        let mut r = OrgGuardrailReader::new(&o, Some("999999999999".into()));
        let accounts: Vec<String> = (0..20).map(|i| format!("1000000000{i:02}")).collect();
        let mut levels = Vec::new();
        for a in &accounts {
            levels.extend(r.path(a).await.unwrap());
        }
        r.prefetch(&levels, OrgPolicyKind::ServiceControlPolicy)
            .await;
        let before = o.calls();
        assert_eq!((before.list_policies, before.describe_policy), (3 + 20, 2));
        for a in &accounts {
            let fact = r.path_fact(a, OrgPolicyKind::ServiceControlPolicy).await;
            assert!(matches!(fact, PathFact::Known { .. }), "{fact:?}");
        }
        let after = o.calls();
        assert_eq!(
            (
                after.list_policies,
                after.describe_policy,
                after.list_parents
            ),
            (
                before.list_policies,
                before.describe_policy,
                before.list_parents
            )
        );
    }

    #[tokio::test]
    async fn the_management_account_and_unreadable_levels() {
        let mut o = org();
        let mut r = OrgGuardrailReader::new(&o, Some("100000000005".into()));
        let fact = r
            .path_fact("100000000005", OrgPolicyKind::ServiceControlPolicy)
            .await;
        assert_eq!(
            fact,
            PathFact::Known {
                levels: Vec::new(),
                management_account: true
            }
        );
        o.deny_listing("ou-prod");
        let mut r = OrgGuardrailReader::new(&o, None);
        let fact = r
            .path_fact("100000000005", OrgPolicyKind::ServiceControlPolicy)
            .await;
        let PathFact::Unseen { command, .. } = &fact else {
            panic!("{fact:?}")
        };
        assert_eq!(
            command,
            "aws organizations list-policies-for-target --target-id ou-prod --filter SERVICE_CONTROL_POLICY"
        );
        assert!(matches!(
            fact.to_known(OrgPolicyKind::ServiceControlPolicy),
            Known::Unseen(_)
        ));
    }

    #[tokio::test]
    async fn facts_become_the_engines_path() {
        let o = org();
        let mut r = OrgGuardrailReader::new(&o, None);
        let fact = r
            .path_fact("100000000001", OrgPolicyKind::ServiceControlPolicy)
            .await;
        let Known::Known(path) = fact.to_known(OrgPolicyKind::ServiceControlPolicy) else {
            panic!()
        };
        let targets: Vec<&str> = path.levels.iter().map(|l| l.target.as_str()).collect();
        assert_eq!(targets, ["r-root", "ou-prod", "ou-blocked", "100000000001"]);
        assert_eq!(path.levels[2].policies[1].id, "p-nogrants");
        assert!(path.levels[2].policies[1]
            .document
            .origin
            .contains("SCP p-nogrants"));
    }
}
