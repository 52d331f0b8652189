//! SSM Parameter Store writes for `--ssm-parameter`: read a parameter, put an `aws:ec2:image`
//! String parameter (overwriting), delete one (rollback of a parameter amishare created).

use aws_sdk_ssm::types::ParameterType;

use crate::aws::error::{aws_err, AwsError};
use crate::workflow::ports_write::SsmParameter;

pub(super) async fn get_parameter(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<Option<SsmParameter>, AwsError> {
    let out = match ssm.get_parameter().name(name).send().await {
        Ok(o) => o,
        Err(e) => {
            let e = aws_err("ssm", "GetParameter")(e);
            return if e.code.as_deref() == Some("ParameterNotFound") {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    Ok(out.parameter().map(|p| SsmParameter {
        name: p.name().unwrap_or(name).to_string(),
        value: p.value().unwrap_or_default().to_string(),
        kind: p
            .r#type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        data_type: p.data_type().unwrap_or("text").to_string(),
        version: p.version(),
    }))
}

pub(super) async fn put_parameter(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    value: &str,
    data_type: &str,
) -> Result<(), AwsError> {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::String)
        .data_type(data_type)
        .overwrite(true)
        .send()
        .await
        .map_err(aws_err("ssm", "PutParameter"))?;
    Ok(())
}

pub(super) async fn delete_parameter(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<(), AwsError> {
    ssm.delete_parameter()
        .name(name)
        .send()
        .await
        .map_err(aws_err("ssm", "DeleteParameter"))?;
    Ok(())
}
