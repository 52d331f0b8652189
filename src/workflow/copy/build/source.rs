//! The source account's changes: the key policy edit that adds the target accounts and the
//! `--grant` principals that use the source key (`--share-only`; see `source_key_users`) to "Allow use of the key" / "Allow attachment of persistent resources"
//! (merged, idempotent, refused with a blocker when it cannot be made safely), and the sharing
//! of the image (launch permission) and each snapshot (createVolumePermission).

use std::collections::BTreeMap;

use super::Draft;
use crate::domain::arn::partition_of;
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
    // Accounts an organization-conditioned statement admits are not listed (`--to-org` /
    // `--to-ou` with `--key-policy-principals org`, the default).
    let scopes = opts
        .org_targets
        .as_ref()
        .map(|o| o.key_policy_scopes())
        .unwrap_or_default();
    let mut principals: Vec<String> = opts
        .target_accounts
        .iter()
        .filter(|a| scopes.is_empty() || !opts.org_targets.as_ref().is_some_and(|o| o.covers(a)))
        .cloned()
        .collect();
    principals.extend(super::source_key_grants(d, opts));
    for k in customer_keys {
        if k.description.account != d.source.account {
            continue;
        }
        let Some(text) = &k.policy else { continue };
        let arn = &k.description.arn;
        let edit = listed_and_org(text, arn, &principals, &scopes, &d.source.arn)
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
                account: None,
                message: format!("cannot edit the key policy of {arn}: {e}"),
                fix: e
                    .hint()
                    .unwrap_or_else(|| "edit the key policy by hand".into()),
            }),
        }
    }
    edited
}

/// `principals` added to the usage statements (when any), then the organization-conditioned
/// statements of `scopes`, as one edit.
fn listed_and_org(
    text: &str,
    arn: &str,
    principals: &[String],
    scopes: &[policy::edit::OrgScope],
    editor: &str,
) -> Result<policy::edit::KeyPolicyEdit, policy::edit::PolicyEditError> {
    let listed = if principals.is_empty() {
        // Nothing to list: an edit that changes nothing (no empty statement is created).
        policy::edit::add_org_statements(text, arn, &[], editor)?
    } else {
        policy::edit::add_key_users(text, arn, principals, editor)?
    };
    if scopes.is_empty() {
        return Ok(listed);
    }
    let more = policy::edit::add_org_statements(&listed.text, arn, scopes, editor)?;
    if !more.changed {
        return Ok(listed);
    }
    let mut added = listed.added;
    added.extend(more.added);
    let mut statement_changes = listed.statement_changes;
    statement_changes.extend(more.statement_changes);
    let mut warnings = listed.warnings;
    warnings.extend(more.warnings);
    Ok(policy::edit::KeyPolicyEdit {
        before: listed.before,
        policy: more.policy,
        text: more.text,
        changed: true,
        added,
        removed: Vec::new(),
        statement_changes,
        warnings,
    })
}

/// Share the image and every snapshot with each target account not yet shared with. With
/// `--share-only` and `--to-org` / `--to-ou`, the image's launch permission is the organization's
/// / OU's ARN instead of each member account (see `workflow::org_scope`); snapshots are always
/// shared per account id.
pub fn sharing(d: &Discovery, opts: &PlanOptions, draft: &mut Draft) {
    let (src_account, src_region) = (&d.source.account, &d.source_region);
    let org = opts.org_targets.as_ref().filter(|_| opts.share_only);
    let org_arns = org
        .map(|o| o.launch_permission_arns(partition_of(&d.source.arn)))
        .unwrap_or_default();
    for arn in &org_arns {
        if !launchable_by(d.image.launch_permissions.as_deref(), arn) {
            draft.push(
                src_account,
                src_region,
                Action::AddLaunchPermission {
                    image_id: d.image.id.clone(),
                    account: arn.clone(),
                },
            );
        }
    }
    for account in &opts.target_accounts {
        let by_org = !org_arns.is_empty() && org.is_some_and(|o| o.covers(account));
        if !by_org && !launchable_by(d.image.launch_permissions.as_deref(), account) {
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

/// Does a launch permission (for the account, organization or OU ARN, or public) cover `who`
/// (an account id, or an organization / OU ARN)?
fn launchable_by(perms: Option<&[LaunchPermission]>, who: &str) -> bool {
    shared_with(
        perms.map(|v| {
            v.iter().map(|p| {
                p.user_id
                    .as_deref()
                    .or(p.group.as_deref())
                    .or(p.organization_arn.as_deref())
                    .or(p.organizational_unit_arn.as_deref())
            })
        }),
        who,
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
