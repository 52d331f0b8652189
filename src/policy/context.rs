//! The request context of one KMS request: condition keys and values, and the encryption context.

use super::matching::{Caller, CallerKind};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// `aws:SourceIp` of EC2's on-behalf calls: an address of EC2's infrastructure, never the
/// user's (RFC 6598 shared space, so that no user allow-list contains it by accident).
pub const EC2_INFRASTRUCTURE_IP: &str = "100.64.0.1";

/// Condition keys and their values for one request. Keys are stored lowercased (condition keys
/// are case-insensitive); every value is a string (`Bool` values are `"true"`/`"false"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    keys: BTreeMap<String, Vec<String>>,
    /// The keys set as multivalued (lowercased): they cannot be policy variables, even with a
    /// single value ("Single-valued vs. multivalued context keys").
    multi: BTreeSet<String>,
    /// The request's encryption context. `None` as a value means "some id we cannot know"
    /// (e.g. the volume id of a launch that has not happened), which satisfies any grant constraint.
    pub encryption_context: BTreeMap<String, Option<String>>,
    /// True when an AWS service makes the request on the caller's behalf.
    pub on_behalf: bool,
}

impl RequestContext {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set a single-valued key (replaces).
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        let key = key.to_ascii_lowercase();
        self.multi.remove(&key);
        self.keys.insert(key, vec![value.into()]);
        self
    }

    /// Set a multi-valued key (replaces).
    pub fn set_multi(&mut self, key: &str, values: Vec<String>) -> &mut Self {
        let key = key.to_ascii_lowercase();
        self.multi.insert(key.clone());
        self.keys.insert(key, values);
        self
    }

    /// Remove a key.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        let key = key.to_ascii_lowercase();
        self.multi.remove(&key);
        self.keys.remove(&key);
        self
    }

    /// Whether the key was set as multivalued (any case).
    pub fn is_multi_valued(&self, key: &str) -> bool {
        self.multi.contains(&key.to_ascii_lowercase())
    }

    /// The values of a key (`key` must be lowercase); `None` when absent.
    pub fn get_lc(&self, key_lc: &str) -> Option<&[String]> {
        self.keys.get(key_lc).map(Vec::as_slice)
    }

    /// The values of a key, any case.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.get_lc(&key.to_ascii_lowercase())
    }

    /// All keys and values, for display.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.keys.iter()
    }

    /// The principal keys every request carries: aws:PrincipalArn/Account/OrgID/OrgPaths/Tag/Type,
    /// kms:CallerAccount.
    pub fn with_principal(caller: &Caller, caller_ctx: &CallerContext) -> Self {
        let mut ctx = Self::new();
        ctx.set("aws:PrincipalArn", caller.principal_arn.clone())
            .set("aws:PrincipalAccount", caller.account.clone())
            .set("kms:CallerAccount", caller.account.clone())
            .set("aws:PrincipalIsAWSService", "false")
            .set("aws:SecureTransport", "true")
            .set(
                "aws:PrincipalType",
                match caller.kind {
                    CallerKind::Account => "Account",
                    CallerKind::User => "User",
                    CallerKind::Role | CallerKind::AssumedRole => "AssumedRole",
                    CallerKind::FederatedUser => "FederatedUser",
                },
            );
        if caller.kind == CallerKind::User {
            if let Some(p) = crate::domain::arn::Principal::parse(&caller.arn) {
                ctx.set("aws:username", p.name);
            }
        }
        if let Some(org) = &caller_ctx.org_id {
            ctx.set("aws:PrincipalOrgID", org.clone());
        }
        if !caller_ctx.org_paths.is_empty() {
            ctx.set_multi("aws:PrincipalOrgPaths", caller_ctx.org_paths.clone());
        }
        for (k, v) in &caller_ctx.principal_tags {
            ctx.set(&format!("aws:PrincipalTag/{k}"), v.clone());
        }
        if !caller_ctx.principal_tags.is_empty() {
            ctx.set_multi(
                "aws:PrincipalTagKeys",
                caller_ctx.principal_tags.keys().cloned().collect(),
            );
        }
        if let Some(now) = &caller_ctx.now {
            ctx.set(
                "aws:CurrentTime",
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            );
            ctx.set("aws:EpochTime", now.timestamp().to_string());
        }
        ctx
    }

    /// A request EC2 makes to KMS on the caller's behalf (docs/DOMAIN.md, "What EC2 does with a key").
    pub fn on_behalf_of(
        caller: &Caller,
        caller_ctx: &CallerContext,
        action: &str,
        key_region: &str,
        ebs_id: &str,
    ) -> Self {
        let mut ctx = Self::with_principal(caller, caller_ctx);
        ctx.on_behalf = true;
        ctx.set("kms:ViaService", format!("ec2.{key_region}.amazonaws.com"))
            .set("aws:ViaAWSService", "true")
            .set_multi("aws:CalledVia", vec!["ec2.amazonaws.com".to_string()])
            .set("aws:SourceIp", EC2_INFRASTRUCTURE_IP)
            .set("aws:RequestedRegion", key_region.to_string());
        if takes_encryption_context(action) {
            ctx.set("kms:EncryptionContext:aws:ebs:id", ebs_id.to_string())
                .set_multi("kms:EncryptionContextKeys", vec!["aws:ebs:id".to_string()]);
            ctx.encryption_context
                .insert("aws:ebs:id".to_string(), None);
        }
        if is_grant_action(action) {
            ctx.set("kms:GrantIsForAWSResource", "true");
        }
        if action.eq_ignore_ascii_case("kms:CreateGrant") {
            ctx.set_multi(
                "kms:GrantOperations",
                [
                    "Decrypt",
                    "Encrypt",
                    "GenerateDataKeyWithoutPlaintext",
                    "ReEncryptFrom",
                    "ReEncryptTo",
                    "CreateGrant",
                    "RetireGrant",
                    "DescribeKey",
                ]
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            );
        }
        ctx
    }

    /// A request the caller makes itself (e.g. CreateGrant for Auto Scaling, PutKeyPolicy):
    /// no kms:ViaService, `aws:ViaAWSService` false, the caller's own source IP if known.
    pub fn direct(
        caller: &Caller,
        caller_ctx: &CallerContext,
        action: &str,
        key_region: &str,
    ) -> Self {
        let mut ctx = Self::with_principal(caller, caller_ctx);
        ctx.set("aws:ViaAWSService", "false")
            .set("aws:RequestedRegion", key_region.to_string());
        if let Some(ip) = caller_ctx.source_ip {
            ctx.set("aws:SourceIp", ip.to_string());
        }
        if is_grant_action(action) {
            ctx.set("kms:GrantIsForAWSResource", "false");
        }
        ctx
    }
}

impl RequestContext {
    /// The `aws:ec2-infrastructure` role of the caller's account, and its request: it decrypts
    /// the snapshot under the grant EC2 created, from EC2's infrastructure, and is not a call
    /// "via an AWS service" (`aws:ViaAWSService` false: AWS's data-perimeter guidance exempts
    /// it by `aws:PrincipalArn` `arn:aws:iam::*:role/aws:ec2-infrastructure`). The caller
    /// account's SCPs and the key owner's RCPs apply to it.
    pub fn ec2_infrastructure(
        caller: &Caller,
        caller_ctx: &CallerContext,
        key_region: &str,
        ebs_id: &str,
    ) -> Option<(Caller, Self)> {
        let infra = Caller::parse(&format!(
            "arn:{}:iam::{}:role/{EC2_INFRASTRUCTURE_ROLE}",
            caller.partition, caller.account
        ))
        .ok()?;
        let account_ctx = CallerContext {
            org_id: caller_ctx.org_id.clone(),
            org_paths: caller_ctx.org_paths.clone(),
            now: caller_ctx.now,
            ..CallerContext::default()
        };
        let mut ctx = Self::with_principal(&infra, &account_ctx);
        ctx.set("aws:ViaAWSService", "false")
            .set("aws:SourceIp", EC2_INFRASTRUCTURE_IP)
            .set("aws:RequestedRegion", key_region.to_string())
            .set("kms:EncryptionContext:aws:ebs:id", ebs_id.to_string())
            .set_multi("kms:EncryptionContextKeys", vec!["aws:ebs:id".to_string()]);
        ctx.encryption_context
            .insert("aws:ebs:id".to_string(), None);
        Some((infra, ctx))
    }
}

/// The role EC2 decrypts with at attach time (`aws:ec2-infrastructure`).
pub const EC2_INFRASTRUCTURE_ROLE: &str = "aws:ec2-infrastructure";

/// Cryptographic operations that take an encryption context (Encrypt, Decrypt, ReEncrypt*,
/// GenerateDataKey*).
pub fn takes_encryption_context(action: &str) -> bool {
    let a = action.to_ascii_lowercase();
    [
        "kms:encrypt",
        "kms:decrypt",
        "kms:reencrypt",
        "kms:generatedatakey",
    ]
    .iter()
    .any(|p| a.starts_with(p))
}

/// CreateGrant, ListGrants and RevokeGrant carry `kms:GrantIsForAWSResource`.
pub fn is_grant_action(action: &str) -> bool {
    ["kms:creategrant", "kms:listgrants", "kms:revokegrant"]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(action))
}

/// What the user knows about the caller's side of the request (`explain`'s flags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallerContext {
    /// Where the launch or copy happens; default: the key's region.
    pub region: Option<String>,
    /// The caller's own IP: applies to direct calls only, never to EC2's on-behalf calls.
    pub source_ip: Option<IpAddr>,
    pub org_id: Option<String>,
    pub org_paths: Vec<String>,
    pub principal_tags: BTreeMap<String, String>,
    /// The time of the request, for `aws:CurrentTime`/`aws:EpochTime` (absent when `None`).
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// The layers beyond key policy, identity policies and grants: the caller account's SCPs,
    /// the key owner's RCPs, the caller's permissions boundary and session policies.
    pub guardrails: super::layers::Guardrails,
}
