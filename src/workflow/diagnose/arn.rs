//! The few ARN questions the diagnosis asks (partition, account, region, principal kind and
//! name, "same key?"), on plain strings.
//!
//! TODO(lead): these go when the shared `domain` module (ARNs, principals, partitions) lands;
//! every caller in `diagnose/` goes through this file, so the swap is one file.

use crate::workflow::inventory::PrincipalKind;

/// The partition of an ARN: `arn:aws-cn:iam::A:role/R` -> `aws-cn` (`None` for anything that is
/// not an ARN, e.g. a bare key id).
pub(super) fn arn_partition(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")
        .and_then(|rest| rest.split(':').next())
        .filter(|p| !p.is_empty())
}

/// The partition of the first of `arns` that is an ARN, else `aws` (the commercial partition).
pub(super) fn partition_of<'s>(arns: &[&'s str]) -> &'s str {
    arns.iter().find_map(|a| arn_partition(a)).unwrap_or("aws")
}

/// `arn:aws:sts::A:assumed-role/R/S` -> account `A`; `arn:aws:iam::A:...` -> `A`.
pub(super) fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// `arn:aws:kms:REGION:A:key/ID` -> `REGION` (`None` for a bare key id or alias name).
pub(super) fn arn_region(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")
        .and_then(|_| arn.split(':').nth(3))
        .filter(|r| !r.is_empty())
}

/// Whether two references (ARNs or bare ids) name the same KMS key.
pub(super) fn same_key(a: &str, b: &str) -> bool {
    let tail = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    a == b
        || (a.contains("key/") && b.contains("key/") && tail(a) == tail(b))
        || (!a.contains(':') && b.ends_with(&format!("/{a}")))
        || (!b.contains(':') && a.ends_with(&format!("/{b}")))
}

/// The kind and name of an IAM principal ARN (a role session: its role's name).
pub(super) fn principal_name(principal: &str) -> (PrincipalKind, String) {
    let resource = principal.split(':').nth(5).unwrap_or_default();
    if let Some(rest) = resource.strip_prefix("assumed-role/") {
        return (
            PrincipalKind::AssumedRole,
            rest.split('/').next().unwrap_or_default().to_string(),
        );
    }
    let name = resource.rsplit('/').next().unwrap_or_default().to_string();
    if resource.starts_with("user/") {
        (PrincipalKind::User, name)
    } else if resource.starts_with("group/") {
        (PrincipalKind::Group, name)
    } else if resource.starts_with("role/") {
        (PrincipalKind::Role, name)
    } else {
        (PrincipalKind::Root, name)
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
