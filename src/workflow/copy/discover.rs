//! Discovery: read what the plan depends on, change nothing. The image and its snapshots and
//! keys in the source; per target account amishare's identity and policies, the `--grant`
//! principals' policies, the existing `KmsKeyUsagePolicy`, and per region the key a copy would be
//! encrypted with and the copies earlier runs made; the guardrails the targets' credentials can
//! read (`discover_guardrails.rs`). `--dry-run` adds EC2 `DryRun=true` probes.
//! A source image that is still `pending` is waited for (not under `--dry-run`), see
//! [`wait_for_pending_source`].

use super::build::smallest_instance_type;
use super::facts::{Discovery, KeyFacts, PrincipalFacts, ReencryptFacts, RegionFacts, TargetFacts};
use super::launcher_facts::{
    describe_copy_key, discover_grant_creator_policy, discover_key_usage_policies,
    discover_region_keys, discover_source_key_grants, read_managed_policy,
};
use super::{usage_policy_arn, CopyError};
use crate::domain::arn::{account_of, is_autoscaling_service_role, partition_of};
use crate::domain::states::ImageState;
use crate::workflow::events::{Event, Events};
use crate::workflow::inventory::{ImageInfo, SnapshotInfo};
use crate::workflow::plan::{PermissionProbe, PlanOptions};
use crate::workflow::ports::{Reader, Seen};
use crate::workflow::ports_write::{DryRunProbe, Writer};
use crate::workflow::waiters::{wait_for_image, ImageWaitError, Timing};
use crate::workflow::world::{Conn, TargetAccess, World};

/// Read what the plan depends on. Changes nothing.
///
/// With `--reencrypt-with` and an AMI on AWS managed keys, it also reads the key asked for and
/// looks for a re-encrypted copy an earlier run made: an available one is discovered instead of
/// the original (so a rerun continues with it), a pending one is waited for.
pub async fn discover<R: Reader, W: Writer, E: Events + ?Sized>(
    world: &World<R, W>,
    image_id: &str,
    opts: &PlanOptions,
    events: &E,
) -> Result<Discovery, CopyError> {
    events.emit(Event::Phase {
        name: "discover".into(),
    });
    let mut d = discover_image(world, image_id, opts, events).await?;
    d.guardrails = super::discover_guardrails::account_guardrails(world, &d, opts).await;
    if opts.probe {
        d.probes = probe(world, &d, opts).await;
    }
    let Some(key) = opts.reencrypt_with.as_deref() else {
        return Ok(d);
    };
    if !d.keys.iter().any(|k| k.description.is_aws_managed()) {
        return Ok(d);
    }
    let src = &world.source;
    let (key, key_error) = match src.reader.describe_key(key).await {
        Ok(k) => (Some(k), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let copies = src.writer.find_copies(image_id).await?;
    let available = copies
        .iter()
        .find(|c| c.state == Some(ImageState::Available));
    let pending = copies.iter().find(|c| c.state == Some(ImageState::Pending));
    let mut facts = ReencryptFacts {
        original_image_id: image_id.to_string(),
        key,
        key_error,
        pending_copy: None,
        using_copy: false,
    };
    if let Some(c) = available {
        events.emit(Event::Note {
            message: format!(
                "using {}, the re-encrypted copy of {image_id} made by an earlier run",
                c.image_id
            ),
        });
        d = discover_image(world, &c.image_id, opts, events).await?;
        d.guardrails = super::discover_guardrails::account_guardrails(world, &d, opts).await;
        if opts.probe {
            d.probes = probe(world, &d, opts).await;
        }
        facts.using_copy = true;
    } else {
        facts.pending_copy = pending.map(|c| c.image_id.clone());
    }
    d.reencrypt = Some(facts);
    Ok(d)
}

/// `--dry-run`'s EC2 permission probes (`DryRun=true`, no change): sharing the image in the
/// source; CopyImage and RunInstances in each target account's first region.
async fn probe<R: Reader, W: Writer>(
    world: &World<R, W>,
    d: &Discovery,
    opts: &PlanOptions,
) -> Vec<PermissionProbe> {
    let mut out = Vec::new();
    let src = &world.source;
    if let Some(account) = opts.target_accounts.first() {
        let probe = DryRunProbe::ModifyImageAttribute {
            image_id: d.image.id.clone(),
            account: account.clone(),
        };
        out.push(PermissionProbe {
            account: d.source.account.clone(),
            region: d.source_region.clone(),
            outcome: src.writer.dry_run(&probe).await,
            probe,
        });
    }
    let instance_type = opts
        .instance_type
        .clone()
        .unwrap_or_else(|| smallest_instance_type(d.image.architecture.as_deref()).to_string());
    for t in &d.targets {
        let Some(r) = t.regions.first() else { continue };
        let Some(conn) = world.target_conn(&t.account, &r.region) else {
            continue;
        };
        let mut probes = Vec::new();
        if !opts.share_only {
            probes.push(DryRunProbe::CopyImage {
                source_image_id: d.image.id.clone(),
                source_region: d.source_region.clone(),
                kms_key_id: r.target_key.clone(),
            });
        }
        if opts.test_launch {
            probes.push(DryRunProbe::RunInstances {
                image_id: d.image.id.clone(),
                instance_type: instance_type.clone(),
                subnet_id: opts.subnet_id.clone(),
            });
        }
        for probe in probes {
            out.push(PermissionProbe {
                account: t.account.clone(),
                region: r.region.clone(),
                outcome: conn.writer.dry_run(&probe).await,
                probe,
            });
        }
    }
    out
}

async fn discover_image<R: Reader, W: Writer, E: Events + ?Sized>(
    world: &World<R, W>,
    image_id: &str,
    opts: &PlanOptions,
    events: &E,
) -> Result<Discovery, CopyError> {
    let src = &world.source;
    let source = src.reader.identity().clone();
    let mut image = describe_source_image(&src.reader, image_id).await?;
    // `opts.probe` is `--dry-run`, which must stay fast and change nothing: it plans with the
    // `image-not-available` blocker instead (whose message says a real run waits).
    if image.state == Some(ImageState::Pending) && !opts.probe {
        wait_for_pending_source(&src.writer, image_id, Timing::default(), events).await?;
        image = describe_source_image(&src.reader, image_id).await?;
    }
    let snapshots = src.reader.describe_snapshots(&image.snapshot_ids()).await?;
    let mut keys = discover_keys(&src.reader, &source.account, &snapshots).await?;
    if opts.share_only && opts.grants.iter().any(|g| is_autoscaling_service_role(g)) {
        discover_source_key_grants(&src.reader, &mut keys).await;
    }
    let partition = partition_of(&source.arn).to_string();
    // Every target account at once (an organization has dozens), in the order given.
    let targets = futures::future::try_join_all(opts.target_accounts.iter().map(|account| {
        discover_target(
            world.target(account),
            account,
            &image,
            &keys,
            &partition,
            opts,
        )
    }))
    .await?;
    Ok(Discovery {
        source,
        source_region: src.reader.region().to_string(),
        image,
        snapshots,
        keys,
        targets,
        reencrypt: None,
        probes: Vec::new(),
        guardrails: Default::default(),
    })
}

/// DescribeImages on the source image; not found is bad input.
async fn describe_source_image<R: Reader>(
    reader: &R,
    image_id: &str,
) -> Result<ImageInfo, CopyError> {
    match reader.describe_image(image_id).await {
        Ok(i) => Ok(i),
        Err(e) if e.is_not_found() => Err(CopyError::input(
            format!(
                "image `{image_id}` not found in account {} region {}",
                reader.identity().account,
                reader.region()
            ),
            "check the AMI id, `--region` and `--profile` (the AMI must be visible to the source credentials)",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Wait until a `pending` source image is `available`, at most `timing.copy_timeout` (3 h by
/// default: creating an image can take as long as copying one), with a note on stderr for every
/// change of state or progress decile. Ends `Ok` however the wait ends but for a failed call:
/// discovery describes the image again and a `failed`, `deregistered` or still `pending` image
/// is the `image-not-available` blocker, a vanished one the not-found error.
pub(crate) async fn wait_for_pending_source<W: Writer, E: Events + ?Sized>(
    writer: &W,
    image_id: &str,
    timing: Timing,
    events: &E,
) -> Result<(), CopyError> {
    let account = writer.account().to_string();
    let region = writer.region().to_string();
    let bound = timing.copy_timeout.as_secs() / 60;
    events.emit(Event::Note {
        message: format!(
            "source image {image_id} in {account}/{region} is `pending`: waiting until it is `available` (at most {bound} min)"
        ),
    });
    // Discovery installs no Ctrl-C handler (Ctrl-C ends the process, and nothing has changed
    // yet): a receiver whose sender never cancels.
    let (_never, cancel) = tokio::sync::watch::channel(false);
    let mut last: Option<(String, Option<u8>)> = None;
    let outcome = wait_for_image(writer, image_id, timing, &cancel, |status, state| {
        let seen = (
            state.as_str().to_string(),
            status.progress_percent.map(|p| p / 10 * 10),
        );
        if last.as_ref() != Some(&seen) {
            let percent = status
                .progress_percent
                .map(|p| format!(" {p}%"))
                .unwrap_or_default();
            events.emit(Event::Note {
                message: format!("source image {image_id}: {}{percent}", seen.0),
            });
            last = Some(seen);
        }
    })
    .await;
    match outcome {
        Ok(()) | Err(ImageWaitError::Gone | ImageWaitError::Failed { .. }) => Ok(()),
        Err(ImageWaitError::Timeout { state, secs }) => {
            events.emit(Event::Note {
                message: format!(
                    "source image {image_id} is still `{state}` after {secs} s: no longer waiting"
                ),
            });
            Ok(())
        }
        Err(ImageWaitError::Interrupted) => Err(CopyError::Interrupted),
        Err(ImageWaitError::Aws(e)) => Err(e.into()),
    }
}

/// Every distinct key of the encrypted snapshots: DescribeKey, and the key policy when the key
/// is the source account's.
async fn discover_keys<R: Reader>(
    reader: &R,
    source_account: &str,
    snapshots: &[SnapshotInfo],
) -> Result<Vec<KeyFacts>, CopyError> {
    let mut key_refs: Vec<String> = Vec::new();
    for s in snapshots {
        if s.encrypted == Some(true) {
            if let Some(k) = &s.kms_key_id {
                if !key_refs.contains(k) {
                    key_refs.push(k.clone());
                }
            }
        }
    }
    let mut keys = Vec::new();
    for k in &key_refs {
        let description = reader.describe_key(k).await?;
        let (policy, policy_error) = if description.account == source_account {
            match reader.get_key_policy(&description.arn).await? {
                Seen::Visible(p) => (Some(p), None),
                Seen::NotVisible(e) => (None, Some(e.to_string())),
            }
        } else {
            (
                None,
                Some(format!(
                    "the key belongs to account {}, not the source account",
                    description.account
                )),
            )
        };
        keys.push(KeyFacts {
            description,
            policy,
            policy_error,
            grants: Vec::new(),
        });
    }
    Ok(keys)
}

/// One target account: who amishare is there, the `--grant` principals of that account with
/// their identity policies, the existing `KmsKeyUsagePolicy`, and each region's facts.
async fn discover_target<R: Reader, W: Writer>(
    access: Option<&TargetAccess<R, W>>,
    account: &str,
    image: &ImageInfo,
    keys: &[KeyFacts],
    partition: &str,
    opts: &PlanOptions,
) -> Result<TargetFacts, CopyError> {
    let principals_arns: Vec<&String> = opts
        .grants
        .iter()
        .filter(|g| account_of(g) == Some(account))
        .collect();
    let mut facts = TargetFacts {
        account: account.to_string(),
        identity: access.and_then(|a| a.identity.clone()),
        identity_policies: None,
        principals: Vec::new(),
        usage_policy: None,
        regions: Vec::new(),
        key_usage_policies: Default::default(),
        grant_creator_policy: None,
    };
    let (Some(access), Some(conn)) = (access, access.and_then(|a| a.regions.values().next()))
    else {
        facts.principals = principals_arns
            .iter()
            .map(|arn| PrincipalFacts {
                arn: (*arn).clone(),
                policies: None,
                error: Some("no credentials for the target account".into()),
            })
            .collect();
        return Ok(facts);
    };
    for arn in principals_arns {
        facts
            .principals
            .push(discover_principal(conn, arn, account).await?);
    }
    if let Some(id) = &facts.identity {
        facts.identity_policies = match conn.reader.principal_policies(&id.arn).await {
            Ok(Seen::Visible(p)) => Some(p),
            _ => None,
        };
    }
    if !keys.is_empty() {
        let arn = usage_policy_arn(partition, account);
        match read_managed_policy(conn, &arn).await? {
            Seen::Visible(found) => facts.usage_policy = found,
            // Unreadable: the copier's IAM is not visible (see `read_managed_policy`).
            Seen::NotVisible(_) => facts.identity_policies = None,
        }
    }
    // The account's regions at once.
    let launchers = !facts.principals.is_empty();
    let regions = opts
        .target_regions
        .iter()
        .filter_map(|region| access.regions.get(region).map(|rconn| (region, rconn)))
        .map(|(region, rconn)| async move {
            let target_key = match &opts.target_key {
                Some(k) => Some(k.clone()),
                None => rconn.reader.ebs_default_kms_key_id().await.ok(),
            };
            let copies = if opts.share_only {
                Vec::new()
            } else {
                rconn.writer.find_copies(&image.id).await?
            };
            let mut region_facts = RegionFacts {
                region: region.clone(),
                target_key,
                copies,
                ebs_default_key: None,
                copy_key: None,
            };
            if launchers {
                let k = opts.target_key.as_deref();
                discover_region_keys(rconn, account, k, &mut region_facts).await;
            } else if !opts.share_only {
                describe_copy_key(&rconn.reader, opts.target_key.is_some(), &mut region_facts)
                    .await;
            }
            Ok::<_, CopyError>(region_facts)
        });
    facts.regions = futures::future::try_join_all(regions).await?;
    if launchers {
        discover_key_usage_policies(conn, partition, &mut facts).await?;
        if opts.share_only {
            discover_grant_creator_policy(conn, partition, &mut facts).await?;
        }
    }
    Ok(facts)
}

/// The error of an Auto Scaling service-linked role that does not exist yet.
pub const SLR_MISSING: &str = "the role does not exist yet (Auto Scaling creates it with the first group, or: `aws iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com`)";

/// A `--grant` naming Auto Scaling's service-linked role where it does not exist yet.
pub fn is_missing_service_role(p: &PrincipalFacts) -> bool {
    is_autoscaling_service_role(&p.arn) && p.error.as_deref() == Some(SLR_MISSING)
}

/// A `--grant` principal's identity policies (an unreadable one is a fact, a missing one bad
/// input).
async fn discover_principal<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    arn: &str,
    account: &str,
) -> Result<PrincipalFacts, CopyError> {
    if is_autoscaling_service_role(arn) {
        // Its AWS managed policy holds no KMS action and cannot be edited: only whether it
        // exists matters (KMS refuses a key policy naming a role that does not exist).
        let missing =
            matches!(conn.reader.principal_policies(arn).await, Err(e) if e.is_not_found());
        return Ok(PrincipalFacts {
            arn: arn.to_string(),
            policies: None,
            error: missing.then(|| SLR_MISSING.to_string()),
        });
    }
    let (policies, error) = match conn.reader.principal_policies(arn).await {
        Ok(Seen::Visible(p)) => (Some(p), None),
        Ok(Seen::NotVisible(e)) => (None, Some(e.to_string())),
        Err(e) if e.is_not_found() => {
            return Err(CopyError::input(
                format!("principal `{arn}` does not exist in account {account}"),
                "pass the ARN of an existing user, role or group with `--grant`",
            ))
        }
        Err(e) => (None, Some(e.to_string())),
    };
    Ok(PrincipalFacts {
        arn: arn.to_string(),
        policies,
        error,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::{Cloud, FakeImage};
    use crate::workflow::events::CollectEvents;

    const SRC: &str = "arn:aws:sts::111122223333:assumed-role/admin/amishare";
    const AMI: &str = "ami-0000000000000bbbb";

    fn cloud(state: &str) -> Cloud {
        let cloud = Cloud::default();
        cloud.lock().images.push(FakeImage {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            info: ImageInfo {
                id: AMI.into(),
                name: Some("web".into()),
                owner: Some("111122223333".into()),
                state: Some(state.into()),
                architecture: None,
                creation_date: None,
                block_devices: vec![],
                launch_permissions: None,
                tags: vec![],
            },
            launch_permissions: vec![],
            state_reason: None,
        });
        cloud
    }

    fn fast(timeout_ms: u64) -> Timing {
        Timing {
            poll_start: Duration::from_millis(5),
            poll_max: Duration::from_millis(10),
            copy_timeout: Duration::from_millis(timeout_ms),
            terminate_timeout: Duration::from_millis(100),
            instance_poll_start: Duration::from_millis(5),
            instance_poll_max: Duration::from_millis(10),
        }
    }

    /// The image becomes `state` after 50 ms; the number of DescribeImages calls and the notes.
    async fn wait(state: &'static str, timeout_ms: u64) -> (usize, Vec<String>) {
        let cloud = cloud("pending");
        let flip = cloud.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            flip.lock().images[0].info.state = Some(state.into());
        });
        let conn = cloud.conn(SRC, "us-east-1");
        let events = CollectEvents::default();
        wait_for_pending_source(&conn.writer, AMI, fast(timeout_ms), &events)
            .await
            .unwrap();
        let polls = cloud
            .calls()
            .iter()
            .filter(|c| c.api == "DescribeImages")
            .count();
        let notes = events
            .take()
            .into_iter()
            .filter_map(|e| match e {
                Event::Note { message } => Some(message),
                _ => None,
            })
            .collect();
        (polls, notes)
    }

    #[tokio::test]
    async fn waits_until_the_pending_image_is_available() {
        let (polls, notes) = wait("available", 5_000).await;
        assert!(polls >= 2, "{polls}");
        assert!(notes[0].contains("is `pending`: waiting"), "{notes:?}");
        assert!(
            notes.contains(&format!("source image {AMI}: pending")),
            "{notes:?}"
        );
        assert_eq!(
            notes.last().unwrap(),
            &format!("source image {AMI}: available")
        );
    }

    #[tokio::test]
    async fn stops_waiting_when_the_image_fails() {
        let (_, notes) = wait("failed", 5_000).await;
        assert_eq!(
            notes.last().unwrap(),
            &format!("source image {AMI}: failed")
        );
    }

    #[tokio::test]
    async fn stops_waiting_after_the_timeout() {
        let (_, notes) = wait("available", 20).await;
        assert!(
            notes.last().unwrap().contains("still `pending` after"),
            "{notes:?}"
        );
    }

    /// Discovery waits for a pending source image, `--dry-run` (`probe`) does not.
    #[tokio::test]
    async fn discovery_waits_unless_dry_run() {
        for probe in [false, true] {
            let cloud = cloud("pending");
            let flip = cloud.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                flip.lock().images[0].info.state = Some("available".into());
            });
            let world = cloud.world(SRC, "us-east-1", &[], &["us-east-1"]);
            let opts = PlanOptions {
                probe,
                ..PlanOptions::default()
            };
            let d = discover(&world, AMI, &opts, &CollectEvents::default())
                .await
                .unwrap();
            let expected = if probe { "pending" } else { "available" };
            assert_eq!(d.image.state, Some(expected.into()), "probe: {probe}");
        }
    }
}
