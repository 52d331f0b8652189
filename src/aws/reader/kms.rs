//! KMS reads: key descriptions, key policies, grants and aliases.

use crate::domain::arn::Arn;
use serde_json::Value;

use super::{smithy_time, SdkReader};
use crate::aws::error::{aws_err, AwsError};
use crate::domain::states::{KeyManager, KeyState};
use crate::workflow::inventory::{AliasEntry, GrantInfo, KeyDescription};
use crate::workflow::ports::Seen;

async fn aliases_of(kms: &aws_sdk_kms::Client, key_id: &str) -> Result<Vec<String>, AwsError> {
    let mut pages = kms.list_aliases().key_id(key_id).into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws_err("kms", "ListAliases"))?;
        out.extend(
            page.aliases()
                .iter()
                .filter_map(|a| a.alias_name().map(str::to_string)),
        );
    }
    Ok(out)
}

pub(super) async fn describe_key(r: &SdkReader, key: &str) -> Result<KeyDescription, AwsError> {
    let out = r
        .kms
        .describe_key()
        .key_id(key)
        .send()
        .await
        .map_err(aws_err("kms", "DescribeKey"))?;
    let m = out
        .key_metadata()
        .ok_or_else(|| AwsError::new("kms", "DescribeKey", "the answer has no key metadata"))?;
    let arn = m.arn().unwrap_or_default().to_string();
    let parsed = Arn::parse(&arn);
    let region = parsed.map(|a| a.region).unwrap_or_default().to_string();
    let account = m
        .aws_account_id()
        .or(parsed.map(|a| a.account))
        .unwrap_or_default()
        .to_string();
    let aliases = if account == r.identity.account {
        aliases_of(&r.kms, m.key_id()).await.ok()
    } else {
        None
    };
    Ok(KeyDescription {
        arn,
        key_id: m.key_id().to_string(),
        account,
        region,
        key_manager: m.key_manager().map(|k| KeyManager::parse(k.as_str())),
        key_state: m.key_state().map(|k| KeyState::parse(k.as_str())),
        multi_region: m.multi_region(),
        description: m.description().map(str::to_string),
        origin: m.origin().map(|o| o.as_str().to_string()),
        key_spec: m.key_spec().map(|s| s.as_str().to_string()),
        aliases,
    })
}

pub(super) async fn get_key_policy(r: &SdkReader, key: &str) -> Result<Seen<String>, AwsError> {
    let policy = r
        .kms
        .get_key_policy()
        .key_id(key)
        .policy_name("default")
        .send()
        .await
        .map_err(aws_err("kms", "GetKeyPolicy"))
        .map(|o| o.policy().unwrap_or_default().to_string());
    Seen::from_result(policy)
}

/// A grant's constraints as the JSON text `kms list-grants` shows.
fn constraints_json(c: &aws_sdk_kms::types::GrantConstraints) -> String {
    let mut obj = serde_json::Map::new();
    if let Some(m) = c.encryption_context_subset() {
        obj.insert("EncryptionContextSubset".into(), serde_json::json!(m));
    }
    if let Some(m) = c.encryption_context_equals() {
        obj.insert("EncryptionContextEquals".into(), serde_json::json!(m));
    }
    Value::Object(obj).to_string()
}

fn grant_info(g: &aws_sdk_kms::types::GrantListEntry) -> GrantInfo {
    GrantInfo {
        grant_id: g.grant_id().map(str::to_string),
        name: g.name().map(str::to_string),
        grantee_principal: g.grantee_principal().map(str::to_string),
        retiring_principal: g.retiring_principal().map(str::to_string),
        issuing_account: g.issuing_account().map(str::to_string),
        operations: g
            .operations()
            .iter()
            .map(|o| o.as_str().to_string())
            .collect(),
        constraints: g.constraints().map(constraints_json),
        creation_date: smithy_time(g.creation_date()),
    }
}

pub(super) async fn list_grants(
    r: &SdkReader,
    key: &str,
) -> Result<Seen<Vec<GrantInfo>>, AwsError> {
    let mut pages = r.kms.list_grants().key_id(key).into_paginator().send();
    let mut out = Vec::new();
    while let Some(p) = pages.next().await {
        let p = match p.map_err(aws_err("kms", "ListGrants")) {
            Ok(p) => p,
            Err(e) => return Seen::from_result(Err(e)),
        };
        out.extend(p.grants().iter().map(grant_info));
    }
    Ok(Seen::Visible(out))
}

pub(super) async fn list_aliases(r: &SdkReader) -> Result<Seen<Vec<AliasEntry>>, AwsError> {
    let mut pages = r.kms.list_aliases().into_paginator().send();
    let mut out = Vec::new();
    while let Some(p) = pages.next().await {
        let p = match p.map_err(aws_err("kms", "ListAliases")) {
            Ok(p) => p,
            Err(e) => return Seen::from_result(Err(e)),
        };
        for a in p.aliases() {
            if let Some(name) = a.alias_name() {
                out.push(AliasEntry {
                    name: name.to_string(),
                    target_key_id: a.target_key_id().map(str::to_string),
                });
            }
        }
    }
    Ok(Seen::Visible(out))
}
