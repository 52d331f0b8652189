//! One undo per kind of change a run journals. Each says what became of the change
//! ([`UndoResult`]) and why, in words for the report.

use std::collections::BTreeSet;

use super::UndoResult;
use crate::workflow::contention::Contention;
use crate::workflow::copy::apply::lifecycle::cooldown_note;
use crate::workflow::copy::apply::usage_policy::existing_policy_arn;
use crate::workflow::copy::build::targets::{covered_keys, usage_policy_document};
use crate::workflow::journal::JournalEntry;
use crate::workflow::key_policy::{converge, EditError, KeyEdit, NoLog};
use crate::workflow::plan::{Action, LifecycleBefore};
use crate::workflow::ports::{AwsError, Reader};
use crate::workflow::ports_write::Writer;
use crate::workflow::world::Conn;

/// What became of one change, and the detail the report shows.
pub struct Outcome {
    pub result: UndoResult,
    pub detail: Option<String>,
}

impl Outcome {
    fn is(result: UndoResult) -> Self {
        Self {
            result,
            detail: None,
        }
    }

    fn failed(detail: impl ToString) -> Self {
        Self {
            result: UndoResult::Failed,
            detail: Some(detail.to_string()),
        }
    }

    /// `Undone` when the call succeeded.
    fn of(call: Result<(), AwsError>) -> Self {
        match call {
            Ok(()) => Self::is(UndoResult::Undone),
            Err(e) => Self::failed(e),
        }
    }

    /// `Undone`, or `NothingToDo` when what was to be removed is gone already.
    fn unless_gone(call: Result<(), AwsError>) -> Self {
        match call {
            Err(e) if e.is_not_found() => Self::is(UndoResult::NothingToDo),
            other => Self::of(other),
        }
    }
}

/// Undo the change journalled in `e`.
pub async fn undo_step<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    e: &JournalEntry,
    delete_copies: bool,
) -> Outcome {
    let w = &conn.writer;
    match &e.step.action {
        Action::PutKeyPolicy { key_arn, .. } | Action::PutTargetKeyPolicy { key_arn, .. } => {
            remove_additions(conn, e, key_arn).await
        }
        Action::CreateGrant { key_arn, .. } => match e.created.first() {
            None => Outcome::is(UndoResult::NothingToDo),
            Some(grant_id) => Outcome::unless_gone(w.retire_grant(key_arn, grant_id).await),
        },
        Action::CreateServiceLinkedRole { role_arn, .. } => Outcome {
            result: UndoResult::Kept,
            detail: Some(format!(
                "service-linked role {role_arn} kept: every Auto Scaling group of the account launches with it (`aws iam delete-service-linked-role` once no group needs it)"
            )),
        },
        Action::AddLaunchPermission { image_id, account } => {
            Outcome::of(w.set_launch_permission(image_id, account, false).await)
        }
        Action::AddCreateVolumePermission {
            snapshot_id,
            account,
        } => Outcome::of(
            w.set_create_volume_permission(snapshot_id, account, false)
                .await,
        ),
        Action::AttachPolicy {
            policy_arn,
            principal_arn,
        } => Outcome::unless_gone(
            w.set_policy_attachment(principal_arn, policy_arn, false)
                .await,
        ),
        Action::CreatePolicy { name, document } => match e.created.first() {
            None => Outcome::is(UndoResult::NothingToDo),
            Some(arn) if arn.starts_with("arn:") => {
                Outcome::unless_gone(w.delete_policy(arn).await)
            }
            // Another run created the policy first; this run only added versions to it.
            Some(_) => {
                let arn = existing_policy_arn(&e.step.account, name, document);
                remove_keys(w, e, &arn, "").await
            }
        },
        Action::CreatePolicyVersion {
            policy_arn,
            previous_version,
            ..
        } => remove_keys(w, e, policy_arn, previous_version).await,
        Action::CopyImage { .. } | Action::ReencryptImage { .. } if !delete_copies => Outcome {
            result: UndoResult::Kept,
            detail: Some(format!(
                "copy {} kept (pass `--delete-copies` to deregister it)",
                e.created.join(", ")
            )),
        },
        Action::CopyImage { .. } | Action::ReencryptImage { .. } => {
            delete_copies_of(w, &e.created).await
        }
        Action::DeprecateImage { image_id, .. } => {
            if delete_copies && image_id.is_none() {
                Outcome {
                    result: UndoResult::NothingToDo,
                    detail: Some("the copy itself is deregistered by this rollback".into()),
                }
            } else {
                restore_deprecation(w, e).await
            }
        }
        Action::ProtectImage { with_cooldown, .. } => unprotect(w, e, *with_cooldown).await,
        Action::PublishImageId { name, .. } => restore_parameter(w, e, name).await,
        Action::WaitCopy { .. }
        | Action::TestLaunch { .. }
        | Action::TestLaunchAs { .. }
        | Action::RemoveLaunchPermission { .. }
        | Action::RemoveCreateVolumePermission { .. }
        | Action::RevokeKeyUsers { .. } => Outcome::is(UndoResult::NothingToDo),
    }
}

/// Remove from the key policy as it is NOW exactly what this run added (the inverse edit),
/// keeping everything other runs or people added since; never an older document put back
/// whole. Converges like the edit itself when other runs write the policy meanwhile.
async fn remove_additions<R: Reader, W: Writer>(
    conn: &Conn<R, W>,
    e: &JournalEntry,
    key_arn: &str,
) -> Outcome {
    let added = e.key_policy_additions();
    if added.is_empty() {
        return Outcome::is(UndoResult::NothingToDo);
    }
    let edit = KeyEdit::Remove { added: &added };
    let contention = Contention::default();
    match converge(
        &conn.reader,
        &conn.writer,
        key_arn,
        edit,
        &contention,
        &NoLog,
        None,
    )
    .await
    {
        Ok(done) if done.wrote => Outcome::is(UndoResult::Undone),
        Ok(_) => Outcome::is(UndoResult::NothingToDo),
        Err(err @ EditError::Refused(_)) => Outcome {
            result: UndoResult::Refused,
            detail: Some(err.to_string()),
        },
        Err(err) => Outcome::failed(err),
    }
}

/// Undo a new default version of a `KmsKeyUsagePolicy`: the keys this run added are taken out of
/// the CURRENT default version (a new version without them), keeping every key other runs added
/// since. When nobody changed the policy since (the default is this run's only version) the
/// previous version is simply made the default again and this run's deleted. A journal of an
/// earlier binary (no keys recorded) restores the previous version only while this run's
/// version is still the default, and otherwise refuses.
async fn remove_keys<W: Writer>(
    w: &W,
    e: &JournalEntry,
    policy_arn: &str,
    previous_version: &str,
) -> Outcome {
    let Some(first) = e.created.first() else {
        return Outcome::is(UndoResult::NothingToDo);
    };
    let current = match w.get_managed_policy(policy_arn).await {
        Ok(Some(p)) => p,
        Ok(None) => return Outcome::is(UndoResult::NothingToDo),
        Err(err) => return Outcome::failed(err),
    };
    let ours: BTreeSet<String> = e.attempts.iter().flat_map(|a| a.keys.clone()).collect();
    let only_ours = e.created.len() == 1 && current.default_version == *first;
    let unmerged = e.attempts.iter().all(|a| !a.merged);
    let restorable = current.versions.iter().any(|v| v == previous_version);
    if only_ours && (ours.is_empty() || unmerged) && restorable {
        return Outcome::of(
            w.restore_policy_version(policy_arn, previous_version, first)
                .await,
        );
    }
    if ours.is_empty() {
        return Outcome {
            result: UndoResult::Refused,
            detail: Some(format!(
                "the default version of `{policy_arn}` is no longer the one this run made; not restoring `{previous_version}` over it"
            )),
        };
    }
    let have = covered_keys(&current.document);
    if have.is_disjoint(&ours) {
        return Outcome::is(UndoResult::NothingToDo);
    }
    let left: Vec<String> = have.difference(&ours).cloned().collect();
    match usage_policy_document(&left) {
        Some(doc) => match w.create_policy_version(policy_arn, &doc).await {
            Ok(_) => Outcome::is(UndoResult::Undone),
            Err(err) => Outcome::failed(err),
        },
        None => Outcome {
            result: UndoResult::Refused,
            detail: Some(format!(
                "`{policy_arn}` would cover no key without this run's; detach and delete it by hand if no one uses it"
            )),
        },
    }
}

/// What the lifecycle step recorded before changing anything (`None`: it changed nothing).
fn lifecycle_before(e: &JournalEntry) -> Option<LifecycleBefore> {
    LifecycleBefore::from_journal(e.before.as_deref())
}

/// Put back the deprecation time the copy had (or none), unless someone changed it since.
async fn restore_deprecation<W: Writer>(w: &W, e: &JournalEntry) -> Outcome {
    let Some(before) = lifecycle_before(e) else {
        return Outcome::is(UndoResult::NothingToDo);
    };
    let image = &before.image_id;
    let now = match w.image_lifecycle(image).await {
        Ok(Some(l)) => l,
        Ok(None) => return Outcome::is(UndoResult::NothingToDo),
        Err(err) => return Outcome::failed(err),
    };
    if now.deprecation_time == before.deprecation_time {
        return Outcome::is(UndoResult::NothingToDo);
    }
    let written = e.after.as_deref();
    if written.is_some() && now.deprecation_time.as_deref() != written {
        return Outcome {
            result: UndoResult::Refused,
            detail: Some(format!(
                "the deprecation time of {image} changed since amishare set it ({} -> {}); not restoring it",
                written.unwrap_or("-"),
                now.deprecation_time.as_deref().unwrap_or("none")
            )),
        };
    }
    Outcome::of(
        w.set_image_deprecation(image, before.deprecation_time.as_deref())
            .await,
    )
}

/// Disable the deregistration protection amishare enabled (not one the copy had before); with
/// cooldown, say when AWS lets the copy go.
async fn unprotect<W: Writer>(w: &W, e: &JournalEntry, with_cooldown: bool) -> Outcome {
    let Some(before) = lifecycle_before(e) else {
        return Outcome::is(UndoResult::NothingToDo);
    };
    let image = &before.image_id;
    let was_protected = before
        .deregistration_protection
        .as_deref()
        .is_some_and(|p| p.starts_with("enabled"));
    if was_protected {
        return Outcome {
            result: UndoResult::NothingToDo,
            detail: Some(format!("{image} was protected before this run")),
        };
    }
    match w.image_lifecycle(image).await {
        Ok(Some(l)) if l.protected() => {}
        Ok(_) => return Outcome::is(UndoResult::NothingToDo),
        Err(err) => return Outcome::failed(err),
    }
    match w.set_deregistration_protection(image, false, false).await {
        Err(err) => Outcome::failed(err),
        Ok(()) if with_cooldown => Outcome {
            result: UndoResult::Undone,
            detail: Some(cooldown_note(image, chrono::Utc::now())),
        },
        Ok(()) => Outcome::is(UndoResult::Undone),
    }
}

/// Put back the SSM parameter's previous value, or delete the parameter amishare created;
/// refused when it no longer holds what amishare wrote.
async fn restore_parameter<W: Writer>(w: &W, e: &JournalEntry, name: &str) -> Outcome {
    let Some(before) = lifecycle_before(e) else {
        return Outcome::is(UndoResult::NothingToDo);
    };
    let now = match w.get_parameter(name).await {
        Ok(Some(p)) => p,
        Ok(None) => return Outcome::is(UndoResult::NothingToDo),
        Err(err) => return Outcome::failed(err),
    };
    if now.value != before.image_id {
        let unchanged = before
            .parameter
            .as_ref()
            .is_some_and(|p| p.value == now.value);
        if unchanged {
            return Outcome::is(UndoResult::NothingToDo);
        }
        return Outcome {
            result: UndoResult::Refused,
            detail: Some(format!(
                "SSM parameter {name} holds `{}`, not `{}` that amishare wrote; not restoring it",
                now.value, before.image_id
            )),
        };
    }
    match &before.parameter {
        Some(prev) => match w.put_parameter(name, &prev.value, &prev.data_type).await {
            Ok(()) => Outcome {
                result: UndoResult::Undone,
                detail: Some(format!("{name} is `{}` again", prev.value)),
            },
            Err(err) => Outcome::failed(err),
        },
        None => match w.delete_parameter(name).await {
            Err(err) if err.code.as_deref() == Some("ParameterNotFound") => {
                Outcome::is(UndoResult::NothingToDo)
            }
            other => Outcome::of(other),
        },
    }
}

/// `--delete-copies`: deregister each copy and delete its snapshots (a copy already gone is
/// nothing to do).
async fn delete_copies_of<W: Writer>(w: &W, images: &[String]) -> Outcome {
    let mut res = Outcome::is(UndoResult::NothingToDo);
    for image in images {
        let snaps = match w.image_status(image).await {
            Ok(Some(s)) => s.snapshot_ids,
            Ok(None) => continue,
            Err(err) => return Outcome::failed(err),
        };
        if let Err(err) = w.deregister_image(image).await {
            return match w.image_lifecycle(image).await {
                Ok(Some(l)) if l.deregistration_protection.as_deref().unwrap_or("disabled") != "disabled" => {
                    Outcome::failed(format!(
                        "{err}; {image} is still protected from deregistration (AWS says `{}`): deregister it once the protection has ended",
                        l.deregistration_protection.unwrap_or_default()
                    ))
                }
                _ => Outcome::failed(err),
            };
        }
        for s in snaps {
            if let Err(err) = w.delete_snapshot(&s).await {
                if !err.is_not_found() {
                    res = Outcome::failed(err);
                }
            }
        }
        if res.result != UndoResult::Failed {
            res = Outcome::is(UndoResult::Undone);
        }
    }
    res
}
