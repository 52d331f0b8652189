//! `amishare diagnose --asg NAME`: why an Auto Scaling group's launch failed (issue 11), with the
//! key the launch used, the service-linked role, the cause and the fix.

use super::connect::diagnose_readers;
use super::render::group::{json, render_text};
use super::{CliError, Exit, GlobalArgs, OutputFormat};
use crate::aws::reader::SdkGroupReader;
use crate::workflow::diagnose::group::{diagnose_group, GroupDiagnoseError};
use crate::workflow::diagnose::{DiagnoseOptions, DiagnosisOutcome};

/// Auto Scaling group names: 1 to 255 characters, no control characters.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.chars().any(char::is_control)
}

pub async fn run(
    global: &GlobalArgs,
    name: &str,
    key_account_profile: Option<&str>,
) -> Result<Exit, CliError> {
    if !valid_name(name) {
        return Err(CliError::usage(
            format!("`{name}` is not an Auto Scaling group name"),
            "names are 1 to 255 characters: `amishare diagnose --asg my-group`",
        ));
    }
    let (session, reader, key_reader) = diagnose_readers(global, key_account_profile).await?;
    let groups = SdkGroupReader::new(&session);
    let d = diagnose_group(
        &groups,
        &reader,
        key_reader.as_ref(),
        name,
        &DiagnoseOptions::default(),
    )
    .await
    .map_err(|e| match e {
        GroupDiagnoseError::NotFound { .. } => CliError::usage(
            e.to_string(),
            "check the name (`aws autoscaling describe-auto-scaling-groups`) and `--region`",
        ),
        GroupDiagnoseError::Aws(_) => CliError::runtime(e.to_string()),
    })?;
    match global.output {
        OutputFormat::Json => println!("{}", json(&d)?),
        OutputFormat::Text => print!("{}", render_text(&d)),
    }
    Ok(match d.outcome {
        DiagnosisOutcome::NoProblem => Exit::Success,
        DiagnosisOutcome::CauseFound => Exit::Denied,
        DiagnosisOutcome::Undecided => Exit::Runtime,
    })
}
