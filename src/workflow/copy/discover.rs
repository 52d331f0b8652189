//! Discovery: read what the plan depends on, change nothing. The image and its snapshots and
//! keys in the source; per target account amishare's identity and policies, the `--grant`
//! principals' policies, the existing `KmsKeyUsagePolicy`, and per region the key a copy would be
//! encrypted with and the copies earlier runs made. `--dry-run` adds EC2 `DryRun=true` probes.

use super::build::smallest_instance_type;
use super::facts::{Discovery, KeyFacts, PrincipalFacts, ReencryptFacts, RegionFacts, TargetFacts};
use super::{usage_policy_arn, CopyError};
use crate::domain::arn::{account_of, partition_of};
use crate::domain::states::ImageState;
use crate::workflow::events::{Event, Events};
use crate::workflow::inventory::{ImageInfo, SnapshotInfo};
use crate::workflow::plan::{PermissionProbe, PlanOptions};
use crate::workflow::ports::{Reader, Seen};
use crate::workflow::ports_write::{DryRunProbe, Writer};
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
    let mut d = discover_image(world, image_id, opts).await?;
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
        d = discover_image(world, &c.image_id, opts).await?;
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

async fn discover_image<R: Reader, W: Writer>(
    world: &World<R, W>,
    image_id: &str,
    opts: &PlanOptions,
) -> Result<Discovery, CopyError> {
    let src = &world.source;
    let source = src.reader.identity().clone();
    let image = match src.reader.describe_image(image_id).await {
        Ok(i) => i,
        Err(e) if e.is_not_found() => {
            return Err(CopyError::input(
                format!(
                    "image `{image_id}` not found in account {} region {}",
                    source.account,
                    src.reader.region()
                ),
                "check the AMI id, `--region` and `--profile` (the AMI must be visible to the source credentials)",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let snapshots = src.reader.describe_snapshots(&image.snapshot_ids()).await?;
    let keys = discover_keys(&src.reader, &source.account, &snapshots).await?;
    let partition = partition_of(&source.arn).to_string();
    let mut targets = Vec::new();
    for account in &opts.target_accounts {
        let access = world.target(account);
        targets.push(discover_target(access, account, &image, &keys, &partition, opts).await?);
    }
    Ok(Discovery {
        source,
        source_region: src.reader.region().to_string(),
        image,
        snapshots,
        keys,
        targets,
        reencrypt: None,
        probes: Vec::new(),
    })
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
        facts.usage_policy = conn
            .writer
            .get_managed_policy(&usage_policy_arn(partition, account))
            .await?;
    }
    for region in &opts.target_regions {
        let Some(rconn) = access.regions.get(region) else {
            continue;
        };
        let target_key = match &opts.target_key {
            Some(k) => Some(k.clone()),
            None => rconn.reader.ebs_default_kms_key_id().await.ok(),
        };
        let copies = if opts.share_only {
            Vec::new()
        } else {
            rconn.writer.find_copies(&image.id).await?
        };
        facts.regions.push(RegionFacts {
            region: region.clone(),
            target_key,
            copies,
        });
    }
    Ok(facts)
}

/// A `--grant` principal's identity policies (an unreadable one is a fact, a missing one bad
/// input).
async fn discover_principal<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    arn: &str,
    account: &str,
) -> Result<PrincipalFacts, CopyError> {
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
