//! Guided prompts of `amishare copy` (dialoguer), the confirmation every changing command asks,
//! and the rule for when there may be any.
//!
//! Prompts appear only when stdin and stderr are terminals and `--no-input` was not given.
//! Otherwise a missing value is a usage error (exit 2) that names the flag to pass.
//! The validation and the texts shown are plain functions, tested below; the dialogue itself is
//! tested through a pseudo-terminal by `tests/copy_prompts.rs`.

use std::io::IsTerminal;

use super::validate::{is_account_id, is_key_ref, is_principal_arn};
use super::CliError;
use crate::workflow::inventory::ImageInfo;
use crate::workflow::ports::Reader;

/// The commercial AWS regions offered by the region picker (the source region comes first).
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "sa-east-1",
];

/// Split a list typed by the user at commas and white space.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// Target accounts typed by the user: at least one, each 12 digits; duplicates dropped.
pub fn parse_accounts(s: &str) -> Result<Vec<String>, String> {
    let mut ids: Vec<String> = Vec::new();
    for id in split_list(s) {
        if !is_account_id(&id) {
            return Err(format!("`{id}` is not a 12-digit account id"));
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err("enter at least one account id".into());
    }
    Ok(ids)
}

/// Principals typed by the user (may be none): IAM user, role or group ARNs in a target account,
/// or `autoscaling` (each target's Auto Scaling service-linked role).
pub fn parse_grants(s: &str, targets: &[String]) -> Result<Vec<String>, String> {
    let mut arns: Vec<String> = Vec::new();
    for arn in split_list(s) {
        if arn.eq_ignore_ascii_case(crate::domain::arn::AUTOSCALING_GRANT) {
            if !arns.contains(&arn) {
                arns.push(arn);
            }
            continue;
        }
        if !is_principal_arn(&arn) {
            return Err(format!(
                "`{arn}` is not an IAM user, role or group ARN (e.g. `arn:aws:iam::444455556666:role/Launcher`)"
            ));
        }
        let account = crate::domain::arn::Arn::parse(&arn).map_or("", |a| a.account);
        if !targets.iter().any(|t| t == account) {
            return Err(format!(
                "`{arn}` is in account {account}, which is not a target ({})",
                targets.join(", ")
            ));
        }
        if !arns.contains(&arn) {
            arns.push(arn);
        }
    }
    Ok(arns)
}

/// How the AMI picker shows an image: id, name, creation date, encrypted or not.
pub fn image_label(image: &ImageInfo) -> String {
    let enc = if image
        .block_devices
        .iter()
        .any(|d| d.encrypted == Some(true))
    {
        "encrypted"
    } else {
        "not encrypted"
    };
    format!(
        "{}  {}  {}  {enc}",
        image.id,
        image.name.as_deref().unwrap_or("-"),
        image.creation_date.as_deref().unwrap_or("-")
    )
}

/// The regions the picker offers, the source region first, and which are preselected (the
/// source region only).
pub fn region_choices(source_region: &str) -> (Vec<String>, Vec<bool>) {
    let mut regions = vec![source_region.to_string()];
    regions.extend(
        REGIONS
            .iter()
            .filter(|r| **r != source_region)
            .map(|r| (*r).to_string()),
    );
    let checked = regions.iter().map(|r| r == source_region).collect();
    (regions, checked)
}

/// May amishare ask? Only when stdin and stderr are terminals and `--no-input` was not given.
pub fn interactive(no_input: bool) -> bool {
    !no_input && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn no_terminal_hint(no_input: bool) -> &'static str {
    if no_input {
        "(`--no-input` was given)"
    } else {
        "(stdin is not a terminal)"
    }
}

/// The values of `amishare copy` the guided prompts may fill in: what the flags gave and, after
/// [`prompt_missing`], what the user answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyAnswers {
    pub ami_id: Option<String>,
    pub to: Vec<String>,
    pub target_region: Vec<String>,
    pub grant: Vec<String>,
    pub target_key: Option<String>,
}

/// When prompting is not possible, the usage error for the first missing required value
/// (naming the flag that gives it); `Ok` when nothing required is missing or amishare may ask.
pub fn require_values(answers: &CopyAnswers, no_input: bool) -> Result<(), CliError> {
    if interactive(no_input) {
        return Ok(());
    }
    missing_value_error(answers, no_terminal_hint(no_input))
}

/// The error for the first missing required value, without looking at the terminal.
pub fn missing_value_error(answers: &CopyAnswers, why: &str) -> Result<(), CliError> {
    if answers.ami_id.is_none() {
        return Err(CliError::usage(
            "no AMI given",
            format!(
                "pass the AMI id (`amishare copy ami-...`) or run in a terminal to pick one {why}"
            ),
        ));
    }
    if answers.to.is_empty() {
        return Err(CliError::usage(
            "no target account given",
            format!(
                "pass `--to ACCOUNT` (12 digits), once per target account, or run in a terminal to enter them {why}"
            ),
        ));
    }
    Ok(())
}

fn read_error(e: dialoguer::Error) -> CliError {
    CliError::runtime(format!("cannot read the answer: {e}"))
}

/// Ask a yes/no question (default no); `--yes` answers yes. Without a terminal: a usage error.
pub fn confirm(question: &str, yes: bool, no_input: bool) -> Result<bool, CliError> {
    if yes {
        return Ok(true);
    }
    if !interactive(no_input) {
        return Err(CliError::usage(
            "refusing to change AWS without confirmation (no terminal to ask on)",
            "review the plan with `--dry-run`, then pass `--yes`",
        ));
    }
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(read_error)
}

/// The guided part of `amishare copy`: ask for the AMI and the target accounts when missing, and
/// then, for the values not given as flags, the target regions, the principals to grant and the
/// target key. Without a terminal, a missing required value is an error naming its flag.
pub async fn prompt_missing<R: Reader>(
    answers: &mut CopyAnswers,
    no_input: bool,
    source: &R,
) -> Result<(), CliError> {
    require_values(answers, no_input)?;
    if !interactive(no_input) {
        return Ok(());
    }
    if answers.ami_id.is_none() {
        answers.ami_id = Some(pick_image(source).await?);
    }
    if answers.to.is_empty() {
        answers.to = ask_accounts()?;
    }
    if answers.target_region.is_empty() {
        answers.target_region = ask_regions(source.region())?;
    }
    if answers.grant.is_empty() {
        answers.grant = ask_grants(&answers.to)?;
    }
    if answers.target_key.is_none() {
        answers.target_key = ask_target_key()?;
    }
    Ok(())
}

fn ask_accounts() -> Result<Vec<String>, CliError> {
    let answer: String = dialoguer::Input::new()
        .with_prompt("Target account ids (12 digits, separated by spaces or commas)")
        .validate_with(|s: &String| parse_accounts(s).map(|_| ()))
        .interact_text()
        .map_err(read_error)?;
    parse_accounts(&answer).map_err(|e| CliError::usage(e, "enter 12 digits"))
}

/// The picked regions; none picked: the source region.
fn ask_regions(source_region: &str) -> Result<Vec<String>, CliError> {
    let (regions, checked) = region_choices(source_region);
    let picked = dialoguer::MultiSelect::new()
        .with_prompt("Target regions (space toggles, enter accepts)")
        .items(&regions)
        .defaults(&checked)
        .max_length(12)
        .interact()
        .map_err(read_error)?;
    let mut picked: Vec<String> = picked
        .into_iter()
        .filter_map(|i| regions.get(i).cloned())
        .collect();
    if picked.is_empty() {
        picked.push(source_region.to_string());
    }
    Ok(picked)
}

fn ask_grants(targets: &[String]) -> Result<Vec<String>, CliError> {
    let answer: String = dialoguer::Input::new()
        .with_prompt("Principals that will launch the copy (IAM user/role/group ARNs; empty: none)")
        .allow_empty(true)
        .validate_with(|s: &String| parse_grants(s, targets).map(|_| ()))
        .interact_text()
        .map_err(read_error)?;
    parse_grants(&answer, targets).map_err(|e| CliError::usage(e, "enter IAM ARNs"))
}

/// `None`: the target account's EBS default key.
fn ask_target_key() -> Result<Option<String>, CliError> {
    let choice = dialoguer::Select::new()
        .with_prompt("Key for the copy in the target")
        .items(["the target account's EBS default key", "a key ARN or alias"])
        .default(0)
        .interact()
        .map_err(read_error)?;
    if choice != 1 {
        return Ok(None);
    }
    let key: String = dialoguer::Input::new()
        .with_prompt("Target key (key ARN, alias ARN or alias/NAME)")
        .validate_with(|s: &String| {
            if is_key_ref(s.trim()) {
                Ok(())
            } else {
                Err(format!(
                    "`{}` is not a KMS key id, key ARN or customer alias",
                    s.trim()
                ))
            }
        })
        .interact_text()
        .map_err(read_error)?;
    Ok(Some(key.trim().to_string()))
}

async fn pick_image<R: Reader>(source: &R) -> Result<String, CliError> {
    let images = source
        .list_own_images()
        .await
        .map_err(|e| CliError::runtime(e.to_string()))?;
    if images.is_empty() {
        return Err(CliError::usage(
            format!(
                "account {} has no AMIs of its own in {}",
                source.identity().account,
                source.region()
            ),
            "pass `--region` or `--profile` for the account that owns the AMI",
        ));
    }
    let items: Vec<String> = images.iter().map(image_label).collect();
    let pick = dialoguer::Select::new()
        .with_prompt("AMI to copy (arrows move, enter picks)")
        .items(&items)
        .default(0)
        .max_length(15)
        .interact()
        .map_err(read_error)?;
    images
        .get(pick)
        .map(|i| i.id.clone())
        .ok_or_else(|| CliError::runtime("the picked AMI is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_split_at_commas_and_spaces_and_drop_duplicates() {
        assert_eq!(
            parse_accounts(" 444455556666, 777788889999 444455556666 ").as_deref(),
            Ok(&["444455556666".to_string(), "777788889999".to_string()][..])
        );
        assert_eq!(
            parse_accounts("444455556666,12345"),
            Err("`12345` is not a 12-digit account id".to_string())
        );
        assert_eq!(
            parse_accounts(" , "),
            Err("enter at least one account id".to_string())
        );
    }

    #[test]
    fn grants_may_be_empty_but_must_be_in_a_target_account() {
        let targets = vec!["444455556666".to_string()];
        assert_eq!(parse_grants("  ", &targets), Ok(vec![]));
        assert_eq!(
            parse_grants(
                "arn:aws:iam::444455556666:role/A,arn:aws:iam::444455556666:role/A",
                &targets
            ),
            Ok(vec!["arn:aws:iam::444455556666:role/A".to_string()])
        );
        let err = parse_grants("arn:aws:iam::777788889999:role/A", &targets).unwrap_err();
        assert!(err.contains("not a target (444455556666)"), "{err}");
        let err = parse_grants("Launcher", &targets).unwrap_err();
        assert!(err.starts_with("`Launcher` is not an IAM"), "{err}");
    }

    #[test]
    fn region_picker_lists_the_source_region_first_and_only_it_checked() {
        let (regions, checked) = region_choices("eu-west-1");
        assert_eq!(regions.first().map(String::as_str), Some("eu-west-1"));
        assert_eq!(regions.len(), REGIONS.len());
        assert_eq!(checked.iter().filter(|c| **c).count(), 1);
        assert_eq!(checked.first(), Some(&true));
        // a region amishare does not know (a new or a partition's region) is still offered
        let (regions, checked) = region_choices("xx-test-9");
        assert_eq!(regions.len(), REGIONS.len() + 1);
        assert_eq!(checked.first(), Some(&true));
    }

    #[test]
    fn image_label_shows_name_date_and_encryption() {
        use crate::workflow::inventory::ImageBlockDevice;
        let dev = |encrypted| ImageBlockDevice {
            device: Some("/dev/xvda".into()),
            snapshot_id: Some("snap-1".into()),
            encrypted,
            kms_key_id: None,
            volume_size: Some(8),
            volume_type: None,
        };
        let mut image = ImageInfo {
            id: "ami-1".into(),
            name: Some("web".into()),
            owner: None,
            state: None,
            architecture: None,
            creation_date: Some("2026-01-02T03:04:05.000Z".into()),
            block_devices: vec![dev(Some(false)), dev(Some(true))],
            launch_permissions: None,
            tags: vec![],
        };
        assert_eq!(
            image_label(&image),
            "ami-1  web  2026-01-02T03:04:05.000Z  encrypted"
        );
        image.block_devices = vec![dev(None)];
        image.name = None;
        assert_eq!(
            image_label(&image),
            "ami-1  -  2026-01-02T03:04:05.000Z  not encrypted"
        );
    }
}
