//! The guided question of `amishare copy` about the target accounts: when neither
//! `--target-role` nor `--target-profile` was given and amishare may ask, how should it act there?
//! A role to assume in each target account (suggested: `OrganizationAccountAccessRole`, the role
//! AWS Organizations creates in member accounts), a profile of the AWS config (one target
//! account), or no access: the source side only, with the hand-off for the target's admin.
//!
//! Without a terminal (or with `--no-input`) nothing is asked: the hand-off, as before.

use super::prompt::interactive;
use super::validate::is_role_ref;
use super::CliError;
use crate::aws::profile::profile_names;

/// The role the question suggests.
pub const SUGGESTED_ROLE: &str = "OrganizationAccountAccessRole";

/// How amishare acts in the target accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetAccessChoice {
    Role(String),
    Profile(String),
    Handoff,
}

/// The options the question offers, in order: a role always; a profile when there is exactly
/// one target account and the AWS config names profiles; the hand-off always.
pub fn access_options(accounts: &[String], profiles: &[String]) -> Vec<(&'static str, String)> {
    let mut out = vec![(
        "role",
        format!("assume a role in each target account (e.g. {SUGGESTED_ROLE})"),
    )];
    if accounts.len() == 1 && !profiles.is_empty() {
        out.push((
            "profile",
            format!(
                "use a profile of the AWS config for {} ({} found)",
                accounts.join(""),
                profiles.len()
            ),
        ));
    }
    out.push((
        "handoff",
        "no access there: do the source side and print the hand-off for the target's admin".into(),
    ));
    out
}

/// Ask, when `role` and `profile` are both unset and amishare may ask; fill in the answer.
pub fn ask_target_access(
    role: &mut Option<String>,
    profile: &mut Option<String>,
    accounts: &[String],
    no_input: bool,
) -> Result<(), CliError> {
    if role.is_some() || profile.is_some() || accounts.is_empty() || !interactive(no_input) {
        return Ok(());
    }
    match ask(accounts)? {
        TargetAccessChoice::Role(r) => *role = Some(r),
        TargetAccessChoice::Profile(p) => *profile = Some(p),
        TargetAccessChoice::Handoff => {}
    }
    Ok(())
}

fn read_error(e: dialoguer::Error) -> CliError {
    CliError::runtime(format!("cannot read the answer: {e}"))
}

fn ask(accounts: &[String]) -> Result<TargetAccessChoice, CliError> {
    let profiles = profile_names();
    let options = access_options(accounts, &profiles);
    let labels: Vec<&str> = options.iter().map(|(_, l)| l.as_str()).collect();
    let pick = dialoguer::Select::new()
        .with_prompt(format!(
            "How should amishare act in {} (no --target-role or --target-profile given)?",
            accounts.join(", ")
        ))
        .items(&labels)
        .default(0)
        .interact()
        .map_err(read_error)?;
    match options.get(pick).map(|(k, _)| *k) {
        Some("role") => {
            let answer: String = dialoguer::Input::new()
                .with_prompt("Role to assume in each target account (name or ARN)")
                .default(SUGGESTED_ROLE.to_string())
                .validate_with(|s: &String| {
                    if is_role_ref(s.trim()) {
                        Ok(())
                    } else {
                        Err(format!(
                            "`{}` is not an IAM role name or role ARN",
                            s.trim()
                        ))
                    }
                })
                .interact_text()
                .map_err(read_error)?;
            Ok(TargetAccessChoice::Role(answer.trim().to_string()))
        }
        Some("profile") => {
            let pick = dialoguer::Select::new()
                .with_prompt(format!(
                    "Profile with credentials for {}",
                    accounts.join("")
                ))
                .items(&profiles)
                .default(0)
                .max_length(15)
                .interact()
                .map_err(read_error)?;
            profiles
                .get(pick)
                .cloned()
                .map(TargetAccessChoice::Profile)
                .ok_or_else(|| CliError::runtime("the picked profile is out of range"))
        }
        _ => Ok(TargetAccessChoice::Handoff),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_offered_only_for_one_target_account_and_when_there_are_some() {
        let one = vec!["444455556666".to_string()];
        let two = vec!["444455556666".to_string(), "777788889999".to_string()];
        let profiles = vec!["dev".to_string(), "prod".to_string()];
        let kinds =
            |o: Vec<(&'static str, String)>| o.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            kinds(access_options(&one, &profiles)),
            ["role", "profile", "handoff"]
        );
        assert_eq!(kinds(access_options(&two, &profiles)), ["role", "handoff"]);
        assert_eq!(kinds(access_options(&one, &[])), ["role", "handoff"]);
        assert!(access_options(&one, &profiles)[0]
            .1
            .contains(SUGGESTED_ROLE));
    }

    #[test]
    fn nothing_is_asked_when_a_flag_answered_or_no_one_can_answer() {
        let accounts = vec!["444455556666".to_string()];
        let (mut role, mut profile) = (Some("R".to_string()), None);
        ask_target_access(&mut role, &mut profile, &accounts, false).unwrap();
        assert_eq!((role.as_deref(), profile), (Some("R"), None));
        let (mut role, mut profile) = (None, None);
        ask_target_access(&mut role, &mut profile, &accounts, true).unwrap();
        assert_eq!((role, profile), (None, None), "--no-input: the hand-off");
    }
}
