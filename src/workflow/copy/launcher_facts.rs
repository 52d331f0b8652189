//! Discovery of what `--grant` launchers depend on in a target account (issue 11): per region the
//! EBS default key (GetEbsDefaultKmsKeyId) and the `--target-key`, each described, with its key
//! policy and grants when it is a customer managed key of the target account; per such key the
//! launchers' `KmsKeyUsagePolicy-<key id>`; a target managed policy IAM refuses to show (AccessDenied)
//! makes the identity's IAM unreadable rather than failing discovery. The launchers' identity policies are read with the
//! other `--grant` facts (`discover.rs`). Changes nothing.

use super::facts::{KeyFacts, RegionFacts, TargetFacts, TargetKeyFacts};
use super::CopyError;
use crate::domain::arn::policy_arn;
use crate::policy::template::KMS_KEY_USAGE_POLICY_NAME;
use crate::workflow::ports::{Reader, Seen};
use crate::workflow::ports_write::{ManagedPolicy, Writer};
use crate::workflow::world::Conn;

/// The name of the IAM policy that lets launchers use one target key:
/// `KmsKeyUsagePolicy-<key id>` (the source keys' policy keeps the plain name).
pub fn key_usage_policy_name(key_id: &str) -> String {
    format!("{KMS_KEY_USAGE_POLICY_NAME}-{key_id}")
}

/// Read the keys launchers use in one target region into `facts` (only called when the
/// account has `--grant` launchers).
pub async fn discover_region_keys<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    account: &str,
    target_key: Option<&str>,
    facts: &mut RegionFacts,
) {
    let default = match conn.reader.ebs_default_kms_key_id().await {
        Ok(k) => target_key_facts(&conn.reader, account, &k).await,
        Err(e) => TargetKeyFacts {
            key_ref: "(EBS default key)".into(),
            description: None,
            policy: None,
            grants: Vec::new(),
            error: Some(e.to_string()),
        },
    };
    if let Some(k) = target_key {
        facts.copy_key = Some(target_key_facts(&conn.reader, account, k).await);
    }
    facts.ebs_default_key = Some(default);
}

/// Copy mode without launchers: the key CopyImage will encrypt with, described (its state and
/// spec decide whether the copy can work), into `copy_key` (`--target-key`) or
/// `ebs_default_key`. The AWS managed `aws/ebs` (what GetEbsDefaultKmsKeyId answers when no
/// default key is set) is always enabled and symmetric: not described, no call. A failed
/// DescribeKey is kept as the key's error (CopyImage decides then).
pub async fn describe_copy_key<R: Reader>(reader: &R, explicit: bool, facts: &mut RegionFacts) {
    let Some(key_ref) = facts.target_key.clone() else {
        return;
    };
    if key_ref == "alias/aws/ebs" || key_ref.ends_with(":alias/aws/ebs") {
        return;
    }
    let mut key = TargetKeyFacts {
        key_ref: key_ref.clone(),
        description: None,
        policy: None,
        grants: Vec::new(),
        error: None,
    };
    match reader.describe_key(&key_ref).await {
        Ok(d) => key.description = Some(d),
        Err(e) => key.error = Some(e.to_string()),
    }
    if explicit {
        facts.copy_key = Some(key);
    } else {
        facts.ebs_default_key = Some(key);
    }
}

/// DescribeKey, and for a customer managed key of `account` its policy and grants.
async fn target_key_facts<R: Reader>(reader: &R, account: &str, key_ref: &str) -> TargetKeyFacts {
    let mut facts = TargetKeyFacts {
        key_ref: key_ref.to_string(),
        description: None,
        policy: None,
        grants: Vec::new(),
        error: None,
    };
    let description = match reader.describe_key(key_ref).await {
        Ok(d) => d,
        Err(e) => {
            facts.error = Some(e.to_string());
            return facts;
        }
    };
    if !description.is_aws_managed() && description.account == account {
        match reader.get_key_policy(&description.arn).await {
            Ok(Seen::Visible(p)) => facts.policy = Some(p),
            Ok(Seen::NotVisible(e)) | Err(e) => facts.error = Some(e.to_string()),
        }
        match reader.list_grants(&description.arn).await {
            Ok(Seen::Visible(g)) => facts.grants = g,
            Ok(Seen::NotVisible(e)) | Err(e) => {
                facts.error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    facts.description = Some(description);
    facts
}

/// The launchers' `KmsKeyUsagePolicy-<key id>` of every customer managed key of the account that
/// discovery found in `t.regions`.
pub async fn discover_key_usage_policies<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    partition: &str,
    t: &mut TargetFacts,
) -> Result<(), CopyError> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in &t.regions {
        for k in [&r.ebs_default_key, &r.copy_key].into_iter().flatten() {
            if let Some(d) = k.customer_managed() {
                if d.account == t.account && !keys.iter().any(|(a, _)| a == &d.arn) {
                    keys.push((d.arn.clone(), d.key_id.clone()));
                }
            }
        }
    }
    for (arn, id) in keys {
        let policy = policy_arn(partition, &t.account, &key_usage_policy_name(&id));
        match read_managed_policy(conn, &policy).await? {
            Seen::Visible(found) => {
                t.key_usage_policies.insert(arn, found);
            }
            Seen::NotVisible(_) => t.identity_policies = None,
        }
    }
    Ok(())
}

/// ListGrants of every source key whose policy discovery read (the source account's own keys):
/// an Auto Scaling role's existing grant makes creating one unnecessary. An unreadable list is
/// left empty (a grant is then planned; CreateGrant with the same name returns the same grant).
pub async fn discover_source_key_grants<R: Reader>(reader: &R, keys: &mut [KeyFacts]) {
    for k in keys.iter_mut().filter(|k| k.policy.is_some()) {
        if let Ok(Seen::Visible(g)) = reader.list_grants(&k.description.arn).await {
            k.grants = g;
        }
    }
}

/// The IAM policy that lets amishare's target identity create the Auto Scaling role's grants
/// on the source keys (`--share-only`).
pub const GRANT_CREATOR_POLICY_NAME: &str = "KmsKeyUsagePolicy-autoscaling-grants";

/// Read the target identity's [`GRANT_CREATOR_POLICY_NAME`] when an Auto Scaling role is
/// among the launchers of `t`.
pub async fn discover_grant_creator_policy<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    partition: &str,
    t: &mut TargetFacts,
) -> Result<(), CopyError> {
    if t.principals
        .iter()
        .any(|p| crate::domain::arn::is_autoscaling_service_role(&p.arn))
    {
        let arn = policy_arn(partition, &t.account, GRANT_CREATOR_POLICY_NAME);
        match read_managed_policy(conn, &arn).await? {
            Seen::Visible(found) => t.grant_creator_policy = found,
            Seen::NotVisible(_) => t.identity_policies = None,
        }
    }
    Ok(())
}

/// GetPolicy (and its default version) of a customer managed policy of the target account, as
/// amishare's target identity: `Visible(None)` when it does not exist, `NotVisible` when IAM
/// refuses the read (AccessDenied, as a role without IAM read rights gets on AWS). The callers
/// then drop the identity's policies (`TargetFacts::identity_policies = None`): amishare cannot
/// see all of its IAM, so the plan blocks the copier with the fix before any change, instead of
/// discovery failing or a policy being taken for absent.
pub async fn read_managed_policy<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    arn: &str,
) -> Result<Seen<Option<ManagedPolicy>>, CopyError> {
    Ok(Seen::from_result(
        conn.writer.get_managed_policy(arn).await,
    )?)
}
