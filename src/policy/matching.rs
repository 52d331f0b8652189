//! Wildcard matching, ARN parsing and principal matching.
//!
//! Everything here is allocation-free on the hot path: patterns are normalised when a policy is
//! parsed, so evaluation only compares bytes.

use serde::Serialize;

/// `*` / `?` glob match. Both sides must already be in the same case when the comparison is
/// case-insensitive (actions are lowercased at parse time).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob_core(pattern.as_bytes(), text.as_bytes(), |_| true)
}

/// [`glob_match`] where `literal[i] == true` makes the pattern's byte `i` an ordinary character
/// even when it is `*` or `?` (a policy variable's substituted text is literal). An empty
/// `literal` marks nothing.
pub fn glob_match_masked(pattern: &str, literal: &[bool], text: &str) -> bool {
    if literal.is_empty() {
        return glob_match(pattern, text);
    }
    glob_core(pattern.as_bytes(), text.as_bytes(), |i| {
        !literal.get(i).copied().unwrap_or(false)
    })
}

/// The matcher: `wild(i)` says whether a `*`/`?` at pattern byte `i` is a wildcard.
#[inline]
fn glob_core(p: &[u8], t: &[u8], wild: impl Fn(usize) -> bool) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' && wild(pi) {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && ((p[pi] == b'?' && wild(pi)) || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' && wild(pi) {
        pi += 1;
    }
    pi == p.len()
}

/// Case-insensitive glob match (ASCII), for values that were not normalised in advance.
pub fn glob_match_ignore_case(pattern: &str, text: &str) -> bool {
    if pattern.bytes().any(|b| b.is_ascii_uppercase())
        || text.bytes().any(|b| b.is_ascii_uppercase())
    {
        glob_match(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
    } else {
        glob_match(pattern, text)
    }
}

pub use crate::domain::arn::{is_account_id, Arn};

/// Split an ARN into its parts; `None` when it does not have six colon-separated parts.
pub fn parse_arn(s: &str) -> Option<Arn<'_>> {
    Arn::parse(s)
}

/// What kind of IAM principal a caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallerKind {
    /// The account itself (`arn:aws:iam::ID:root` or a bare id).
    Account,
    User,
    Role,
    /// A role session `arn:aws:sts::ID:assumed-role/NAME/SESSION`.
    AssumedRole,
    FederatedUser,
}

/// The principal a request is made by, parsed once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    /// The ARN as given (a bare account id becomes `arn:aws:iam::ID:root`).
    pub arn: String,
    pub partition: String,
    pub account: String,
    pub kind: CallerKind,
    /// For roles and role sessions: the role's name (last path segment).
    pub role_name: Option<String>,
    /// The ARN that `aws:PrincipalArn` carries: the role ARN for a role session.
    pub principal_arn: String,
}

/// A principal that `--principal` cannot be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a principal ARN: {reason}")]
pub struct PrincipalError {
    pub value: String,
    pub reason: &'static str,
}

impl Caller {
    /// Parse a user, role, role session, federated user, account root ARN or bare account id.
    pub fn parse(s: &str) -> Result<Self, PrincipalError> {
        let err = |reason| PrincipalError {
            value: s.to_string(),
            reason,
        };
        if is_account_id(s) {
            return Ok(Self::account("aws", s));
        }
        let arn = parse_arn(s).ok_or_else(|| err("expected `arn:aws:iam::ACCOUNT:user/NAME`, `...:role/NAME` or `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`"))?;
        if !is_account_id(arn.account) {
            return Err(err("the account part is not a 12-digit account id"));
        }
        if s.contains('*') || s.contains('?') {
            return Err(err("a principal cannot contain wildcards"));
        }
        let (kind, role_name, principal_arn) = match arn.service {
            "iam" => {
                if arn.resource == "root" {
                    (CallerKind::Account, None, s.to_string())
                } else if let Some(rest) = arn.resource.strip_prefix("user/") {
                    if rest.is_empty() {
                        return Err(err("the user name is empty"));
                    }
                    (CallerKind::User, None, s.to_string())
                } else if let Some(rest) = arn.resource.strip_prefix("role/") {
                    let name = rest.rsplit('/').next().unwrap_or(rest);
                    if name.is_empty() {
                        return Err(err("the role name is empty"));
                    }
                    (CallerKind::Role, Some(name.to_string()), s.to_string())
                } else {
                    return Err(err("IAM principals are `root`, `user/NAME` or `role/NAME`"));
                }
            }
            "sts" => {
                if let Some(rest) = arn.resource.strip_prefix("assumed-role/") {
                    let mut parts = rest.splitn(2, '/');
                    let name = parts.next().unwrap_or("");
                    let session = parts.next().unwrap_or("");
                    if name.is_empty() || session.is_empty() {
                        return Err(err("expected `assumed-role/ROLE_NAME/SESSION_NAME`"));
                    }
                    let role_arn =
                        format!("arn:{}:iam::{}:role/{}", arn.partition, arn.account, name);
                    (CallerKind::AssumedRole, Some(name.to_string()), role_arn)
                } else if arn.resource.starts_with("federated-user/") {
                    (CallerKind::FederatedUser, None, s.to_string())
                } else {
                    return Err(err(
                        "STS principals are `assumed-role/NAME/SESSION` or `federated-user/NAME`",
                    ));
                }
            }
            _ => return Err(err("only IAM and STS principals can use a KMS key")),
        };
        Ok(Self {
            arn: s.to_string(),
            partition: arn.partition.to_string(),
            account: arn.account.to_string(),
            kind,
            role_name,
            principal_arn,
        })
    }

    /// The account principal `arn:PARTITION:iam::ID:root`.
    pub fn account(partition: &str, account: &str) -> Self {
        let arn = format!("arn:{partition}:iam::{account}:root");
        Self {
            principal_arn: arn.clone(),
            arn,
            partition: partition.to_string(),
            account: account.to_string(),
            kind: CallerKind::Account,
            role_name: None,
        }
    }

    /// `arn:PARTITION:iam::ID:root` of the caller's account.
    pub fn account_root(&self) -> String {
        format!("arn:{}:iam::{}:root", self.partition, self.account)
    }

    /// The ARN to name in a policy for this principal: the role for a role session.
    pub fn policy_arn(&self) -> &str {
        &self.principal_arn
    }

    /// Auto Scaling's service-linked role `.../aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling*`.
    pub fn is_autoscaling_service_role(&self) -> bool {
        matches!(self.kind, CallerKind::Role | CallerKind::AssumedRole)
            && self
                .role_name
                .as_deref()
                .is_some_and(|n| n.starts_with("AWSServiceRoleForAutoScaling"))
            && (self.kind == CallerKind::AssumedRole
                || self
                    .arn
                    .contains(":role/aws-service-role/autoscaling.amazonaws.com/"))
    }
}

/// One entry of a `Principal`/`NotPrincipal` element, normalised at parse time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalPattern {
    /// `"*"` or `{"AWS": "*"}`.
    Any,
    /// An account: bare id or `arn:aws:iam::ID:root` ("the account's IAM").
    Account(String),
    /// A role: matches the role and its sessions.
    Role { account: String, name: String },
    /// Any other exact ARN (user, role session, federated user) or unique id.
    Exact(String),
    /// A service principal such as `ec2.amazonaws.com`.
    Service(String),
    /// A federated identity provider.
    Federated(String),
    /// A canonical user id (S3 only).
    CanonicalUser(String),
    /// A partial wildcard such as `arn:aws:iam::ID:role/*`: rejected by the policy language,
    /// never matches.
    Invalid(String),
}

/// How a principal pattern matched the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalMatch {
    /// The statement names the caller (or its role, or `*`).
    Direct,
    /// The statement names the caller's account: IAM policies decide.
    Account,
}

impl PrincipalPattern {
    /// Normalise an `AWS` principal value.
    pub fn aws(value: &str) -> Self {
        if value == "*" {
            return Self::Any;
        }
        if is_account_id(value) {
            return Self::Account(value.to_string());
        }
        if value.contains('*') || value.contains('?') {
            return Self::Invalid(value.to_string());
        }
        if let Some(arn) = parse_arn(value) {
            if arn.service == "iam" && arn.resource == "root" {
                return Self::Account(arn.account.to_string());
            }
            if arn.service == "iam" {
                if let Some(rest) = arn.resource.strip_prefix("role/") {
                    let name = rest.rsplit('/').next().unwrap_or(rest);
                    return Self::Role {
                        account: arn.account.to_string(),
                        name: name.to_string(),
                    };
                }
            }
        }
        Self::Exact(value.to_string())
    }

    /// Whether this pattern, in a `Principal` element, matches the caller.
    pub fn matches(&self, caller: &Caller) -> Option<PrincipalMatch> {
        match self {
            Self::Any => Some(PrincipalMatch::Direct),
            Self::Account(a) if *a == caller.account => {
                if caller.kind == CallerKind::Account {
                    Some(PrincipalMatch::Direct)
                } else {
                    Some(PrincipalMatch::Account)
                }
            }
            Self::Role { account, name } => {
                let same_role = *account == caller.account
                    && matches!(caller.kind, CallerKind::Role | CallerKind::AssumedRole)
                    && caller.role_name.as_deref() == Some(name.as_str());
                same_role.then_some(PrincipalMatch::Direct)
            }
            Self::Exact(arn) if *arn == caller.arn => Some(PrincipalMatch::Direct),
            _ => None,
        }
    }

    /// Whether this pattern literally lists one identity of the caller (for `NotPrincipal`).
    fn lists(&self, identity: &Identity<'_>) -> bool {
        match (self, identity) {
            (Self::Any, _) => true,
            (Self::Account(a), Identity::Account(b)) => a == b,
            (
                Self::Role { account, name },
                Identity::Role {
                    account: b,
                    name: n,
                },
            ) => account == b && name == n,
            (Self::Exact(arn), Identity::Exact(b)) => arn == b,
            _ => false,
        }
    }

    /// The text form, for messages.
    pub fn text(&self) -> String {
        match self {
            Self::Any => "*".to_string(),
            Self::Account(a) => format!("arn:aws:iam::{a}:root"),
            Self::Role { account, name } => format!("arn:aws:iam::{account}:role/{name}"),
            Self::Exact(s)
            | Self::Service(s)
            | Self::Federated(s)
            | Self::CanonicalUser(s)
            | Self::Invalid(s) => s.clone(),
        }
    }
}

enum Identity<'a> {
    Account(&'a str),
    Role { account: &'a str, name: &'a str },
    Exact(&'a str),
}

/// A `NotPrincipal` element excludes the caller only when it lists every identity the request
/// carries: the account, the role (for a role session) and the exact ARN.
pub fn not_principal_excludes(patterns: &[PrincipalPattern], caller: &Caller) -> bool {
    let mut ids: Vec<Identity<'_>> = vec![Identity::Account(&caller.account)];
    match caller.kind {
        CallerKind::Account => {}
        CallerKind::Role => {
            if let Some(n) = &caller.role_name {
                ids.push(Identity::Role {
                    account: &caller.account,
                    name: n,
                });
            }
        }
        CallerKind::AssumedRole => {
            if let Some(n) = &caller.role_name {
                ids.push(Identity::Role {
                    account: &caller.account,
                    name: n,
                });
            }
            ids.push(Identity::Exact(&caller.arn));
        }
        CallerKind::User | CallerKind::FederatedUser => ids.push(Identity::Exact(&caller.arn)),
    }
    ids.iter().all(|id| patterns.iter().any(|p| p.lists(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_basics() {
        assert!(glob_match("kms:reencrypt*", "kms:reencryptfrom"));
        assert!(!glob_match("kms:reencrypt", "kms:reencryptfrom"));
        assert!(glob_match(
            "kms:generatedatakey*",
            "kms:generatedatakeywithoutplaintext"
        ));
        assert!(glob_match("kms:?ecrypt", "kms:decrypt"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match_ignore_case("KMS:Decrypt", "kms:DECRYPT"));
        // A `*` in the text does not stop the pattern's `*` from being a wildcard.
        assert!(glob_match("*b", "*ab"));
    }

    #[test]
    fn masked_glob_treats_marked_bytes_literally() {
        // pattern `a*` with the `*` marked literal matches only `a*`.
        assert!(glob_match_masked("a*", &[false, true], "a*"));
        assert!(!glob_match_masked("a*", &[false, true], "abc"));
        assert!(glob_match_masked("a*", &[false, false], "abc"));
        assert!(!glob_match_masked("a?", &[false, true], "ab"));
        assert!(glob_match_masked("a?", &[], "ab"));
    }

    #[test]
    fn callers() {
        let c = Caller::parse("arn:aws:sts::444455556666:assumed-role/Launcher/alice").unwrap();
        assert_eq!(c.kind, CallerKind::AssumedRole);
        assert_eq!(c.principal_arn, "arn:aws:iam::444455556666:role/Launcher");
        assert_eq!(c.account, "444455556666");
        let r = Caller::parse("111122223333").unwrap();
        assert_eq!(r.arn, "arn:aws:iam::111122223333:root");
        assert!(Caller::parse("arn:aws:s3:::bucket").is_err());
        assert!(Caller::parse("nonsense").is_err());
        assert!(Caller::parse("arn:aws:iam::111122223333:role/*").is_err());
        let asg = Caller::parse("arn:aws:iam::444455556666:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling").unwrap();
        assert!(asg.is_autoscaling_service_role());
        assert!(!c.is_autoscaling_service_role());
    }

    #[test]
    fn role_matches_sessions_and_paths() {
        let session =
            Caller::parse("arn:aws:sts::444455556666:assumed-role/Launcher/alice").unwrap();
        let p = PrincipalPattern::aws("arn:aws:iam::444455556666:role/team/Launcher");
        assert_eq!(p.matches(&session), Some(PrincipalMatch::Direct));
        let acct = PrincipalPattern::aws("444455556666");
        assert_eq!(acct.matches(&session), Some(PrincipalMatch::Account));
        let other = PrincipalPattern::aws("arn:aws:iam::111122223333:root");
        assert_eq!(other.matches(&session), None);
        assert!(matches!(
            PrincipalPattern::aws("arn:aws:iam::444455556666:role/*"),
            PrincipalPattern::Invalid(_)
        ));
    }

    #[test]
    fn not_principal_needs_every_identity() {
        let session = Caller::parse("arn:aws:sts::444455556666:assumed-role/Admin/bob").unwrap();
        let role_only = vec![
            PrincipalPattern::aws("arn:aws:iam::444455556666:role/Admin"),
            PrincipalPattern::aws("arn:aws:iam::444455556666:root"),
        ];
        assert!(!not_principal_excludes(&role_only, &session));
        let mut full = role_only.clone();
        full.push(PrincipalPattern::aws(
            "arn:aws:sts::444455556666:assumed-role/Admin/bob",
        ));
        assert!(not_principal_excludes(&full, &session));
    }
}
