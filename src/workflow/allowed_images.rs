//! EC2 Allowed AMIs (EC2 user guide, "Control the discovery and use of AMIs in Amazon EC2 with
//! Allowed AMIs" <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-allowed-amis.html>):
//! the per account and region setting (`enabled`, `audit-mode`, `disabled`), its image criteria,
//! and who manages it (`account`, or `declarative-policy`: an EC2 declarative policy of the
//! organization sets and locks it). When `enabled`, an AMI the account does not own is usable
//! (RunInstances, CopyImage, DescribeImages) only if at least one criterion matches it: OR
//! across criteria, AND across the parameters of one criterion, OR within a parameter. AMIs the
//! account owns are always allowed, so the copy itself (owned by the target) is.
//!
//! Pure: the setting in, a decision with the criterion to add out.

use serde::Serialize;

/// One image criterion (GetAllowedImagesSettings `ImageCriteria`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageCriterion {
    /// Account ids, `amazon`, `aws-marketplace`, `aws-backup-vault`, `none`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_providers: Vec<String>,
    /// Names, with `*` and `?` wildcards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marketplace_product_codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_days_since_created: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_days_since_deprecated: Option<i32>,
}

/// GetAllowedImagesSettings of one account and region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AllowedImagesSettings {
    /// `enabled`, `audit-mode` or `disabled`.
    pub state: String,
    pub criteria: Vec<ImageCriterion>,
    /// `account` or `declarative-policy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}

/// The image as Allowed AMIs sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageView<'a> {
    pub owner: &'a str,
    pub name: Option<&'a str>,
    /// Days since the image was created (`None`: unknown).
    pub age_days: Option<i64>,
}

/// What the setting means for one image used by another account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum AllowedImagesDecision {
    /// Disabled, or a criterion matches.
    Allowed,
    /// `audit-mode`: AWS only reports it; the launch works.
    AuditOnly,
    /// Enabled and no criterion matches: the image can be neither launched nor copied.
    Blocked {
        /// The criterion to add (JSON of `replace-image-criteria-in-allowed-images-settings`).
        criterion: ImageCriterion,
        /// Who can change it: the account, or the organization's declarative policy.
        managed_by_declarative_policy: bool,
        /// The command that adds it (for an account-managed setting).
        command: String,
    },
}

fn glob(pattern: &str, text: &str) -> bool {
    crate::policy::matching::glob_match(pattern, text)
}

/// Whether one criterion matches the image (every parameter it sets).
pub fn criterion_matches(c: &ImageCriterion, image: &ImageView<'_>) -> bool {
    let providers =
        c.image_providers.is_empty() || c.image_providers.iter().any(|p| p == image.owner);
    let names = c.image_names.is_empty()
        || image
            .name
            .is_some_and(|n| c.image_names.iter().any(|p| glob(p, n)));
    // A private image has no product code, and amishare's images are not deprecated.
    let codes = c.marketplace_product_codes.is_empty();
    let created = match (c.maximum_days_since_created, image.age_days) {
        (None, _) => true,
        (Some(max), Some(age)) => age <= i64::from(max),
        (Some(_), None) => false,
    };
    providers && names && codes && created
}

/// Decide `settings` for an image of another account (`image.owner` != the setting's account).
pub fn decide(
    settings: &AllowedImagesSettings,
    image: &ImageView<'_>,
    region: &str,
) -> AllowedImagesDecision {
    match settings.state.as_str() {
        "enabled" => {}
        "audit-mode" => return AllowedImagesDecision::AuditOnly,
        _ => return AllowedImagesDecision::Allowed,
    }
    if settings
        .criteria
        .iter()
        .any(|c| criterion_matches(c, image))
    {
        return AllowedImagesDecision::Allowed;
    }
    let criterion = ImageCriterion {
        image_providers: vec![image.owner.to_string()],
        ..ImageCriterion::default()
    };
    let declarative = settings.managed_by.as_deref() == Some("declarative-policy");
    let mut all: Vec<String> = settings.criteria.iter().map(criterion_cli).collect();
    all.push(criterion_cli(&criterion));
    let command = if declarative {
        "aws organizations describe-effective-policy --policy-type DECLARATIVE_POLICY_EC2 --target-id ACCOUNT (from the management account: add the account to allowed_images_settings.image_criteria)".to_string()
    } else {
        format!(
            "aws ec2 replace-image-criteria-in-allowed-images-settings --region {region} --image-criteria {}",
            all.join(" ")
        )
    };
    AllowedImagesDecision::Blocked {
        criterion,
        managed_by_declarative_policy: declarative,
        command,
    }
}

/// One criterion in the AWS CLI's shorthand (`ImageProviders=a,b,ImageNames=x`).
fn criterion_cli(c: &ImageCriterion) -> String {
    let mut parts = Vec::new();
    if !c.image_providers.is_empty() {
        parts.push(format!("ImageProviders=[{}]", c.image_providers.join(",")));
    }
    if !c.image_names.is_empty() {
        parts.push(format!("ImageNames=[{}]", c.image_names.join(",")));
    }
    if !c.marketplace_product_codes.is_empty() {
        parts.push(format!(
            "MarketplaceProductCodes=[{}]",
            c.marketplace_product_codes.join(",")
        ));
    }
    if let Some(d) = c.maximum_days_since_created {
        parts.push(format!(
            "CreationDateCondition={{MaximumDaysSinceCreated={d}}}"
        ));
    }
    if let Some(d) = c.maximum_days_since_deprecated {
        parts.push(format!(
            "DeprecationTimeCondition={{MaximumDaysSinceDeprecated={d}}}"
        ));
    }
    format!("'{}'", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "111122223333";

    fn image() -> ImageView<'static> {
        ImageView {
            owner: SOURCE,
            name: Some("golden-al2023-2026-12-01"),
            age_days: Some(6),
        }
    }

    fn enabled(criteria: Vec<ImageCriterion>) -> AllowedImagesSettings {
        AllowedImagesSettings {
            state: "enabled".into(),
            criteria,
            managed_by: Some("account".into()),
        }
    }

    fn providers(p: &[&str]) -> ImageCriterion {
        ImageCriterion {
            image_providers: p.iter().map(|s| (*s).to_string()).collect(),
            ..ImageCriterion::default()
        }
    }

    #[test]
    fn criteria_or_across_and_within() {
        let by_name = ImageCriterion {
            image_providers: vec![SOURCE.into()],
            image_names: vec!["golden-*".into()],
            ..ImageCriterion::default()
        };
        let wrong_name = ImageCriterion {
            image_names: vec!["base-*".into()],
            ..by_name.clone()
        };
        let too_old = ImageCriterion {
            maximum_days_since_created: Some(3),
            ..providers(&[SOURCE])
        };
        let cases = [
            (enabled(vec![providers(&["amazon", SOURCE])]), true),
            (enabled(vec![providers(&["amazon"])]), false),
            (enabled(vec![by_name]), true),
            (enabled(vec![wrong_name.clone()]), false),
            (enabled(vec![wrong_name, providers(&[SOURCE])]), true),
            (enabled(vec![too_old]), false),
            (enabled(vec![]), false),
        ];
        for (s, allowed) in cases {
            let d = decide(&s, &image(), "eu-west-1");
            assert_eq!(d == AllowedImagesDecision::Allowed, allowed, "{s:?}: {d:?}");
        }
    }

    #[test]
    fn audit_mode_and_disabled_never_block() {
        let mut s = enabled(vec![providers(&["amazon"])]);
        s.state = "audit-mode".into();
        assert_eq!(
            decide(&s, &image(), "eu-west-1"),
            AllowedImagesDecision::AuditOnly
        );
        s.state = "disabled".into();
        assert_eq!(
            decide(&s, &image(), "eu-west-1"),
            AllowedImagesDecision::Allowed
        );
    }

    #[test]
    fn blocked_names_the_criterion_and_who_changes_it() {
        let s = enabled(vec![providers(&["amazon"])]);
        let AllowedImagesDecision::Blocked {
            criterion,
            managed_by_declarative_policy,
            command,
        } = decide(&s, &image(), "eu-west-1")
        else {
            panic!()
        };
        assert_eq!(criterion.image_providers, [SOURCE]);
        assert!(!managed_by_declarative_policy);
        assert_eq!(
            command,
            "aws ec2 replace-image-criteria-in-allowed-images-settings --region eu-west-1 --image-criteria 'ImageProviders=[amazon]' 'ImageProviders=[111122223333]'"
        );
        let mut s = s;
        s.managed_by = Some("declarative-policy".into());
        let AllowedImagesDecision::Blocked {
            managed_by_declarative_policy,
            ..
        } = decide(&s, &image(), "eu-west-1")
        else {
            panic!()
        };
        assert!(managed_by_declarative_policy);
    }
}
