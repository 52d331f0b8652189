//! Organizations reads for `--to-ou` / `--to-org`: ListChildren (child OUs), ListAccountsForParent
//! and ListAccounts, every page; DescribeOrganization (the id and management account, for the
//! OrganizationArn / OrganizationalUnitArn launch permissions and `aws:PrincipalOrgID`) and
//! ListParents (an OU's or account's path up to the root, for `aws:PrincipalOrgPaths` and the
//! guardrails); ListPoliciesForTarget and DescribePolicy (the SCPs and RCPs at each level). Made with the management or a delegated administrator account's
//! credentials (Organizations API reference: these calls "can be called only from the
//! organization's management account or by a member account that is a delegated administrator").

use aws_sdk_organizations::types::{Account, ChildType, PolicyType};

use crate::aws::error::{aws_err, AwsError};
use crate::aws::session::AwsSession;
use crate::workflow::guardrail_facts::{OrgPolicyKind, PolicySummary};
use crate::workflow::org_targets::{OrgAccount, OrgInfo, OrgReader};

/// The Organizations client of one session (Organizations is a global service).
#[derive(Debug, Clone)]
pub struct SdkOrgReader {
    client: aws_sdk_organizations::Client,
}

impl SdkOrgReader {
    pub fn new(session: &AwsSession) -> Self {
        Self {
            client: session.organizations(),
        }
    }
}

/// The account's `State` (AWS's newer field), else its `Status` (retired in 2026).
fn org_account(a: &Account) -> Option<OrgAccount> {
    let state = a
        .state()
        .map(|s| s.as_str().to_string())
        .or_else(|| a.status().map(|s| s.as_str().to_string()));
    a.id().map(|id| OrgAccount {
        id: id.to_string(),
        state,
        chain: Vec::new(),
    })
}

impl OrgReader for SdkOrgReader {
    async fn child_ous(&self, parent: &str) -> Result<Vec<String>, AwsError> {
        let mut pages = self
            .client
            .list_children()
            .parent_id(parent)
            .child_type(ChildType::OrganizationalUnit)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("organizations", "ListChildren"))?;
            out.extend(
                page.children()
                    .iter()
                    .filter_map(|c| c.id().map(str::to_string)),
            );
        }
        Ok(out)
    }

    async fn accounts_for_parent(&self, parent: &str) -> Result<Vec<OrgAccount>, AwsError> {
        let mut pages = self
            .client
            .list_accounts_for_parent()
            .parent_id(parent)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("organizations", "ListAccountsForParent"))?;
            out.extend(page.accounts().iter().filter_map(org_account));
        }
        Ok(out)
    }

    async fn all_accounts(&self) -> Result<Vec<OrgAccount>, AwsError> {
        let mut pages = self.client.list_accounts().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("organizations", "ListAccounts"))?;
            out.extend(page.accounts().iter().filter_map(org_account));
        }
        Ok(out)
    }

    async fn organization(&self) -> Result<OrgInfo, AwsError> {
        let out = self
            .client
            .describe_organization()
            .send()
            .await
            .map_err(aws_err("organizations", "DescribeOrganization"))?;
        let org = out.organization();
        Ok(OrgInfo {
            id: org.and_then(|o| o.id()).unwrap_or_default().to_string(),
            management_account: org
                .and_then(|o| o.master_account_id())
                .unwrap_or_default()
                .to_string(),
        })
    }

    async fn parent_of(&self, child: &str) -> Result<Option<String>, AwsError> {
        let out = self
            .client
            .list_parents()
            .child_id(child)
            .send()
            .await
            .map_err(aws_err("organizations", "ListParents"))?;
        Ok(out
            .parents()
            .first()
            .and_then(|p| p.id())
            .map(str::to_string))
    }

    async fn policies_for_target(
        &self,
        target: &str,
        kind: OrgPolicyKind,
    ) -> Result<Vec<PolicySummary>, AwsError> {
        let filter = match kind {
            OrgPolicyKind::ServiceControlPolicy => PolicyType::ServiceControlPolicy,
            OrgPolicyKind::ResourceControlPolicy => PolicyType::ResourceControlPolicy,
        };
        let mut pages = self
            .client
            .list_policies_for_target()
            .target_id(target)
            .filter(filter)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("organizations", "ListPoliciesForTarget"))?;
            out.extend(page.policies().iter().filter_map(|p| {
                Some(PolicySummary {
                    id: p.id()?.to_string(),
                    name: p.name().unwrap_or_default().to_string(),
                })
            }));
        }
        Ok(out)
    }

    async fn policy_content(&self, policy_id: &str) -> Result<String, AwsError> {
        let out = self
            .client
            .describe_policy()
            .policy_id(policy_id)
            .send()
            .await
            .map_err(aws_err("organizations", "DescribePolicy"))?;
        out.policy()
            .and_then(|p| p.content())
            .map(str::to_string)
            .ok_or_else(|| {
                AwsError::new(
                    "organizations",
                    "DescribePolicy",
                    format!("policy {policy_id} has no content"),
                )
            })
    }
}
