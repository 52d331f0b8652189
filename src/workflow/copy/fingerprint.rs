//! The drift fingerprint: what a saved plan must find unchanged when `amishare apply` discovers
//! again (image state, launch and snapshot permissions, key policies and states, the targets'
//! `KmsKeyUsagePolicy` documents, live copies).

use std::collections::BTreeMap;

use super::facts::Discovery;
use crate::domain::states::ImageState;
use crate::workflow::plan::Fingerprint;

/// The fingerprint of what discovery saw.
pub fn fingerprint(d: &Discovery) -> Fingerprint {
    let mut launch: Vec<String> = d
        .image
        .launch_permissions
        .iter()
        .flatten()
        .filter_map(|p| p.user_id.clone().or_else(|| p.group.clone()))
        .collect();
    launch.sort();
    let mut snapshot_permissions = BTreeMap::new();
    for s in &d.snapshots {
        let mut v: Vec<String> = s
            .create_volume_permissions
            .iter()
            .flatten()
            .filter_map(|p| p.user_id.clone().or_else(|| p.group.clone()))
            .collect();
        v.sort();
        snapshot_permissions.insert(s.id.clone(), v);
    }
    let mut fp = Fingerprint {
        image_state: d.image.state.clone(),
        launch_permissions: launch,
        snapshot_permissions,
        ..Fingerprint::default()
    };
    for k in &d.keys {
        fp.key_policies
            .insert(k.description.arn.clone(), k.policy.clone());
        fp.key_states
            .insert(k.description.arn.clone(), k.description.key_state.clone());
        if !k.grants.is_empty() {
            let mut grantees: Vec<String> = k
                .grants
                .iter()
                .filter_map(|g| g.grantee_principal.clone())
                .collect();
            grantees.sort();
            fp.source_key_grantees
                .insert(k.description.arn.clone(), grantees);
        }
    }
    for t in &d.targets {
        if t.identity.is_some() && !d.keys.is_empty() {
            fp.usage_policies.insert(
                t.account.clone(),
                t.usage_policy.as_ref().map(|p| p.document.clone()),
            );
        }
        for r in &t.regions {
            let live = r
                .copies
                .iter()
                .find(|c| matches!(c.state, Some(ImageState::Available | ImageState::Pending)));
            fp.copies.insert(
                format!("{}/{}", t.account, r.region),
                live.map(|c| (c.image_id.clone(), c.state.clone())),
            );
            for k in [&r.ebs_default_key, &r.copy_key].into_iter().flatten() {
                if let Some(d) = k.customer_managed() {
                    fp.target_key_policies
                        .insert(d.arn.clone(), k.policy.clone());
                }
            }
        }
        if let Some(p) = &t.grant_creator_policy {
            fp.grant_creator_policies
                .insert(t.account.clone(), p.document.clone());
        }
        for (key, p) in &t.key_usage_policies {
            fp.key_usage_policies
                .insert(key.clone(), p.as_ref().map(|p| p.document.clone()));
        }
        if t.identity.is_some()
            && t.principals
                .iter()
                .any(super::discover::is_missing_service_role)
        {
            fp.missing_service_roles.push(t.account.clone());
        }
    }
    fp
}
