//! Discovery of the guardrails (docs/DOMAIN.md "Guardrails"): per target account the
//! permissions boundary of every principal that uses a source key (the copier; the launchers
//! with `--share-only`) and per target region the Allowed AMIs setting, read with the target's
//! credentials ([`account_guardrails`]); and, with the organization's credentials
//! (`--org-profile`), the SCPs on each target account's path and the RCPs on the source
//! account's path ([`org_guardrails`], each level read once).
//!
//! Nothing read here is ever a clean `allow` by default: a read AWS refuses (or fails) is
//! `unseen`, with the exact command an administrator runs to see it.

use super::build::source_key_users;
use super::facts::Discovery;
use crate::workflow::guardrail_facts::{
    boundary_command, AllowedImagesFact, BoundaryFact, GuardrailDiscovery, OrgGuardrailReader,
    OrgPolicyKind,
};
use crate::workflow::org_targets::OrgReader;
use crate::workflow::plan::PlanOptions;
use crate::workflow::ports::{Reader, Seen};
use crate::workflow::ports_write::Writer;
use crate::workflow::world::World;

/// One target's boundaries and Allowed AMIs settings.
type TargetGuardrails = (
    Vec<(String, BoundaryFact)>,
    Vec<(String, AllowedImagesFact)>,
);

async fn target_guardrails<R: Reader, W: Writer>(
    world: &World<R, W>,
    t: &crate::workflow::copy::facts::TargetFacts,
    opts: &PlanOptions,
) -> TargetGuardrails {
    let mut out: TargetGuardrails = (Vec::new(), Vec::new());
    let Some(access) = world.target(&t.account) else {
        return out;
    };
    let Some(first) = access.regions.values().next() else {
        return out;
    };
    let mut arns: Vec<String> = t.identity.iter().map(|i| i.arn.clone()).collect();
    arns.extend(source_key_users(t, opts).iter().map(|p| p.arn.clone()));
    arns.dedup();
    for arn in arns {
        let fact = match first.reader.permissions_boundary(&arn).await {
            Ok(Seen::Visible(None)) => BoundaryFact::None,
            Ok(Seen::Visible(Some(b))) => BoundaryFact::Known(b),
            Ok(Seen::NotVisible(e)) | Err(e) => BoundaryFact::Unseen {
                reason: e.to_string(),
                command: boundary_command(&arn),
            },
        };
        out.0.push((arn, fact));
    }
    for (region, conn) in &access.regions {
        let fact = match conn.reader.allowed_images_settings().await {
            Ok(Seen::Visible(s)) => AllowedImagesFact::Known(s),
            Ok(Seen::NotVisible(e)) | Err(e) => AllowedImagesFact::Unseen {
                reason: e.to_string(),
                command: format!("aws ec2 get-allowed-images-settings --region {region}"),
            },
        };
        out.1.push((format!("{}/{region}", t.account), fact));
    }
    out
}

/// Boundaries and Allowed AMIs, read with each target's own credentials (every target at
/// once, as discovery reads the targets).
pub async fn account_guardrails<R: Reader, W: Writer>(
    world: &World<R, W>,
    d: &Discovery,
    opts: &PlanOptions,
) -> GuardrailDiscovery {
    let all =
        futures::future::join_all(d.targets.iter().map(|t| target_guardrails(world, t, opts)))
            .await;
    let mut g = GuardrailDiscovery::default();
    for (boundaries, allowed) in all {
        g.boundaries.extend(boundaries);
        g.allowed_images.extend(allowed);
    }
    g
}

/// The SCPs on every target account's path and the RCPs on the source account's path, read
/// with the organization's credentials; each level and each policy once.
pub async fn org_guardrails<O: OrgReader>(org: &O, d: &mut Discovery) {
    let management = org.organization().await.ok().map(|o| o.management_account);
    let mut reader = OrgGuardrailReader::new(org, management);
    for t in &d.targets {
        let fact = reader
            .path_fact(&t.account, OrgPolicyKind::ServiceControlPolicy)
            .await;
        d.guardrails.scps.insert(t.account.clone(), fact);
    }
    let any_customer_key = d.keys.iter().any(|k| !k.description.is_aws_managed());
    if any_customer_key {
        d.guardrails.rcps = Some(
            reader
                .path_fact(&d.source.account, OrgPolicyKind::ResourceControlPolicy)
                .await,
        );
    }
}
