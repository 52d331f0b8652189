//! What whole-organization / OU targets (`--to-org`, `--to-ou`) change on the source side:
//!
//! - with `--share-only`, the image's launch permission is ONE `OrganizationArn` (`--to-org`) /
//!   `OrganizationalUnitArn` (per `--to-ou`) instead of one `UserId` per account (EC2 user guide,
//!   "Share an AMI with organizations or OUs"); accounts named with `--to` / the accounts file
//!   keep their `UserId`. Snapshots stay shared per account id (AWS shares snapshots with account
//!   ids only). A copy keeps per-account launch permissions: each account runs its own
//!   CopyImage, and a per-account share is what `--revoke-after-copy` takes back per account.
//! - the source key policy admits the organization / OU with conditioned statements
//!   ([`crate::policy::edit::add_org_statements`]) instead of listing every account
//!   (`--key-policy-principals org`, the default; `accounts` lists them).
//! - the policy engine sees each member account's `aws:PrincipalOrgID` / `aws:PrincipalOrgPaths`
//!   ([`OrgTargets::caller_org_facts`]), so the plan's verdicts account for those statements.
//!
//! [`describe`] reads what this needs (DescribeOrganization, ListParents up to the root); the
//! rest is pure.

use std::collections::BTreeMap;

use super::org_targets::{KeyPolicyPrincipals, OrgAccount, OrgInfo, OrgReader, OrgTargets};
use super::ports::AwsError;
use crate::policy::edit::OrgScope;

/// Roots and OUs above an OU are at most 5 levels deep (Organizations quotas: "OU maximum
/// nesting in a root: five levels"); the walk stops well after that.
const MAX_DEPTH: usize = 10;

/// The organization and the path of every requested OU (`o-x/r-x/ou-a/ou-b/`).
pub async fn describe<O: OrgReader>(
    org: &O,
    ous: &[String],
) -> Result<(OrgInfo, BTreeMap<String, String>), AwsError> {
    let info = org.organization().await?;
    let mut paths = BTreeMap::new();
    for ou in ous {
        let mut chain = vec![ou.clone()];
        let mut current = ou.clone();
        while !current.starts_with("r-") && chain.len() <= MAX_DEPTH {
            match org.parent_of(&current).await? {
                Some(parent) => {
                    chain.push(parent.clone());
                    current = parent;
                }
                None => break,
            }
        }
        chain.push(info.id.clone());
        chain.reverse();
        paths.insert(ou.clone(), format!("{}/", chain.join("/")));
    }
    Ok((info, paths))
}

/// The target accounts only the organization gave (not in `explicit`), each with the path of the
/// OU it is in (`ou_paths` of the requested OU + the OUs walked below it; empty for an account
/// only ListAccounts named).
pub fn member_paths(
    targets: &[String],
    explicit: &[String],
    listed: &[OrgAccount],
    ou_paths: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for t in targets.iter().filter(|t| !explicit.contains(t)) {
        let path = listed
            .iter()
            .filter(|a| &a.id == t)
            .find_map(|a| {
                let (first, rest) = a.chain.split_first()?;
                let base = ou_paths.get(first)?;
                let below: String = rest.iter().map(|ou| format!("{ou}/")).collect();
                Some(format!("{base}{below}"))
            })
            .unwrap_or_default();
        out.insert(t.clone(), path);
    }
    out
}

impl OrgTargets {
    /// The organization / OUs the targets were given as, when the organization was read.
    pub fn scopes(&self) -> Vec<OrgScope> {
        let Some(org_id) = &self.org_id else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if self.whole_org {
            out.push(OrgScope::Organization {
                org_id: org_id.clone(),
            });
        }
        for ou in &self.ous {
            if let Some(path) = self.ou_paths.get(ou) {
                out.push(OrgScope::Unit {
                    ou_id: ou.clone(),
                    path: path.clone(),
                });
            }
        }
        out
    }

    /// The scopes the key policy admits with conditioned statements (none with
    /// `--key-policy-principals accounts`).
    pub fn key_policy_scopes(&self) -> Vec<OrgScope> {
        match self.key_policy_principals {
            KeyPolicyPrincipals::Org => self.scopes(),
            KeyPolicyPrincipals::Accounts => Vec::new(),
        }
    }

    /// Is `account` covered by the scopes (given by the organization, not named)?
    pub fn covers(&self, account: &str) -> bool {
        !self.scopes().is_empty() && self.members.contains_key(account)
    }

    /// The OrganizationArn (`--to-org`) / OrganizationalUnitArn (per `--to-ou`) launch
    /// permissions: `arn:PARTITION:organizations::MANAGEMENT:organization/o-x` and
    /// `...:ou/o-x/ou-y` (EC2 API reference, LaunchPermission; the OU ARN pattern is
    /// `arn:aws[^:]*:organizations::[0-9]{12}:ou/o-.../ou-...`, so a root is never an OU ARN).
    pub fn launch_permission_arns(&self, partition: &str) -> Vec<String> {
        let (Some(org_id), Some(mgmt)) = (&self.org_id, &self.management_account) else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for s in self.scopes() {
            let arn = match s {
                // A root (`--to-ou r-...`) holds the whole organization: EC2 takes OU ARNs only.
                OrgScope::Unit { ou_id, .. } if !ou_id.starts_with("r-") => {
                    format!("arn:{partition}:organizations::{mgmt}:ou/{org_id}/{ou_id}")
                }
                _ => format!("arn:{partition}:organizations::{mgmt}:organization/{org_id}"),
            };
            if !out.contains(&arn) {
                out.push(arn);
            }
        }
        out
    }

    /// `aws:PrincipalOrgID` and `aws:PrincipalOrgPaths` of the principals of `account`, as far
    /// as the organization listing told (nothing for an account it did not list).
    pub fn caller_org_facts(&self, account: &str) -> (Option<String>, Vec<String>) {
        match (self.members.get(account), &self.org_id) {
            (Some(path), Some(org)) => {
                let paths = if path.is_empty() {
                    Vec::new()
                } else {
                    vec![path.clone()]
                };
                (Some(org.clone()), paths)
            }
            _ => (None, Vec::new()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn targets() -> OrgTargets {
        OrgTargets {
            from: vec!["ou ou-ab12-22222222".into()],
            ous: vec!["ou-ab12-22222222".into()],
            org_id: Some("o-a1b2c3d4e5".into()),
            management_account: Some("111122223333".into()),
            ou_paths: [(
                "ou-ab12-22222222".to_string(),
                "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/".to_string(),
            )]
            .into(),
            members: [(
                "444455556666".to_string(),
                "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/ou-ab12-33333333/"
                    .to_string(),
            )]
            .into(),
            ..OrgTargets::default()
        }
    }

    #[test]
    fn ou_arn_scope_and_member_facts() {
        let t = targets();
        assert_eq!(
            t.launch_permission_arns("aws"),
            ["arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-22222222"]
        );
        assert!(t.covers("444455556666"));
        assert!(!t.covers("777788889999"));
        let (org, paths) = t.caller_org_facts("444455556666");
        assert_eq!(org.as_deref(), Some("o-a1b2c3d4e5"));
        assert_eq!(paths.len(), 1);
        let mut accounts = t.clone();
        accounts.key_policy_principals = KeyPolicyPrincipals::Accounts;
        assert!(accounts.key_policy_scopes().is_empty());
        assert_eq!(t.key_policy_scopes().len(), 1);
        // Without the organization read (an older plan), nothing is org-wide.
        let old = OrgTargets { org_id: None, ..t };
        assert!(old.scopes().is_empty() && old.launch_permission_arns("aws").is_empty());
    }

    #[test]
    fn the_whole_organization_or_a_root_is_shared_as_the_organization() {
        let mut t = targets();
        t.whole_org = true;
        t.ous = vec!["r-ab12".into()];
        t.ou_paths = [("r-ab12".to_string(), "o-a1b2c3d4e5/r-ab12/".to_string())].into();
        assert_eq!(
            t.launch_permission_arns("aws"),
            ["arn:aws:organizations::111122223333:organization/o-a1b2c3d4e5"]
        );
        assert_eq!(
            t.scopes()[0],
            OrgScope::Organization {
                org_id: "o-a1b2c3d4e5".into()
            }
        );
    }

    #[test]
    fn member_paths_append_the_ous_walked_below_the_requested_one() {
        let listed = [
            OrgAccount {
                id: "000000000001".into(),
                state: None,
                chain: vec!["ou-a".into(), "ou-b".into()],
            },
            OrgAccount {
                id: "000000000002".into(),
                state: None,
                chain: vec![],
            },
        ];
        let paths = [("ou-a".to_string(), "o-x/r-x/ou-a/".to_string())].into();
        let got = member_paths(
            &[
                "000000000001".into(),
                "000000000002".into(),
                "000000000003".into(),
            ],
            &["000000000003".into()],
            &listed,
            &paths,
        );
        assert_eq!(got["000000000001"], "o-x/r-x/ou-a/ou-b/");
        assert_eq!(got["000000000002"], "");
        assert!(!got.contains_key("000000000003"));
    }
}
