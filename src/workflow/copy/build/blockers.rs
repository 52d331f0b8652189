//! What stops a copy before anything changes, each with its fix: an image the source account
//! does not own or that is not `available` (a `pending` one only under `--dry-run`: a real run
//! waits for it in discovery); AWS managed (aws/ebs) keys, which no other account can
//! ever use; keys that are disabled, pending deletion or otherwise unusable, or not symmetric
//! encryption keys; keys of another
//! account (their policy cannot be edited from here); unreadable key policies.

use super::Draft;
use crate::domain::states::{ImageState, KeyState};
use crate::workflow::copy::facts::{Discovery, KeyFacts};
use crate::workflow::inventory::KeyDescription;
use crate::workflow::plan::{Blocker, BlockerCode, PlanOptions};
use crate::workflow::waiters::Timing;

/// The image must be the source account's and `available`.
pub fn image_blockers(d: &Discovery, draft: &mut Draft) {
    let src_account = &d.source.account;
    if d.image.owner.as_deref() != Some(src_account.as_str()) {
        draft.blockers.push(Blocker {
            code: BlockerCode::ImageNotOwned,
            account: None,
            message: format!(
                "image {} belongs to account {}, not the source account {src_account}",
                d.image.id,
                d.image.owner.as_deref().unwrap_or("?")
            ),
            fix: "run amishare with credentials of the image's owner, or copy the image into your account first (`aws ec2 copy-image`)".into(),
        });
    }
    if d.image.state == Some(ImageState::Pending) {
        // Discovery waits for a pending image unless `--dry-run`; after its timeout the image
        // may still be pending.
        let bound = Timing::default().copy_timeout.as_secs() / 60;
        draft.blockers.push(Blocker {
            code: BlockerCode::ImageNotAvailable,
            account: None,
            message: format!(
                "image {} is still `pending`, not `available`: a real run (without `--dry-run`) waits for it, at most {bound} min",
                d.image.id
            ),
            fix: "run without `--dry-run` (amishare waits for the image), or wait until the image is available (`aws ec2 wait image-available --image-ids ...`) and run again".into(),
        });
    } else if d.image.state != Some(ImageState::Available) {
        draft.blockers.push(Blocker {
            code: BlockerCode::ImageNotAvailable,
            account: None,
            message: format!(
                "image {} is `{}`, not `available`",
                d.image.id,
                d.image.state.as_ref().map_or("unknown", ImageState::as_str)
            ),
            fix: not_available_fix(d),
        });
    }
}

/// The fix for an image that is neither `available` nor `pending`: a `failed` image never
/// becomes available, a `deregistered` one is gone; other states may pass.
fn not_available_fix(d: &Discovery) -> String {
    let id = &d.image.id;
    match &d.image.state {
        Some(ImageState::Failed) => format!(
            "the image will not become available: create the AMI again (and `aws ec2 deregister-image --image-id {id}`), then run amishare on the new one"
        ),
        Some(ImageState::Deregistered) => {
            "the image no longer exists: run amishare on another AMI".into()
        }
        _ => "wait until the image is available (`aws ec2 wait image-available --image-ids ...`) and run again".into(),
    }
}

/// Every key must be usable by other accounts and its policy editable from the source account.
/// `reencrypting`: `--reencrypt-with` replaces the AWS managed keys, which then block nothing.
pub fn key_blockers(d: &Discovery, opts: &PlanOptions, reencrypting: bool, draft: &mut Draft) {
    for k in &d.keys {
        if k.description.is_aws_managed() {
            if !reencrypting {
                draft.blockers.push(aws_managed_key(d, &k.description.arn));
            }
            continue;
        }
        draft.blockers.extend(key_state(k));
        draft.blockers.extend(key_spec(&k.description));
        draft.blockers.extend(key_ownership(d, opts, k));
    }
}

/// The aws/ebs blocker and its two fixes (`--reencrypt-with`, or the copy by hand).
fn aws_managed_key(d: &Discovery, arn: &str) -> Blocker {
    let src_account = &d.source.account;
    let src_region = &d.source_region;
    Blocker {
        code: BlockerCode::AwsManagedKey,
        account: None,
        message: format!(
            "the snapshots are encrypted with the AWS managed key {arn} (aws/ebs), which no other account can ever use"
        ),
        fix: format!(
            "let amishare first copy the AMI inside account {src_account}, re-encrypted with a customer managed key, and share that copy: rerun with `--reencrypt-with <customer-key-arn>`; or do it by hand and run amishare on the new AMI: `aws ec2 copy-image --source-image-id {} --source-region {src_region} --region {src_region} --name {}-cmk --encrypted --kms-key-id <customer-key-arn>`",
            d.image.id,
            d.image.name.as_deref().unwrap_or("copy")
        ),
    }
}

/// A key that is not `Enabled` (an unknown state passes: DescribeKey did not say).
fn key_state(k: &KeyFacts) -> Option<Blocker> {
    state_problem(&k.description).map(|(code, message, fix)| Blocker {
        code,
        account: None,
        message,
        fix,
    })
}

/// What a key's state forbids, with the fix: `None` for `Enabled` or an unknown state
/// (KMS "Key states of AWS KMS keys": only an enabled key encrypts or decrypts).
pub fn state_problem(k: &KeyDescription) -> Option<(BlockerCode, String, String)> {
    let arn = &k.arn;
    let region = &k.region;
    match &k.key_state {
        Some(KeyState::Disabled) => Some((
            BlockerCode::KeyDisabled,
            format!("key {arn} is disabled"),
            format!("enable it: `aws kms enable-key --key-id {arn} --region {region}`"),
        )),
        Some(KeyState::PendingDeletion) => Some((
            BlockerCode::KeyPendingDeletion,
            format!("key {arn} is pending deletion"),
            format!("cancel the deletion and enable it: `aws kms cancel-key-deletion --key-id {arn} --region {region} && aws kms enable-key --key-id {arn} --region {region}`"),
        )),
        Some(KeyState::Enabled) | None => None,
        Some(other) => Some((
            BlockerCode::KeyUnusable,
            format!("key {arn} is `{other}`"),
            "the key must be `Enabled`".into(),
        )),
    }
}

/// EBS encrypts volumes and snapshots only with symmetric encryption keys: a key whose spec is
/// not `SYMMETRIC_DEFAULT` (asymmetric, HMAC) cannot be used (an unknown spec passes).
pub fn unusable_spec(k: &KeyDescription) -> Option<String> {
    match k.key_spec.as_deref() {
        Some(spec) if spec != "SYMMETRIC_DEFAULT" => Some(format!(
            "key {} has key spec {spec}: EBS uses only symmetric encryption keys (SYMMETRIC_DEFAULT)",
            k.arn
        )),
        _ => None,
    }
}

fn key_spec(k: &KeyDescription) -> Option<Blocker> {
    unusable_spec(k).map(|message| Blocker {
        code: BlockerCode::KeySpec,
        account: None,
        message,
        fix: "use a symmetric encryption key (`aws kms create-key --key-spec SYMMETRIC_DEFAULT --key-usage ENCRYPT_DECRYPT`)".into(),
    })
}

/// A key of another account, or one whose policy the source credentials cannot read.
fn key_ownership(d: &Discovery, opts: &PlanOptions, k: &KeyFacts) -> Option<Blocker> {
    let arn = &k.description.arn;
    let src_account = &d.source.account;
    if k.description.account != *src_account {
        return Some(Blocker {
            code: BlockerCode::KeyNotOwned,
            account: None,
            message: format!(
                "key {arn} belongs to account {}: amishare cannot edit its policy from {src_account}",
                k.description.account
            ),
            fix: format!(
                "ask the admin of {} to add the target accounts to the key policy statements \"Allow use of the key\" and \"Allow attachment of persistent resources\"",
                k.description.account
            ),
        });
    }
    if k.policy.is_none() && !opts.skip_key_policy_edit {
        return Some(Blocker {
            code: BlockerCode::KeyPolicyUnreadable,
            account: None,
            message: format!(
                "cannot read the key policy of {arn}: {}",
                k.policy_error.as_deref().unwrap_or("unknown reason")
            ),
            fix: "the source credentials need kms:GetKeyPolicy and kms:PutKeyPolicy on the key"
                .into(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::inventory::{CallerIdentity, ImageInfo};

    fn blockers_for(state: &str) -> Vec<Blocker> {
        let d = Discovery {
            source: CallerIdentity {
                account: "111122223333".into(),
                arn: "arn:aws:sts::111122223333:assumed-role/admin/amishare".into(),
            },
            source_region: "us-east-1".into(),
            image: ImageInfo {
                id: "ami-1".into(),
                name: None,
                owner: Some("111122223333".into()),
                state: Some(state.into()),
                architecture: None,
                creation_date: None,
                block_devices: vec![],
                launch_permissions: None,
                tags: vec![],
            },
            snapshots: vec![],
            keys: vec![],
            targets: vec![],
            reencrypt: None,
            probes: vec![],
            guardrails: Default::default(),
        };
        let mut draft = Draft::new("");
        image_blockers(&d, &mut draft);
        draft.blockers
    }

    #[test]
    fn a_pending_image_says_a_real_run_waits() {
        let b = blockers_for("pending");
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].code, BlockerCode::ImageNotAvailable);
        assert_eq!(
            b[0].message,
            "image ami-1 is still `pending`, not `available`: a real run (without `--dry-run`) waits for it, at most 180 min"
        );
        assert!(b[0].fix.starts_with("run without `--dry-run`"), "{b:?}");
    }

    #[test]
    fn failed_and_deregistered_images_stay_blocked_with_their_fix() {
        for (state, fix) in [
            (
                "failed",
                "the image will not become available: create the AMI again",
            ),
            ("deregistered", "the image no longer exists"),
            ("invalid", "wait until the image is available"),
        ] {
            let b = blockers_for(state);
            assert_eq!(b.len(), 1, "{state}");
            assert_eq!(b[0].code, BlockerCode::ImageNotAvailable);
            assert_eq!(
                b[0].message,
                format!("image ami-1 is `{state}`, not `available`")
            );
            assert!(b[0].fix.starts_with(fix), "{b:?}");
        }
        assert!(blockers_for("available").is_empty());
    }
}
