//! Sharing made once for every target: the plan keeps one step per account (each journalled and
//! undone on its own, so plans and journals keep their format), but all the launch permissions
//! of an image go out in ONE ModifyImageAttribute, and all the createVolumePermissions of a
//! snapshot in ONE ModifySnapshotAttribute (AWS shares snapshots with account ids only). Every
//! step of a batch is journalled as begun before the call and as finished after it, with the
//! call's outcome.

use super::Run;
use crate::workflow::copy::report::ChangeRecord;
use crate::workflow::copy::CopyError;
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::JournalStore;
use crate::workflow::plan::{Action, Step};
use crate::workflow::ports::{AwsError, Reader};
use crate::workflow::ports_write::Writer;

/// What a share step adds: (image or snapshot, is-image) and the account.
fn share_of(step: &Step) -> Option<((&str, bool), &str)> {
    match &step.action {
        Action::AddLaunchPermission { image_id, account } => {
            Some(((image_id.as_str(), true), account.as_str()))
        }
        Action::AddCreateVolumePermission {
            snapshot_id,
            account,
        } => Some(((snapshot_id.as_str(), false), account.as_str())),
        _ => None,
    }
}

/// Is this step one that [`run_batch`] runs?
pub fn is_share(step: &Step) -> bool {
    share_of(step).is_some()
}

/// The share steps of `steps` grouped by the image or snapshot they share, in the order the
/// resources first appear.
pub fn batches<'a>(steps: &[&'a Step]) -> Vec<Vec<&'a Step>> {
    let mut out: Vec<((&str, bool), Vec<&Step>)> = Vec::new();
    for s in steps {
        let Some((res, _)) = share_of(s) else {
            continue;
        };
        match out.iter_mut().find(|(r, _)| *r == res) {
            Some((_, v)) => v.push(s),
            None => out.push((res, vec![s])),
        }
    }
    out.into_iter().map(|(_, v)| v).collect()
}

/// Error codes with which AWS refuses a whole batch for what may be ONE of its accounts (EC2
/// API error codes, docs.aws.amazon.com/ec2/latest/devguide/errors-overview.html):
/// `InvalidAMIAttributeItemValue` ("If you are specifying a userId, check that it is in the
/// form of an AWS account ID"; also an account that does not exist), `InvalidUserID.Malformed`,
/// and the generic `InvalidParameterValue` / `InvalidParameter` naming the bad value.
const ONE_ACCOUNT_CODES: [&str; 4] = [
    "InvalidAMIAttributeItemValue",
    "InvalidUserID.Malformed",
    "InvalidParameterValue",
    "InvalidParameter",
];

/// Can one bad account of a batch have made AWS refuse it?
pub fn one_account_can_cause(e: &AwsError) -> bool {
    e.code
        .as_deref()
        .is_some_and(|c| ONE_ACCOUNT_CODES.contains(&c))
}

/// What [`run_batch`] did: a record per step, and whether a refused batch was retried one
/// account at a time (so a failed record is that account's own failure).
pub struct BatchOutcome {
    pub records: Vec<ChangeRecord>,
    pub per_account: bool,
}

/// Share `resource` with `accounts` in one call.
async fn share<W: Writer>(
    w: &W,
    resource: &str,
    image: bool,
    accounts: &[String],
) -> Result<(), AwsError> {
    if image {
        w.add_launch_permissions(resource, accounts).await
    } else {
        w.add_create_volume_permissions(resource, accounts).await
    }
}

/// Run one batch (share steps of one image or one snapshot, in the source account): every step
/// journalled as begun, one call, every step finished with its outcome. When AWS refuses the
/// batch with an error one bad account can cause ([`one_account_can_cause`]), each account is
/// shared with alone, so that only the bad account's step fails (each step is still begun
/// and finished once in the journal).
pub async fn run_batch<R: Reader, W: Writer, S: JournalStore + ?Sized, E: Events + ?Sized>(
    run: &Run<'_, R, W, S, E>,
    steps: &[&Step],
) -> Result<BatchOutcome, CopyError> {
    let Some(((resource, image), _)) = steps.first().and_then(|s| share_of(s)) else {
        return Ok(BatchOutcome {
            records: Vec::new(),
            per_account: false,
        });
    };
    let accounts: Vec<String> = steps
        .iter()
        .filter_map(|s| share_of(s).map(|(_, a)| a.to_string()))
        .collect();
    for step in steps {
        run.ctx.events.emit(Event::StepStarted {
            step: step.id.clone(),
            summary: step.action.summary(),
        });
        run.journal.begin(step, None)?;
    }
    let w = &run.ctx.world.source.writer;
    let mut outcomes = vec![share(w, resource, image, &accounts).await; accounts.len()];
    let per_account = accounts.len() > 1
        && outcomes
            .first()
            .is_some_and(|o| o.as_ref().is_err_and(one_account_can_cause));
    if per_account {
        for (outcome, account) in outcomes.iter_mut().zip(&accounts) {
            *outcome = share(w, resource, image, std::slice::from_ref(account)).await;
        }
    }
    let mut records = Vec::new();
    for (step, outcome) in steps.iter().zip(&outcomes) {
        let mut rec = ChangeRecord::started(step);
        match outcome {
            Ok(()) => {
                run.journal.finish(&step.id, Ok(None))?;
                rec.ok = true;
            }
            Err(e) => {
                run.journal.finish(&step.id, Err(e.to_string()))?;
                rec.error = Some(e.to_string());
            }
        }
        run.ctx.events.emit(Event::StepFinished {
            step: step.id.clone(),
            ok: rec.ok,
            detail: rec.error.clone(),
        });
        records.push(rec);
    }
    Ok(BatchOutcome {
        records,
        per_account,
    })
}

/// The account a share step adds.
pub fn account_of(step: &Step) -> Option<&str> {
    share_of(step).map(|(_, a)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_one_account_can_cause() {
        let e = |code: &str| AwsError {
            code: Some(code.to_string()),
            ..AwsError::new("ec2", "ModifyImageAttribute", "refused")
        };
        assert!(one_account_can_cause(&e("InvalidAMIAttributeItemValue")));
        assert!(one_account_can_cause(&e("InvalidUserID.Malformed")));
        assert!(!one_account_can_cause(&e("UnauthorizedOperation")));
        assert!(!one_account_can_cause(&e("InvalidAMIID.NotFound")));
        assert!(!one_account_can_cause(&AwsError::new(
            "ec2", "X", "no code"
        )));
    }
}
