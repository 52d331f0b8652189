//! The copy's lifecycle settings (`--deprecate-in`, `--deregistration-protection`,
//! `--copy-duration`, `--ssm-parameter`): the options a plan records, the AWS limits they are
//! checked against, and what the journal keeps of each lifecycle step so rollback can undo it.
//!
//! AWS sources: EC2 API reference `EnableImageDeprecation` ("You can't specify a date in the
//! past. The upper limit for DeprecateAt is 10 years from now"), `EnableImageDeregistrationProtection`
//! ("WithCooldown: If true, enforces deregistration protection for 24 hours after deregistration
//! protection is disabled"), `CopyImage` / `CopySnapshot` (`SnapshotCopyCompletionDurationMinutes`:
//! 15 minute increments, 15 to 2880 minutes), SSM API reference `PutParameter` (naming
//! constraints; `aws:ec2:image` values are validated asynchronously: a 200 answer does not mean
//! the parameter was written).

use serde::{Deserialize, Serialize};

/// The most days `--deprecate-in` may ask for (EnableImageDeprecation: at most 10 years ahead).
pub const MAX_DEPRECATE_DAYS: u32 = 3650;
/// Time-based copies: the smallest completion duration, and its step, in minutes.
pub const COPY_DURATION_STEP_MINUTES: u32 = 15;
/// Time-based copies: the largest completion duration in minutes (48 hours).
pub const MAX_COPY_DURATION_MINUTES: u32 = 2880;
/// How long AWS keeps an AMI protected after protection "with cooldown" is disabled.
pub const PROTECTION_COOLDOWN_HOURS: u32 = 24;
/// The SSM data type that makes a parameter hold an AMI id.
pub const SSM_IMAGE_DATA_TYPE: &str = "aws:ec2:image";
/// The longest parameter name a user may create (PutParameter: 2048 includes 1037 reserved).
pub const MAX_SSM_NAME_LEN: usize = 1011;
/// The deepest parameter hierarchy (PutParameter: fifteen levels).
pub const MAX_SSM_DEPTH: usize = 15;

/// What `copy` was asked to set on each copy besides its encryption.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleOptions {
    /// `--deprecate-in DAYS`: EnableImageDeprecation at apply time + DAYS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecate_in_days: Option<u32>,
    /// `--deregistration-protection`: EnableImageDeregistrationProtection.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deregistration_protection: bool,
    /// `--protection-cooldown`: with the 24-hour cooldown after disabling.
    #[serde(default, skip_serializing_if = "is_false")]
    pub protection_cooldown: bool,
    /// `--copy-duration MINUTES`: a time-based copy (and the copy wait's bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_duration_minutes: Option<u32>,
    /// `--ssm-parameter NAME`: publish the copy's id in each target account and region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm_parameter: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl LifecycleOptions {
    /// Nothing asked for (the plan file then has no `lifecycle` field).
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// What a lifecycle step saw before changing anything (the journal entry's `before`, JSON):
/// the image it acts on and that image's setting, or the parameter's previous value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleBefore {
    pub image_id: String,
    /// DescribeImages `DeprecationTime` before the step (`None`: not deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_time: Option<String>,
    /// DescribeImages `DeregistrationProtection` before the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistration_protection: Option<String>,
    /// The SSM parameter before the step (`None`: it did not exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<ParameterValue>,
}

impl LifecycleBefore {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The record in a journal entry's `before` (`None`: the step never got as far).
    pub fn from_journal(before: Option<&str>) -> Option<Self> {
        before.and_then(|b| serde_json::from_str(b).ok())
    }
}

/// An SSM String parameter's value and data type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterValue {
    pub value: String,
    /// `text`, `aws:ec2:image`, ...
    pub data_type: String,
}

/// `--deprecate-in DAYS` within AWS's limits: 1 to 3650.
pub fn check_deprecate_days(days: u32) -> Result<(), String> {
    if (1..=MAX_DEPRECATE_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {MAX_DEPRECATE_DAYS} days (EnableImageDeprecation allows at most 10 years ahead)"
        ))
    }
}

/// `--copy-duration MINUTES` within AWS's limits: 15 to 2880, a multiple of 15.
pub fn check_copy_duration(minutes: u32) -> Result<(), String> {
    if (COPY_DURATION_STEP_MINUTES..=MAX_COPY_DURATION_MINUTES).contains(&minutes)
        && minutes.is_multiple_of(COPY_DURATION_STEP_MINUTES)
    {
        Ok(())
    } else {
        Err(format!(
            "must be {COPY_DURATION_STEP_MINUTES} to {MAX_COPY_DURATION_MINUTES} minutes in steps of {COPY_DURATION_STEP_MINUTES} (time-based copies)"
        ))
    }
}

/// An SSM parameter name amishare may write (PutParameter's naming constraints): letters, digits
/// and `_.-`, `/` between hierarchy levels (a leading `/` for a path), no `aws`/`ssm` prefix, at
/// most 1011 characters and fifteen levels.
pub fn check_ssm_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_SSM_NAME_LEN {
        return Err(format!("must be 1 to {MAX_SSM_NAME_LEN} characters"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-/".contains(*c)))
    {
        return Err(format!(
            "contains `{bad}`: only letters, digits, `_`, `.`, `-` and `/` are allowed"
        ));
    }
    let path = name.strip_prefix('/');
    let levels: Vec<&str> = path.unwrap_or(name).split('/').collect();
    if name.contains('/') && path.is_none() {
        return Err(
            "is hierarchical but does not start with `/` (e.g. `/images/web/latest`)".into(),
        );
    }
    if levels.iter().any(|l| l.is_empty()) {
        return Err("has an empty level (`//` or a trailing `/`)".into());
    }
    let first = levels
        .first()
        .map(|l| l.to_ascii_lowercase())
        .unwrap_or_default();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err("must not begin with `aws` or `ssm` (reserved by AWS)".into());
    }
    if levels.len() > MAX_SSM_DEPTH {
        return Err(format!("has more than {MAX_SSM_DEPTH} levels"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deprecate_days_bounds() {
        assert!(check_deprecate_days(1).is_ok());
        assert!(check_deprecate_days(3650).is_ok());
        assert!(check_deprecate_days(0).is_err());
        assert!(check_deprecate_days(3651).is_err());
    }

    #[test]
    fn copy_duration_bounds_and_step() {
        for ok in [15, 30, 2880] {
            assert!(check_copy_duration(ok).is_ok(), "{ok}");
        }
        for bad in [0, 14, 16, 2895, 3000] {
            assert!(check_copy_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ssm_names() {
        for ok in [
            "/images/web/latest",
            "golden-ami",
            "/a.b_c-d/e",
            "/images/aws",
        ] {
            assert!(check_ssm_name(ok).is_ok(), "{ok}");
        }
        assert!(check_ssm_name("/aws/service/ami").is_err());
        assert!(check_ssm_name("SSM-param").is_err());
        assert!(check_ssm_name("images/web").is_err());
        assert!(check_ssm_name("/images//web").is_err());
        assert!(check_ssm_name("/images/web/").is_err());
        assert!(check_ssm_name("/images/my web").is_err());
        assert!(check_ssm_name("").is_err());
        assert!(check_ssm_name(&format!("/{}", "a".repeat(1011))).is_err());
        let deep = (0..16).map(|i| format!("/l{i}")).collect::<String>();
        assert!(check_ssm_name(&deep).is_err());
        let fifteen = (0..15).map(|i| format!("/l{i}")).collect::<String>();
        assert!(check_ssm_name(&fifteen).is_ok());
    }

    #[test]
    fn before_round_trips_through_the_journal_text() {
        let b = LifecycleBefore {
            image_id: "ami-1".into(),
            parameter: Some(ParameterValue {
                value: "ami-0".into(),
                data_type: "aws:ec2:image".into(),
            }),
            ..LifecycleBefore::default()
        };
        assert_eq!(LifecycleBefore::from_journal(Some(&b.to_json())), Some(b));
        assert_eq!(LifecycleBefore::from_journal(None), None);
    }
}
