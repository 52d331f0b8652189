//! `amishare explain`'s guardrail flags: `--scp`, `--rcp` (one FILE per level of the path, root
//! first), `--permissions-boundary`, `--session-policy`, read into [`Guardrails`].

use super::CliError;
use crate::policy::{
    parse_org_policies, parse_policies, Boundary, Guardrails, Known, OrgLevel, OrgPath, OrgPolicy,
    PolicyDocument, PolicyParseError,
};
use std::path::{Path, PathBuf};

/// The guardrail flags of `explain`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GuardrailArgs {
    /// The SCPs attached at one level of the principal account's path, root first, then each OU,
    /// then the account: one policy document or a JSON array of them (or `aws organizations
    /// describe-policy` output); repeat once per level. Every level must allow the request
    #[arg(long, value_name = "FILE")]
    pub scp: Vec<PathBuf>,
    /// The RCPs attached at one level of the key owner account's path, root first (same form as
    /// --scp); repeat once per level
    #[arg(long, value_name = "FILE")]
    pub rcp: Vec<PathBuf>,
    /// The principal's permissions boundary (a policy document, or `aws iam get-policy-version`
    /// output)
    #[arg(long, value_name = "FILE")]
    pub permissions_boundary: Option<PathBuf>,
    /// A session policy passed when the principal's session was created (repeatable)
    #[arg(long, value_name = "FILE")]
    pub session_policy: Vec<PathBuf>,
}

fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| {
        CliError::usage(
            format!("cannot read `{}`: {e}", path.display()),
            "pass an existing, readable JSON file",
        )
    })
}

fn parse_error(flag: &str, e: PolicyParseError) -> CliError {
    CliError::usage(
        format!("{flag}: {e}"),
        format!("{flag} takes a JSON policy document or a JSON array of documents"),
    )
}

/// The level names of `--org-path` (`o-x/r-y/ou-z/`): the root and each OU, without the org.
fn path_levels(org_paths: &[String]) -> Vec<String> {
    org_paths
        .first()
        .map(|p| {
            p.split('/')
                .filter(|s| !s.is_empty() && !s.starts_with("o-"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Read one `--scp`/`--rcp` list into the levels of a path. Levels are named after
/// `--org-path` (and `account`) when it has as many levels, else `level N (FILE)`.
fn org_path(
    flag: &str,
    files: &[PathBuf],
    names: &[String],
    account: &str,
) -> Result<Known<OrgPath>, CliError> {
    if files.is_empty() {
        return Ok(Known::Absent);
    }
    let named = !names.is_empty() && names.len() + 1 == files.len();
    let mut levels = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let origin = f.display().to_string();
        let docs = parse_org_policies(&read(f)?, &origin).map_err(|e| parse_error(flag, e))?;
        let target = match (named, names.get(i)) {
            (true, Some(n)) => n.clone(),
            (true, None) => account.to_string(),
            _ => format!("level {} ({origin})", i + 1),
        };
        levels.push(OrgLevel {
            target,
            policies: docs
                .into_iter()
                .map(|(id, document)| OrgPolicy {
                    id: id.unwrap_or_else(|| document.origin.clone()),
                    document,
                })
                .collect(),
        });
    }
    Ok(Known::Known(OrgPath {
        levels,
        management_account: false,
    }))
}

fn documents(flag: &str, files: &[PathBuf]) -> Result<Vec<PolicyDocument>, CliError> {
    let mut out = Vec::new();
    for f in files {
        let origin = f.display().to_string();
        out.extend(parse_policies(&read(f)?, &origin).map_err(|e| parse_error(flag, e))?);
    }
    Ok(out)
}

/// The guardrails the flags describe. `org_paths` names the SCP levels (the principal's
/// `--org-path`); `principal_account` and `key_account` name the last level of each path.
pub fn guardrails(
    args: &GuardrailArgs,
    org_paths: &[String],
    principal_account: &str,
    key_account: &str,
) -> Result<Guardrails, CliError> {
    let boundary = match &args.permissions_boundary {
        None => Known::Absent,
        Some(f) => {
            let mut docs = documents("--permissions-boundary", std::slice::from_ref(f))?;
            if docs.len() != 1 {
                return Err(CliError::usage(
                    format!(
                        "--permissions-boundary: `{}` holds {} documents",
                        f.display(),
                        docs.len()
                    ),
                    "a principal has one permissions boundary: pass one policy document",
                ));
            }
            let document = docs.remove(0);
            Known::Known(Boundary {
                arn: document.origin.clone(),
                document,
            })
        }
    };
    let session = documents("--session-policy", &args.session_policy)?;
    Ok(Guardrails {
        scps: org_path(
            "--scp",
            &args.scp,
            &path_levels(org_paths),
            principal_account,
        )?,
        rcps: org_path("--rcp", &args.rcp, &[], key_account)?,
        boundary,
        session_policies: if session.is_empty() {
            Known::Absent
        } else {
            Known::Known(session)
        },
    })
}
