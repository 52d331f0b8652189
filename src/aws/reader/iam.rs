//! IAM reads: the identity policies of a user (its own and its groups'), role, assumed-role
//! session or group, as documents with their names and ARNs.

use crate::aws::error::{aws_err, AwsError};
use crate::domain::arn::Principal;
use crate::workflow::inventory::{
    IdentityPolicies, IdentityPolicyDoc, PolicySource, PrincipalKind,
};
use crate::workflow::ports::Seen;

/// `%7B%22Version...` -> `{"Version...`: IAM returns policy documents URL-encoded.
pub fn decode_policy_document(doc: &str) -> String {
    let trimmed = doc.trim_start();
    if trimmed.starts_with('{') || !trimmed.contains('%') {
        return doc.to_string();
    }
    let bytes = doc.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A principal ARN split into what IAM calls need.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParsedPrincipal {
    kind: PrincipalKind,
    /// User/role/group name without path (IAM APIs take the bare name).
    name: Option<String>,
}

fn parse_principal(arn: &str) -> Option<ParsedPrincipal> {
    let p = Principal::parse(arn)?;
    Some(ParsedPrincipal {
        kind: p.kind,
        name: (p.kind != PrincipalKind::Root).then(|| p.name.to_string()),
    })
}

async fn managed_policy(
    iam: &aws_sdk_iam::Client,
    source: PolicySource,
    name: &str,
    arn: &str,
    group: Option<&str>,
) -> Result<IdentityPolicyDoc, AwsError> {
    let pol = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(aws_err("iam", "GetPolicy"))?;
    let version = pol
        .policy()
        .and_then(|p| p.default_version_id())
        .ok_or_else(|| {
            AwsError::new(
                "iam",
                "GetPolicy",
                format!("policy `{arn}` has no default version"),
            )
        })?
        .to_string();
    let v = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&version)
        .send()
        .await
        .map_err(aws_err("iam", "GetPolicyVersion"))?;
    let doc = v
        .policy_version()
        .and_then(|p| p.document())
        .unwrap_or_default();
    Ok(IdentityPolicyDoc {
        source,
        name: name.to_string(),
        arn: Some(arn.to_string()),
        version_id: Some(version),
        group: group.map(str::to_string),
        document: decode_policy_document(doc),
    })
}

/// Attached managed policies of a user, role or group: (name, arn).
async fn attached(
    iam: &aws_sdk_iam::Client,
    kind: PrincipalKind,
    name: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    let mut out = Vec::new();
    let mut push = |ps: &[aws_sdk_iam::types::AttachedPolicy]| {
        for p in ps {
            if let Some(arn) = p.policy_arn() {
                out.push((p.policy_name().unwrap_or(arn).to_string(), arn.to_string()));
            }
        }
    };
    match kind {
        PrincipalKind::User => {
            let mut pages = iam
                .list_attached_user_policies()
                .user_name(name)
                .into_paginator()
                .send();
            while let Some(p) = pages.next().await {
                push(
                    p.map_err(aws_err("iam", "ListAttachedUserPolicies"))?
                        .attached_policies(),
                );
            }
        }
        PrincipalKind::Role | PrincipalKind::AssumedRole => {
            let mut pages = iam
                .list_attached_role_policies()
                .role_name(name)
                .into_paginator()
                .send();
            while let Some(p) = pages.next().await {
                push(
                    p.map_err(aws_err("iam", "ListAttachedRolePolicies"))?
                        .attached_policies(),
                );
            }
        }
        PrincipalKind::Group => {
            let mut pages = iam
                .list_attached_group_policies()
                .group_name(name)
                .into_paginator()
                .send();
            while let Some(p) = pages.next().await {
                push(
                    p.map_err(aws_err("iam", "ListAttachedGroupPolicies"))?
                        .attached_policies(),
                );
            }
        }
        PrincipalKind::Root => {}
    }
    Ok(out)
}

/// Inline policies of a user, role or group: (name, document).
async fn inline(
    iam: &aws_sdk_iam::Client,
    kind: PrincipalKind,
    name: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    let mut names: Vec<String> = Vec::new();
    match kind {
        PrincipalKind::User => {
            let mut pages = iam
                .list_user_policies()
                .user_name(name)
                .into_paginator()
                .send();
            while let Some(p) = pages.next().await {
                names.extend_from_slice(
                    p.map_err(aws_err("iam", "ListUserPolicies"))?
                        .policy_names(),
                );
            }
        }
        PrincipalKind::Role | PrincipalKind::AssumedRole => {
            let mut pages = iam
                .list_role_policies()
                .role_name(name)
                .into_paginator()
                .send();
            while let Some(p) = pages.next().await {
                names.extend_from_slice(
                    p.map_err(aws_err("iam", "ListRolePolicies"))?
                        .policy_names(),
                );
            }
        }
        PrincipalKind::Group => {
            let mut pages = iam
                .list_group_policies()
                .group_name(name)
                .into_paginator()
                .send();
            while let Some(p) = pages.next().await {
                names.extend_from_slice(
                    p.map_err(aws_err("iam", "ListGroupPolicies"))?
                        .policy_names(),
                );
            }
        }
        PrincipalKind::Root => {}
    }
    let mut out = Vec::new();
    for pname in names {
        let doc = match kind {
            PrincipalKind::User => iam
                .get_user_policy()
                .user_name(name)
                .policy_name(&pname)
                .send()
                .await
                .map_err(aws_err("iam", "GetUserPolicy"))?
                .policy_document
                .clone(),
            PrincipalKind::Role | PrincipalKind::AssumedRole => iam
                .get_role_policy()
                .role_name(name)
                .policy_name(&pname)
                .send()
                .await
                .map_err(aws_err("iam", "GetRolePolicy"))?
                .policy_document
                .clone(),
            PrincipalKind::Group => iam
                .get_group_policy()
                .group_name(name)
                .policy_name(&pname)
                .send()
                .await
                .map_err(aws_err("iam", "GetGroupPolicy"))?
                .policy_document
                .clone(),
            PrincipalKind::Root => String::new(),
        };
        out.push((pname, decode_policy_document(&doc)));
    }
    Ok(out)
}

async fn own_policies(
    iam: &aws_sdk_iam::Client,
    kind: PrincipalKind,
    name: &str,
    group: Option<&str>,
) -> Result<Vec<IdentityPolicyDoc>, AwsError> {
    let (attached_src, inline_src) = if group.is_some() {
        (PolicySource::GroupAttached, PolicySource::GroupInline)
    } else {
        (PolicySource::Attached, PolicySource::Inline)
    };
    let mut docs = Vec::new();
    for (pname, arn) in attached(iam, kind, name).await? {
        docs.push(managed_policy(iam, attached_src, &pname, &arn, group).await?);
    }
    for (pname, document) in inline(iam, kind, name).await? {
        docs.push(IdentityPolicyDoc {
            source: inline_src,
            name: pname,
            arn: None,
            version_id: None,
            group: group.map(str::to_string),
            document,
        });
    }
    Ok(docs)
}

async fn identity_policies(
    iam: &aws_sdk_iam::Client,
    principal_arn: &str,
) -> Result<IdentityPolicies, AwsError> {
    let parsed = parse_principal(principal_arn).ok_or_else(|| AwsError {
        code: Some("InvalidPrincipal".to_string()),
        ..AwsError::new(
            "iam",
            "ListAttachedPolicies",
            format!("`{principal_arn}` is not a user, role, assumed-role, group or root ARN"),
        )
    })?;
    let mut result = IdentityPolicies {
        principal_arn: principal_arn.to_string(),
        kind: parsed.kind,
        name: parsed.name.clone(),
        groups: Vec::new(),
        policies: Vec::new(),
    };
    let Some(name) = parsed.name else {
        return Ok(result);
    };
    result.policies = own_policies(iam, parsed.kind, &name, None).await?;
    if parsed.kind == PrincipalKind::User {
        let mut pages = iam
            .list_groups_for_user()
            .user_name(&name)
            .into_paginator()
            .send();
        while let Some(p) = pages.next().await {
            let p = p.map_err(aws_err("iam", "ListGroupsForUser"))?;
            result
                .groups
                .extend(p.groups().iter().map(|g| g.group_name().to_string()));
        }
        for g in result.groups.clone() {
            let docs = own_policies(iam, PrincipalKind::Group, &g, Some(&g)).await?;
            result.policies.extend(docs);
        }
    }
    Ok(result)
}

pub(super) async fn principal_policies(
    iam: &aws_sdk_iam::Client,
    principal_arn: &str,
) -> Result<Seen<IdentityPolicies>, AwsError> {
    Seen::from_result(identity_policies(iam, principal_arn).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_url_encoded_policy() {
        assert_eq!(
            decode_policy_document("%7B%22Version%22%3A%222012-10-17%22%7D"),
            r#"{"Version":"2012-10-17"}"#
        );
        assert_eq!(decode_policy_document(r#"{"a":"50%"}"#), r#"{"a":"50%"}"#);
    }

    #[test]
    fn parses_principals() {
        let p = |a| parse_principal(a).map(|p| (p.kind, p.name));
        assert_eq!(
            p("arn:aws:iam::1:user/dev/alice"),
            Some((PrincipalKind::User, Some("alice".into())))
        );
        assert_eq!(
            p("arn:aws:sts::1:assumed-role/Admin/sess"),
            Some((PrincipalKind::AssumedRole, Some("Admin".into())))
        );
        assert_eq!(
            p("arn:aws:iam::1:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"),
            Some((PrincipalKind::Role, Some("AWSServiceRoleForAutoScaling".into())))
        );
        assert_eq!(p("arn:aws:iam::1:root"), Some((PrincipalKind::Root, None)));
        assert_eq!(p("alice"), None);
    }
}
