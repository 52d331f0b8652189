//! The READ port: everything the workflows read from AWS, as plain data (see [`super::inventory`]).
//!
//! Implemented with the AWS SDK by [`crate::aws::reader::SdkReader`] and by in-memory fakes in
//! tests. Write operations live in a separate port (the copy workflow's).
//!
//! Async style: return-position `impl Future + Send` (native async fn in traits, Rust >= 1.75), so
//! implementations simply write `async fn` and the futures can be spawned on a multi-thread tokio
//! runtime. The trait is therefore not object safe: take it as a generic (`R: Reader`).
//!
//! The adapters make no decisions. The one interpretation they do make is [`Seen`]: a read that
//! AWS refused (access denied, also the code-less HTTP 403 of the emulator) is an expected outcome
//! ("could not see it"), not an error, for the reads where that happens in normal use (key policy,
//! grants, aliases, identity policies, CloudTrail).

use std::future::Future;

use serde::Serialize;

use super::inventory::{
    AliasEntry, CallerIdentity, EventQuery, GrantInfo, IdentityPolicies, ImageInfo, InstanceInfo,
    KeyDescription, SnapshotInfo, TrailEvent,
};

/// A failed AWS call, keeping what AWS said: the error code, message and request id.
///
/// `code` is `None` when the response carried none (a transport failure, or the emulator's
/// code-less auth errors: then `http_status` tells what happened).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct AwsError {
    /// `ec2`, `kms`, `iam`, `sts`, `cloudtrail`.
    pub service: &'static str,
    /// The API name, e.g. `DescribeImages`.
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    pub http_status: Option<u16>,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} failed: ", self.service, self.operation)?;
        match (&self.code, self.http_status) {
            (Some(code), _) => write!(f, "{code}: ")?,
            (None, Some(status)) => write!(f, "HTTP {status}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl AwsError {
    /// A plain error for an operation (used by adapters for malformed responses).
    pub fn new(service: &'static str, operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            service,
            operation,
            code: None,
            message: message.into(),
            request_id: None,
            http_status: None,
        }
    }

    /// AWS refused the caller: `AccessDenied`, `AccessDeniedException`, `UnauthorizedOperation`,
    /// `AuthFailure`, `*NotAuthorized*`, or a code-less HTTP 403.
    pub fn is_access_denied(&self) -> bool {
        match self.code.as_deref() {
            Some(code) => {
                let c = code.to_ascii_lowercase();
                c.starts_with("accessdenied")
                    || c == "unauthorizedoperation"
                    || c == "authfailure"
                    || c.contains("notauthorized")
            }
            None => self.http_status == Some(403),
        }
    }

    /// The thing asked for does not exist (or is not visible to this account, which AWS reports
    /// the same way): `NotFoundException`, `NoSuchEntity`, `Invalid*.NotFound`.
    pub fn is_not_found(&self) -> bool {
        match self.code.as_deref() {
            Some(code) => {
                code == "NotFoundException" || code == "NoSuchEntity" || code.ends_with(".NotFound")
            }
            None => self.http_status == Some(404),
        }
    }
}

/// The outcome of a read that may legitimately be refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", content = "value", rename_all = "kebab-case")]
pub enum Seen<T> {
    Visible(T),
    /// AWS refused the read (access denied); the error says who was refused what.
    NotVisible(AwsError),
}

impl<T> Seen<T> {
    pub fn visible(&self) -> Option<&T> {
        match self {
            Seen::Visible(v) => Some(v),
            Seen::NotVisible(_) => None,
        }
    }

    pub fn into_visible(self) -> Option<T> {
        match self {
            Seen::Visible(v) => Some(v),
            Seen::NotVisible(_) => None,
        }
    }

    /// Turn an access-denied error into `NotVisible`, pass other errors on.
    pub fn from_result(r: Result<T, AwsError>) -> Result<Seen<T>, AwsError> {
        match r {
            Ok(v) => Ok(Seen::Visible(v)),
            Err(e) if e.is_access_denied() => Ok(Seen::NotVisible(e)),
            Err(e) => Err(e),
        }
    }
}

/// Everything the workflows read from one account in one region.
pub trait Reader: Send + Sync {
    /// Who these credentials are (read once, when the reader was built).
    fn identity(&self) -> &CallerIdentity;

    /// The region this reader reads.
    fn region(&self) -> &str;

    /// The same account (same credentials) in another region, e.g. to read a KMS key in the
    /// region its ARN names. `None` when the implementation cannot switch regions (callers then
    /// use `self`).
    fn in_region(&self, _region: &str) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// DescribeImages for one image; with its launch permissions when the caller owns it.
    /// Not found (or not shared with the caller): `Err` with `is_not_found()`.
    fn describe_image(
        &self,
        image_id: &str,
    ) -> impl Future<Output = Result<ImageInfo, AwsError>> + Send;

    /// The caller's own images (owner `self`), newest first: for picking an AMI interactively.
    fn list_own_images(&self) -> impl Future<Output = Result<Vec<ImageInfo>, AwsError>> + Send;

    /// DescribeSnapshots for these ids, in the order given; with createVolumePermission for the
    /// caller's own snapshots. An empty list asks for nothing.
    fn describe_snapshots(
        &self,
        snapshot_ids: &[String],
    ) -> impl Future<Output = Result<Vec<SnapshotInfo>, AwsError>> + Send;

    /// KMS DescribeKey (id, ARN, alias name or alias ARN); aliases listed when in the caller's
    /// account (`aliases: None` otherwise).
    fn describe_key(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<KeyDescription, AwsError>> + Send;

    /// The key's `default` policy document. Only the key's own account can read it.
    fn get_key_policy(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Seen<String>, AwsError>> + Send;

    /// All grants on the key (every page).
    fn list_grants(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Seen<Vec<GrantInfo>>, AwsError>> + Send;

    /// Every alias in the account/region (every page).
    fn list_aliases(&self) -> impl Future<Output = Result<Seen<Vec<AliasEntry>>, AwsError>> + Send;

    /// The identity policies of a user (own + groups'), role, assumed-role session or group in
    /// the caller's account, as documents with their names/ARNs. Root: no policies.
    /// A principal ARN that cannot be parsed is an `Err` with code `InvalidPrincipal`.
    fn principal_policies(
        &self,
        principal_arn: &str,
    ) -> impl Future<Output = Result<Seen<IdentityPolicies>, AwsError>> + Send;

    /// DescribeInstances for one instance, with DescribeVolumes for its attached volumes.
    fn describe_instance(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<InstanceInfo, AwsError>> + Send;

    /// CloudTrail LookupEvents (every page, up to `query.max_events`), oldest first.
    fn lookup_events(
        &self,
        query: &EventQuery,
    ) -> impl Future<Output = Result<Seen<Vec<TrailEvent>>, AwsError>> + Send;

    /// GetEbsDefaultKmsKeyId: the key new volumes are encrypted with by default.
    fn ebs_default_kms_key_id(&self) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// GetEbsEncryptionByDefault.
    fn ebs_encryption_by_default(&self) -> impl Future<Output = Result<bool, AwsError>> + Send;

    /// The permissions boundary of a user or role (for a role session: its role) in the caller's
    /// account; `None` when it has none. Refused: `NotVisible` (the plan says `unseen`).
    fn permissions_boundary(
        &self,
        principal_arn: &str,
    ) -> impl Future<Output = Result<Seen<Option<super::inventory_guardrails::BoundaryDoc>>, AwsError>>
           + Send;

    /// GetAllowedImagesSettings of this account and region.
    fn allowed_images_settings(
        &self,
    ) -> impl Future<Output = Result<Seen<super::allowed_images::AllowedImagesSettings>, AwsError>> + Send;
}
