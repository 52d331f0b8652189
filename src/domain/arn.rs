//! ARNs and the IAM principals they name: the one place that splits an ARN.
//!
//! `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` (the resource may itself hold `:` and `/`).
//! Principal ARNs are `arn:P:iam::ACCT:root|user/PATH/NAME|role/PATH/NAME|group/PATH/NAME` and
//! role sessions `arn:P:sts::ACCT:assumed-role/NAME/SESSION`.

use serde::Serialize;

/// The partition when none can be read: the commercial one.
pub const DEFAULT_PARTITION: &str = "aws";

/// An ARN split into its six parts (borrowed from the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Split `text`; `None` when it is not `arn:` followed by five `:`-separated parts (which may
    /// be empty: what each part must be is the caller's to check).
    pub fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        Some(Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        })
    }

    /// The account when it is a 12-digit account id.
    pub fn account_id(&self) -> Option<&'a str> {
        is_account_id(self.account).then_some(self.account)
    }
}

/// Is `s` a 12-digit AWS account id?
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The account id of an ARN (`arn:aws:iam::ACCOUNT:...`), when it has a 12-digit one.
pub fn account_of(arn: &str) -> Option<&str> {
    Arn::parse(arn)?.account_id()
}

/// The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`, ...); `aws` when it is not an ARN.
pub fn partition_of(arn: &str) -> &str {
    Arn::parse(arn)
        .map(|a| a.partition)
        .filter(|p| !p.is_empty())
        .unwrap_or(DEFAULT_PARTITION)
}

/// Which kind of IAM identity a principal ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalKind {
    User,
    Role,
    /// `arn:aws:sts::ACCT:assumed-role/NAME/SESSION`: the role's policies apply.
    AssumedRole,
    Group,
    /// `arn:aws:iam::ACCT:root`: the account itself; no identity policies to read.
    Root,
}

impl PrincipalKind {
    /// The word IAM's CLI and API use (`user`, `role`, `group`); `None` for sessions and root.
    pub fn iam_entity(self) -> Option<&'static str> {
        match self {
            PrincipalKind::User => Some("user"),
            PrincipalKind::Role => Some("role"),
            PrincipalKind::Group => Some("group"),
            PrincipalKind::AssumedRole | PrincipalKind::Root => None,
        }
    }
}

/// A principal ARN, split into what IAM calls and policies need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal<'a> {
    pub arn: Arn<'a>,
    pub kind: PrincipalKind,
    /// The user/role/group name without its path (IAM APIs take the bare name); for a session,
    /// the role's name; empty for root.
    pub name: &'a str,
    /// The path of a user/role/group (`/`, `/ops/`, ...); `/` for the others.
    pub path: &'a str,
}

impl<'a> Principal<'a> {
    /// Parse an IAM or STS principal ARN; `None` for anything else.
    pub fn parse(text: &'a str) -> Option<Self> {
        let arn = Arn::parse(text)?;
        let (kind, rest) = match (arn.service, arn.resource) {
            ("iam", "root") => (PrincipalKind::Root, ""),
            ("iam", r) => match r.split_once('/') {
                Some(("user", rest)) => (PrincipalKind::User, rest),
                Some(("role", rest)) => (PrincipalKind::Role, rest),
                Some(("group", rest)) => (PrincipalKind::Group, rest),
                _ => return None,
            },
            ("sts", r) => {
                let rest = r.strip_prefix("assumed-role/")?;
                let name = rest.split('/').next().filter(|n| !n.is_empty())?;
                return Some(Principal {
                    arn,
                    kind: PrincipalKind::AssumedRole,
                    name,
                    path: "/",
                });
            }
            _ => return None,
        };
        if kind == PrincipalKind::Root {
            return Some(Principal {
                arn,
                kind,
                name: "",
                path: "/",
            });
        }
        let name = rest.rsplit('/').next().unwrap_or(rest);
        if name.is_empty() {
            return None;
        }
        // The path runs from the `/` after the kind to the name: `/` or `/ops/team/`.
        let end = arn.resource.len() - name.len();
        let path = &arn.resource[arn.resource.len() - rest.len() - 1..end];
        Some(Principal {
            arn,
            kind,
            name,
            path,
        })
    }
}

/// The role ARN behind an assumed-role session ARN (`None` for anything else). The session ARN
/// does not carry the role's path, so the role ARN has none either.
pub fn assumed_role_arn(arn: &str) -> Option<String> {
    let p = Principal::parse(arn)?;
    (p.kind == PrincipalKind::AssumedRole).then(|| role_arn(p.arn.partition, p.arn.account, p.name))
}

/// `arn:PARTITION:iam::ACCOUNT:root`.
pub fn root_arn(partition: &str, account: &str) -> String {
    format!("arn:{partition}:iam::{account}:root")
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME` (`name` may carry a path: `ops/Deployer`).
pub fn role_arn(partition: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:role/{name}")
}

/// `arn:PARTITION:iam::ACCOUNT:policy/NAME`.
pub fn policy_arn(partition: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:policy/{name}")
}

/// The `--grant` shorthand for Auto Scaling's service-linked role.
pub const AUTOSCALING_GRANT: &str = "autoscaling";

/// Auto Scaling's service-linked role in `account`:
/// `arn:PARTITION:iam::ACCOUNT:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`
/// (Auto Scaling user guide, "Service-linked roles for Amazon EC2 Auto Scaling").
pub fn autoscaling_service_role_arn(partition: &str, account: &str) -> String {
    role_arn(
        partition,
        account,
        "aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
    )
}

/// Is `arn` Auto Scaling's default service-linked role (or a custom-suffix one,
/// `AWSServiceRoleForAutoScaling_SUFFIX`), whose policies cannot be edited?
pub fn is_autoscaling_service_role(arn: &str) -> bool {
    Principal::parse(arn).is_some_and(|p| {
        p.kind == PrincipalKind::Role
            && p.arn
                .resource
                .starts_with("role/aws-service-role/autoscaling.amazonaws.com/")
            && p.name.starts_with("AWSServiceRoleForAutoScaling")
    })
}

/// `--grant` values with the `autoscaling` shorthand expanded to Auto Scaling's service-linked
/// role of EACH target account (in the order given, without duplicates).
pub fn expand_grants(
    grants: &[String],
    target_accounts: &[String],
    partition: &str,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in grants {
        let expanded: Vec<String> = if g.eq_ignore_ascii_case(AUTOSCALING_GRANT) {
            target_accounts
                .iter()
                .map(|a| autoscaling_service_role_arn(partition, a))
                .collect()
        } else {
            vec![g.clone()]
        };
        for e in expanded {
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_split_into_six_parts_and_the_resource_keeps_its_colons() {
        let a = Arn::parse("arn:aws-cn:kms:cn-north-1:111122223333:key/abc").unwrap();
        assert_eq!(
            (a.partition, a.service, a.region, a.account, a.resource),
            ("aws-cn", "kms", "cn-north-1", "111122223333", "key/abc")
        );
        let a = Arn::parse("arn:aws:logs:us-east-1:1:log-group:x:*").unwrap();
        assert_eq!(a.resource, "log-group:x:*");
        assert_eq!(Arn::parse("arn:aws:iam"), None);
        assert_eq!(Arn::parse("not-an-arn:aws:iam::1:root"), None);
        assert_eq!(
            Arn::parse("arn::iam::1:root").map(|a| a.partition),
            Some("")
        );
        assert_eq!(partition_of("arn::iam::1:root"), "aws");
    }

    #[test]
    fn account_and_partition_are_read_from_any_partition() {
        assert_eq!(
            account_of("arn:aws-us-gov:iam::444455556666:role/X"),
            Some("444455556666")
        );
        assert_eq!(account_of("arn:aws:iam::4444:role/X"), None);
        assert_eq!(account_of("444455556666"), None);
        assert_eq!(partition_of("arn:aws-cn:iam::444455556666:root"), "aws-cn");
        assert_eq!(partition_of("garbage"), "aws");
    }

    #[test]
    fn principals_have_a_kind_a_bare_name_and_a_path() {
        let cases = [
            ("arn:aws:iam::1:user/dev/alice", PrincipalKind::User, "alice", "/dev/"),
            ("arn:aws:iam::1:user/alice", PrincipalKind::User, "alice", "/"),
            ("arn:aws:iam::1:role/ops/team/Deployer", PrincipalKind::Role, "Deployer", "/ops/team/"),
            ("arn:aws:iam::1:group/admins", PrincipalKind::Group, "admins", "/"),
            ("arn:aws:sts::1:assumed-role/Admin/sess", PrincipalKind::AssumedRole, "Admin", "/"),
            ("arn:aws:iam::1:root", PrincipalKind::Root, "", "/"),
            (
                "arn:aws:iam::1:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
                PrincipalKind::Role,
                "AWSServiceRoleForAutoScaling",
                "/aws-service-role/autoscaling.amazonaws.com/",
            ),
        ];
        for (arn, kind, name, path) in cases {
            let p = Principal::parse(arn).unwrap();
            assert_eq!((p.kind, p.name, p.path), (kind, name, path), "{arn}");
        }
        for bad in [
            "arn:aws:iam::1:policy/X",
            "arn:aws:iam::1:user/",
            "arn:aws:sts::1:federated-user/x",
            "arn:aws:s3:::bucket",
        ] {
            assert_eq!(Principal::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn assumed_role_sessions_map_to_their_role() {
        assert_eq!(
            assumed_role_arn("arn:aws:sts::444455556666:assumed-role/X/amishare").as_deref(),
            Some("arn:aws:iam::444455556666:role/X")
        );
        assert_eq!(
            assumed_role_arn("arn:aws-cn:sts::444455556666:assumed-role/X/s").as_deref(),
            Some("arn:aws-cn:iam::444455556666:role/X")
        );
        assert_eq!(assumed_role_arn("arn:aws:iam::444455556666:user/u"), None);
    }

    #[test]
    fn builders_keep_the_partition() {
        assert_eq!(
            policy_arn("aws-us-gov", "1", "KmsKeyUsagePolicy"),
            "arn:aws-us-gov:iam::1:policy/KmsKeyUsagePolicy"
        );
        assert_eq!(root_arn("aws-cn", "1"), "arn:aws-cn:iam::1:root");
        assert_eq!(role_arn("aws", "1", "ops/X"), "arn:aws:iam::1:role/ops/X");
    }

    #[test]
    fn autoscaling_shorthand_expands_per_target_account() {
        let arn = autoscaling_service_role_arn("aws", "444455556666");
        assert_eq!(
            arn,
            "arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        );
        assert!(is_autoscaling_service_role(&arn));
        assert!(!is_autoscaling_service_role(
            "arn:aws:iam::444455556666:role/AWSServiceRoleForAutoScaling"
        ));
        assert!(!is_autoscaling_service_role(
            "arn:aws:iam::444455556666:role/Launcher"
        ));
        let grants = vec![
            "arn:aws:iam::444455556666:role/Launcher".to_string(),
            "autoscaling".to_string(),
            "AutoScaling".to_string(),
        ];
        let targets = vec!["444455556666".to_string(), "777788889999".to_string()];
        assert_eq!(
            expand_grants(&grants, &targets, "aws-cn"),
            vec![
                "arn:aws:iam::444455556666:role/Launcher".to_string(),
                autoscaling_service_role_arn("aws-cn", "444455556666"),
                autoscaling_service_role_arn("aws-cn", "777788889999"),
            ]
        );
    }
}
