//! `amishare diagnose`: explain a failed launch from the live account, with the exact fix.

use super::connect::diagnose_readers;
use super::validate::is_ec2_id;
use super::{render, CliError, Exit, GlobalArgs, OutputFormat};
use crate::workflow::diagnose::{
    diagnose_launch, DiagnoseOptions, DiagnoseTarget, Diagnosis, DiagnosisOutcome,
};

/// The diagnosis for humans (its home is [`render::diagnosis`]; kept here for its users).
pub use super::render::diagnosis::render_text;

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
    /// Profile of the organization's management (or delegated administrator) account: reads
    /// the SCPs on the launch account's path (default: the caller's credentials when they are
    /// the management account or a delegated administrator)
    #[arg(long, value_name = "P")]
    pub org_profile: Option<String>,
    /// An Auto Scaling group whose launch failed: its failed scaling activity, the key the
    /// launch used, the service-linked role, the cause and the fix
    #[arg(long, value_name = "NAME", conflicts_with_all = ["instance_id", "ami", "principal"])]
    pub asg: Option<String>,
}

/// Validate the arguments into a target.
pub fn target(args: &DiagnoseArgs) -> Result<DiagnoseTarget, CliError> {
    if let Some(p) = &args.principal {
        let ok = p.starts_with("arn:aws") && crate::domain::arn::Arn::parse(p).is_some();
        if !ok {
            return Err(CliError::usage(
                format!("`{p}` is not a principal ARN"),
                "pass a user, role or assumed-role ARN, e.g. `arn:aws:iam::444455556666:role/Deployer`",
            ));
        }
    }
    match (&args.instance_id, &args.ami) {
        (Some(_), Some(_)) => Err(CliError::usage(
            "give either an instance id or `--ami`, not both",
            "`amishare diagnose i-0123...` explains a failed launch; `amishare diagnose --ami ami-0abc... --principal ARN` predicts one",
        )),
        (Some(id), None) => {
            if !is_ec2_id(id, "i-") {
                return Err(CliError::usage(
                    format!("`{id}` is not an instance id"),
                    "instance ids look like `i-0123456789abcdef0`",
                ));
            }
            Ok(DiagnoseTarget::Instance {
                instance_id: id.clone(),
                principal: args.principal.clone(),
            })
        }
        (None, Some(ami)) => {
            if !is_ec2_id(ami, "ami-") {
                return Err(CliError::usage(
                    format!("`{ami}` is not an AMI id"),
                    "AMI ids look like `ami-0abc1234def567890`",
                ));
            }
            match &args.principal {
                Some(p) => Ok(DiagnoseTarget::Ami {
                    image_id: ami.clone(),
                    principal: p.clone(),
                }),
                None => Err(CliError::usage(
                    "`--ami` needs `--principal`",
                    "name who will launch it: `--principal arn:aws:iam::ACCOUNT:role/NAME`",
                )),
            }
        }
        (None, None) => Err(CliError::usage(
            "nothing to diagnose",
            "give an instance id (`amishare diagnose i-0123...`) or `--ami AMI --principal ARN`",
        )),
    }
}

pub async fn run(global: &GlobalArgs, args: DiagnoseArgs) -> Result<Exit, CliError> {
    if let Some(name) = &args.asg {
        return super::diagnose_group::run(global, name, args.key_account_profile.as_deref()).await;
    }
    let target = target(&args)?;
    let (session, reader, key_reader) =
        diagnose_readers(global, args.key_account_profile.as_deref()).await?;
    if global.verbose > 0 {
        eprintln!(
            "diagnosing as {} in {}{}",
            session.arn,
            session.region,
            key_reader
                .as_ref()
                .map(|_| " (with the key account's credentials)")
                .unwrap_or("")
        );
    }
    let options = DiagnoseOptions {
        scps: launch_account_scps(global, args.org_profile.as_deref(), &session).await?,
        ..DiagnoseOptions::default()
    };
    let d = diagnose_launch(&reader, key_reader.as_ref(), &target, &options)
        .await
        .map_err(|e| {
            let hint = e.hint();
            let err = CliError::runtime(e.to_string());
            match hint {
                Some(h) => err.with_hint(h),
                None => err,
            }
        })?;
    match global.output {
        OutputFormat::Json => println!("{}", render::diagnosis::json(&d)?),
        OutputFormat::Text => print!("{}", render_text(&d)),
    }
    Ok(exit_code(&d))
}

/// The SCPs on the caller's account's path (a level that cannot be read is `unseen`, with the
/// command that shows it): read with the organization's profile `profile`; without one, with
/// the caller's own credentials when they are the organization's management account or a
/// delegated administrator (`workflow/org_policy_access.rs`, at most two Organizations calls);
/// `None`: not read.
async fn launch_account_scps(
    global: &GlobalArgs,
    profile: Option<&str>,
    caller: &crate::aws::session::AwsSession,
) -> Result<Option<crate::workflow::guardrail_facts::PathFact>, CliError> {
    use crate::workflow::guardrail_facts::{OrgGuardrailReader, OrgPolicyKind};
    let Some(r) = super::org_targets::policy_reader(global, profile, None, caller, None).await?
    else {
        return Ok(None);
    };
    let mut reader = OrgGuardrailReader::new(&r.reader, r.org.map(|o| o.management_account));
    Ok(Some(
        reader
            .path_fact(&caller.account, OrgPolicyKind::ServiceControlPolicy)
            .await,
    ))
}

/// Exit code of a diagnosis: 0 no problem, 1 cause found, 3 undecided.
pub fn exit_code(d: &Diagnosis) -> Exit {
    match d.outcome {
        DiagnosisOutcome::NoProblem => Exit::Success,
        DiagnosisOutcome::CauseFound => Exit::Denied,
        DiagnosisOutcome::Undecided => Exit::Runtime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(instance: Option<&str>, ami: Option<&str>, principal: Option<&str>) -> DiagnoseArgs {
        DiagnoseArgs {
            instance_id: instance.map(str::to_string),
            ami: ami.map(str::to_string),
            principal: principal.map(str::to_string),
            key_account_profile: None,
            org_profile: None,
            asg: None,
        }
    }

    #[test]
    fn validates_targets() {
        assert!(matches!(
            target(&args(Some("i-0123456789abcdef0"), None, None)),
            Ok(DiagnoseTarget::Instance { .. })
        ));
        assert!(matches!(
            target(&args(
                None,
                Some("ami-0123456789abcdef0"),
                Some("arn:aws:iam::1:role/R")
            )),
            Ok(DiagnoseTarget::Ami { .. })
        ));
        for bad in [
            args(None, None, None),
            args(Some("vol-1"), None, None),
            args(Some("i-123"), None, None),
            args(None, Some("ami-12"), Some("arn:aws:iam::1:role/R")),
            args(None, Some("ami-0123456789abcdef0"), None),
            args(
                Some("i-0123456789abcdef0"),
                Some("ami-0123456789abcdef0"),
                None,
            ),
            args(Some("i-0123456789abcdef0"), None, Some("alice")),
        ] {
            let e = target(&bad).err().map(|e| e.exit);
            assert_eq!(e, Some(Exit::Usage), "{bad:?}");
        }
    }
}
