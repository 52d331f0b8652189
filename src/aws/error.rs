//! Mapping SDK errors to [`AwsError`], keeping the AWS error code, message, request id and HTTP
//! status. The emulator (moto with auth on) answers some auth errors without a code: the HTTP
//! status is kept so callers can still tell a 403 from a 500.

use aws_sdk_kms::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use crate::workflow::ports::AwsError;

/// Map any SDK error of `service`'s `operation` to an [`AwsError`].
pub fn map_sdk_error<E>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let http_status = err.raw_response().map(|r| r.status().as_u16());
    let header_request_id = err.request_id().map(str::to_string);
    match &err {
        SdkError::ServiceError(service_err) => {
            let e = service_err.err();
            let meta = e.meta();
            let code = meta.code().map(str::to_string);
            let message = match meta.message() {
                Some(m) if !m.is_empty() => m.to_string(),
                _ => match (&code, http_status) {
                    (None, Some(status)) => {
                        format!("the service answered HTTP {status} without an error code")
                    }
                    _ => DisplayErrorContext(e).to_string(),
                },
            };
            AwsError {
                service,
                operation,
                code,
                message,
                request_id: meta.request_id().map(str::to_string).or(header_request_id),
                http_status,
            }
        }
        _ => AwsError {
            service,
            operation,
            code: None,
            message: error_chain(&err),
            request_id: header_request_id,
            http_status,
        },
    }
}

/// The error and its sources, `: `-separated, each once (no Debug dump: one readable line).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// `result.map_err(aws_err("ec2", "DescribeImages"))`.
pub fn aws_err<E>(
    service: &'static str,
    operation: &'static str,
) -> impl Fn(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |e| map_sdk_error(service, operation, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::describe_images::DescribeImagesError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn response(status: u16) -> HttpResponse {
        let mut r = HttpResponse::new(
            StatusCode::try_from(status).unwrap_or_else(|_| StatusCode::try_from(500).unwrap()),
            SdkBody::empty(),
        );
        r.headers_mut().insert("x-amzn-requestid", "hdr-req-1");
        r
    }

    #[test]
    fn keeps_code_message_and_request_id() {
        let meta = ErrorMetadata::builder()
            .code("InvalidAMIID.NotFound")
            .message("The image id '[ami-1]' does not exist")
            .custom("aws_request_id", "req-123")
            .build();
        let err = SdkError::service_error(DescribeImagesError::generic(meta), response(400));
        let e = map_sdk_error("ec2", "DescribeImages", err);
        assert_eq!(e.code.as_deref(), Some("InvalidAMIID.NotFound"));
        assert_eq!(e.request_id.as_deref(), Some("req-123"));
        assert_eq!(e.http_status, Some(400));
        assert!(e.is_not_found());
        assert!(!e.is_access_denied());
        assert_eq!(
            e.to_string(),
            "ec2 DescribeImages failed: InvalidAMIID.NotFound: The image id '[ami-1]' does not exist (request id req-123)"
        );
    }

    #[test]
    fn codeless_403_is_access_denied_and_uses_header_request_id() {
        let err = SdkError::service_error(
            DescribeImagesError::generic(ErrorMetadata::builder().build()),
            response(403),
        );
        let e = map_sdk_error("kms", "GetKeyPolicy", err);
        assert_eq!(e.code, None);
        assert!(e.is_access_denied());
        assert_eq!(e.request_id.as_deref(), Some("hdr-req-1"));
        assert!(e
            .to_string()
            .starts_with("kms GetKeyPolicy failed: HTTP 403: "));
    }

    #[test]
    fn access_denied_codes() {
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
        ] {
            let mut e = AwsError::new("kms", "X", "m");
            e.code = Some(code.to_string());
            assert!(e.is_access_denied(), "{code}");
        }
        let mut e = AwsError::new("kms", "X", "m");
        e.code = Some("NotFoundException".into());
        assert!(!e.is_access_denied());
        assert!(e.is_not_found());
    }
}
