//! The lifecycle flags of `amishare copy` (`--deprecate-in`, `--deregistration-protection`,
//! `--protection-cooldown`, `--copy-duration`, `--ssm-parameter`): parsed, checked offline
//! against AWS's limits (exit 2 naming the flag, before any AWS call) and turned into the plan's
//! [`LifecycleOptions`].

use super::CliError;
use crate::workflow::plan::{
    check_copy_duration, check_deprecate_days, check_ssm_name, LifecycleOptions,
};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct LifecycleArgs {
    /// Deprecate each copy DAYS days after it is made (EnableImageDeprecation; 1 to 3650)
    #[arg(long, value_name = "DAYS", allow_negative_numbers = true)]
    pub deprecate_in: Option<i64>,
    /// Protect each copy from deregistration (EnableImageDeregistrationProtection)
    #[arg(long)]
    pub deregistration_protection: bool,
    /// With `--deregistration-protection`: AWS keeps the copy protected for 24 hours after the
    /// protection is disabled
    #[arg(long, requires = "deregistration_protection")]
    pub protection_cooldown: bool,
    /// Time-based copy: AWS completes each copy within MINUTES (15 to 2880, in steps of 15);
    /// also how long amishare waits for it (plus 15 minutes)
    #[arg(long, value_name = "MINUTES", allow_negative_numbers = true)]
    pub copy_duration: Option<i64>,
    /// Publish each copy's id as this SSM parameter (String, data type aws:ec2:image) in its
    /// account and region, once the copy launched
    #[arg(long, value_name = "NAME")]
    pub ssm_parameter: Option<String>,
}

impl LifecycleArgs {
    /// The plan's lifecycle options; a value AWS would refuse is a usage error naming the flag.
    pub fn options(&self, share_only: bool) -> Result<LifecycleOptions, CliError> {
        let number = |flag: &str, v: i64, check: fn(u32) -> Result<(), String>, hint: &str| {
            u32::try_from(v)
                .map_err(|_| format!("must be a positive number, not {v}"))
                .and_then(|n| check(n).map(|()| n))
                .map_err(|why| CliError::usage(format!("`--{flag} {v}` {why}"), hint.to_string()))
        };
        let opts = LifecycleOptions {
            deprecate_in_days: self
                .deprecate_in
                .map(|v| {
                    number(
                        "deprecate-in",
                        v,
                        check_deprecate_days,
                        "e.g. `--deprecate-in 90`",
                    )
                })
                .transpose()?,
            deregistration_protection: self.deregistration_protection,
            protection_cooldown: self.protection_cooldown,
            copy_duration_minutes: self
                .copy_duration
                .map(|v| {
                    number(
                        "copy-duration",
                        v,
                        check_copy_duration,
                        "e.g. `--copy-duration 60`",
                    )
                })
                .transpose()?,
            ssm_parameter: match &self.ssm_parameter {
                None => None,
                Some(name) => {
                    check_ssm_name(name).map_err(|why| {
                        CliError::usage(
                            format!("`--ssm-parameter {name}` is not an SSM parameter name amishare may write: it {why}"),
                            "e.g. `--ssm-parameter /images/web/latest`",
                        )
                    })?;
                    Some(name.clone())
                }
            },
        };
        if share_only && !opts.is_empty() {
            return Err(CliError::usage(
                "the lifecycle flags (`--deprecate-in`, `--deregistration-protection`, `--copy-duration`, `--ssm-parameter`) apply to copies: `--share-only` makes none",
                "drop `--share-only`, or the lifecycle flags",
            ));
        }
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_name_the_flag() {
        let args = |f: fn(&mut LifecycleArgs)| {
            let mut a = LifecycleArgs::default();
            f(&mut a);
            a.options(false).err().map(|e| e.to_string())
        };
        let e = args(|a| a.deprecate_in = Some(-3)).unwrap_or_default();
        assert!(e.contains("`--deprecate-in -3`"), "{e}");
        let e = args(|a| a.deprecate_in = Some(4000)).unwrap_or_default();
        assert!(e.contains("`--deprecate-in 4000`"), "{e}");
        let e = args(|a| a.copy_duration = Some(20)).unwrap_or_default();
        assert!(e.contains("`--copy-duration 20`"), "{e}");
        let e = args(|a| a.ssm_parameter = Some("/aws/x".into())).unwrap_or_default();
        assert!(e.contains("`--ssm-parameter /aws/x`"), "{e}");
        assert_eq!(args(|a| a.deprecate_in = Some(30)), None);
    }

    #[test]
    fn share_only_makes_no_copy_to_set() {
        let a = LifecycleArgs {
            deregistration_protection: true,
            ..LifecycleArgs::default()
        };
        assert!(a.options(true).is_err());
        assert!(LifecycleArgs::default().options(true).is_ok());
    }
}
