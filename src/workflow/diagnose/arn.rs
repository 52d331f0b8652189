//! The few ARN questions the diagnosis asks (partition, account, region, principal kind and
//! name, "same key?"), in the diagnosis's terms, on top of [`crate::domain::arn`] (the one place
//! that splits an ARN).

use crate::domain::arn::{Arn, Principal, DEFAULT_PARTITION};
use crate::workflow::inventory::PrincipalKind;

/// The partition of an ARN: `arn:aws-cn:iam::A:role/R` -> `aws-cn` (`None` for anything that is
/// not an ARN, e.g. a bare key id).
pub(super) fn arn_partition(arn: &str) -> Option<&str> {
    Arn::parse(arn)
        .map(|a| a.partition)
        .filter(|p| !p.is_empty())
}

/// The partition of the first of `arns` that is an ARN, else `aws` (the commercial partition).
pub(super) fn partition_of<'s>(arns: &[&'s str]) -> &'s str {
    arns.iter()
        .find_map(|a| arn_partition(a))
        .unwrap_or(DEFAULT_PARTITION)
}

/// `arn:aws:sts::A:assumed-role/R/S` -> account `A`; `arn:aws:iam::A:...` -> `A`.
pub(super) fn arn_account(arn: &str) -> Option<&str> {
    Arn::parse(arn).map(|a| a.account).filter(|a| !a.is_empty())
}

/// `arn:aws:kms:REGION:A:key/ID` -> `REGION` (`None` for a bare key id or alias name).
pub(super) fn arn_region(arn: &str) -> Option<&str> {
    Arn::parse(arn).map(|a| a.region).filter(|r| !r.is_empty())
}

/// Whether two references (ARNs or bare ids) name the same KMS key.
pub(super) fn same_key(a: &str, b: &str) -> bool {
    let tail = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    a == b
        || (a.contains("key/") && b.contains("key/") && tail(a) == tail(b))
        || (!a.contains(':') && b.ends_with(&format!("/{a}")))
        || (!b.contains(':') && a.ends_with(&format!("/{b}")))
}

/// The kind and name of an IAM principal ARN (a role session: its role's name; the account
/// itself, or anything else, is `Root` with the ARN's last part as its name).
pub(super) fn principal_name(principal: &str) -> (PrincipalKind, String) {
    match Principal::parse(principal) {
        Some(p) if p.kind != PrincipalKind::Root => (p.kind, p.name.to_string()),
        _ => {
            let resource = Arn::parse(principal).map_or("", |a| a.resource);
            let name = resource.rsplit('/').next().unwrap_or_default();
            (PrincipalKind::Root, name.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_comes_from_the_first_arn() {
        let cases: &[(&[&str], &str)] = &[
            (&["arn:aws:iam::1:user/a"], "aws"),
            (&["arn:aws-cn:iam::1:user/a"], "aws-cn"),
            (&["arn:aws-us-gov:sts::1:assumed-role/R/s"], "aws-us-gov"),
            (&["key-id", "arn:aws-cn:kms:cn-north-1:1:key/k"], "aws-cn"),
            (&["not-an-arn"], "aws"),
            (&[], "aws"),
        ];
        for (arns, want) in cases {
            assert_eq!(partition_of(arns), *want, "{arns:?}");
        }
    }

    #[test]
    fn account_region_and_key_identity() {
        let key = "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/abcd";
        assert_eq!(arn_account(key), Some("111122223333"));
        assert_eq!(arn_region(key), Some("us-gov-west-1"));
        assert_eq!(arn_region("abcd"), None);
        assert!(same_key(key, "abcd"));
        assert!(same_key("arn:aws:kms:eu-west-1:1:key/abcd", key));
        assert!(!same_key(key, "other"));
    }

    #[test]
    fn principal_kinds_and_names() {
        let cases = [
            (
                "arn:aws:iam::1:user/dev/alice",
                PrincipalKind::User,
                "alice",
            ),
            (
                "arn:aws-cn:iam::1:role/ops/Deployer",
                PrincipalKind::Role,
                "Deployer",
            ),
            (
                "arn:aws:sts::1:assumed-role/Admin/s",
                PrincipalKind::AssumedRole,
                "Admin",
            ),
            ("arn:aws:iam::1:group/G", PrincipalKind::Group, "G"),
            ("arn:aws:iam::1:root", PrincipalKind::Root, "root"),
        ];
        for (arn, kind, name) in cases {
            assert_eq!(principal_name(arn), (kind, name.to_string()), "{arn}");
        }
    }
}
