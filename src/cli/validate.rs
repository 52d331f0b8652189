//! Syntax checks of the AWS values a user types (flags and prompt answers): account ids, EC2
//! ids, regions, IAM principal ARNs and KMS key references. Only the form is checked here;
//! whether the thing exists is AWS's answer.

/// An AWS account id: exactly 12 ASCII digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An IAM user, role or group ARN (`arn:PARTITION:iam::ACCOUNT:user|role|group/NAME`).
pub fn is_principal_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let name = resource
        .strip_prefix("user/")
        .or_else(|| resource.strip_prefix("role/"))
        .or_else(|| resource.strip_prefix("group/"));
    *arn == "arn"
        && !partition.is_empty()
        && *service == "iam"
        && region.is_empty()
        && is_account_id(account)
        && name.is_some_and(|n| {
            // IAM names and paths: letters, digits and `+=,.@_-`, with `/` between path parts;
            // no wildcards (a partial-wildcard principal is invalid in a policy).
            !n.is_empty()
                && !n.ends_with('/')
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
        })
}

/// An EC2 resource id with this prefix: `ami-`, `i-`, `snap-`... followed by 8 or 17 hex digits.
pub fn is_ec2_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// An AWS region name such as `us-east-1`, `eu-central-2` or `us-gov-west-1`.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [geo, middle @ .., number] = parts.as_slice() else {
        return false;
    };
    let lower = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    geo.len() == 2
        && lower(geo)
        && !middle.is_empty()
        && middle.iter().all(lower)
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// A KMS key reference CopyImage accepts: a key id, `alias/NAME`, or a key or alias ARN.
pub fn is_key_ref(s: &str) -> bool {
    let is_key_id = |k: &str| {
        k.len() == 36
            && k.bytes().enumerate().all(|(i, b)| {
                matches!(i, 8 | 13 | 18 | 23) == (b == b'-') && (b == b'-' || b.is_ascii_hexdigit())
            })
            || k.strip_prefix("mrk-")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let is_alias = |a: &str| {
        a.strip_prefix("alias/").is_some_and(|n| {
            !n.is_empty()
                && !n.starts_with("aws/")
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
        })
    };
    if let Some(rest) = s.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [partition, service, region, account, resource] = parts.as_slice() else {
            return false;
        };
        return !partition.is_empty()
            && *service == "kms"
            && !region.is_empty()
            && is_account_id(account)
            && (resource.strip_prefix("key/").is_some_and(is_key_id) || is_alias(resource));
    }
    is_key_id(s) || is_alias(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(is_account_id("444455556666"));
        assert!(!is_account_id("44445555666"));
        assert!(!is_account_id("4444555566667"));
        assert!(!is_account_id("44445555666x"));
        assert!(!is_account_id("４４４455556666"));
    }

    #[test]
    fn principal_arns_are_iam_users_roles_or_groups() {
        assert!(is_principal_arn("arn:aws:iam::444455556666:role/Launcher"));
        assert!(is_principal_arn("arn:aws:iam::444455556666:user/ops/alice"));
        assert!(is_principal_arn(
            "arn:aws-cn:iam::444455556666:group/Admins"
        ));
        assert!(!is_principal_arn("arn:aws:iam::444455556666:policy/P"));
        assert!(!is_principal_arn("arn:aws:iam::444455556666:role/"));
        assert!(!is_principal_arn(
            "arn:aws:sts::444455556666:assumed-role/R/s"
        ));
        assert!(!is_principal_arn("arn:aws:iam::4444:role/R"));
        assert!(!is_principal_arn(
            "arn:aws:iam:us-east-1:444455556666:role/R"
        ));
        assert!(!is_principal_arn("role/Launcher"));
    }

    #[test]
    fn key_refs_are_ids_aliases_or_arns_but_never_aws_managed_aliases() {
        assert!(is_key_ref("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_key_ref("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(is_key_ref("alias/ami-copies"));
        assert!(is_key_ref(
            "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        ));
        assert!(is_key_ref(
            "arn:aws:kms:eu-west-1:444455556666:alias/ami-copies"
        ));
        assert!(!is_key_ref("alias/aws/ebs"));
        assert!(!is_key_ref("alias/"));
        assert!(!is_key_ref("1234abcd-12ab-34cd-56ef-1234567890a"));
        assert!(!is_key_ref("1234abcd+12ab-34cd-56ef-1234567890ab"));
        assert!(!is_key_ref(
            "arn:aws:kms:us-east-1:4444:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        ));
        assert!(!is_key_ref("arn:aws:iam::444455556666:role/R"));
        assert!(!is_key_ref(""));
    }
}
