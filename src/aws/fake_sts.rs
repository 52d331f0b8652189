//! A fake STS for unit tests (no network): an HTTP client that answers AssumeRole and
//! GetCallerIdentity the way STS does, counting AssumeRole calls per role and answering each
//! after `delay` (a slow STS). The caller's account is read from the access key the request is
//! signed with: the source's key is `AKIDSOURCE` (account 111122223333); the key of an assumed
//! role is `ASIA` + the role's account.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

pub const SOURCE_KEY: &str = "AKIDSOURCE";
pub const SOURCE_ACCOUNT: &str = "111122223333";

#[derive(Debug, Clone, Default)]
pub struct FakeSts {
    pub delay: Duration,
    /// role ARN -> AssumeRole calls.
    pub assumed: Arc<Mutex<HashMap<String, usize>>>,
}

impl FakeSts {
    pub fn slow(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    fn answer(&self, body: &str, auth: &str) -> String {
        let form: HashMap<String, String> = body
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), decode(v)))
            .collect();
        let key = auth
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split('/').next())
            .unwrap_or("");
        let caller = if key == SOURCE_KEY {
            SOURCE_ACCOUNT.to_string()
        } else {
            key.trim_start_matches("ASIA").to_string()
        };
        let ns = "https://sts.amazonaws.com/doc/2011-06-15/";
        match form.get("Action").map(String::as_str) {
            Some("AssumeRole") => {
                let role = form.get("RoleArn").cloned().unwrap_or_default();
                *self
                    .assumed
                    .lock()
                    .unwrap()
                    .entry(role.clone())
                    .or_insert(0) += 1;
                let account = role.split(':').nth(4).unwrap_or("");
                let expiry = DateTime::from(SystemTime::now() + Duration::from_secs(3600))
                    .fmt(Format::DateTime)
                    .unwrap();
                format!(
                    "<AssumeRoleResponse xmlns=\"{ns}\"><AssumeRoleResult><Credentials>\
                     <AccessKeyId>ASIA{account}</AccessKeyId><SecretAccessKey>s</SecretAccessKey>\
                     <SessionToken>t</SessionToken><Expiration>{expiry}</Expiration></Credentials>\
                     <AssumedRoleUser><AssumedRoleId>AROA:amishare</AssumedRoleId>\
                     <Arn>arn:aws:sts::{account}:assumed-role/R/amishare</Arn></AssumedRoleUser>\
                     </AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>\
                     </AssumeRoleResponse>"
                )
            }
            _ => format!(
                "<GetCallerIdentityResponse xmlns=\"{ns}\"><GetCallerIdentityResult>\
                 <Arn>arn:aws:sts::{caller}:assumed-role/R/amishare</Arn><UserId>U</UserId>\
                 <Account>{caller}</Account></GetCallerIdentityResult>\
                 <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>\
                 </GetCallerIdentityResponse>"
            ),
        }
    }

    /// AssumeRole calls per role ARN so far.
    pub fn counts(&self) -> HashMap<String, usize> {
        self.assumed.lock().unwrap().clone()
    }
}

/// Percent-decoding of a form value (`%3A` -> `:`).
fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(n) = u8::from_str_radix(&v[i + 1..i + 3], 16) {
                out.push(n);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl HttpConnector for FakeSts {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let auth = request
            .headers()
            .get("authorization")
            .unwrap_or("")
            .to_string();
        let me = self.clone();
        HttpConnectorFuture::new(async move {
            let xml = me.answer(&body, &auth);
            tokio::time::sleep(me.delay).await;
            Ok(HttpResponse::new(
                200.try_into().unwrap(),
                SdkBody::from(xml),
            ))
        })
    }
}

impl HttpClient for FakeSts {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}
