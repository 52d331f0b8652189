//! Without `--org-profile`: may the caller's own credentials (the source account's for `copy`,
//! the caller's for `diagnose`) read the organization's SCPs and RCPs? Decided with at most two
//! Organizations calls, however many target accounts there are (docs/DOMAIN.md "Guardrails"):
//!
//! 1. DescribeOrganization, which any account of an organization may call (Organizations API
//!    reference, "Reference: API operations by account",
//!    <https://docs.aws.amazon.com/organizations/latest/APIReference/action-reference.html>).
//!    Skipped when the organization is already known (`--to-ou` / `--to-org` described it with
//!    the same credentials). In no organization (`AWSOrganizationsNotInUseException`) or
//!    refused: nothing to read with these credentials.
//! 2. The organization's management account reads every policy.
//! 3. Any other member: one ListPoliciesForTarget on its own account, which only the management
//!    account or a delegated administrator for policy management may call (Organizations user
//!    guide, "Delegated administrator for AWS Organizations",
//!    <https://docs.aws.amazon.com/organizations/latest/userguide/orgs_delegate_policies.html>;
//!    API reference "ListPoliciesForTarget"). Answered: a delegated administrator, it reads;
//!    refused (or failed): the layers stay `unseen`.

use super::guardrail_facts::OrgPolicyKind;
use super::org_targets::{OrgInfo, OrgReader};

/// What the caller's own credentials may read of the organization's policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgPolicyAccess {
    /// Not in an organization, or DescribeOrganization failed: `reason` says which.
    NoOrganization { reason: String },
    /// The organization's management account: reads every level and policy.
    Management(OrgInfo),
    /// A member allowed to list policies: a delegated administrator for policy management.
    DelegatedAdministrator(OrgInfo),
    /// A member refused ListPoliciesForTarget (or the probe failed): `reason` is AWS's answer.
    Refused { org: OrgInfo, reason: String },
}

impl OrgPolicyAccess {
    /// These credentials read the SCPs and RCPs.
    pub fn reads(&self) -> bool {
        matches!(self, Self::Management(_) | Self::DelegatedAdministrator(_))
    }

    /// The organization, when known.
    pub fn organization(&self) -> Option<&OrgInfo> {
        match self {
            Self::NoOrganization { .. } => None,
            Self::Management(o)
            | Self::DelegatedAdministrator(o)
            | Self::Refused { org: o, .. } => Some(o),
        }
    }

    /// One line for `-v`: who `account` is to its organization, and whether it reads.
    pub fn describe(&self, account: &str) -> String {
        match self {
            Self::NoOrganization { reason } => format!(
                "organization policies: account {account} is in no organization it can describe ({reason}); SCPs and RCPs not read"
            ),
            Self::Management(o) => format!(
                "organization policies: account {account} is the management account of {}; reading SCPs and RCPs with its credentials",
                o.id
            ),
            Self::DelegatedAdministrator(o) => format!(
                "organization policies: account {account} is a delegated administrator of {}; reading SCPs and RCPs with its credentials",
                o.id
            ),
            Self::Refused { org, reason } => format!(
                "organization policies: account {account} (a member of {}) may not list them ({reason}); SCPs and RCPs not read, rerun with `--org-profile PROFILE`",
                org.id
            ),
        }
    }
}

/// Decide [`OrgPolicyAccess`] for `account`, whose credentials `org` uses; `known`: the
/// organization when the same credentials already described it (saves DescribeOrganization).
pub async fn org_policy_access<O: OrgReader>(
    org: &O,
    account: &str,
    known: Option<OrgInfo>,
) -> OrgPolicyAccess {
    let info = match known {
        Some(i) => i,
        None => match org.organization().await {
            Ok(i) => i,
            Err(e) => {
                return OrgPolicyAccess::NoOrganization {
                    reason: e.to_string(),
                }
            }
        },
    };
    if info.management_account == account {
        return OrgPolicyAccess::Management(info);
    }
    match org
        .policies_for_target(account, OrgPolicyKind::ServiceControlPolicy)
        .await
    {
        Ok(_) => OrgPolicyAccess::DelegatedAdministrator(info),
        Err(e) => OrgPolicyAccess::Refused {
            org: info,
            reason: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::org::FakeOrg;

    const MEMBER: &str = "111122223333";

    fn org(management: &str) -> FakeOrg {
        let mut o = FakeOrg::new("r-root").managed_by(management);
        o.ou("ou-prod", "r-root");
        o.account(MEMBER, "ou-prod");
        o.account(management, "r-root");
        o
    }

    #[tokio::test]
    async fn the_management_account_reads_after_one_call() {
        let o = org(MEMBER);
        let a = org_policy_access(&o, MEMBER, None).await;
        assert!(a.reads(), "{a:?}");
        assert!(matches!(a, OrgPolicyAccess::Management(_)));
        let calls = o.calls();
        assert_eq!((calls.describe_organization, calls.list_policies), (1, 0));
    }

    #[tokio::test]
    async fn a_delegated_administrator_reads_after_two_calls() {
        let o = org("999999999999");
        let a = org_policy_access(&o, MEMBER, None).await;
        assert!(
            matches!(a, OrgPolicyAccess::DelegatedAdministrator(_)),
            "{a:?}"
        );
        assert!(a.reads());
        let calls = o.calls();
        assert_eq!((calls.describe_organization, calls.list_policies), (1, 1));
    }

    #[tokio::test]
    async fn a_refused_member_reads_nothing_after_two_calls() {
        let mut o = org("999999999999");
        o.deny_all_listing();
        let a = org_policy_access(&o, MEMBER, None).await;
        let OrgPolicyAccess::Refused { org, reason } = &a else {
            panic!("{a:?}")
        };
        assert_eq!(org.management_account, "999999999999");
        assert!(reason.contains("AccessDenied"), "{reason}");
        assert!(!a.reads());
        assert!(a.describe(MEMBER).contains("--org-profile"));
        let calls = o.calls();
        assert_eq!((calls.describe_organization, calls.list_policies), (1, 1));
    }

    #[tokio::test]
    async fn outside_any_organization_nothing_but_describe() {
        let o = FakeOrg::not_in_use();
        let a = org_policy_access(&o, MEMBER, None).await;
        let OrgPolicyAccess::NoOrganization { reason } = &a else {
            panic!("{a:?}")
        };
        assert!(
            reason.contains("AWSOrganizationsNotInUseException"),
            "{reason}"
        );
        assert_eq!(a.organization(), None);
        let calls = o.calls();
        assert_eq!((calls.describe_organization, calls.list_policies), (1, 0));
    }

    #[tokio::test]
    async fn a_known_organization_is_not_described_again() {
        let o = org("999999999999");
        let known = OrgInfo {
            id: "o-fake123456".into(),
            management_account: MEMBER.into(),
        };
        let a = org_policy_access(&o, MEMBER, Some(known)).await;
        assert!(matches!(a, OrgPolicyAccess::Management(_)), "{a:?}");
        assert_eq!(o.calls().describe_organization, 0);
    }
}
