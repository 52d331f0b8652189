//! CloudTrail reads: who launched the instance, and KMS's refusals around the launch.

use super::Run;
use crate::workflow::diagnose::denials::{is_denial, DENIAL_EVENTS};
use crate::workflow::diagnose::types::{PrincipalInfo, PrincipalSource, Unseen};
use crate::workflow::inventory::{EventFilter, EventQuery, TrailEvent};
use crate::workflow::ports::{Reader, Seen};

impl<R: Reader> Run<'_, R> {
    /// Who launched the instance: its RunInstances/StartInstances event.
    pub(super) async fn launch_principal(
        &mut self,
        instance_id: &str,
        launch_time: chrono::DateTime<chrono::Utc>,
    ) -> Option<PrincipalInfo> {
        let q = EventQuery {
            filter: EventFilter::ResourceName(instance_id.to_string()),
            start: launch_time - self.options.trail_before,
            end: launch_time + self.options.trail_after,
            max_events: self.options.max_events,
        };
        let how = format!(
            "pass the launching principal with `--principal ARN`, or run `aws cloudtrail lookup-events --lookup-attributes AttributeKey=ResourceName,AttributeValue={instance_id} --region {}`",
            self.reader.region()
        );
        match self.reader.lookup_events(&q).await {
            Ok(Seen::Visible(events)) => {
                let launch = events
                    .iter()
                    .rev()
                    .find(|e| e.event_name == "RunInstances" && e.error_code.is_none())
                    .or_else(|| {
                        events
                            .iter()
                            .rev()
                            .find(|e| e.event_name == "StartInstances")
                    });
                match launch {
                    Some(e) => {
                        let auto_scaling =
                            e.invoked_by.as_deref() == Some("autoscaling.amazonaws.com");
                        let arn = if auto_scaling {
                            e.session_issuer_arn.clone().or(e.user_arn.clone())
                        } else {
                            e.user_arn.clone()
                        };
                        arn.map(|arn| PrincipalInfo {
                            arn,
                            source: PrincipalSource::Cloudtrail,
                            invoked_by: e.invoked_by.clone(),
                            identity_policies: None,
                        })
                    }
                    None => {
                        self.unseen.push(Unseen {
                            what: format!("the principal that launched {instance_id}"),
                            error: None,
                            meaning: "CloudTrail has no launch event for the instance (yet: events can take minutes to appear), so the key policy and identity policies could not be checked for that principal".into(),
                            how_to_see: how,
                        });
                        None
                    }
                }
            }
            Ok(Seen::NotVisible(e)) | Err(e) => {
                self.unseen.push(Unseen {
                    what: format!("the principal that launched {instance_id} (CloudTrail)"),
                    error: Some(e),
                    meaning: "without it the key policy and identity policies could not be checked for the launching principal".into(),
                    how_to_see: how,
                });
                None
            }
        }
    }

    /// KMS denials in CloudTrail around the launch, in the launch account.
    pub(super) async fn denials(
        &mut self,
        launch_time: chrono::DateTime<chrono::Utc>,
    ) -> Vec<TrailEvent> {
        let mut out = Vec::new();
        for name in DENIAL_EVENTS {
            let q = EventQuery {
                filter: EventFilter::EventName((*name).to_string()),
                start: launch_time - self.options.trail_before,
                end: launch_time + self.options.trail_after,
                max_events: self.options.max_events,
            };
            match self.reader.lookup_events(&q).await {
                Ok(Seen::Visible(events)) => out.extend(events.into_iter().filter(is_denial)),
                Ok(Seen::NotVisible(e)) | Err(e) => {
                    self.unseen.push(Unseen {
                        what: "CloudTrail KMS events around the launch".into(),
                        meaning: "denials KMS recorded cannot be quoted as evidence".into(),
                        how_to_see: format!(
                            "aws cloudtrail lookup-events --lookup-attributes AttributeKey=EventName,AttributeValue=CreateGrant --region {} (needs cloudtrail:LookupEvents)",
                            self.reader.region()
                        ),
                        error: Some(e),
                    });
                    break;
                }
            }
        }
        out
    }
}
