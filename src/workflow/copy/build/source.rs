//! The source account's changes: the key policy edit that adds the target accounts and the
//! `--grant` principals that use the source key (`--share-only`; see `source_key_users`) to "Allow use of the key" / "Allow attachment of persistent resources"
//! (merged, idempotent, refused with a blocker when it cannot be made safely), and the sharing
//! of the image (launch permission) and each snapshot (createVolumePermission).

use std::collections::BTreeMap;

use super::Draft;
use crate::policy;
use crate::workflow::copy::facts::{Discovery, KeyFacts};
use crate::workflow::inventory::{CreateVolumePermission, LaunchPermission};
use crate::workflow::plan::{Action, Blocker, BlockerCode, PlanOptions};

/// Plan a `PutKeyPolicy` for every source key whose policy does not yet name every target
/// account and `--grant` principal. Returns the edited policies by key ARN.
pub fn key_policy_edits(
    d: &Discovery,
    opts: &PlanOptions,
    customer_keys: &[&KeyFacts],
    draft: &mut Draft,
) -> BTreeMap<String, String> {
    let mut edited = BTreeMap::new();
    if opts.skip_key_policy_edit {
        if !customer_keys.is_empty() {
            draft
                .warnings
                .push("`--skip-key-policy-edit`: the key policy is left as it is".into());
        }
        return edited;
    }
    // The target accounts, and the launchers that use the source key (`--share-only`): launchers
    // of a copy use the copy's key and get nothing here.
    let mut principals: Vec<String> = opts.target_accounts.clone();
    principals.extend(super::source_key_grants(d, opts));
    for k in customer_keys {
        if k.description.account != d.source.account {
            continue;
        }
        let Some(text) = &k.policy else { continue };
        let arn = &k.description.arn;
        let edit = policy::edit::add_key_users(text, arn, &principals, &d.source.arn)
            .and_then(|edit| super::autoscaling::with_grant_creators(d, opts, k, edit));
        match edit {
            Ok(edit) => {
                draft.warnings.extend(edit.warnings.iter().cloned());
                if edit.changed {
                    edited.insert(arn.clone(), edit.text.clone());
                    draft.push(
                        &d.source.account,
                        &k.description.region,
                        Action::PutKeyPolicy {
                            key_arn: arn.clone(),
                            before: text.clone(),
                            after: edit.text.clone(),
                            added: edit.added.clone(),
                            diff: edit.diff().unified,
                        },
                    );
                }
            }
            Err(e) => draft.blockers.push(Blocker {
                code: BlockerCode::KeyPolicyEdit,
                message: format!("cannot edit the key policy of {arn}: {e}"),
                fix: e
                    .hint()
                    .unwrap_or_else(|| "edit the key policy by hand".into()),
            }),
        }
    }
    edited
}

/// Share the image and every snapshot with each target account not yet shared with.
pub fn sharing(d: &Discovery, opts: &PlanOptions, draft: &mut Draft) {
    let (src_account, src_region) = (&d.source.account, &d.source_region);
    for account in &opts.target_accounts {
        if !launchable_by(d.image.launch_permissions.as_deref(), account) {
            draft.push(
                src_account,
                src_region,
                Action::AddLaunchPermission {
                    image_id: d.image.id.clone(),
                    account: account.clone(),
                },
            );
        }
        for s in &d.snapshots {
            if !restorable_by(s.create_volume_permissions.as_deref(), account) {
                draft.push(
                    src_account,
                    src_region,
                    Action::AddCreateVolumePermission {
                        snapshot_id: s.id.clone(),
                        account: account.clone(),
                    },
                );
            }
        }
    }
}

/// Does a launch permission (for the account, or public) cover `account`?
fn launchable_by(perms: Option<&[LaunchPermission]>, account: &str) -> bool {
    shared_with(
        perms.map(|v| {
            v.iter()
                .map(|p| p.user_id.as_deref().or(p.group.as_deref()))
        }),
        account,
    )
}

/// Does a createVolumePermission (for the account, or public) cover `account`?
fn restorable_by(perms: Option<&[CreateVolumePermission]>, account: &str) -> bool {
    shared_with(
        perms.map(|v| {
            v.iter()
                .map(|p| p.user_id.as_deref().or(p.group.as_deref()))
        }),
        account,
    )
}

fn shared_with<'a>(perms: Option<impl Iterator<Item = Option<&'a str>>>, account: &str) -> bool {
    perms.is_some_and(|mut v| v.any(|p| p == Some(account) || p == Some("all")))
}
