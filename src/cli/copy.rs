//! `amishare copy`: the cross-account workflow: validate the flags, prompt for what is missing,
//! connect, discover, plan, then show the plan (blocked, dry run, nothing to do) or apply it.

use std::path::{Path, PathBuf};

use super::apply::{apply_and_report, exit_for, ApplyWith};
use super::connect::{connect_keeping_source, source_session, Reach};
use super::lifecycle::LifecycleArgs;
use super::progress::Progress;
use super::prompt::{confirm, prompt_missing, require_values, CopyAnswers};
use super::prompt_access::ask_target_access;
use super::validate::{is_account_id, is_ec2_id, is_principal_arn, is_region};
use super::{render, CliError, Exit, GlobalArgs, OutputFormat};
use crate::aws::reader::SdkReader;
use crate::aws::session::AwsSession;
use crate::domain::arn::{expand_grants, partition_of, AUTOSCALING_GRANT};
use crate::state::FileJournalStore;
use crate::workflow::copy::{build_plan, discover, Report, ReportStatus, RunStart};
use crate::workflow::journal;
use crate::workflow::plan::{AccessSpec, Plan, PlanOptions};
use crate::workflow::ports::Reader;

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
    /// Target users/roles/groups that will launch the copy (repeatable); `autoscaling`: each
    /// target's Auto Scaling service-linked role
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
    #[arg(long, value_name = "SECS", default_value_t = 600,
          value_parser = super::validate::positive_secs, allow_negative_numbers = true)]
    pub launch_timeout: u64,
    /// Remove the shares and key policy access once the copies exist
    #[arg(long)]
    pub revoke_after_copy: bool,
    /// Share the AMI and test-launch the shared original in each target; make no copy
    #[arg(long)]
    pub share_only: bool,
    /// For an AMI on AWS managed (aws/ebs) keys: first copy it inside the source account
    /// re-encrypted with this customer managed key (ARN, id or alias), then share that copy
    #[arg(long, value_name = "KEY")]
    pub reencrypt_with: Option<String>,
    /// Leave the source key policy alone (reproduces the "Client error on launch" failure)
    #[arg(long, hide = true)]
    pub skip_key_policy_edit: bool,
    #[command(flatten)]
    pub org: super::org_targets::OrgArgs,
    /// Target account/regions copied and test-launched at once (AWS's per-destination copy
    /// limits hold whatever the value; throttling slows the requests down)
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrency: u16,
    /// Maximum attempts per AWS call (1: no retries)
    #[arg(long, hide = true, value_name = "N")]
    pub max_attempts: Option<u32>,
    #[command(flatten)]
    pub export: super::export::ExportArgs,
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
}

impl CopyArgs {
    /// The values the guided prompts may fill in, as the flags gave them.
    fn answers(&self) -> CopyAnswers {
        CopyAnswers {
            ami_id: self.ami_id.clone(),
            to: self.to.clone(),
            target_region: self.target_region.clone(),
            grant: self.grant.clone(),
            target_key: self.target_key.clone(),
        }
    }

    fn take_answers(&mut self, answers: CopyAnswers) {
        self.ami_id = answers.ami_id;
        self.to = answers.to;
        self.target_region = answers.target_region;
        self.grant = answers.grant;
        self.target_key = answers.target_key;
    }

    /// The plan's options, for these target regions and this access.
    fn plan_options(
        &self,
        access: AccessSpec,
        regions: Vec<String>,
    ) -> Result<PlanOptions, CliError> {
        Ok(PlanOptions {
            target_accounts: self.to.clone(),
            target_regions: regions,
            grants: self.grant.clone(),
            target_key: self.target_key.clone(),
            name: self.name.clone(),
            copy_tags: self.copy_tags,
            test_launch: !self.no_test_launch,
            instance_type: self.instance_type.clone(),
            subnet_id: self.subnet_id.clone(),
            launch_timeout_secs: self.launch_timeout,
            revoke_after_copy: self.revoke_after_copy,
            skip_key_policy_edit: self.skip_key_policy_edit,
            share_only: self.share_only,
            access,
            reencrypt_with: self.reencrypt_with.clone(),
            probe: self.dry_run,
            lifecycle: self.lifecycle.options(self.share_only)?,
            org_targets: None,
        })
    }
}

fn validate(args: &CopyArgs) -> Result<(), CliError> {
    for a in &args.to {
        if !is_account_id(a) {
            return Err(CliError::usage(
                format!("`--to {a}` is not an AWS account id"),
                "an account id is 12 digits, e.g. `--to 444455556666`",
            ));
        }
    }
    for r in &args.target_region {
        if !is_region(r) {
            return Err(CliError::usage(
                format!("`--target-region {r}` is not an AWS region"),
                "regions look like `us-east-1` or `eu-central-1`",
            ));
        }
    }
    if let Some(ami) = &args.ami_id {
        if !is_ec2_id(ami, "ami-") {
            return Err(CliError::usage(
                format!("`{ami}` is not an AMI id"),
                "AMI ids look like `ami-0123456789abcdef0`",
            ));
        }
    }
    for g in &args.grant {
        if !is_principal_arn(g) && !g.eq_ignore_ascii_case(AUTOSCALING_GRANT) {
            return Err(CliError::usage(
                format!("`--grant {g}` is not an IAM user, role or group ARN"),
                "e.g. `--grant arn:aws:iam::444455556666:role/Launcher`, or `--grant autoscaling` for each target's Auto Scaling service-linked role",
            ));
        }
    }
    super::validate::copy_flags(
        args.target_key.as_deref(),
        args.reencrypt_with.as_deref(),
        args.instance_type.as_deref(),
        args.subnet_id.as_deref(),
        args.target_role.as_deref(),
    )?;
    super::validate::copy_texts(
        args.name.as_deref(),
        args.external_id.as_deref(),
        args.target_profile.as_deref(),
    )?;
    super::org_targets::validate(&args.org)?;
    args.lifecycle.options(args.share_only).map(|_| ())
}

pub async fn run(global: &GlobalArgs, mut args: CopyArgs) -> Result<Exit, CliError> {
    validate(&args)?;
    let export = args.export.target()?;
    let (org_session, org_targets) =
        super::org_targets::resolve_targets(global, &args.org, &mut args.to, args.max_attempts)
            .await?;
    let loaded = ask_for_missing(global, &mut args).await?.or(org_session);
    ask_target_access(
        &mut args.target_role,
        &mut args.target_profile,
        &args.to,
        args.no_input,
    )?;
    let access = AccessSpec {
        source_profile: global.profile.clone(),
        target_role: args.target_role.clone(),
        external_id: args.external_id.clone(),
        target_profile: args.target_profile.clone(),
    };
    let Some(image_id) = args.ami_id.clone() else {
        return Err(CliError::usage("no AMI given", "pass the AMI id"));
    };
    let reach = Reach {
        access: &access,
        source_region: None,
        accounts: &args.to,
        regions: &args.target_region,
        max_attempts: args.max_attempts,
        plan_source_account: None,
    };
    let (world, regions, source) = connect_keeping_source(global, &reach, loaded).await?;
    let mut opts = args.plan_options(access, regions)?;
    // `--grant autoscaling`: Auto Scaling's service-linked role of each target account, in the
    // source's partition (known once connected).
    opts.grants = expand_grants(
        &opts.grants,
        &opts.target_accounts,
        partition_of(&world.source.reader.identity().arn),
    );
    opts.org_targets = org_targets;
    let store = FileJournalStore::default_location();
    let progress = Progress::for_output(global);
    let start = RunStart::choose(&store, &opts, &image_id, args.dry_run);
    if let Some(j) = &start.resumed {
        eprintln!(
            "resuming run {} (status {:?}) from its journal",
            j.run_id, j.status
        );
    }
    let mut discovery = discover(&world, &image_id, &opts, &progress).await?;
    let known = opts.org_targets.as_ref();
    super::org_targets::read_org_guardrails(
        global,
        &args.org,
        args.max_attempts,
        &source,
        known,
        &mut discovery,
    )
    .await?;
    let plan = build_plan(
        &discovery,
        &opts,
        &start.run_id,
        start.attempt,
        &journal::now(),
    )?;
    if let Some(path) = &args.plan_out {
        write_plan(path, &plan)?;
    }
    if let Some(status) = start.unapplied_status(&plan, args.dry_run) {
        let report = Report::unapplied(&plan, status);
        match global.output {
            OutputFormat::Json => println!("{}", render::report::json(&plan, &report)?),
            OutputFormat::Text => print!(
                "{}",
                render::plan::unapplied_text(&plan, &report, status == ReportStatus::DryRun)
            ),
        }
        if let Some(target) = &export {
            super::export::write_unapplied(target, &plan, status)?;
        }
        if global.verbose > 0 {
            eprint!("{}", super::connect::verbose_footer());
        }
        return Ok(exit_for(&report));
    }
    if global.output == OutputFormat::Text {
        eprint!("{plan}");
    }
    if !confirm("Apply this plan?", args.yes, args.no_input)? {
        eprintln!("nothing changed");
        return Ok(Exit::Success);
    }
    let journal = start.into_journal(&plan);
    apply_and_report(
        global,
        &world,
        &plan,
        journal,
        &store,
        &progress,
        ApplyWith {
            export: export.as_ref(),
            max_concurrency: usize::from(args.max_concurrency),
        },
    )
    .await
}

/// When the AMI or the target accounts are missing: ask for them (and the other values not
/// given) when amishare may ask, else the usage error naming the flag. Returns the source
/// session the prompts loaded, so connecting does not resolve its credentials again.
async fn ask_for_missing(
    global: &GlobalArgs,
    args: &mut CopyArgs,
) -> Result<Option<AwsSession>, CliError> {
    if args.ami_id.is_some() && !args.to.is_empty() {
        return Ok(None);
    }
    let mut answers = args.answers();
    require_values(&answers, args.no_input)?;
    let source = source_session(global, args.max_attempts).await?;
    prompt_missing(&mut answers, args.no_input, &SdkReader::new(&source)).await?;
    args.take_answers(answers);
    validate(args)?;
    Ok(Some(source))
}

fn write_plan(path: &Path, plan: &Plan) -> Result<(), CliError> {
    let text = render::plan::plan_file(plan)?;
    crate::state::write_private(path, text.as_bytes()).map_err(|e| {
        CliError::runtime(format!(
            "cannot write the plan to `{}`: {e}",
            path.display()
        ))
    })
}
