//! CloudTrail reads: LookupEvents, and the parsing of an event's JSON record into a
//! [`TrailEvent`].

use aws_smithy_types::DateTime as SmithyDateTime;
use serde_json::Value;

use super::smithy_time;
use crate::aws::error::{aws_err, AwsError};
use crate::workflow::inventory::{EventFilter, EventQuery, TrailEvent};
use crate::workflow::ports::Seen;

fn to_smithy(t: chrono::DateTime<chrono::Utc>) -> SmithyDateTime {
    SmithyDateTime::from_secs(t.timestamp())
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn collect_instance_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                if k == "instanceId" {
                    if let Some(s) = val.as_str() {
                        if !out.iter().any(|o| o == s) {
                            out.push(s.to_string());
                        }
                    }
                } else {
                    collect_instance_ids(val, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_instance_ids(i, out)),
        _ => {}
    }
}

/// Parse one LookupEvents entry (its `CloudTrailEvent` JSON record) into a [`TrailEvent`].
pub fn parse_trail_event(
    event_id: Option<&str>,
    event_name: Option<&str>,
    event_time: Option<String>,
    record: Option<&str>,
) -> TrailEvent {
    let v: Value = record
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let mut instance_ids = Vec::new();
    if let Some(req) = v.get("requestParameters") {
        collect_instance_ids(req, &mut instance_ids);
    }
    if let Some(resp) = v.get("responseElements") {
        collect_instance_ids(resp, &mut instance_ids);
    }
    let s = |path: &[&str]| str_at(&v, path).map(str::to_string);
    TrailEvent {
        event_id: event_id.map(str::to_string).or_else(|| s(&["eventID"])),
        event_name: event_name
            .map(str::to_string)
            .or_else(|| s(&["eventName"]))
            .unwrap_or_default(),
        event_time: event_time.or_else(|| s(&["eventTime"])),
        event_source: s(&["eventSource"]),
        aws_region: s(&["awsRegion"]),
        error_code: s(&["errorCode"]),
        error_message: s(&["errorMessage"]),
        user_arn: s(&["userIdentity", "arn"]),
        user_type: s(&["userIdentity", "type"]),
        session_issuer_arn: s(&["userIdentity", "sessionContext", "sessionIssuer", "arn"]),
        invoked_by: s(&["userIdentity", "invokedBy"]),
        source_ip: s(&["sourceIPAddress"]),
        key_id: s(&["requestParameters", "keyId"]),
        grantee_principal: s(&["requestParameters", "granteePrincipal"]),
        instance_ids,
        ebs_id: s(&[
            "requestParameters",
            "constraints",
            "encryptionContextSubset",
            "aws:ebs:id",
        ])
        .or_else(|| s(&["requestParameters", "encryptionContext", "aws:ebs:id"])),
        resources: v
            .get("resources")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| r.get("ARN").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

pub(super) async fn lookup_events(
    cloudtrail: &aws_sdk_cloudtrail::Client,
    query: &EventQuery,
) -> Result<Seen<Vec<TrailEvent>>, AwsError> {
    use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
    let (key, value) = match &query.filter {
        EventFilter::EventName(n) => (LookupAttributeKey::EventName, n.as_str()),
        EventFilter::ResourceName(n) => (LookupAttributeKey::ResourceName, n.as_str()),
    };
    let attr = LookupAttribute::builder()
        .attribute_key(key)
        .attribute_value(value)
        .build()
        .map_err(|e| AwsError::new("cloudtrail", "LookupEvents", e.to_string()))?;
    let mut pages = cloudtrail
        .lookup_events()
        .lookup_attributes(attr)
        .start_time(to_smithy(query.start))
        .end_time(to_smithy(query.end))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    'pages: while let Some(p) = pages.next().await {
        let p = match p.map_err(aws_err("cloudtrail", "LookupEvents")) {
            Ok(p) => p,
            Err(e) => return Seen::from_result(Err(e)),
        };
        for e in p.events() {
            if out.len() >= query.max_events {
                break 'pages;
            }
            let mut ev = parse_trail_event(
                e.event_id(),
                e.event_name(),
                smithy_time(e.event_time()),
                e.cloud_trail_event(),
            );
            for name in e.resources().iter().filter_map(|r| r.resource_name()) {
                if !ev.resources.iter().any(|x| x == name) {
                    ev.resources.push(name.to_string());
                }
            }
            out.push(ev);
        }
    }
    out.sort_by(|a, b| a.event_time.cmp(&b.event_time));
    Ok(Seen::Visible(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_creategrant_denial() {
        let rec = r#"{"eventName":"CreateGrant","eventTime":"2024-01-01T00:00:00Z","errorCode":"AccessDenied",
          "errorMessage":"User: arn:aws:iam::123456789012:user/test is not authorized to perform: kms:CreateGrant",
          "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/test","invokedBy":"ec2.amazonaws.com"},
          "requestParameters":{"keyId":"arn:aws:kms:eu-west-1:123456789012:key/k","granteePrincipal":"123456789012:aws:ec2-infrastructure"}}"#;
        let e = parse_trail_event(Some("e1"), None, None, Some(rec));
        assert_eq!(e.event_name, "CreateGrant");
        assert_eq!(e.error_code.as_deref(), Some("AccessDenied"));
        assert_eq!(
            e.user_arn.as_deref(),
            Some("arn:aws:iam::123456789012:user/test")
        );
        assert_eq!(
            e.key_id.as_deref(),
            Some("arn:aws:kms:eu-west-1:123456789012:key/k")
        );
        assert_eq!(e.invoked_by.as_deref(), Some("ec2.amazonaws.com"));
        assert_eq!(e.event_time.as_deref(), Some("2024-01-01T00:00:00Z"));
    }

    #[test]
    fn collects_instance_ids_of_run_instances() {
        let rec = r#"{"eventName":"RunInstances","responseElements":{"instancesSet":{"items":[{"instanceId":"i-1"},{"instanceId":"i-2"}]}}}"#;
        let e = parse_trail_event(None, None, None, Some(rec));
        assert_eq!(e.instance_ids, vec!["i-1".to_string(), "i-2".to_string()]);
    }
}
