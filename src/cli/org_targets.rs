//! `copy --to-ou` / `--to-org` / `--to-accounts-file` / `--org-profile`: the flags' checks and
//! their resolution into `--to` accounts before anything else happens (the workflow's
//! `org_targets` does the pure part; the Organizations reads use the source credentials or
//! `--org-profile`), and which credentials read the SCPs and RCPs ([`read_org_guardrails`]).

use std::path::{Path, PathBuf};

use super::connect::{org_session, source_session};
use super::{CliError, GlobalArgs};
use crate::aws::reader::organizations::SdkOrgReader;
use crate::aws::session::{AwsSession, SessionOptions};
use crate::workflow::copy::discover_guardrails::org_guardrails;
use crate::workflow::copy::facts::Discovery;
use crate::workflow::org_policy_access::org_policy_access;
use crate::workflow::org_scope::{describe, member_paths};
use crate::workflow::org_targets::{
    list_requested, parse_accounts_file, resolve, KeyPolicyPrincipals, OrgInfo, OrgReader as _,
    OrgRequest, OrgTargets,
};

/// `--key-policy-principals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyPolicyPrincipalsArg {
    /// One conditioned statement pair per organization / OU (`Principal "*"` with
    /// `aws:PrincipalOrgID` / `aws:PrincipalOrgPaths` and `kms:ViaService`)
    Org,
    /// Every account by its root ARN
    Accounts,
}

/// The organization flags of `copy`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OrgArgs {
    /// Every account under this OU, nested OUs included (repeatable; `ou-xxxx-yyyyyyyy`)
    #[arg(long = "to-ou", value_name = "OU")]
    pub to_ou: Vec<String>,
    /// Every account of the organization but the source account
    #[arg(long)]
    pub to_org: bool,
    /// Target accounts from FILE: one account id a line, `#` comments (combinable with `--to`)
    #[arg(long, value_name = "FILE")]
    pub to_accounts_file: Option<PathBuf>,
    /// Profile of the organization's management (or delegated administrator) account: lists
    /// `--to-ou` / `--to-org` (default: the source credentials) and, with any way of naming
    /// targets, reads the SCPs on each target's path and the RCPs on the source's (default: the
    /// source credentials when they are the management account or a delegated administrator)
    #[arg(long, value_name = "P")]
    pub org_profile: Option<String>,
    /// How the source key policy admits `--to-org` / `--to-ou` accounts: `org` (default: one
    /// statement pair per organization / OU, `Principal "*"` conditioned on the organization and
    /// on use through EC2, so the policy stays small for any number of accounts) or `accounts`
    /// (every account listed by its root ARN)
    #[arg(long, value_enum, value_name = "HOW")]
    pub key_policy_principals: Option<KeyPolicyPrincipalsArg>,
}

impl OrgArgs {
    /// Any of the flags that add targets.
    pub fn adds_targets(&self) -> bool {
        !self.to_ou.is_empty() || self.to_org || self.to_accounts_file.is_some()
    }

    fn request(&self) -> OrgRequest {
        OrgRequest {
            ous: self.to_ou.clone(),
            whole_org: self.to_org,
        }
    }
}

/// An OU (`ou-` + 4-32 lowercase letters/digits + `-` + 8-32) or root (`r-` + 4-32) id, as the
/// Organizations API reference's patterns give them.
pub fn is_ou_id(s: &str) -> bool {
    let ok = |p: &str, lo: usize| {
        (lo..=32).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(rest) = s.strip_prefix("ou-") {
        return matches!(rest.split_once('-'), Some((a, b)) if ok(a, 4) && ok(b, 8));
    }
    s.strip_prefix("r-").is_some_and(|r| ok(r, 4))
}

/// The flags' syntax (before any AWS call).
pub fn validate(org: &OrgArgs) -> Result<(), CliError> {
    for ou in &org.to_ou {
        if !is_ou_id(ou) {
            return Err(CliError::usage(
                format!("`--to-ou {ou}` is not an organizational unit id"),
                "OU ids look like `ou-ab12-cd34ef56` (`aws organizations list-children --child-type ORGANIZATIONAL_UNIT`)",
            ));
        }
    }
    if org.key_policy_principals.is_some() && org.to_ou.is_empty() && !org.to_org {
        return Err(CliError::usage(
            "`--key-policy-principals` is only used with `--to-ou` or `--to-org`",
            "add `--to-ou OU` or `--to-org`, or drop `--key-policy-principals`",
        ));
    }
    Ok(())
}

/// The accounts of `--to-accounts-file` (exit 2 naming `FILE:LINE` for a bad line).
fn read_accounts_file(path: &Path) -> Result<Vec<String>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::usage(
            format!("cannot read `--to-accounts-file {}`: {e}", path.display()),
            "pass a readable file with one account id a line",
        )
    })?;
    parse_accounts_file(&text).map_err(|bad| {
        CliError::usage(
            format!(
                "`{}:{}`: `{}` is not an AWS account id",
                path.display(),
                bad.line,
                bad.text
            ),
            "one 12-digit account id a line; `#` starts a comment",
        )
    })
}

/// Who reads the organization's SCPs and RCPs, and the organization those credentials are in.
pub struct PolicyReader {
    pub reader: SdkOrgReader,
    pub org: Option<OrgInfo>,
    /// The caller's own credentials (no `--org-profile`).
    pub own_credentials: bool,
}

/// The reader of the organization's policies: `--org-profile`'s credentials (`profile`);
/// without one, `caller`'s own when they are the organization's management account or a
/// delegated administrator for policy management (at most two Organizations calls decide it,
/// `workflow/org_policy_access.rs`; `known`: the organization the same credentials already
/// described). `None`: nobody reads (`-v` says why), the layers stay unseen.
pub async fn policy_reader(
    global: &GlobalArgs,
    profile: Option<&str>,
    max_attempts: Option<u32>,
    caller: &AwsSession,
    known: Option<OrgInfo>,
) -> Result<Option<PolicyReader>, CliError> {
    if let Some(p) = profile {
        let opts = SessionOptions {
            profile: Some(p.to_string()),
            region: global.region.clone(),
            endpoint_url: None,
            max_attempts,
        };
        let reader = SdkOrgReader::new(&AwsSession::load(&opts).await?);
        let org = reader.organization().await.ok();
        return Ok(Some(PolicyReader {
            reader,
            org,
            own_credentials: false,
        }));
    }
    let reader = SdkOrgReader::new(caller);
    let access = org_policy_access(&reader, &caller.account, known).await;
    if global.verbose > 0 {
        eprintln!("{}", access.describe(&caller.account));
    }
    if !access.reads() {
        return Ok(None);
    }
    let org = access.organization().cloned();
    Ok(Some(PolicyReader {
        reader,
        org,
        own_credentials: true,
    }))
}

/// Read the SCPs on the targets' paths and the RCPs on the source's into `d`, with
/// [`policy_reader`]'s credentials (`known`: what `--to-ou` / `--to-org` already described with
/// the source's). Otherwise nothing is read and the plan notes both layers as unseen.
pub async fn read_org_guardrails(
    global: &GlobalArgs,
    org: &OrgArgs,
    max_attempts: Option<u32>,
    source: &AwsSession,
    known: Option<&OrgTargets>,
    d: &mut Discovery,
) -> Result<(), CliError> {
    if org.org_profile.is_none() && d.targets.is_empty() {
        return Ok(());
    }
    let described = known.and_then(|t| {
        Some(OrgInfo {
            id: t.org_id.clone()?,
            management_account: t.management_account.clone()?,
        })
    });
    let profile = org.org_profile.as_deref();
    if let Some(r) = policy_reader(global, profile, max_attempts, source, described).await? {
        org_guardrails(&r.reader, r.org.as_ref(), d, known, r.own_credentials).await;
    }
    Ok(())
}

/// Resolve the organization flags into `to` (after the `--to` accounts). Returns the source
/// session when it was loaded (to be reused), and what the plan records about the targets.
pub async fn resolve_targets(
    global: &GlobalArgs,
    org: &OrgArgs,
    to: &mut Vec<String>,
    max_attempts: Option<u32>,
) -> Result<(Option<AwsSession>, Option<OrgTargets>), CliError> {
    if !org.adds_targets() {
        return Ok((None, None));
    }
    let mut explicit = to.clone();
    let mut from = Vec::new();
    if let Some(path) = &org.to_accounts_file {
        explicit.extend(read_accounts_file(path)?);
        from.push(format!("file {}", path.display()));
    }
    let request = org.request();
    let mut session = None;
    let mut listed = Vec::new();
    let mut source_account = String::new();
    let mut described = None;
    if !request.is_empty() {
        let source = source_session(global, max_attempts).await?;
        source_account.clone_from(&source.account);
        let reader = match &org.org_profile {
            Some(p) => SdkOrgReader::new(&org_session(p, &source.region, max_attempts).await?),
            None => SdkOrgReader::new(&source),
        };
        let hint =
            "list them with the management or a delegated administrator account (`--org-profile P`)";
        listed = list_requested(&reader, &request).await.map_err(|e| {
            CliError::runtime(format!("cannot list the organization's accounts: {e}"))
                .with_hint(hint)
        })?;
        let (info, paths) = describe(&reader, &request.ous).await.map_err(|e| {
            CliError::runtime(format!("cannot read the organization's OU paths: {e}"))
                .with_hint(hint)
        })?;
        described = Some((info, paths));
        from.extend(request.ous.iter().map(|o| format!("ou {o}")));
        if request.whole_org {
            from.push("organization".into());
        }
        session = Some(source);
    }
    let (targets, skipped) = resolve(&explicit, &listed, &source_account);
    if targets.is_empty() {
        return Err(CliError::usage(
            format!(
                "no target account: {} gave no active account",
                from.join(", ")
            ),
            "check the OU id or the file, or name accounts with `--to`",
        ));
    }
    let (info, ou_paths) = described.unzip();
    let ou_paths = ou_paths.unwrap_or_default();
    let members = member_paths(&targets, &explicit, &listed, &ou_paths);
    *to = targets;
    let recorded = OrgTargets {
        from,
        skipped,
        ous: request.ous,
        whole_org: request.whole_org,
        org_id: info.as_ref().map(|i| i.id.clone()),
        management_account: info.map(|i| i.management_account),
        ou_paths,
        members,
        key_policy_principals: match org.key_policy_principals {
            Some(KeyPolicyPrincipalsArg::Accounts) => KeyPolicyPrincipals::Accounts,
            Some(KeyPolicyPrincipalsArg::Org) | None => KeyPolicyPrincipals::Org,
        },
    };
    Ok((session, Some(recorded)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ou_ids() {
        assert!(is_ou_id("ou-ab12-cd34ef56"));
        assert!(is_ou_id("r-ab12"));
        assert!(!is_ou_id("ou-ab12"));
        assert!(!is_ou_id("ou-AB12-cd34ef56"));
        assert!(!is_ou_id("444455556666"));
    }
}
