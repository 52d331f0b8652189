//! The image and its snapshots: which KMS keys the launch needs, and what uses each.

use super::Run;
use crate::workflow::diagnose::arn::same_key;
use crate::workflow::diagnose::types::Unseen;
use crate::workflow::inventory::ImageInfo;
use crate::workflow::ports::Reader;

/// Keys found, with the volumes/snapshots using them, in first-seen order.
#[derive(Default)]
pub(super) struct KeyRefs(Vec<(String, Vec<String>)>);

impl KeyRefs {
    pub(super) fn add(&mut self, key: &str, by: &str) {
        match self.0.iter_mut().find(|(k, _)| same_key(k, key)) {
            Some((_, v)) => v.push(by.to_string()),
            None => self.0.push((key.to_string(), vec![by.to_string()])),
        }
    }

    /// The keys and their users, in first-seen order.
    pub(super) fn into_refs(self) -> Vec<(String, Vec<String>)> {
        self.0
    }
}

impl<R: Reader> Run<'_, R> {
    /// The image and its snapshots' keys.
    pub(super) async fn image_and_keys(
        &mut self,
        image_id: &str,
        key_refs: &mut KeyRefs,
    ) -> Option<ImageInfo> {
        let mut img_res = self.reader.describe_image(image_id).await;
        let mut snap_reader = self.reader;
        if img_res.is_err() {
            if let Some(kr) = self.key_reader {
                if let Ok(i) = kr.describe_image(image_id).await {
                    img_res = Ok(i);
                    snap_reader = kr;
                }
            }
        }
        let img = match img_res {
            Ok(i) => i,
            Err(e) => {
                self.unseen.push(Unseen {
                    what: format!("image {image_id}"),
                    meaning: "its snapshots and their keys are unknown (a deregistered image, or one no longer shared with this account)".into(),
                    how_to_see: format!("aws ec2 describe-images --image-ids {image_id} --region {} (with the image owner's credentials: `--key-account-profile`)", self.reader.region()),
                    error: Some(e),
                });
                return None;
            }
        };
        let ids = img.snapshot_ids();
        let mut found = snap_reader.describe_snapshots(&ids).await;
        // Snapshots not shared with this account (e.g. aws/ebs-encrypted ones, which cannot be
        // shared) are visible to their owner: ask the key account's reader for them.
        if let Some(kr) = self.key_reader {
            let missing: Vec<String> = match &found {
                Ok(snaps) => ids
                    .iter()
                    .filter(|id| !snaps.iter().any(|s| &s.id == *id))
                    .cloned()
                    .collect(),
                Err(_) => ids.clone(),
            };
            if !missing.is_empty() {
                if let Ok(more) = kr.describe_snapshots(&missing).await {
                    match &mut found {
                        Ok(snaps) => snaps.extend(more),
                        Err(_) => found = Ok(more),
                    }
                }
            }
        }
        match found {
            Ok(snaps) => {
                for s in &snaps {
                    if s.encrypted == Some(true) {
                        match &s.kms_key_id {
                            Some(k) => key_refs.add(k, &s.id),
                            None => self.unseen.push(Unseen {
                                what: format!("the KMS key of snapshot {}", s.id),
                                error: None,
                                meaning: "the snapshot is encrypted but its key is not shown"
                                    .into(),
                                how_to_see: format!(
                                    "aws ec2 describe-snapshots --snapshot-ids {}",
                                    s.id
                                ),
                            }),
                        }
                    }
                }
                for id in &ids {
                    let encrypted = img.block_devices.iter().any(|b| {
                        b.snapshot_id.as_deref() == Some(id.as_str()) && b.encrypted != Some(false)
                    });
                    if encrypted && !snaps.iter().any(|s| &s.id == id) {
                        self.unseen.push(Unseen {
                            what: format!("snapshot {id}"),
                            error: None,
                            meaning: "its KMS key is unknown: the snapshot is not shared with this account (or deleted)".into(),
                            how_to_see: format!(
                                "aws ec2 describe-snapshots --snapshot-ids {id} --region {} with the owner's credentials (`--key-account-profile`)",
                                self.reader.region()
                            ),
                        });
                    }
                }
            }
            Err(e) => self.unseen.push(Unseen {
                what: format!("snapshots of {image_id}"),
                meaning: "their KMS keys are unknown".into(),
                how_to_see: format!(
                    "aws ec2 describe-snapshots --snapshot-ids {}",
                    ids.join(" ")
                ),
                error: Some(e),
            }),
        }
        Some(img)
    }
}
