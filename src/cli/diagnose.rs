//! `amishare diagnose`: explain a failed launch from the live account, with the exact fix.

use super::{CliError, Exit, GlobalArgs, OutputFormat};
use crate::aws::clients::{AwsSession, SessionOptions};
use crate::aws::reader::SdkReader;
use crate::workflow::diagnose::{
    diagnose_launch, DiagnoseOptions, DiagnoseTarget, Diagnosis, DiagnosisOutcome, Evidence,
    PrincipalSource,
};

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

/// Validate the arguments into a target.
pub fn target(args: &DiagnoseArgs) -> Result<DiagnoseTarget, CliError> {
    if let Some(p) = &args.principal {
        let ok = p.starts_with("arn:aws") && p.split(':').count() >= 6;
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
            if !super::prompt::is_ec2_id(id, "i-") {
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
            if !super::prompt::is_ec2_id(ami, "ami-") {
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
    let target = target(&args)?;
    let opts = SessionOptions {
        profile: global.profile.clone(),
        region: global.region.clone(),
        ..SessionOptions::default()
    };
    let session = AwsSession::load(&opts).await?;
    let reader = SdkReader::new(&session);
    let key_reader = match &args.key_account_profile {
        Some(p) => {
            let kopts = SessionOptions {
                profile: Some(p.clone()),
                region: Some(session.region.clone()),
                ..SessionOptions::default()
            };
            let s = AwsSession::load(&kopts).await?;
            Some(SdkReader::new(&s))
        }
        None => None,
    };
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
    let d = diagnose_launch(
        &reader,
        key_reader.as_ref(),
        &target,
        &DiagnoseOptions::default(),
    )
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
        OutputFormat::Json => {
            let text = serde_json::to_string_pretty(&d)
                .map_err(|e| CliError::runtime(format!("cannot render the diagnosis: {e}")))?;
            println!("{text}");
        }
        OutputFormat::Text => print!("{}", render_text(&d)),
    }
    Ok(exit_code(&d))
}

/// Exit code of a diagnosis: 0 no problem, 1 cause found, 3 undecided.
pub fn exit_code(d: &Diagnosis) -> Exit {
    match d.outcome {
        DiagnosisOutcome::NoProblem => Exit::Success,
        DiagnosisOutcome::CauseFound => Exit::Denied,
        DiagnosisOutcome::Undecided => Exit::Runtime,
    }
}

/// `code: message`, or just the message when it already starts with the code (EC2 writes
/// `Client.InternalError: Client error on launch` as the message of `Client.InternalError`).
fn reason(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(c), Some(m)) if m.starts_with(c) => m.to_string(),
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => "-".to_string(),
    }
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}\n"))
        .collect::<String>()
}

/// The human-readable report.
pub fn render_text(d: &Diagnosis) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = match &d.target {
        DiagnoseTarget::Instance { instance_id, .. } => writeln!(
            o,
            "diagnosis of instance {instance_id} (account {}, {})",
            d.account, d.region
        ),
        DiagnoseTarget::Ami {
            image_id,
            principal,
        } => writeln!(
            o,
            "diagnosis of launching {image_id} as {principal} (account {}, {})",
            d.account, d.region
        ),
    };
    if let Some(i) = &d.instance {
        let _ = writeln!(
            o,
            "  instance: {}{}",
            i.state.as_deref().unwrap_or("unknown state"),
            i.state_reason
                .as_ref()
                .map(|r| format!(
                    ", state reason {}",
                    reason(r.code.as_deref(), r.message.as_deref())
                ))
                .unwrap_or_default()
        );
    }
    if let Some(img) = &d.image {
        let _ = writeln!(
            o,
            "  image: {} {} (owner {})",
            img.id,
            img.name.as_deref().unwrap_or(""),
            img.owner.as_deref().unwrap_or("?")
        );
    }
    if let Some(p) = &d.principal {
        let _ = writeln!(
            o,
            "  principal: {} ({}{})",
            p.arn,
            match p.source {
                PrincipalSource::Given => "given",
                PrincipalSource::Cloudtrail => "from CloudTrail",
            },
            p.invoked_by
                .as_deref()
                .map(|b| format!(", invoked by {b}"))
                .unwrap_or_default()
        );
    }
    for k in &d.keys {
        match &k.description {
            Some(desc) => {
                let _ = writeln!(
                    o,
                    "  key: {} ({} managed, {}, account {}) used by {}",
                    desc.arn,
                    if desc.is_aws_managed() {
                        "AWS"
                    } else {
                        "customer"
                    },
                    desc.key_state.as_deref().unwrap_or("state unknown"),
                    desc.account,
                    k.used_by.join(", ")
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "  key: {} (not readable) used by {}",
                    k.key_id,
                    k.used_by.join(", ")
                );
            }
        }
    }
    let _ = writeln!(o);
    for c in &d.causes {
        let _ = writeln!(o, "cause {}: {}", c.rank, c.code);
        let _ = writeln!(o, "  {}", c.message);
        if !c.evidence.is_empty() {
            let _ = writeln!(o, "  evidence:");
        }
        for e in &c.evidence {
            match e {
                Evidence::StateReason {
                    instance_id,
                    code,
                    message,
                } => {
                    let _ = writeln!(
                        o,
                        "    - {instance_id} StateReason {}",
                        reason(code.as_deref(), message.as_deref())
                    );
                }
                Evidence::Event {
                    event_name,
                    event_time,
                    error_code,
                    error_message,
                    ..
                } => {
                    let _ = writeln!(
                        o,
                        "    - CloudTrail {event_name} at {}: {}: {}",
                        event_time.as_deref().unwrap_or("?"),
                        error_code.as_deref().unwrap_or("-"),
                        error_message.as_deref().unwrap_or("-")
                    );
                }
                Evidence::Statement {
                    policy,
                    sid,
                    index,
                    statement,
                } => {
                    let _ = writeln!(
                        o,
                        "    - statement {} of {policy}{}",
                        sid.clone()
                            .map(|s| format!("`{s}`"))
                            .unwrap_or_else(|| format!("[{index}]")),
                        if statement.is_some() { ":" } else { "" }
                    );
                    if let Some(s) = statement {
                        let text = serde_json::to_string_pretty(s).unwrap_or_default();
                        o.push_str(&indent(&text, "        "));
                    }
                }
                Evidence::Key {
                    key_arn,
                    key_manager,
                    key_state,
                    account,
                } => {
                    let _ = writeln!(
                        o,
                        "    - DescribeKey {key_arn}: KeyManager {}, KeyState {}, account {account}",
                        key_manager.as_deref().unwrap_or("?"),
                        key_state.as_deref().unwrap_or("?")
                    );
                }
            }
        }
        if let Some(fix) = &c.fix {
            let _ = writeln!(o, "  fix: {}", fix.summary);
            for r in &fix.remove {
                let _ = writeln!(o, "    - {r}");
            }
            for doc in &fix.documents {
                let _ = writeln!(o, "    write {} (account {}):", doc.file_name, doc.account);
                let text = serde_json::to_string_pretty(&doc.content).unwrap_or_default();
                o.push_str(&indent(&text, "      "));
            }
            if fix.documents.is_empty() {
                for (what, sts) in [
                    ("key policy statements", &fix.key_policy_statements),
                    (
                        "identity policy statements",
                        &fix.identity_policy_statements,
                    ),
                ] {
                    if !sts.is_empty() {
                        let _ = writeln!(o, "    {what}:");
                        let text = serde_json::to_string_pretty(sts).unwrap_or_default();
                        o.push_str(&indent(&text, "      "));
                    }
                }
            }
            if !fix.commands.is_empty() {
                let _ = writeln!(o, "    run:");
                for cmd in &fix.commands {
                    let _ = writeln!(o, "      {cmd}");
                }
            }
        }
        let _ = writeln!(o);
    }
    if !d.unseen.is_empty() {
        let _ = writeln!(o, "could not see:");
        for u in &d.unseen {
            let _ = writeln!(o, "  - {}: {}", u.what, u.meaning);
            if let Some(e) = &u.error {
                let _ = writeln!(o, "    ({e})");
            }
            let _ = writeln!(o, "    to see it: {}", u.how_to_see);
        }
        let _ = writeln!(o);
    }
    if !d.warnings.is_empty() {
        let _ = writeln!(o, "warnings:");
        for w in &d.warnings {
            let _ = writeln!(
                o,
                "  - {}: {}",
                serde_json::to_value(w.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                w.message
            );
        }
        let _ = writeln!(o);
    }
    let verdict = match d.outcome {
        DiagnosisOutcome::NoProblem => "no problem found",
        DiagnosisOutcome::CauseFound => "cause found",
        DiagnosisOutcome::Undecided => "undecided",
    };
    let _ = writeln!(o, "{verdict}: {}", d.summary);
    o
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
