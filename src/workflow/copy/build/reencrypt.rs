//! `--reencrypt-with KEY`: an AMI on AWS managed (aws/ebs) keys is first copied inside the source
//! account re-encrypted with a customer managed key, and everything else is planned on that copy
//! once it exists (the plan holds only the re-encrypting copy until then).

use super::Draft;
use crate::domain::states::KeyState;
use crate::workflow::copy::facts::{Discovery, ReencryptFacts};
use crate::workflow::plan::{Action, Blocker, BlockerCode, PlanOptions};
use crate::workflow::ports_write::{TAG_RUN_ID, TAG_SOURCE_ACCOUNT, TAG_SOURCE_IMAGE};

/// The re-encrypting copy to make, if any; its blocker or the warnings about `--reencrypt-with`
/// go into `draft`.
pub fn plan_reencrypt(
    d: &Discovery,
    opts: &PlanOptions,
    run_id: &str,
    draft: &mut Draft,
) -> Option<Action> {
    match &d.reencrypt {
        Some(r) if !r.using_copy => match reencrypt_step(d, r, run_id) {
            Ok(a) => return Some(a),
            Err(b) => draft.blockers.push(b),
        },
        Some(r) => draft.warnings.push(format!(
            "{} is on AWS managed keys: using {}, its copy re-encrypted by an earlier run",
            r.original_image_id, d.image.id
        )),
        None if opts.reencrypt_with.is_some() => draft.warnings.push(
            "`--reencrypt-with` ignored: no snapshot of the image uses an AWS managed key".into(),
        ),
        None => {}
    }
    None
}

/// Replace whatever was planned by the re-encrypting copy alone.
pub fn only_the_reencrypting_copy(d: &Discovery, action: Action, draft: &mut Draft) {
    draft.warnings.push(format!(
        "{} is on AWS managed keys: it is first copied inside {} re-encrypted with `--reencrypt-with`; the key policy edit, sharing, copies and test launches are planned on that copy",
        d.image.id, d.source.account
    ));
    draft.push(&d.source.account, &d.source_region, action);
}

/// The re-encrypting copy `--reencrypt-with` asks for, or the blocker that stops it.
pub fn reencrypt_step(d: &Discovery, r: &ReencryptFacts, run_id: &str) -> Result<Action, Blocker> {
    let src_account = &d.source.account;
    let src_region = &d.source_region;
    let asked = r
        .key
        .as_ref()
        .map(|k| k.arn.clone())
        .unwrap_or_else(|| "the key".into());
    let fix = format!(
        "pass a customer managed key of account {src_account} in {src_region} that is enabled: `--reencrypt-with arn:aws:kms:{src_region}:{src_account}:key/KEY-ID` (or its alias)"
    );
    let problem = match &r.key {
        None => Some(format!(
            "cannot read the key given with `--reencrypt-with`: {}",
            r.key_error.as_deref().unwrap_or("unknown reason")
        )),
        Some(k) if k.is_aws_managed() => Some(format!(
            "`--reencrypt-with {asked}` is an AWS managed key: no other account can use it either"
        )),
        Some(k) if &k.account != src_account || &k.region != src_region => Some(format!(
            "`--reencrypt-with {asked}` is in {}/{}, not in the source account and region {src_account}/{src_region}",
            k.account, k.region
        )),
        Some(k) if k.key_state.as_ref().is_some_and(|s| *s != KeyState::Enabled) => Some(format!(
            "`--reencrypt-with {asked}` is `{}`",
            k.key_state.as_ref().map_or("?", KeyState::as_str)
        )),
        Some(k) => super::blockers::unusable_spec(k)
            .map(|why| format!("`--reencrypt-with {asked}` cannot be used: {why}")),
    };
    if let Some(message) = problem {
        return Err(Blocker {
            code: BlockerCode::ReencryptKey,
            account: None,
            message,
            fix,
        });
    }
    let base = d.image.name.clone().unwrap_or_else(|| d.image.id.clone());
    Ok(Action::ReencryptImage {
        source_image_id: d.image.id.clone(),
        name: format!("{base} (re-encrypted by amishare)"),
        kms_key_id: asked,
        tags: vec![
            (TAG_SOURCE_IMAGE.to_string(), d.image.id.clone()),
            (TAG_SOURCE_ACCOUNT.to_string(), src_account.clone()),
            (TAG_RUN_ID.to_string(), run_id.to_string()),
        ],
        existing_image_id: r.pending_copy.clone(),
    })
}
