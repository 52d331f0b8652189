//! The policy documents amishare writes, built from the templates in `policies/` (embedded with
//! `include_str!`, so the binary carries them):
//!
//! - the key-policy statements "Allow use of the key" and "Allow attachment of persistent
//!   resources" that name the accounts and principals allowed to use a source key (seed 004);
//! - the target account's IAM policy `KmsKeyUsagePolicy`, scoped to the source key ARNs.
//!
//! Every input is validated: key-policy principals must be account ids or IAM root, user or role
//! ARNs (IAM groups cannot be principals), key ARNs must be KMS key ARNs (not aliases).
//!
//! `KmsKeyUsagePolicy` deliberately carries no `kms:ViaService` condition: amishare itself (and
//! users checking access) call `kms:DescribeKey` on the source key directly from the target account,
//! which `ViaService` would deny, and AWS's documented policy (seed 004) has none. Grant creation is
//! confined to AWS services by `kms:GrantIsForAWSResource`, and every statement is scoped to the
//! given key ARNs.

use serde_json::Value;

use crate::domain::arn::Arn;

pub(crate) use super::matching::is_account_id;

/// Sid of the key-policy statement that lets principals use the key for cryptographic operations.
pub const KEY_USE_SID: &str = "Allow use of the key";
/// Sid of the key-policy statement that lets AWS services create grants for the principals.
pub const KEY_ATTACHMENT_SID: &str = "Allow attachment of persistent resources";
/// Name of the IAM policy amishare creates in the target account.
pub const KMS_KEY_USAGE_POLICY_NAME: &str = "KmsKeyUsagePolicy";
/// Sid of `KmsKeyUsagePolicy`'s statement for the cryptographic operations (IAM Sids have no spaces).
pub const USAGE_POLICY_USE_SID: &str = "AllowUseOfTheKey";
/// Sid of `KmsKeyUsagePolicy`'s statement for grant management.
pub const USAGE_POLICY_ATTACHMENT_SID: &str = "AllowAttachmentOfPersistentResources";
/// Actions of the "Allow use of the key" statements.
pub const KEY_USE_ACTIONS: [&str; 5] = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
];
/// Actions of the "Allow attachment of persistent resources" statements.
pub const KEY_ATTACHMENT_ACTIONS: [&str; 3] =
    ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"];

const KEY_USE_TEMPLATE: (&str, &str) = (
    "policies/key-policy-allow-use-of-the-key.json",
    include_str!("../../../policies/key-policy-allow-use-of-the-key.json"),
);
const KEY_ATTACHMENT_TEMPLATE: (&str, &str) = (
    "policies/key-policy-allow-attachment-of-persistent-resources.json",
    include_str!("../../../policies/key-policy-allow-attachment-of-persistent-resources.json"),
);
const USAGE_POLICY_TEMPLATE: (&str, &str) = (
    "policies/kms-key-usage-policy.json",
    include_str!("../../../policies/kms-key-usage-policy.json"),
);

/// Why a template could not be filled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The principal is neither an account id nor an IAM root, user or role ARN.
    #[error("invalid principal `{principal}`: {reason}")]
    InvalidPrincipal {
        /// The value as given.
        principal: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An IAM group ARN was given as a key-policy principal.
    #[error("IAM group `{arn}` cannot be a principal in a key policy")]
    GroupPrincipal {
        /// The group ARN as given.
        arn: String,
        /// The group's account id.
        account: String,
    },
    /// The value is not a KMS key ARN.
    #[error("invalid KMS key ARN `{arn}`: {reason}")]
    InvalidKeyArn {
        /// The value as given.
        arn: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No principal was given.
    #[error("no principals given")]
    NoPrincipals,
    /// No key ARN was given.
    #[error("no KMS key ARNs given")]
    NoKeyArns,
    /// An embedded template does not have the expected shape (a build defect, covered by tests).
    #[error("embedded template `{name}` is broken: {reason}")]
    BrokenTemplate {
        /// Path of the template in the repository.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl TemplateError {
    /// Advice for the user, printed separately from the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            TemplateError::InvalidPrincipal { .. } => Some(
                "give a 12-digit account id or an IAM ARN such as `arn:aws:iam::444455556666:root`, \
                 `arn:aws:iam::444455556666:role/NAME` or `arn:aws:iam::444455556666:user/NAME`"
                    .to_string(),
            ),
            TemplateError::GroupPrincipal { account, .. } => Some(format!(
                "grant the group's account (`{account}`) in the key policy and attach \
                 `{KMS_KEY_USAGE_POLICY_NAME}` to the group in that account"
            )),
            TemplateError::InvalidKeyArn { .. } => Some(
                "give a key ARN such as `arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab` \
                 (resolve aliases with `aws kms describe-key`)"
                    .to_string(),
            ),
            TemplateError::NoPrincipals => {
                Some("name at least one target account or principal".to_string())
            }
            TemplateError::NoKeyArns => Some("name at least one source key ARN".to_string()),
            TemplateError::BrokenTemplate { .. } => None,
        }
    }
}

/// Validates a key-policy principal and returns the form amishare writes: a bare account id
/// becomes `arn:aws:iam::ID:root`; root, user and role ARNs are returned unchanged.
pub fn key_policy_principal(principal: &str) -> Result<String, TemplateError> {
    key_policy_principal_in(principal, "aws")
}

/// Like [`key_policy_principal`], writing a bare account id in the given partition
/// (`aws`, `aws-cn`, `aws-us-gov`, ...).
pub fn key_policy_principal_in(principal: &str, partition: &str) -> Result<String, TemplateError> {
    let invalid = |reason: &str| TemplateError::InvalidPrincipal {
        principal: principal.to_string(),
        reason: reason.to_string(),
    };
    if is_account_id(principal) {
        return Ok(format!("arn:{partition}:iam::{principal}:root"));
    }
    if principal.contains('*') || principal.contains('?') {
        return Err(invalid(
            "wildcards are not allowed in a principal amishare adds",
        ));
    }
    if !principal.starts_with("arn:") {
        return Err(invalid("expected a 12-digit account id or an ARN"));
    }
    let Some(Arn {
        partition: arn_partition,
        service,
        region,
        account,
        resource,
    }) = Arn::parse(principal)
    else {
        return Err(invalid(
            "an ARN has the form `arn:PARTITION:iam::ACCOUNT:RESOURCE`",
        ));
    };
    if !is_partition(arn_partition) {
        return Err(invalid(&format!("unknown partition `{arn_partition}`")));
    }
    if service == "sts" {
        return Err(invalid(
            "a role session is temporary; name the role (`arn:aws:iam::ACCOUNT:role/NAME`) instead",
        ));
    }
    if service != "iam" || !region.is_empty() {
        return Err(invalid(
            "only IAM principals (`arn:PARTITION:iam::ACCOUNT:...`) can be added",
        ));
    }
    if !is_account_id(account) {
        return Err(invalid("the account must be 12 digits"));
    }
    if resource == "root" {
        return Ok(principal.to_string());
    }
    let (kind, path_and_name) = resource.split_once('/').unwrap_or((resource, ""));
    match kind {
        "user" | "role" => {
            if is_iam_path_and_name(path_and_name) {
                Ok(principal.to_string())
            } else {
                Err(invalid(&format!(
                    "`{path_and_name}` is not a valid IAM {kind} path and name"
                )))
            }
        }
        "group" => Err(TemplateError::GroupPrincipal {
            arn: principal.to_string(),
            account: account.to_string(),
        }),
        _ => Err(invalid(
            "expected `root`, `user/NAME` or `role/NAME` after the account",
        )),
    }
}

/// Validates principals, normalises them with [`key_policy_principal_in`] and removes
/// duplicates (a bare account id and its root ARN are the same), keeping the first occurrence.
pub fn key_policy_principals_in(
    principals: &[String],
    partition: &str,
) -> Result<Vec<String>, TemplateError> {
    if principals.is_empty() {
        return Err(TemplateError::NoPrincipals);
    }
    let mut out: Vec<String> = Vec::with_capacity(principals.len());
    for p in principals {
        let normalised = key_policy_principal_in(p, partition)?;
        if !out.iter().any(|q| same_principal(q, &normalised)) {
            out.push(normalised);
        }
    }
    Ok(out)
}

/// Whether two AWS principal strings name the same principal: equal, or the same account given
/// as a bare account id and/or a root ARN.
pub fn same_principal(a: &str, b: &str) -> bool {
    a == b || matches!((root_account(a), root_account(b)), (Some(x), Some(y)) if x == y)
}

/// The account of a bare account id or an `arn:PARTITION:iam::ACCOUNT:root` ARN.
pub fn root_account(principal: &str) -> Option<&str> {
    if is_account_id(principal) {
        return Some(principal);
    }
    match Arn::parse(principal)? {
        Arn {
            service: "iam",
            region: "",
            account,
            resource: "root",
            ..
        } if is_account_id(account) => Some(account),
        _ => None,
    }
}

/// The key-policy statement "Allow use of the key" naming `principals`.
pub fn key_use_statement(principals: &[String]) -> Result<Value, TemplateError> {
    key_statement(
        KEY_USE_TEMPLATE,
        &key_policy_principals_in(principals, "aws")?,
    )
}

/// The key-policy statement "Allow attachment of persistent resources" naming `principals`.
pub fn key_attachment_statement(principals: &[String]) -> Result<Value, TemplateError> {
    key_statement(
        KEY_ATTACHMENT_TEMPLATE,
        &key_policy_principals_in(principals, "aws")?,
    )
}

/// The two key-policy statements, in that order, for principals already normalised by
/// [`key_policy_principals_in`].
pub(crate) fn key_statements_for(
    normalised: &[String],
) -> Result<[(&'static str, Value); 2], TemplateError> {
    Ok([
        (KEY_USE_SID, key_statement(KEY_USE_TEMPLATE, normalised)?),
        (
            KEY_ATTACHMENT_SID,
            key_statement(KEY_ATTACHMENT_TEMPLATE, normalised)?,
        ),
    ])
}

/// The target account's `KmsKeyUsagePolicy`, scoped to exactly `key_arns` (deduplicated and
/// sorted, so the same keys always give the same document).
pub fn kms_key_usage_policy(key_arns: &[String]) -> Result<Value, TemplateError> {
    if key_arns.is_empty() {
        return Err(TemplateError::NoKeyArns);
    }
    for arn in key_arns {
        validate_key_arn(arn)?;
    }
    let mut arns: Vec<String> = key_arns.to_vec();
    arns.sort();
    arns.dedup();
    let (name, _) = USAGE_POLICY_TEMPLATE;
    let mut policy = load(USAGE_POLICY_TEMPLATE)?;
    let statements = policy
        .get_mut("Statement")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| broken(name, "`Statement` is not an array"))?;
    if statements.len() != 2 {
        return Err(broken(name, "expected two statements"));
    }
    for statement in statements {
        let resource = statement
            .get_mut("Resource")
            .ok_or_else(|| broken(name, "a statement has no `Resource`"))?;
        *resource = Value::from(arns.clone());
    }
    Ok(policy)
}

/// The parts of a KMS key ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyArn<'a> {
    /// `aws`, `aws-cn`, ...
    pub partition: &'a str,
    /// The key's region.
    pub region: &'a str,
    /// The key's account.
    pub account: &'a str,
    /// The key id (a UUID or `mrk-` and 32 hex digits).
    pub key_id: &'a str,
}

/// Checks that `arn` is `arn:PARTITION:kms:REGION:ACCOUNT:key/ID` with a UUID or `mrk-` key id.
pub fn validate_key_arn(arn: &str) -> Result<KeyArn<'_>, TemplateError> {
    let invalid = |reason: &str| TemplateError::InvalidKeyArn {
        arn: arn.to_string(),
        reason: reason.to_string(),
    };
    let Some(Arn {
        partition,
        service,
        region,
        account,
        resource,
    }) = Arn::parse(arn)
    else {
        return Err(invalid(
            "expected `arn:PARTITION:kms:REGION:ACCOUNT:key/ID`",
        ));
    };
    if !is_partition(partition) {
        return Err(invalid(&format!("unknown partition `{partition}`")));
    }
    if service != "kms" {
        return Err(invalid("not a KMS ARN"));
    }
    if !is_region(region) {
        return Err(invalid(&format!("`{region}` is not a region")));
    }
    if !is_account_id(account) {
        return Err(invalid("the account must be 12 digits"));
    }
    if resource.starts_with("alias/") {
        return Err(invalid(
            "an alias ARN; give the key ARN the alias points to",
        ));
    }
    let Some(key_id) = resource.strip_prefix("key/") else {
        return Err(invalid("the resource must be `key/ID`"));
    };
    if !is_uuid(key_id) && !is_mrk_id(key_id) {
        return Err(invalid(&format!(
            "`{key_id}` is not a key id (a UUID or `mrk-` followed by 32 hex digits)"
        )));
    }
    Ok(KeyArn {
        partition,
        region,
        account,
        key_id,
    })
}

fn key_statement(
    template: (&'static str, &str),
    principals: &[String],
) -> Result<Value, TemplateError> {
    let (name, _) = template;
    let mut statement = load(template)?;
    let aws = statement
        .get_mut("Principal")
        .and_then(|p| p.get_mut("AWS"))
        .ok_or_else(|| broken(name, "no `Principal.AWS`"))?;
    *aws = Value::from(principals.to_vec());
    Ok(statement)
}

fn load((name, text): (&'static str, &str)) -> Result<Value, TemplateError> {
    serde_json::from_str(text).map_err(|e| broken(name, &e.to_string()))
}

fn broken(name: &'static str, reason: &str) -> TemplateError {
    TemplateError::BrokenTemplate {
        name,
        reason: reason.to_string(),
    }
}

pub(crate) fn is_partition(s: &str) -> bool {
    s == "aws"
        || (s.starts_with("aws-") && s[4..].bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
}

fn is_region(s: &str) -> bool {
    // e.g. us-east-1, us-gov-west-1, cn-north-1, us-isob-east-1
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn is_iam_path_and_name(s: &str) -> bool {
    // IAM names and path segments: alphanumerics and `+=,.@_-`.
    !s.is_empty()
        && s.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        })
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && is_hex(g))
}

fn is_mrk_id(s: &str) -> bool {
    s.strip_prefix("mrk-")
        .is_some_and(|h| h.len() == 32 && is_hex(h))
}

#[cfg(test)]
mod tests;
