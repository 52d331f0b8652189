//! Discovery of the guardrails (docs/DOMAIN.md "Guardrails"): per target account the
//! permissions boundary of every principal that uses a source key (the copier; the launchers
//! with `--share-only`) and per target region the Allowed AMIs setting, read with the target's
//! credentials ([`account_guardrails`]); and, with the organization's credentials
//! (`--org-profile`), the SCPs on each target account's path and the RCPs on the source
//! account's path ([`org_guardrails`], each level read once); without it, the same with the
//! source account's credentials when it is the organization's management account or a delegated
//! administrator (decided by `workflow/org_policy_access.rs`).
//!
//! Nothing read here is ever a clean `allow` by default: a read AWS refuses (or fails) is
//! `unseen`, with the exact command an administrator runs to see it.

use std::collections::BTreeMap;

use super::build::source_key_users;
use super::facts::Discovery;
use crate::workflow::guardrail_facts::{
    boundary_command, AllowedImagesFact, BoundaryFact, GuardrailDiscovery, OrgGuardrailReader,
    OrgPolicyKind, PathFact,
};
use crate::workflow::org_targets::{OrgInfo, OrgReader, OrgTargets};
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
/// with `org`'s credentials, each level and each policy once. `info`: the organization those
/// credentials are in (its management account is exempt from both layers). `known`: the
/// organization as `--to-ou` / `--to-org` listed it (its members' paths save ListParents calls
/// when it is the same organization). `own_credentials`: the source's own (no `--org-profile`,
/// see `workflow/org_policy_access.rs`): a target whose path they cannot list (an account
/// outside the source's organization, whose SCPs only its own organization can show) stays
/// unread, so the plan's one note names it rather than an `unseen` fact per account.
pub async fn org_guardrails<O: OrgReader>(
    org: &O,
    info: Option<&OrgInfo>,
    d: &mut Discovery,
    known: Option<&OrgTargets>,
    own_credentials: bool,
) {
    let paths = known
        .filter(|k| k.org_id.is_some() && k.org_id.as_deref() == info.map(|o| o.id.as_str()))
        .map(|k| &k.members);
    let management = info.map(|o| o.management_account.clone());
    let layers = OrgLayers::of(d, own_credentials);
    layers.read(org, management, paths).await.into_discovery(d);
}

/// What to read of the organization: the targets' SCPs, the source's RCPs.
struct OrgLayers {
    targets: Vec<String>,
    source: String,
    /// RCPs only matter for customer managed keys.
    rcps: bool,
    /// Leave out (unread) the targets whose path cannot be listed.
    skip_unplaced: bool,
}

/// What was read: target -> its SCPs; the source's RCPs.
struct OrgLayersRead {
    scps: Vec<(String, PathFact)>,
    rcps: Option<PathFact>,
}

impl OrgLayersRead {
    fn into_discovery(self, d: &mut Discovery) {
        d.guardrails.scps.extend(self.scps);
        if self.rcps.is_some() {
            d.guardrails.rcps = self.rcps;
        }
    }
}

impl OrgLayers {
    fn of(d: &Discovery, skip_unplaced: bool) -> Self {
        Self {
            targets: d.targets.iter().map(|t| t.account.clone()).collect(),
            source: d.source.account.clone(),
            rcps: d.keys.iter().any(|k| !k.description.is_aws_managed()),
            skip_unplaced,
        }
    }

    async fn read<O: OrgReader>(
        &self,
        org: &O,
        management: Option<String>,
        paths: Option<&BTreeMap<String, String>>,
    ) -> OrgLayersRead {
        let mut reader = OrgGuardrailReader::new(org, management.clone());
        if let Some(paths) = paths {
            reader.know_paths(paths);
        }
        // Every path first (parents cached), then every level's SCPs at once.
        let mut levels = Vec::new();
        let mut unplaced = Vec::new();
        for t in &self.targets {
            if management.as_deref() != Some(t.as_str()) {
                match reader.path(t).await {
                    Ok(path) => levels.extend(path),
                    Err(_) => unplaced.push(t),
                }
            }
        }
        reader
            .prefetch(&levels, OrgPolicyKind::ServiceControlPolicy)
            .await;
        let mut scps = Vec::new();
        for t in &self.targets {
            if self.skip_unplaced && unplaced.contains(&t) {
                continue;
            }
            let fact = reader
                .path_fact(t, OrgPolicyKind::ServiceControlPolicy)
                .await;
            scps.push((t.clone(), fact));
        }
        let rcps = if self.rcps {
            Some(
                reader
                    .path_fact(&self.source, OrgPolicyKind::ResourceControlPolicy)
                    .await,
            )
        } else {
            None
        };
        OrgLayersRead { scps, rcps }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::org::FakeOrg;
    use crate::workflow::org_policy_access::{org_policy_access, OrgPolicyAccess};

    const SOURCE: &str = "111122223333";
    const MEMBER: &str = "444455556666";
    const OUTSIDER: &str = "777788889999";
    const PERIMETER: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Perimeter","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;

    /// root -> ou-prod (MEMBER, and SOURCE unless it manages the organization); an RCP on
    /// the root.
    fn org(management: &str) -> FakeOrg {
        let mut o = FakeOrg::new("r-root").managed_by(management);
        o.ou("ou-prod", "r-root");
        o.account(MEMBER, "ou-prod");
        if management != SOURCE {
            o.account(SOURCE, "ou-prod");
        }
        o.attach_full_access(&["r-root", "ou-prod"]);
        o.attach(
            "r-root",
            "p-perimeter",
            "Perimeter",
            PERIMETER,
            OrgPolicyKind::ResourceControlPolicy,
        );
        o
    }

    fn layers() -> OrgLayers {
        OrgLayers {
            targets: vec![MEMBER.into(), OUTSIDER.into()],
            source: SOURCE.into(),
            rcps: true,
            skip_unplaced: true,
        }
    }

    async fn read_as_source(o: &FakeOrg) -> (OrgPolicyAccess, Option<OrgLayersRead>) {
        let access = org_policy_access(o, SOURCE, None).await;
        if !access.reads() {
            return (access, None);
        }
        let management = access.organization().map(|i| i.management_account.clone());
        let read = layers().read(o, management, None).await;
        (access, Some(read))
    }

    fn policy_ids(f: &PathFact) -> Vec<String> {
        let PathFact::Known { levels, .. } = f else {
            panic!("{f:?}")
        };
        levels
            .iter()
            .flat_map(|l| l.policies.iter().map(|p| p.id.clone()))
            .collect()
    }

    #[tokio::test]
    async fn the_management_account_reads_the_members_scps_and_no_rcp_applies() {
        let o = org(SOURCE);
        let (access, read) = read_as_source(&o).await;
        assert!(
            matches!(access, OrgPolicyAccess::Management(_)),
            "{access:?}"
        );
        let read = read.unwrap();
        // The member's SCPs read; the outsider (not in the organization) left unread.
        let accounts: Vec<&str> = read.scps.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(accounts, [MEMBER]);
        assert_eq!(policy_ids(&read.scps[0].1).len(), 3, "{:?}", read.scps);
        // RCPs never apply to the management account's resources.
        assert_eq!(
            read.rcps,
            Some(PathFact::Known {
                levels: Vec::new(),
                management_account: true
            })
        );
    }

    #[tokio::test]
    async fn a_delegated_administrator_reads_both_layers() {
        let o = org("999999999999");
        let (access, read) = read_as_source(&o).await;
        assert!(
            matches!(access, OrgPolicyAccess::DelegatedAdministrator(_)),
            "{access:?}"
        );
        let read = read.unwrap();
        assert_eq!(read.scps.len(), 1, "{:?}", read.scps);
        assert_eq!(policy_ids(read.rcps.as_ref().unwrap()), ["p-perimeter"]);
    }

    #[tokio::test]
    async fn a_refused_member_reads_nothing_at_two_calls_whatever_the_targets() {
        let mut o = org("999999999999");
        o.deny_all_listing();
        let (access, read) = read_as_source(&o).await;
        assert!(
            matches!(access, OrgPolicyAccess::Refused { .. }),
            "{access:?}"
        );
        assert!(read.is_none());
        let c = o.calls();
        assert_eq!(
            (
                c.describe_organization,
                c.list_policies,
                c.list_parents,
                c.describe_policy
            ),
            (1, 1, 0, 0)
        );
    }

    /// `--to-ou` listed the members with their paths: no ListParents for them, the same SCPs.
    #[tokio::test]
    async fn member_paths_from_the_listing_save_every_list_parents() {
        let o = org(SOURCE);
        let mut l = layers();
        l.targets = vec![MEMBER.into()];
        let paths: BTreeMap<String, String> =
            [(MEMBER.to_string(), "o-fake/r-root/ou-prod/".to_string())].into();
        let read = l.read(&o, Some(SOURCE.into()), Some(&paths)).await;
        assert_eq!(policy_ids(&read.scps[0].1).len(), 3, "{:?}", read.scps);
        assert_eq!(o.calls().list_parents, 0);
        let unknown = org(SOURCE);
        let read = l.read(&unknown, Some(SOURCE.into()), None).await;
        assert_eq!(policy_ids(&read.scps[0].1).len(), 3, "{:?}", read.scps);
        assert_eq!(
            unknown.calls().list_parents,
            2,
            "account -> ou-prod -> r-root"
        );
    }

    #[tokio::test]
    async fn with_org_profile_an_unplaced_target_stays_an_unseen_fact() {
        let o = org("999999999999");
        let mut l = layers();
        l.skip_unplaced = false;
        let read = l.read(&o, Some("999999999999".into()), None).await;
        assert_eq!(read.scps.len(), 2);
        assert!(
            matches!(read.scps[1].1, PathFact::Unseen { .. }),
            "{:?}",
            read.scps
        );
    }
}
