//! `--revoke-after-copy`: once every copy (encrypted with the target key) exists and launched,
//! undo what the plan added on the source side: the launch and snapshot permissions and the key
//! policy additions. Planned as steps after everything else.

use super::Draft;
use crate::workflow::plan::Action;

/// Append the undoing step of every sharing and key policy step planned so far.
pub fn revoke_steps(draft: &mut Draft) {
    let revokes: Vec<(String, String, Action)> = draft
        .steps
        .iter()
        .filter_map(|s| Some((s.account.clone(), s.region.clone(), undo(&s.action)?)))
        .collect();
    for (account, region, action) in revokes {
        draft.push(&account, &region, action);
    }
}

fn undo(action: &Action) -> Option<Action> {
    Some(match action {
        Action::AddLaunchPermission { image_id, account } => Action::RemoveLaunchPermission {
            image_id: image_id.clone(),
            account: account.clone(),
        },
        Action::AddCreateVolumePermission {
            snapshot_id,
            account,
        } => Action::RemoveCreateVolumePermission {
            snapshot_id: snapshot_id.clone(),
            account: account.clone(),
        },
        Action::PutKeyPolicy { key_arn, added, .. } => Action::RevokeKeyUsers {
            key_arn: key_arn.clone(),
            added: added.clone(),
        },
        _ => return None,
    })
}
