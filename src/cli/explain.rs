//! `amishare explain`: offline analysis of policy files; no AWS access at all.

use super::render::explain::{render_json, render_text};
use super::{CliError, Exit, GlobalArgs, OutputFormat};
use crate::policy::{
    analyze, parse_grants, parse_policies, parse_policy, AnalysisRequest, Caller, CallerContext,
    KeyInfo, KeyManager, Operation, PolicyDocument, PolicyParseError, Verdict,
};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};

/// Who manages the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyManagerArg {
    /// A customer managed key
    #[value(name = "CUSTOMER", alias = "customer")]
    Customer,
    /// An AWS managed key such as aws/ebs
    #[value(name = "AWS", alias = "aws")]
    Aws,
}

/// The operation to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OperationArg {
    /// RunInstances from an AMI shared with the principal
    Launch,
    /// CopyImage of a shared AMI
    Copy,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    /// The KMS key policy (JSON file, or `aws kms get-key-policy` output)
    #[arg(long, value_name = "FILE")]
    pub key_policy: PathBuf,
    /// The principal that launches or copies: user, role, role session or Auto Scaling's role
    #[arg(long, value_name = "ARN")]
    pub principal: String,
    /// The KMS key's ARN
    #[arg(long, value_name = "ARN")]
    pub key_arn: String,
    /// An identity policy of the principal: one document or a JSON array of documents (repeatable)
    #[arg(long, value_name = "FILE")]
    pub identity_policy: Vec<PathBuf>,
    /// Grants on the key, as `kms list-grants` prints them ({"Grants": [..]}) or a bare array
    #[arg(long, value_name = "FILE")]
    pub grants: Option<PathBuf>,
    /// Who manages the key
    #[arg(long, value_enum, default_value = "CUSTOMER")]
    pub key_manager: KeyManagerArg,
    /// The operation to check
    #[arg(long, value_enum, default_value = "launch")]
    pub operation: OperationArg,
    /// The caller's source IP address (applies to direct calls only, never to EC2's on-behalf calls)
    #[arg(long, value_name = "IP")]
    pub source_ip: Option<String>,
    /// The caller's AWS Organizations id
    #[arg(long, value_name = "o-...")]
    pub org_id: Option<String>,
    /// The caller's organization path(s)
    #[arg(long, value_name = "PATH")]
    pub org_path: Vec<String>,
    /// A tag on the calling principal (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub principal_tag: Vec<String>,
    #[command(flatten)]
    pub guardrails: super::explain_guardrails::GuardrailArgs,
}

fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| {
        CliError::usage(
            format!("cannot read `{}`: {e}", path.display()),
            "pass an existing, readable JSON file",
        )
    })
}

fn parse_error(e: PolicyParseError, what: &str) -> CliError {
    let hint = match &e {
        PolicyParseError::Json { .. } | PolicyParseError::Empty { .. } => {
            format!("{what} must be a JSON document")
        }
        PolicyParseError::Element { .. } => {
            format!("fix that element of the {what}; see the IAM JSON policy reference")
        }
    };
    CliError::usage(e.to_string(), hint)
}

/// The validated inputs of one `explain` run (`--region` is the global option: where the
/// launch or copy happens, default: the key ARN's region).
struct Settings {
    key: KeyInfo,
    principal: String,
    identity: Vec<PolicyDocument>,
    operation: Operation,
    context: CallerContext,
}

fn settings(global: &GlobalArgs, args: ExplainArgs) -> Result<Settings, CliError> {
    let caller = Caller::parse(&args.principal).map_err(|e| {
        CliError::usage(
            format!("--principal: {e}"),
            "e.g. `arn:aws:iam::444455556666:role/Launcher` or `arn:aws:sts::444455556666:assumed-role/Launcher/alice`",
        )
    })?;
    let key_arn = crate::policy::eval::KeyArn::parse(&args.key_arn).map_err(|e| {
        CliError::usage(
            format!("--key-arn: {e}"),
            "e.g. `arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab`",
        )
    })?;
    let origin = args.key_policy.display().to_string();
    let policy = parse_policy(&read(&args.key_policy)?, &origin)
        .map_err(|e| parse_error(e, "key policy"))?;
    let mut identity = Vec::new();
    for p in &args.identity_policy {
        let origin = p.display().to_string();
        identity.extend(
            parse_policies(&read(p)?, &origin).map_err(|e| parse_error(e, "identity policy"))?,
        );
    }
    let grants = match &args.grants {
        Some(p) => parse_grants(&read(p)?, &p.display().to_string())
            .map_err(|e| parse_error(e, "grants file"))?,
        None => Vec::new(),
    };
    let source_ip = args
        .source_ip
        .as_deref()
        .map(|s| {
            s.trim().parse().map_err(|_| {
                CliError::usage(
                    format!("--source-ip: `{s}` is not an IP address"),
                    "e.g. `--source-ip 203.0.113.10`",
                )
            })
        })
        .transpose()?;
    let mut principal_tags = BTreeMap::new();
    for t in &args.principal_tag {
        let Some((k, v)) = t.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(CliError::usage(
                format!("--principal-tag: `{t}` is not KEY=VALUE"),
                "e.g. `--principal-tag team=build`",
            ));
        };
        principal_tags.insert(k.to_string(), v.to_string());
    }
    if let Some(org) = &args.org_id {
        if !org.starts_with("o-") {
            return Err(CliError::usage(
                format!("--org-id: `{org}` is not an organization id"),
                "organization ids look like `o-a1b2c3d4e5`",
            ));
        }
    }
    let guardrails = super::explain_guardrails::guardrails(
        &args.guardrails,
        &args.org_path,
        &caller.account,
        &key_arn.account,
    )?;
    Ok(Settings {
        key: KeyInfo {
            arn: args.key_arn,
            manager: match args.key_manager {
                KeyManagerArg::Customer => KeyManager::Customer,
                KeyManagerArg::Aws => KeyManager::Aws,
            },
            policy: Some(policy),
            grants,
        },
        principal: args.principal,
        identity,
        operation: match args.operation {
            OperationArg::Launch => Operation::Launch,
            OperationArg::Copy => Operation::Copy,
        },
        context: CallerContext {
            region: global.region.clone(),
            source_ip,
            org_id: args.org_id,
            org_paths: args.org_path,
            principal_tags,
            now: Some(chrono::Utc::now()),
            guardrails,
        },
    })
}

pub fn run(global: &GlobalArgs, args: ExplainArgs) -> Result<Exit, CliError> {
    let s = settings(global, args)?;
    let analysis = analyze(&AnalysisRequest {
        key: &s.key,
        principal: &s.principal,
        identity_policies: &s.identity,
        operation: s.operation,
        context: &s.context,
    })
    .map_err(|e| CliError::usage(e.to_string(), "check --principal and --key-arn"))?;
    let out = match global.output {
        OutputFormat::Json => render_json(&analysis),
        OutputFormat::Text => {
            let color = global.colour_allowed() && std::io::stdout().is_terminal();
            render_text(&analysis, color)
        }
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{out}") {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(CliError::runtime(format!("cannot write the result: {e}")));
        }
    }
    Ok(match analysis.verdict {
        Verdict::Allow => Exit::Success,
        Verdict::Deny | Verdict::Undecided => Exit::Denied,
    })
}
