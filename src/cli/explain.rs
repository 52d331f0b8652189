//! `amishare explain`: offline analysis of policy files; no AWS access at all.

use super::{CliError, Exit, GlobalArgs};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    /// The KMS key policy (JSON file)
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
    #[arg(long, value_name = "CUSTOMER|AWS", default_value = "CUSTOMER")]
    pub key_manager: String,
    /// The operation to check
    #[arg(long, value_name = "launch|copy", default_value = "launch")]
    pub operation: String,
    /// Where the launch/copy happens; default: the key ARN's region
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// The caller's source IP address
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
}

pub fn run(_global: &GlobalArgs, _args: ExplainArgs) -> Result<Exit, CliError> {
    Err(CliError::runtime("`explain` is not implemented yet"))
}
