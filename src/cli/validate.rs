//! Syntax checks of the AWS values a user types (flags and prompt answers): account ids, EC2
//! ids, regions, IAM principal ARNs and KMS key references. Only the form is checked here;
//! whether the thing exists is AWS's answer.
//!
//! [`copy_flags`] applies them to the flags of `copy` that name AWS things, so a malformed one
//! is a usage error (exit 2) before any AWS call; [`positive_secs`] parses durations.

use super::CliError;

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

/// A key for the copies: what [`is_key_ref`] accepts, or the AWS managed EBS key of the target
/// account (`alias/aws/ebs`, as a name or an alias ARN), which CopyImage accepts there.
pub fn is_target_key_ref(s: &str) -> bool {
    let aws_ebs = s == "alias/aws/ebs"
        || s.strip_prefix("arn:").is_some_and(|rest| {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            matches!(parts.as_slice(), [p, "kms", r, a, "alias/aws/ebs"]
                if !p.is_empty() && !r.is_empty() && is_account_id(a))
        });
    aws_ebs || is_key_ref(s)
}

/// An EC2 instance type: `FAMILY.SIZE`, such as `t3.nano`, `m7i-flex.large` or
/// `r7iz.metal-16xl` (lowercase letters, digits and `-`; the family starts with a letter).
pub fn is_instance_type(s: &str) -> bool {
    let Some((family, size)) = s.split_once('.') else {
        return false;
    };
    let part = |p: &str| {
        !p.is_empty()
            && !p.starts_with('-')
            && !p.ends_with('-')
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    part(family) && part(size) && family.starts_with(|c: char| c.is_ascii_lowercase())
}

/// A role to assume: an IAM role ARN, or a role name (with an optional path), such as
/// `OrganizationAccountAccessRole` or `ops/amishare`.
pub fn is_role_ref(s: &str) -> bool {
    if s.starts_with("arn:") {
        return is_principal_arn(s)
            && s.splitn(6, ':')
                .nth(5)
                .is_some_and(|r| r.starts_with("role/"));
    }
    !s.is_empty()
        && s.len() <= 512
        && !s.starts_with('/')
        && !s.ends_with('/')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
}

/// A duration in whole seconds, more than zero (clap value parser: the error names the value,
/// clap adds the flag).
pub fn positive_secs(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "`{s}` is not a positive number of seconds (a whole number above 0)"
        )),
    }
}

/// The flags of `amishare copy` that name AWS things, by form: exit 2 naming the flag and the
/// value, before any AWS call.
pub fn copy_flags(
    target_key: Option<&str>,
    reencrypt_with: Option<&str>,
    instance_type: Option<&str>,
    subnet_id: Option<&str>,
    target_role: Option<&str>,
) -> Result<(), CliError> {
    let bad = |flag: &str, value: &str, what: &str, example: &str| {
        Err(CliError::usage(
            format!("`--{flag} {value}` is not {what}"),
            format!("e.g. `--{flag} {example}`"),
        ))
    };
    const KEY_EXAMPLE: &str =
        "alias/ami-copies` or a key ARN `arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    if let Some(k) = target_key.filter(|k| !is_target_key_ref(k)) {
        return bad("target-key", k, "a KMS key id, alias or ARN", KEY_EXAMPLE);
    }
    if let Some(k) = reencrypt_with.filter(|k| !is_key_ref(k)) {
        return bad(
            "reencrypt-with",
            k,
            "a customer managed KMS key id, alias or ARN",
            KEY_EXAMPLE,
        );
    }
    if let Some(t) = instance_type.filter(|t| !is_instance_type(t)) {
        return bad(
            "instance-type",
            t,
            "an EC2 instance type (FAMILY.SIZE)",
            "t3.micro",
        );
    }
    if let Some(s) = subnet_id.filter(|s| !is_ec2_id(s, "subnet-")) {
        return bad("subnet-id", s, "a subnet id", "subnet-0123456789abcdef0");
    }
    if let Some(r) = target_role.filter(|r| !is_role_ref(r)) {
        return bad(
            "target-role",
            r,
            "an IAM role name or role ARN",
            "OrganizationAccountAccessRole",
        );
    }
    Ok(())
}

/// An AMI name as CopyImage accepts it (EC2 API reference, CopyImage `Name`: 3 to 128
/// characters: letters, digits, `( ) [ ] . / - ' @ _` and spaces).
pub fn is_ami_name(s: &str) -> bool {
    (3..=128).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c))
}

/// An STS external id (STS API reference, AssumeRole `ExternalId`: 2 to 1224 characters of
/// `[\w+=,.@:/-]`).
pub fn is_external_id(s: &str) -> bool {
    (2..=1224).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c))
}

/// A profile name of the AWS config: not empty, no whitespace or brackets (it is written as
/// `[profile NAME]`).
pub fn is_profile_name(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c == '[' || c == ']')
}

/// The free-form flags of `amishare copy`, by form: exit 2 naming the flag and the value.
pub fn copy_texts(
    name: Option<&str>,
    external_id: Option<&str>,
    target_profile: Option<&str>,
) -> Result<(), CliError> {
    if let Some(n) = name.filter(|n| !is_ami_name(n)) {
        return Err(CliError::usage(
            format!("`--name {n}` is not an AMI name"),
            "an AMI name has 3 to 128 characters: letters, digits, spaces and ( ) [ ] . / - ' @ _",
        ));
    }
    if let Some(e) = external_id.filter(|e| !is_external_id(e)) {
        return Err(CliError::usage(
            format!("`--external-id {e}` is not an STS external id"),
            "an external id has 2 to 1224 characters: letters, digits and _ + = , . @ : / -",
        ));
    }
    if let Some(p) = target_profile.filter(|p| !is_profile_name(p)) {
        return Err(CliError::usage(
            format!("`--target-profile {p}` is not an AWS profile name"),
            "name a profile of the AWS config (`aws configure list-profiles` lists them)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ami_names_external_ids_and_profile_names_are_checked_by_form() {
        assert!(is_ami_name(
            "web (copy of 111122223333/ami-0abc) [v1.2] @ops_x'"
        ));
        assert!(!is_ami_name("ab"));
        assert!(!is_ami_name(&"x".repeat(129)));
        assert!(is_ami_name(&"x".repeat(128)));
        assert!(!is_ami_name("web*"));
        assert!(!is_ami_name("wéb copy"));
        assert!(is_external_id("Unique-ID_1=2,3.4@5:6/7+"));
        assert!(!is_external_id("a"));
        assert!(!is_external_id("has space"));
        assert!(!is_external_id(&"a".repeat(1225)));
        assert!(is_profile_name("prod-admin"));
        assert!(!is_profile_name(""));
        assert!(!is_profile_name("prod admin"));
        assert!(!is_profile_name("[prod]"));
    }

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

    #[test]
    fn target_keys_may_also_be_the_aws_managed_ebs_key() {
        assert!(is_target_key_ref("alias/aws/ebs"));
        assert!(is_target_key_ref(
            "arn:aws:kms:us-east-1:444455556666:alias/aws/ebs"
        ));
        assert!(is_target_key_ref("alias/ami-copies"));
        assert!(!is_target_key_ref("alias/aws/rds"));
        assert!(!is_target_key_ref("aws/ebs"));
        assert!(!is_target_key_ref(
            "arn:aws:kms:us-east-1:4444:alias/aws/ebs"
        ));
    }

    #[test]
    fn instance_types_are_family_dot_size() {
        for ok in [
            "t3.nano",
            "m7i-flex.large",
            "r7iz.metal-16xl",
            "u-6tb1.metal",
            "c7gn.16xlarge",
            "mac2-m2pro.metal",
        ] {
            assert!(is_instance_type(ok), "{ok}");
        }
        for bad in [
            "t3",
            "t3.",
            ".nano",
            "T3.nano",
            "t3.nano.x",
            "3t.nano",
            "t3 .nano",
            "t3.-x",
            "",
        ] {
            assert!(!is_instance_type(bad), "{bad}");
        }
    }

    #[test]
    fn roles_are_names_or_role_arns() {
        assert!(is_role_ref("OrganizationAccountAccessRole"));
        assert!(is_role_ref("ops/amishare-target"));
        assert!(is_role_ref(
            "arn:aws:iam::444455556666:role/amishare-target"
        ));
        assert!(!is_role_ref("arn:aws:iam::444455556666:user/alice"));
        assert!(!is_role_ref("role with spaces"));
        assert!(!is_role_ref(""));
        assert!(!is_role_ref("/leading"));
    }

    #[test]
    fn durations_are_positive_whole_seconds() {
        assert_eq!(positive_secs("600"), Ok(600));
        for bad in ["0", "-5", "1.5", "ten", ""] {
            let err = positive_secs(bad).unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }
}
