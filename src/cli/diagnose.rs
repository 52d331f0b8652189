//! `amishare diagnose`: explain a failed launch from the live account, with the exact fix.

use super::{CliError, Exit, GlobalArgs};

#[derive(Debug, Clone, clap::Args)]
pub struct DiagnoseArgs {
    /// The instance that failed to launch (or omit and give --ami and --principal)
    pub instance_id: Option<String>,
    /// The AMI to check before launching
    #[arg(long, value_name = "AMI")]
    pub ami: Option<String>,
    /// The principal that launches (default: from CloudTrail, for an instance)
    #[arg(long, value_name = "ARN")]
    pub principal: Option<String>,
    /// Profile for the key's own account, to read its key policy
    #[arg(long, value_name = "P")]
    pub key_account_profile: Option<String>,
}

pub async fn run(_global: &GlobalArgs, _args: DiagnoseArgs) -> Result<Exit, CliError> {
    Err(CliError::runtime("`diagnose` is not implemented yet"))
}
