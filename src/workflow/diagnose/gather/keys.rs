//! KMS reads: each key's description and policy, and (when there is a principal to analyse) its
//! policy parsed and its grants. A key is read in its own account when a reader for that account
//! is at hand, and in the region its ARN names.

use serde_json::{json, Value};

use super::Run;
use crate::policy::{self, Grant, KeyManager};
use crate::workflow::diagnose::arn::{arn_account, arn_region};
use crate::workflow::diagnose::facts::{DescribedKey, KeyFacts};
use crate::workflow::diagnose::types::Unseen;
use crate::workflow::inventory::{GrantInfo, KeyDescription};
use crate::workflow::ports::{Reader, Seen};

/// A reader, or the same account's reader in another region.
enum Regional<'a, R> {
    Same(&'a R),
    Other(R),
}

impl<R> std::ops::Deref for Regional<'_, R> {
    type Target = R;
    fn deref(&self) -> &R {
        match self {
            Regional::Same(r) => r,
            Regional::Other(r) => r,
        }
    }
}

/// `reader`, switched to `region` when that differs (KMS is regional: a key is read in the region
/// its ARN names, whatever region the launch was in).
fn in_region<'a, R: Reader>(reader: &'a R, region: Option<&str>) -> Regional<'a, R> {
    match region {
        Some(reg) if reg != reader.region() => reader
            .in_region(reg)
            .map(Regional::Other)
            .unwrap_or(Regional::Same(reader)),
        _ => Regional::Same(reader),
    }
}

impl<'a, R: Reader> Run<'a, R> {
    /// The reader of the key's own account, when there is one.
    fn key_account_reader(&self, key_account: &str) -> Option<&'a R> {
        if self.reader.identity().account == key_account {
            Some(self.reader)
        } else {
            self.key_reader
                .filter(|k| k.identity().account == key_account)
        }
    }

    /// DescribeKey and the key policy.
    pub(super) async fn key_facts(&mut self, key: &str, used_by: Vec<String>) -> KeyFacts {
        let mut facts = KeyFacts {
            key_id: key.to_string(),
            used_by,
            key: None,
            unseen: Vec::new(),
        };
        let key_account = arn_account(key).map(str::to_string);
        let describe_with = in_region(
            key_account
                .as_deref()
                .and_then(|a| self.key_account_reader(a))
                .unwrap_or(self.reader),
            arn_region(key),
        );
        let desc = match describe_with.describe_key(key).await {
            Ok(d) => d,
            Err(e) => {
                self.unseen.push(Unseen {
                    what: format!("key {key} (DescribeKey)"),
                    meaning: "whether it is AWS managed, enabled, and what its policy says is unknown".into(),
                    how_to_see: format!(
                        "aws kms describe-key --key-id {key} (the key policy must allow kms:DescribeKey to this account, or use `--key-account-profile`)"
                    ),
                    error: Some(e),
                });
                return facts;
            }
        };
        let policy_text = self.key_policy(&desc).await;
        facts.key = Some(DescribedKey {
            state: desc.key_state.clone(),
            manager: if desc.is_aws_managed() {
                KeyManager::Aws
            } else {
                KeyManager::Customer
            },
            editor: self
                .key_account_reader(&desc.account)
                .map(|r| r.identity().arn.clone()),
            desc,
            policy_text,
            policy: None,
            grants: None,
        });
        facts
    }

    async fn key_policy(&mut self, desc: &KeyDescription) -> Option<String> {
        match self
            .key_account_reader(&desc.account)
            .map(|r| in_region(r, Some(desc.region.as_str())))
        {
            Some(r) => match r.get_key_policy(&desc.arn).await {
                Ok(Seen::Visible(p)) => return Some(p),
                Ok(Seen::NotVisible(e)) | Err(e) => self.unseen.push(Unseen {
                    what: format!("key policy of {}", desc.arn),
                    meaning: "the key policy's decision is unknown: the verdict is undecided unless something else decides".into(),
                    how_to_see: format!(
                        "aws kms get-key-policy --key-id {} --policy-name default --region {} (needs kms:GetKeyPolicy)",
                        desc.arn, desc.region
                    ),
                    error: Some(e),
                }),
            },
            None if desc.is_aws_managed() => {}
            None => self.unseen.push(Unseen {
                what: format!("key policy of {}", desc.arn),
                error: None,
                meaning: format!(
                    "the key is in account {}, and only that account can read its policy: the key policy's decision is unknown",
                    desc.account
                ),
                how_to_see: format!(
                    "rerun with `--key-account-profile PROFILE` (credentials of account {}), or there: aws kms get-key-policy --key-id {} --policy-name default --region {}",
                    desc.account, desc.arn, desc.region
                ),
            }),
        }
        None
    }

    /// What the analysis of a described key uses: its policy parsed, and its grants.
    pub(super) async fn key_use(&mut self, facts: &mut KeyFacts) {
        let Some(key) = facts.key.as_mut() else {
            return;
        };
        let desc = &key.desc;
        if let Some(t) = &key.policy_text {
            match policy::parse_policy(t, &format!("key policy of {}", desc.arn)) {
                Ok(doc) => key.policy = Some(doc),
                Err(e) => self.unseen.push(Unseen {
                    what: format!("key policy of {}", desc.arn),
                    error: None,
                    meaning: format!("it could not be parsed ({e}); KMS may reject every request"),
                    how_to_see: format!(
                        "aws kms get-key-policy --key-id {} --policy-name default --region {}",
                        desc.arn, desc.region
                    ),
                }),
            }
        }
        key.grants = self.grants_for(&key.desc).await;
    }

    async fn grants_for(&mut self, desc: &KeyDescription) -> Option<Vec<Grant>> {
        let r = in_region(
            self.key_account_reader(&desc.account)
                .unwrap_or(self.reader),
            Some(desc.region.as_str()),
        );
        match r.list_grants(&desc.arn).await {
            Ok(Seen::Visible(grants)) => {
                match policy::parse_grants_value(
                    &grants_json(&grants),
                    &format!("grants of {}", desc.arn),
                ) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        self.unseen.push(Unseen {
                            what: format!("grants of {}", desc.arn),
                            error: None,
                            meaning: format!(
                                "they could not be interpreted ({e}) and were left out"
                            ),
                            how_to_see: format!("aws kms list-grants --key-id {}", desc.arn),
                        });
                        None
                    }
                }
            }
            Ok(Seen::NotVisible(e)) | Err(e) => {
                self.unseen.push(Unseen {
                    what: format!("grants of {}", desc.arn),
                    meaning: "access through grants is unknown (it matters for Auto Scaling's service-linked role)".into(),
                    how_to_see: format!("aws kms list-grants --key-id {} --region {}", desc.arn, desc.region),
                    error: Some(e),
                });
                None
            }
        }
    }
}

/// ListGrants' answer as the JSON the policy engine parses.
fn grants_json(grants: &[GrantInfo]) -> Value {
    Value::Array(
        grants
            .iter()
            .map(|g| {
                // Absent fields stay absent (a grant's Name is optional: most have none, and
                // `null` is not a valid grant field).
                let mut o = json!({"Operations": g.operations});
                for (k, v) in [
                    ("GrantId", &g.grant_id),
                    ("Name", &g.name),
                    ("GranteePrincipal", &g.grantee_principal),
                    ("RetiringPrincipal", &g.retiring_principal),
                ] {
                    if let Some(v) = v {
                        o[k] = Value::String(v.clone());
                    }
                }
                if let Some(c) = g
                    .constraints
                    .as_deref()
                    .and_then(|c| serde_json::from_str::<Value>(c).ok())
                {
                    o["Constraints"] = c;
                }
                o
            })
            .collect(),
    )
}
