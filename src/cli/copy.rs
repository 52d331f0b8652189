//! `amishare copy`, `apply` and `rollback`: the cross-account workflow.

use super::{CliError, Exit, GlobalArgs};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct CopyArgs {
    /// The AMI to copy (prompted for when missing and stdin is a terminal)
    pub ami_id: Option<String>,
    /// Target account id (12 digits; repeatable)
    #[arg(long = "to", value_name = "ACCOUNT")]
    pub to: Vec<String>,
    /// Role to assume in each target account (name or ARN)
    #[arg(long, value_name = "NAME|ARN")]
    pub target_role: Option<String>,
    /// External id for assuming the target role
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,
    /// Credentials profile for the (single) target account
    #[arg(long, value_name = "P")]
    pub target_profile: Option<String>,
    /// Target region (repeatable); default: the source region
    #[arg(long, value_name = "R")]
    pub target_region: Vec<String>,
    /// Target users/roles/groups that will launch the copy (repeatable)
    #[arg(long, value_name = "ARN")]
    pub grant: Vec<String>,
    /// Key for the copy; default: the target's EBS default key
    #[arg(long, value_name = "KEY")]
    pub target_key: Option<String>,
    /// Name of the copied AMI
    #[arg(long)]
    pub name: Option<String>,
    /// Copy the source AMI's tags to the copy
    #[arg(long)]
    pub copy_tags: bool,
    /// Show the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Save the plan to FILE (apply it later with `amishare apply FILE`)
    #[arg(long, value_name = "FILE")]
    pub plan_out: Option<PathBuf>,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Never prompt; a missing value is an error
    #[arg(long)]
    pub no_input: bool,
    /// Skip the test launch of the copy
    #[arg(long)]
    pub no_test_launch: bool,
    /// Instance type for the test launch; default: the smallest for the image's architecture
    #[arg(long, value_name = "T")]
    pub instance_type: Option<String>,
    /// Subnet for the test launch
    #[arg(long, value_name = "S")]
    pub subnet_id: Option<String>,
    /// Seconds to wait for the test instance to run
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub launch_timeout: u64,
    /// Remove the shares and key policy access once the copies exist
    #[arg(long)]
    pub revoke_after_copy: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// A plan saved by `amishare copy --plan-out`
    pub plan_file: PathBuf,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RollbackArgs {
    /// The run id printed by `amishare copy`
    pub run_id: String,
    /// Also deregister the copies and delete their snapshots
    #[arg(long)]
    pub delete_copies: bool,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn run(_global: &GlobalArgs, _args: CopyArgs) -> Result<Exit, CliError> {
    Err(CliError::runtime("`copy` is not implemented yet"))
}

pub async fn apply(_global: &GlobalArgs, _args: ApplyArgs) -> Result<Exit, CliError> {
    Err(CliError::runtime("`apply` is not implemented yet"))
}

pub async fn rollback(_global: &GlobalArgs, _args: RollbackArgs) -> Result<Exit, CliError> {
    Err(CliError::runtime("`rollback` is not implemented yet"))
}
