//! The fake cloud's image lifecycle and SSM Parameter Store, as AWS behaves where amishare
//! depends on it: a protected image cannot be deregistered (and stays protected for the cooldown
//! after protection "with cooldown" is disabled); an `aws:ec2:image` parameter is written only when
//! the AMI is available to the account in that region (PutParameter answers success either way,
//! as AWS validates such values asynchronously).

use super::{aws_error, image_visible, not_found, FakeWriter, State};
use crate::domain::states::ImageState;
use crate::workflow::ports::AwsError;
use crate::workflow::ports_write::{ImageLifecycle, SsmParameter};

/// What the fake keeps: per image id its lifecycle, per `account/region/name` a parameter.
#[derive(Debug, Default)]
pub struct LifecycleState {
    pub images: std::collections::BTreeMap<String, ImageLifecycle>,
    pub parameters: std::collections::BTreeMap<String, SsmParameter>,
}

fn key(w: &FakeWriter, name: &str) -> String {
    format!("{}/{}/{name}", w.0.account(), w.0.region)
}

fn own_image(s: &State, w: &FakeWriter, api: &'static str, image_id: &str) -> Result<(), AwsError> {
    let owned = s.images.iter().any(|i| {
        i.info.id == image_id
            && i.account == w.0.account()
            && i.region == w.0.region
            && i.info.state != Some(ImageState::Deregistered)
    });
    if owned {
        Ok(())
    } else {
        Err(not_found(api, image_id))
    }
}

/// The image's protection refuses a deregistration.
pub(super) fn refuses_deregistration(s: &State, image_id: &str) -> Option<AwsError> {
    let p = s.lifecycle.images.get(image_id)?;
    let protection = p.deregistration_protection.as_deref().unwrap_or("disabled");
    (protection != "disabled").then(|| {
        aws_error(
            "DeregisterImage",
            "InvalidParameterValue",
            format!("image {image_id} is protected from deregistration ({protection})"),
        )
    })
}

pub(super) fn set_deprecation(
    w: &FakeWriter,
    image_id: &str,
    at: Option<&str>,
) -> Result<(), AwsError> {
    let api = if at.is_some() {
        "EnableImageDeprecation"
    } else {
        "DisableImageDeprecation"
    };
    let mut s = w.0.call(api, image_id)?;
    own_image(&s, w, api, image_id)?;
    s.lifecycle
        .images
        .entry(image_id.to_string())
        .or_default()
        .deprecation_time = at.map(str::to_string);
    Ok(())
}

pub(super) fn set_protection(
    w: &FakeWriter,
    image_id: &str,
    enable: bool,
    with_cooldown: bool,
) -> Result<(), AwsError> {
    let api = if enable {
        "EnableImageDeregistrationProtection"
    } else {
        "DisableImageDeregistrationProtection"
    };
    let mut s = w.0.call(api, image_id)?;
    own_image(&s, w, api, image_id)?;
    let entry = s.lifecycle.images.entry(image_id.to_string()).or_default();
    let was = entry.deregistration_protection.clone();
    entry.deregistration_protection = Some(match (enable, with_cooldown) {
        (true, true) => "enabled-with-cooldown".into(),
        (true, false) => "enabled-without-cooldown".into(),
        (false, _) if was.as_deref() == Some("enabled-with-cooldown") => {
            "disabled-until cooldown".into()
        }
        (false, _) => "disabled".into(),
    });
    Ok(())
}

pub(super) fn lifecycle(
    w: &FakeWriter,
    image_id: &str,
) -> Result<Option<ImageLifecycle>, AwsError> {
    let s = w.0.call("DescribeImages", image_id)?;
    let me = w.0.account();
    if !s
        .images
        .iter()
        .any(|i| i.info.id == image_id && image_visible(i, me, &w.0.region))
    {
        return Ok(None);
    }
    let mut l = s
        .lifecycle
        .images
        .get(image_id)
        .cloned()
        .unwrap_or_default();
    l.deregistration_protection
        .get_or_insert_with(|| "disabled".into());
    Ok(Some(l))
}

pub(super) fn get_parameter(w: &FakeWriter, name: &str) -> Result<Option<SsmParameter>, AwsError> {
    let s = w.0.call("GetParameter", name)?;
    Ok(s.lifecycle.parameters.get(&key(w, name)).cloned())
}

pub(super) fn put_parameter(
    w: &FakeWriter,
    name: &str,
    value: &str,
    data_type: &str,
) -> Result<(), AwsError> {
    let mut s = w.0.call("PutParameter", &format!("{name}={value}"))?;
    if data_type == "aws:ec2:image" {
        let me = w.0.account();
        let available = s.images.iter().any(|i| {
            i.info.id == value
                && image_visible(i, me, &w.0.region)
                && i.info.state == Some(ImageState::Available)
        });
        if !available {
            return Ok(()); // AWS: success, then the asynchronous validation drops the write
        }
    }
    let k = key(w, name);
    let version = s.lifecycle.parameters.get(&k).map_or(1, |p| p.version + 1);
    s.lifecycle.parameters.insert(
        k,
        SsmParameter {
            name: name.to_string(),
            value: value.to_string(),
            kind: "String".into(),
            data_type: data_type.to_string(),
            version,
        },
    );
    Ok(())
}

pub(super) fn delete_parameter(w: &FakeWriter, name: &str) -> Result<(), AwsError> {
    let mut s = w.0.call("DeleteParameter", name)?;
    match s.lifecycle.parameters.remove(&key(w, name)) {
        Some(_) => Ok(()),
        None => Err(aws_error(
            "DeleteParameter",
            "ParameterNotFound",
            format!("parameter {name} not found"),
        )),
    }
}
