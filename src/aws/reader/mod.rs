//! [`Reader`] implemented with the AWS SDK: one account, one region.
//!
//! Only SDK calls and translation to plain data here: no decisions (what a missing permission
//! means is the workflow's business). Every list call reads all pages. One file per AWS service
//! ([`ec2`], [`kms`], [`iam`], [`cloudtrail`]); this file holds the clients and the port's glue.

mod autoscaling;
mod cloudtrail;
mod ec2;
mod guardrails;
mod iam;
mod kms;
pub mod organizations;

use aws_smithy_types::DateTime as SmithyDateTime;

use super::error::AwsError;
use super::session::{retry_partition, AwsSession};
use crate::workflow::allowed_images::AllowedImagesSettings;
use crate::workflow::guardrail_facts::BoundaryDoc;
use crate::workflow::inventory::{
    AliasEntry, CallerIdentity, EventQuery, GrantInfo, IdentityPolicies, ImageInfo, InstanceInfo,
    KeyDescription, SnapshotInfo, TrailEvent,
};
use crate::workflow::ports::{Reader, Seen};

pub use autoscaling::SdkGroupReader;
pub use cloudtrail::parse_trail_event;
pub(super) use ec2::describe_one_instance;
pub use iam::decode_policy_document;

/// SDK clients for one account and region, with who they are.
#[derive(Debug, Clone)]
pub struct SdkReader {
    identity: CallerIdentity,
    region: String,
    ec2: aws_sdk_ec2::Client,
    kms: aws_sdk_kms::Client,
    iam: aws_sdk_iam::Client,
    cloudtrail: aws_sdk_cloudtrail::Client,
}

/// The clients a [`SdkReader`] uses (e.g. mock clients in tests).
#[derive(Debug, Clone)]
pub struct ReaderClients {
    pub ec2: aws_sdk_ec2::Client,
    pub kms: aws_sdk_kms::Client,
    pub iam: aws_sdk_iam::Client,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
}

impl SdkReader {
    pub fn new(session: &AwsSession) -> Self {
        Self::from_clients(
            session.identity(),
            &session.region,
            ReaderClients {
                ec2: session.ec2(),
                kms: session.kms(),
                iam: session.iam(),
                cloudtrail: session.cloudtrail(),
            },
        )
    }

    pub fn from_clients(identity: CallerIdentity, region: &str, clients: ReaderClients) -> Self {
        Self {
            identity,
            region: region.to_string(),
            ec2: clients.ec2,
            kms: clients.kms,
            iam: clients.iam,
            cloudtrail: clients.cloudtrail,
        }
    }
}

/// An SDK timestamp as RFC 3339 in UTC, to the second.
fn smithy_time(t: Option<&SmithyDateTime>) -> Option<String> {
    t.and_then(|t| {
        chrono::DateTime::<chrono::Utc>::from_timestamp(t.secs(), t.subsec_nanos())
            .map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    })
}

impl Reader for SdkReader {
    fn identity(&self) -> &CallerIdentity {
        &self.identity
    }

    fn region(&self) -> &str {
        &self.region
    }

    fn in_region(&self, region: &str) -> Option<Self> {
        if region.is_empty() {
            return None;
        }
        // The retry partition follows the region (one per service, account and region, see
        // `aws::session`): the copied config would keep the old region's.
        let r = || aws_config::Region::new(region.to_string());
        let p = |service: &str| retry_partition(service, &self.identity.account, region);
        Some(Self {
            identity: self.identity.clone(),
            region: region.to_string(),
            ec2: aws_sdk_ec2::Client::from_conf(
                self.ec2
                    .config()
                    .to_builder()
                    .region(r())
                    .retry_partition(p("ec2"))
                    .build(),
            ),
            kms: aws_sdk_kms::Client::from_conf(
                self.kms
                    .config()
                    .to_builder()
                    .region(r())
                    .retry_partition(p("kms"))
                    .build(),
            ),
            iam: self.iam.clone(),
            cloudtrail: aws_sdk_cloudtrail::Client::from_conf(
                self.cloudtrail
                    .config()
                    .to_builder()
                    .region(r())
                    .retry_partition(p("cloudtrail"))
                    .build(),
            ),
        })
    }

    async fn describe_image(&self, image_id: &str) -> Result<ImageInfo, AwsError> {
        ec2::describe_image(self, image_id).await
    }

    async fn list_own_images(&self) -> Result<Vec<ImageInfo>, AwsError> {
        ec2::list_own_images(self).await
    }

    async fn describe_snapshots(
        &self,
        snapshot_ids: &[String],
    ) -> Result<Vec<SnapshotInfo>, AwsError> {
        ec2::describe_snapshots(self, snapshot_ids).await
    }

    async fn describe_key(&self, key: &str) -> Result<KeyDescription, AwsError> {
        kms::describe_key(self, key).await
    }

    async fn get_key_policy(&self, key: &str) -> Result<Seen<String>, AwsError> {
        kms::get_key_policy(self, key).await
    }

    async fn list_grants(&self, key: &str) -> Result<Seen<Vec<GrantInfo>>, AwsError> {
        kms::list_grants(self, key).await
    }

    async fn list_aliases(&self) -> Result<Seen<Vec<AliasEntry>>, AwsError> {
        kms::list_aliases(self).await
    }

    async fn principal_policies(
        &self,
        principal_arn: &str,
    ) -> Result<Seen<IdentityPolicies>, AwsError> {
        iam::principal_policies(&self.iam, principal_arn).await
    }

    async fn describe_instance(&self, instance_id: &str) -> Result<InstanceInfo, AwsError> {
        ec2::describe_instance(self, instance_id).await
    }

    async fn lookup_events(&self, query: &EventQuery) -> Result<Seen<Vec<TrailEvent>>, AwsError> {
        cloudtrail::lookup_events(&self.cloudtrail, query).await
    }

    async fn ebs_default_kms_key_id(&self) -> Result<String, AwsError> {
        ec2::ebs_default_kms_key_id(self).await
    }

    async fn ebs_encryption_by_default(&self) -> Result<bool, AwsError> {
        ec2::ebs_encryption_by_default(self).await
    }

    async fn permissions_boundary(
        &self,
        principal_arn: &str,
    ) -> Result<Seen<Option<BoundaryDoc>>, AwsError> {
        Seen::from_result(guardrails::permissions_boundary(&self.iam, principal_arn).await)
    }

    async fn allowed_images_settings(&self) -> Result<Seen<AllowedImagesSettings>, AwsError> {
        Seen::from_result(guardrails::allowed_images_settings(&self.ec2).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::{BehaviorVersion, Region, SdkConfig};

    /// A reader moved to another region throttles and retries in that region's partition, as a
    /// reader built there would (the partition is per service, account and region).
    #[test]
    fn in_region_moves_the_retry_partition() {
        let session = AwsSession {
            config: SdkConfig::builder()
                .region(Region::new("us-east-1"))
                .behavior_version(BehaviorVersion::latest())
                .build(),
            account: "444455556666".into(),
            arn: "arn:aws:iam::444455556666:root".into(),
            region: "us-east-1".into(),
            credentials: crate::aws::credentials::CredentialSource::Unknown,
        };
        let moved = SdkReader::new(&session).in_region("eu-west-1").unwrap();
        let built = SdkReader::new(&session.in_region("eu-west-1"));
        let names = |r: &SdkReader| {
            (
                r.ec2.config().retry_partition().map(ToString::to_string),
                r.kms.config().retry_partition().map(ToString::to_string),
                r.cloudtrail
                    .config()
                    .retry_partition()
                    .map(ToString::to_string),
                r.ec2.config().region().map(ToString::to_string),
            )
        };
        assert_eq!(names(&moved), names(&built));
        assert_eq!(
            names(&moved).0.as_deref(),
            Some("ec2-444455556666-eu-west-1")
        );
        assert_eq!(
            names(&moved).2.as_deref(),
            Some("cloudtrail-444455556666-eu-west-1")
        );
    }
}
