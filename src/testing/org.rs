//! An organization in memory for the [`OrgReader`] port: roots, OUs, accounts, and the SCPs and
//! RCPs attached to each, with a count of calls per API (to check that discovery reads each
//! level once) and levels whose policies cannot be listed (access denied). Its management account
//! is `999999999999` unless [`FakeOrg::managed_by`] says otherwise; [`FakeOrg::not_in_use`] is an
//! account in no organization. ListParents of an account or OU it does not hold answers
//! `ChildNotFoundException`, as AWS does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::workflow::guardrail_facts::{OrgPolicyKind, PolicySummary};
use crate::workflow::org_targets::{OrgAccount, OrgInfo, OrgReader};
use crate::workflow::ports::AwsError;

/// How many calls of each kind the fake answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgCalls {
    pub list_parents: usize,
    pub list_policies: usize,
    pub describe_policy: usize,
    pub describe_organization: usize,
}

/// `FullAWSAccess` (SCP), attached everywhere by default.
pub const FULL_AWS_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

#[derive(Debug, Default)]
struct Inner {
    parents: BTreeMap<String, String>,
    accounts: Vec<String>,
    attached: BTreeMap<(String, OrgPolicyKind), Vec<PolicySummary>>,
    contents: BTreeMap<String, String>,
    denied: BTreeSet<String>,
    deny_all: bool,
    /// `None`: the default `999999999999`.
    management: Option<String>,
    not_in_use: bool,
    calls: OrgCalls,
}

/// The fake organization (cheap to clone; clones share state).
#[derive(Debug, Clone)]
pub struct FakeOrg {
    root: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeOrg {
    pub fn new(root: &str) -> Self {
        Self {
            root: root.to_string(),
            inner: Arc::default(),
        }
    }

    /// The organization's management account is `account`.
    pub fn managed_by(self, account: &str) -> Self {
        self.inner.lock().unwrap().management = Some(account.to_string());
        self
    }

    /// An account in no organization: DescribeOrganization answers
    /// `AWSOrganizationsNotInUseException`.
    pub fn not_in_use() -> Self {
        let o = Self::new("r-none");
        o.inner.lock().unwrap().not_in_use = true;
        o
    }

    pub fn ou(&mut self, id: &str, parent: &str) {
        let mut i = self.inner.lock().unwrap();
        i.parents.insert(id.to_string(), parent.to_string());
    }

    /// An account under `parent`, with `FullAWSAccess` attached (as AWS does by default).
    pub fn account(&mut self, id: &str, parent: &str) {
        {
            let mut i = self.inner.lock().unwrap();
            i.parents.insert(id.to_string(), parent.to_string());
            i.accounts.push(id.to_string());
        }
        self.attach_full_access(&[id]);
    }

    pub fn attach_full_access(&mut self, targets: &[&str]) {
        for t in targets {
            self.attach(
                t,
                "p-FullAWSAccess",
                "FullAWSAccess",
                FULL_AWS_ACCESS,
                OrgPolicyKind::ServiceControlPolicy,
            );
        }
    }

    pub fn attach(
        &mut self,
        target: &str,
        id: &str,
        name: &str,
        content: &str,
        kind: OrgPolicyKind,
    ) {
        let mut i = self.inner.lock().unwrap();
        i.attached
            .entry((target.to_string(), kind))
            .or_default()
            .push(PolicySummary {
                id: id.to_string(),
                name: name.to_string(),
            });
        i.contents.insert(id.to_string(), content.to_string());
    }

    /// ListPoliciesForTarget on `target` answers AccessDenied.
    pub fn deny_listing(&mut self, target: &str) {
        self.inner.lock().unwrap().denied.insert(target.to_string());
    }

    /// ListPoliciesForTarget answers AccessDenied on every target (a member that is no
    /// delegated administrator).
    pub fn deny_all_listing(&mut self) {
        self.inner.lock().unwrap().deny_all = true;
    }

    pub fn calls(&self) -> OrgCalls {
        self.inner.lock().unwrap().calls
    }
}

fn denied(operation: &'static str, what: &str) -> AwsError {
    AwsError {
        service: "organizations",
        operation,
        code: Some("AccessDeniedException".into()),
        message: format!("You don't have permissions to access {what}"),
        request_id: None,
        http_status: Some(400),
    }
}

impl OrgReader for FakeOrg {
    async fn child_ous(&self, parent: &str) -> Result<Vec<String>, AwsError> {
        let i = self.inner.lock().unwrap();
        Ok(i.parents
            .iter()
            .filter(|(c, p)| *p == parent && c.starts_with("ou-"))
            .map(|(c, _)| c.clone())
            .collect())
    }

    async fn accounts_for_parent(&self, parent: &str) -> Result<Vec<OrgAccount>, AwsError> {
        let i = self.inner.lock().unwrap();
        Ok(i.accounts
            .iter()
            .filter(|a| i.parents.get(*a).map(String::as_str) == Some(parent))
            .map(|a| OrgAccount {
                id: a.clone(),
                state: Some("ACTIVE".into()),
                chain: Vec::new(),
            })
            .collect())
    }

    async fn all_accounts(&self) -> Result<Vec<OrgAccount>, AwsError> {
        let i = self.inner.lock().unwrap();
        Ok(i.accounts
            .iter()
            .map(|a| OrgAccount {
                id: a.clone(),
                state: Some("ACTIVE".into()),
                chain: Vec::new(),
            })
            .collect())
    }

    async fn organization(&self) -> Result<OrgInfo, AwsError> {
        let mut i = self.inner.lock().unwrap();
        i.calls.describe_organization += 1;
        if i.not_in_use {
            return Err(AwsError {
                service: "organizations",
                operation: "DescribeOrganization",
                code: Some("AWSOrganizationsNotInUseException".into()),
                message: "Your account is not a member of an organization.".into(),
                request_id: None,
                http_status: Some(400),
            });
        }
        Ok(OrgInfo {
            id: "o-fake123456".into(),
            management_account: i
                .management
                .clone()
                .unwrap_or_else(|| "999999999999".into()),
        })
    }

    async fn parent_of(&self, child: &str) -> Result<Option<String>, AwsError> {
        let mut i = self.inner.lock().unwrap();
        i.calls.list_parents += 1;
        if child == self.root {
            return Ok(None);
        }
        match i.parents.get(child) {
            Some(p) => Ok(Some(p.clone())),
            None => Err(AwsError {
                service: "organizations",
                operation: "ListParents",
                code: Some("ChildNotFoundException".into()),
                message: format!("We can't find {child} in the organization."),
                request_id: None,
                http_status: Some(400),
            }),
        }
    }

    async fn policies_for_target(
        &self,
        target: &str,
        kind: OrgPolicyKind,
    ) -> Result<Vec<PolicySummary>, AwsError> {
        let mut i = self.inner.lock().unwrap();
        i.calls.list_policies += 1;
        if i.deny_all || i.denied.contains(target) {
            return Err(denied("ListPoliciesForTarget", target));
        }
        Ok(i.attached
            .get(&(target.to_string(), kind))
            .cloned()
            .unwrap_or_default())
    }

    async fn policy_content(&self, policy_id: &str) -> Result<String, AwsError> {
        let mut i = self.inner.lock().unwrap();
        i.calls.describe_policy += 1;
        i.contents
            .get(policy_id)
            .cloned()
            .ok_or_else(|| denied("DescribePolicy", policy_id))
    }
}
