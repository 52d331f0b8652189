//! `amishare copy`, `apply` and `rollback`: the cross-account workflow.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::watch;

use super::prompt::{
    confirm, is_account_id, is_ec2_id, is_principal_arn, is_region, prompt_missing, require_values,
};
use super::{CliError, Exit, GlobalArgs, OutputFormat};
use crate::aws::clients::{AwsSession, RoleSpec, SessionOptions};
use crate::aws::reader::SdkReader;
use crate::aws::writer::SdkWriter;
use crate::state::FileJournalStore;
use crate::workflow::copy::{
    build_plan, discover, Apply, Conn, CopyError, Report, TargetAccess, Timing, World,
};
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::{Journal, JournalStore, RunStatus};
use crate::workflow::plan::{AccessSpec, Plan, PlanOptions};
use crate::workflow::rollback::RollbackReport;

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
    /// Maximum attempts per AWS call (1: no retries)
    #[arg(long, hide = true, value_name = "N")]
    pub max_attempts: Option<u32>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// A plan saved by `amishare copy --plan-out`
    pub plan_file: PathBuf,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Never prompt
    #[arg(long)]
    pub no_input: bool,
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

type SdkWorld = World<SdkReader, SdkWriter>;

fn copy_error(e: CopyError) -> CliError {
    match e {
        CopyError::Input { message, hint } => CliError::usage(message, hint),
        CopyError::WorldChanged(d) => CliError::runtime(format!(
            "the world changed since the plan was made: {}",
            d.join("; ")
        ))
        .with_hint("run `amishare copy ... --plan-out FILE` again and review the new plan"),
        CopyError::Interrupted => CliError::runtime("interrupted"),
        other => CliError::runtime(other.to_string()),
    }
}

/// Build the clients for the source account and every target account and region; `loaded` is
/// the source session when the caller already has it (the guided prompts did), so its
/// credentials are not resolved a second time.
async fn connect(
    global: &GlobalArgs,
    access: &AccessSpec,
    loaded: Option<AwsSession>,
    source_region: Option<&str>,
    accounts: &[String],
    regions: &[String],
    max_attempts: Option<u32>,
) -> Result<(SdkWorld, Vec<String>), CliError> {
    let opts = SessionOptions {
        profile: access
            .source_profile
            .clone()
            .or_else(|| global.profile.clone()),
        region: source_region
            .map(str::to_string)
            .or_else(|| global.region.clone()),
        endpoint_url: None,
        max_attempts,
    };
    let source = match loaded {
        Some(session) => session,
        None => AwsSession::load(&opts).await?,
    };
    let regions: Vec<String> = if regions.is_empty() {
        vec![source.region.clone()]
    } else {
        regions.to_vec()
    };
    if access.target_profile.is_some() && accounts.len() > 1 {
        return Err(CliError::usage(
            "`--target-profile` gives credentials for one account, but several `--to` accounts were given",
            "use `--target-role NAME` (assumed in every target account) for several targets",
        ));
    }
    let mut targets = Vec::new();
    for account in accounts {
        let session = if let Some(role) = &access.target_role {
            Some(
                source
                    .assume_role(
                        &RoleSpec::parse(role, account),
                        access.external_id.as_deref(),
                    )
                    .await?,
            )
        } else if let Some(profile) = &access.target_profile {
            let o = SessionOptions {
                profile: Some(profile.clone()),
                region: Some(source.region.clone()),
                endpoint_url: None,
                max_attempts,
            };
            Some(AwsSession::load(&o).await?)
        } else if account == &source.account {
            Some(source.clone())
        } else {
            None
        };
        if let Some(s) = &session {
            if &s.account != account {
                return Err(CliError::usage(
                    format!(
                        "the target credentials act in account {} (`{}`), not in `{account}`",
                        s.account, s.arn
                    ),
                    "pass the role or profile of the account named with `--to`",
                ));
            }
        }
        let mut conns = BTreeMap::new();
        if let Some(s) = &session {
            for r in &regions {
                let rs = s.in_region(r);
                conns.insert(
                    r.clone(),
                    Conn {
                        reader: SdkReader::new(&rs),
                        writer: SdkWriter::new(&rs),
                    },
                );
            }
        }
        targets.push(TargetAccess {
            account: account.clone(),
            identity: session.as_ref().map(AwsSession::identity),
            regions: conns,
        });
    }
    let world = World {
        source: Conn {
            reader: SdkReader::new(&source),
            writer: SdkWriter::new(&source),
        },
        targets,
    };
    Ok((world, regions))
}

/// Progress on stderr: bars for copies on a terminal, plain lines otherwise.
struct Progress {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
    tty: bool,
    quiet: bool,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        Self {
            multi: MultiProgress::new(),
            bars: Mutex::new(BTreeMap::new()),
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    fn line(&self, s: String) {
        if self.quiet {
            return;
        }
        if self.tty {
            let _ = self.multi.println(s);
        } else {
            eprintln!("{s}");
        }
    }
}

impl Events for Progress {
    fn emit(&self, event: Event) {
        match event {
            Event::Phase { name } => self.line(format!("== {name}")),
            Event::StepStarted { step, summary } => self.line(format!("-> {step}: {summary}")),
            Event::StepFinished { step, ok, detail } => {
                let d = detail.map(|d| format!(": {d}")).unwrap_or_default();
                self.line(format!("{} {step}{d}", if ok { "ok" } else { "FAILED" }));
            }
            Event::CopyProgress {
                account,
                region,
                image_id,
                state,
                percent,
            } => {
                let key = format!("{account}/{region}");
                if self.tty && !self.quiet {
                    if let Ok(mut bars) = self.bars.lock() {
                        let bar = bars.entry(key.clone()).or_insert_with(|| {
                            let b = self.multi.add(ProgressBar::new(100));
                            if let Ok(style) =
                                ProgressStyle::with_template("{prefix} [{bar:30}] {pos:>3}% {msg}")
                            {
                                b.set_style(style.progress_chars("=> "));
                            }
                            b.set_prefix(key.clone());
                            b
                        });
                        bar.set_position(u64::from(percent.unwrap_or(0)));
                        bar.set_message(format!("{image_id} {state}"));
                    }
                }
            }
            Event::CopyFinished {
                account,
                region,
                image_id,
                state,
            } => {
                if let Ok(mut bars) = self.bars.lock() {
                    if let Some(b) = bars.remove(&format!("{account}/{region}")) {
                        b.finish_and_clear();
                    }
                }
                self.line(format!("   copy {image_id} in {account}/{region}: {state}"));
            }
            Event::LaunchState {
                account,
                region,
                instance_id,
                state,
            } => self.line(format!(
                "   test instance {instance_id} in {account}/{region}: {state}"
            )),
            Event::Note { message } => self.line(format!("   {message}")),
        }
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
        if !is_principal_arn(g) {
            return Err(CliError::usage(
                format!("`--grant {g}` is not an IAM user, role or group ARN"),
                "e.g. `--grant arn:aws:iam::444455556666:role/Launcher`",
            ));
        }
    }
    Ok(())
}

/// A resumable journal of an earlier run of the same copy (interrupted or failed).
fn resumable(store: &FileJournalStore, opts: &PlanOptions, image_id: &str) -> Option<Journal> {
    let mut accounts = opts.target_accounts.clone();
    accounts.sort();
    let mut regions = opts.target_regions.clone();
    regions.sort();
    store.list().ok()?.into_iter().find(|j| {
        let mut a = j.plan.options.target_accounts.clone();
        a.sort();
        let mut r = j.plan.options.target_regions.clone();
        r.sort();
        j.plan.source.image_id == image_id
            && a == accounts
            && r == regions
            && matches!(
                j.status,
                RunStatus::Running | RunStatus::Interrupted | RunStatus::Failed
            )
    })
}

fn new_run_id() -> String {
    let t = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("{t}-{}", &u[..8])
}

fn exit_for(report: &Report) -> Exit {
    let launch_or_copy_failed = report.targets.iter().any(|t| {
        t.copy_state.as_deref() == Some("failed")
            || t.test_launch.as_ref().is_some_and(|l| l.result == "failed")
    });
    match report.status.as_str() {
        "ok" | "nothing-to-do" | "dry-run" => Exit::Success,
        "blocked" => Exit::Denied,
        _ if launch_or_copy_failed => Exit::Denied,
        _ => Exit::Runtime,
    }
}

fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::runtime(format!("cannot render JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// The report for humans.
pub fn render_report(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Run {}: {} ({} from {}/{})",
        r.run_id, r.status, r.image_id, r.source_account, r.source_region
    );
    for b in &r.blockers {
        let _ = writeln!(out, "  BLOCKED [{}]: {}", b.code, b.message);
        let _ = writeln!(out, "    fix: {}", b.fix);
    }
    for t in &r.targets {
        let _ = writeln!(
            out,
            "  {}/{}: {}{}",
            t.account,
            t.region,
            t.status,
            t.image_id
                .as_deref()
                .map(|i| format!(
                    "  AMI {i}{}",
                    t.copy_state
                        .as_deref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                ))
                .unwrap_or_default()
        );
        if let Some(reason) = &t.copy_state_reason {
            let _ = writeln!(out, "      copy state reason: {reason}");
        }
        if let Some(l) = &t.test_launch {
            let _ = writeln!(
                out,
                "      test launch: {} {} -> {}{}{}; {}",
                l.instance_id.as_deref().unwrap_or("(none)"),
                l.instance_type,
                l.result,
                l.seconds_to_running
                    .map(|s| format!(" after {s:.1} s"))
                    .unwrap_or_default(),
                l.state_reason_code
                    .as_deref()
                    .map(|c| format!(
                        ", state reason {c}: {}",
                        l.state_reason_message.as_deref().unwrap_or("")
                    ))
                    .unwrap_or_default(),
                if l.terminated {
                    "terminated (confirmed)"
                } else {
                    "NOT confirmed terminated"
                }
            );
        }
        if let Some(d) = &t.diagnosis {
            let _ = writeln!(out, "      cause: {}", d.cause);
            if !d.codes.is_empty() {
                let _ = writeln!(out, "      findings: {}", d.codes.join(", "));
            }
            if let Some(fix) = &d.fix {
                let _ = writeln!(out, "      fix: {fix}");
            }
            for s in &d.key_policy_statements {
                if let Ok(text) = serde_json::to_string_pretty(s) {
                    let _ = writeln!(out, "      key policy statement to add:");
                    for line in text.lines() {
                        let _ = writeln!(out, "        {line}");
                    }
                }
            }
            for e in &d.evidence {
                let _ = writeln!(out, "      evidence: {e}");
            }
        }
        if let Some(e) = &t.error {
            if t.diagnosis.is_none() {
                let _ = writeln!(out, "      error: {e}");
            }
        }
    }
    if !r.changes.is_empty() {
        let _ = writeln!(out, "Changes:");
        for c in &r.changes {
            let _ = writeln!(
                out,
                "  [{}] {} {}/{}: {}{}",
                if c.ok { "done" } else { "FAILED" },
                c.step,
                c.account,
                c.region,
                c.summary,
                if c.created.is_empty() {
                    String::new()
                } else {
                    format!(" (created {})", c.created.join(", "))
                }
            );
            if let Some(e) = &c.error {
                for line in e.lines() {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
    }
    for h in &r.handoffs {
        let _ = writeln!(out, "Hand-off for the admin of {}:", h.account);
        let _ = writeln!(out, "  {}.json:", h.policy_name);
        for line in h.policy_document.lines() {
            let _ = writeln!(out, "    {line}");
        }
        for c in &h.commands {
            let _ = writeln!(out, "  $ {c}");
        }
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if r.left_behind.is_empty() {
        let _ = writeln!(out, "Left behind: nothing");
    } else {
        let _ = writeln!(out, "Left behind:");
        for l in &r.left_behind {
            let _ = writeln!(out, "  {l}");
        }
    }
    if !r.changes.is_empty() {
        let _ = writeln!(out, "Undo with: amishare rollback {}", r.run_id);
    }
    out
}

/// Ctrl-C sets the cancel flag; the workflow then stops waiting and terminates its test instances.
fn cancel_on_ctrl_c() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: stopping, terminating test instances (Ctrl-C again is ignored until done)");
            let _ = tx.send(true);
            // keep the sender alive so the receivers see the flag
            std::future::pending::<()>().await;
        }
    });
    rx
}

async fn apply_and_report(
    global: &GlobalArgs,
    world: &SdkWorld,
    plan: &Plan,
    journal: Journal,
    store: &FileJournalStore,
    progress: &Progress,
) -> Result<Exit, CliError> {
    let ctx = Apply {
        world,
        store,
        events: progress,
        cancel: cancel_on_ctrl_c(),
        timing: Timing::default(),
    };
    let report = crate::workflow::copy::apply(&ctx, plan, journal)
        .await
        .map_err(copy_error)?;
    match global.output {
        OutputFormat::Json => print_json(&serde_json::json!({"plan": plan, "report": report}))?,
        OutputFormat::Text => print!("{}", render_report(&report)),
    }
    Ok(exit_for(&report))
}

pub async fn run(global: &GlobalArgs, mut args: CopyArgs) -> Result<Exit, CliError> {
    validate(&args)?;
    let access = AccessSpec {
        source_profile: global.profile.clone(),
        target_role: args.target_role.clone(),
        external_id: args.external_id.clone(),
        target_profile: args.target_profile.clone(),
    };
    let mut loaded = None;
    if args.ami_id.is_none() || args.to.is_empty() {
        require_values(&args)?;
        let opts = SessionOptions {
            profile: global.profile.clone(),
            region: global.region.clone(),
            endpoint_url: None,
            max_attempts: args.max_attempts,
        };
        let source = AwsSession::load(&opts).await?;
        prompt_missing(&mut args, &SdkReader::new(&source)).await?;
        validate(&args)?;
        loaded = Some(source);
    }
    let Some(image_id) = args.ami_id.clone() else {
        return Err(CliError::usage("no AMI given", "pass the AMI id"));
    };
    let (world, regions) = connect(
        global,
        &access,
        loaded,
        None,
        &args.to,
        &args.target_region,
        args.max_attempts,
    )
    .await?;
    let opts = PlanOptions {
        target_accounts: args.to.clone(),
        target_regions: regions,
        grants: args.grant.clone(),
        target_key: args.target_key.clone(),
        name: args.name.clone(),
        copy_tags: args.copy_tags,
        test_launch: !args.no_test_launch,
        instance_type: args.instance_type.clone(),
        subnet_id: args.subnet_id.clone(),
        launch_timeout_secs: args.launch_timeout,
        revoke_after_copy: args.revoke_after_copy,
        skip_key_policy_edit: args.skip_key_policy_edit,
        share_only: args.share_only,
        access,
        reencrypt_with: args.reencrypt_with.clone(),
        probe: args.dry_run,
    };
    let store = FileJournalStore::default_location();
    let progress = Progress::new(global.output == OutputFormat::Json && global.verbose == 0);
    let resume = if args.dry_run {
        None
    } else {
        resumable(&store, &opts, &image_id)
    };
    let (run_id, attempt) = match &resume {
        Some(j) => {
            eprintln!(
                "resuming run {} (status {:?}) from its journal",
                j.run_id, j.status
            );
            (j.run_id.clone(), j.attempt.max(1) + 1)
        }
        None => (new_run_id(), 1),
    };
    let discovery = discover(&world, &image_id, &opts, &progress)
        .await
        .map_err(copy_error)?;
    let plan = build_plan(&discovery, &opts, &run_id, attempt).map_err(copy_error)?;
    if let Some(path) = &args.plan_out {
        let text = serde_json::to_string_pretty(&plan)
            .map_err(|e| CliError::runtime(format!("cannot render the plan: {e}")))?;
        std::fs::write(path, text).map_err(|e| {
            CliError::runtime(format!(
                "cannot write the plan to `{}`: {e}",
                path.display()
            ))
        })?;
    }
    let status = if !plan.blockers.is_empty() {
        Some("blocked")
    } else if args.dry_run {
        Some("dry-run")
    } else if plan.is_empty()
        && resume
            .as_ref()
            .is_none_or(|j| j.unconfirmed_instances().is_empty())
    {
        Some("nothing-to-do")
    } else {
        None
    };
    if let Some(status) = status {
        let report = Report::unapplied(&plan, status);
        match global.output {
            OutputFormat::Json => print_json(&serde_json::json!({"plan": plan, "report": report}))?,
            OutputFormat::Text => {
                print!("{plan}");
                if status != "dry-run" {
                    print!("{}", render_report(&report));
                }
            }
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
    let journal = match resume {
        Some(mut j) => {
            j.plan = plan.clone();
            j.attempt = attempt;
            j.status = RunStatus::Running;
            j
        }
        None => Journal::new(plan.clone()),
    };
    apply_and_report(global, &world, &plan, journal, &store, &progress).await
}

pub async fn apply(global: &GlobalArgs, args: ApplyArgs) -> Result<Exit, CliError> {
    let text = std::fs::read_to_string(&args.plan_file).map_err(|e| {
        CliError::usage(
            format!("cannot read the plan `{}`: {e}", args.plan_file.display()),
            "pass a file written by `amishare copy --plan-out FILE`",
        )
    })?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        CliError::usage(
            format!(
                "`{}` is not an amishare plan: {e}",
                args.plan_file.display()
            ),
            "pass a file written by `amishare copy --plan-out FILE`",
        )
    })?;
    if plan.version != crate::workflow::plan::PLAN_VERSION {
        return Err(CliError::usage(
            format!("plan version {} is not supported", plan.version),
            "make the plan again with this amishare version",
        ));
    }
    let (world, _) = connect(
        global,
        &plan.options.access,
        None,
        Some(&plan.source.region),
        &plan.options.target_accounts,
        &plan.options.target_regions,
        None,
    )
    .await?;
    let progress = Progress::new(global.output == OutputFormat::Json && global.verbose == 0);
    // A plan saved by `--dry-run --plan-out` keeps `probe: true`: its DryRun probes were made
    // then and are in the plan; applying checks the world, it does not probe again.
    let discover_opts = PlanOptions {
        probe: false,
        ..plan.options.clone()
    };
    let discovery = discover(&world, &plan.source.image_id, &discover_opts, &progress)
        .await
        .map_err(copy_error)?;
    let now = crate::workflow::copy::fingerprint(&discovery);
    let diffs = plan.fingerprint.differences(&now);
    if !diffs.is_empty() {
        return Err(copy_error(CopyError::WorldChanged(diffs)));
    }
    if !plan.blockers.is_empty() {
        return Err(CliError {
            exit: Exit::Denied,
            message: format!(
                "the plan is blocked: {}",
                plan.blockers
                    .iter()
                    .map(|b| b.code.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: plan.blockers.first().map(|b| b.fix.clone()),
        });
    }
    let store = FileJournalStore::default_location();
    if store.load(&plan.run_id).is_ok() {
        return Err(CliError::usage(
            format!("plan `{}` was applied already", plan.run_id),
            "make a new plan with `amishare copy ... --plan-out FILE` (a rerun plans only what is still missing)",
        ));
    }
    if global.output == OutputFormat::Text {
        eprint!("{plan}");
    }
    if !confirm("Apply this plan?", args.yes, args.no_input)? {
        eprintln!("nothing changed");
        return Ok(Exit::Success);
    }
    apply_and_report(
        global,
        &world,
        &plan,
        Journal::new(plan.clone()),
        &store,
        &progress,
    )
    .await
}

fn render_rollback(r: &RollbackReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "Rollback of run {}: {}", r.run_id, r.status);
    for u in &r.undone {
        let _ = writeln!(
            out,
            "  [{}] {} {}/{}: {}",
            u.result, u.step, u.account, u.region, u.summary
        );
        if let Some(d) = &u.detail {
            for line in d.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    out
}

pub async fn rollback(global: &GlobalArgs, args: RollbackArgs) -> Result<Exit, CliError> {
    let store = FileJournalStore::default_location();
    let journal = store.load(&args.run_id).map_err(|e| {
        CliError::usage(
            e.to_string(),
            format!(
                "run ids are printed by `amishare copy`; journals are in {}",
                store.dir().display()
            ),
        )
    })?;
    let plan = &journal.plan;
    let (world, _) = connect(
        global,
        &plan.options.access,
        None,
        Some(&plan.source.region),
        &plan.options.target_accounts,
        &plan.options.target_regions,
        None,
    )
    .await?;
    let n = journal.entries.len();
    if !confirm(
        &format!("Undo the {n} recorded step(s) of run {}?", args.run_id),
        args.yes,
        false,
    )? {
        eprintln!("nothing changed");
        return Ok(Exit::Success);
    }
    let progress = Progress::new(global.output == OutputFormat::Json && global.verbose == 0);
    let report = crate::workflow::rollback::rollback(
        &world,
        &store,
        &progress,
        &args.run_id,
        args.delete_copies,
        Timing::default(),
    )
    .await
    .map_err(copy_error)?;
    match global.output {
        OutputFormat::Json => print_json(&serde_json::to_value(&report).unwrap_or_default())?,
        OutputFormat::Text => print!("{}", render_rollback(&report)),
    }
    Ok(if report.complete() {
        Exit::Success
    } else {
        Exit::Denied
    })
}
