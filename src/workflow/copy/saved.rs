//! `amishare apply PLAN`: every check a saved plan must pass before it is applied: a plan of a
//! version this amishare applies, the world unchanged since (discovered again and compared with
//! the plan's fingerprint), not blocked, and not applied already (no journal of its run).

use super::discover::discover;
use super::fingerprint::fingerprint;
use super::CopyError;
use crate::policy;
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::JournalStore;
use crate::workflow::plan::{Action, BlockerCode, Fingerprint, Plan, PlanOptions, PLAN_VERSION};
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::Writer;
use crate::workflow::world::World;

/// Why a saved plan is not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavedPlanError {
    /// The text is not a plan (the JSON error).
    NotAPlan(String),
    /// A plan of another format version.
    UnsupportedVersion(u32),
    /// The plan has blockers: their codes, and the first one's fix.
    Blocked {
        codes: Vec<BlockerCode>,
        fix: Option<String>,
    },
    /// The plan's run has a journal: it was applied already.
    AppliedAlready { run_id: String },
}

/// The plan in `text` (a `--plan-out` file), of a version this amishare applies.
pub fn parse_saved_plan(text: &str) -> Result<Plan, SavedPlanError> {
    let plan: Plan =
        serde_json::from_str(text).map_err(|e| SavedPlanError::NotAPlan(e.to_string()))?;
    if plan.version != PLAN_VERSION {
        return Err(SavedPlanError::UnsupportedVersion(plan.version));
    }
    Ok(plan)
}

/// Discover again and compare with the plan's fingerprint: any difference refuses the plan
/// ([`CopyError::WorldChanged`]), except a key policy the plan edits that changed only by
/// statements or principals the plan does not touch: its edit is merged into the current
/// policy when applied (`workflow::key_policy`), and a note says so (the report then shows the
/// diff actually written).
pub async fn check_world_unchanged<R: Reader, W: Writer, E: Events + ?Sized>(
    world: &World<R, W>,
    plan: &Plan,
    events: &E,
) -> Result<(), CopyError> {
    // A plan saved by `--dry-run --plan-out` keeps `probe: true`: its DryRun probes were made
    // then and are in the plan; applying checks the world, it does not probe again.
    let discover_opts = PlanOptions {
        probe: false,
        ..plan.options.clone()
    };
    let discovery = discover(world, &plan.source.image_id, &discover_opts, events).await?;
    let now = fingerprint(&discovery);
    let mut then = plan.fingerprint.clone();
    for (key, policy) in remergeable(world, plan, &now) {
        events.emit(Event::Note {
            message: format!(
                "the key policy of `{key}` changed since the plan was saved, only in statements or principals the plan does not touch: the plan's edit is merged into the current policy"
            ),
        });
        match then.key_policies.get_mut(&key) {
            Some(slot) => *slot = Some(policy),
            None => {
                then.target_key_policies.insert(key, Some(policy));
            }
        }
    }
    let diffs = then.differences(&now);
    if !diffs.is_empty() {
        return Err(CopyError::WorldChanged(diffs));
    }
    Ok(())
}

/// The key policies that changed since the plan was saved but can take the plan's edit merged
/// in (`policy::edit::reapply_additions` accepts them), with their current text.
fn remergeable<R: Reader, W: Writer>(
    world: &World<R, W>,
    plan: &Plan,
    now: &Fingerprint,
) -> Vec<(String, String)> {
    let saved = &plan.fingerprint;
    let mut out = Vec::new();
    for step in &plan.steps {
        let (Action::PutKeyPolicy {
            key_arn,
            before,
            after,
            added,
            ..
        }
        | Action::PutTargetKeyPolicy {
            key_arn,
            before,
            after,
            added,
            ..
        }) = &step.action
        else {
            continue;
        };
        let (was, is) = match (
            saved.key_policies.get(key_arn),
            saved.target_key_policies.get(key_arn),
        ) {
            (Some(was), _) => (was, now.key_policies.get(key_arn)),
            (None, Some(was)) => (was, now.target_key_policies.get(key_arn)),
            (None, None) => continue,
        };
        let Some(is) = is.filter(|is| *is != was).and_then(Option::as_ref) else {
            continue;
        };
        let editor = if step.account == plan.source.account {
            Some(&world.source)
        } else {
            world
                .target(&step.account)
                .and_then(|t| t.regions.values().next())
        };
        let Some(conn) = editor else { continue };
        let merged = policy::edit::reapply_additions(
            is,
            key_arn,
            before,
            after,
            added,
            &conn.reader.identity().arn,
        );
        if merged.is_ok() {
            out.push((key_arn.clone(), is.clone()));
        }
    }
    out
}

/// A blocked plan is not applied.
pub fn check_not_blocked(plan: &Plan) -> Result<(), SavedPlanError> {
    if plan.blockers.is_empty() {
        return Ok(());
    }
    Err(SavedPlanError::Blocked {
        codes: plan.blockers.iter().map(|b| b.code).collect(),
        fix: plan.blockers.first().map(|b| b.fix.clone()),
    })
}

/// A plan whose run has a journal was applied already.
pub fn check_not_applied<S: JournalStore + ?Sized>(
    store: &S,
    plan: &Plan,
) -> Result<(), SavedPlanError> {
    if store.load(&plan.run_id).is_ok() {
        return Err(SavedPlanError::AppliedAlready {
            run_id: plan.run_id.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::journal::{Journal, MemoryJournalStore};
    use crate::workflow::plan::Blocker;

    const PLAN_V1: &str = include_str!("../../../tests/fixtures/golden/plan-v1.json");

    #[test]
    fn a_saved_plan_must_be_a_plan_of_this_version() {
        assert!(parse_saved_plan(PLAN_V1).is_ok());
        assert!(matches!(
            parse_saved_plan("{\"not\": \"a plan\"}"),
            Err(SavedPlanError::NotAPlan(_))
        ));
        let v2 = PLAN_V1.replacen("\"version\": 1", "\"version\": 2", 1);
        assert_eq!(
            parse_saved_plan(&v2),
            Err(SavedPlanError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn a_blocked_plan_names_its_codes_and_the_first_fix() {
        let mut plan = parse_saved_plan(PLAN_V1).unwrap();
        assert_eq!(check_not_blocked(&plan), Ok(()));
        for (code, fix) in [
            (BlockerCode::AwsManagedKey, "reencrypt"),
            (BlockerCode::KeyDisabled, "enable"),
        ] {
            plan.blockers.push(Blocker {
                code,
                account: None,
                message: String::new(),
                fix: fix.into(),
            });
        }
        assert_eq!(
            check_not_blocked(&plan),
            Err(SavedPlanError::Blocked {
                codes: vec![BlockerCode::AwsManagedKey, BlockerCode::KeyDisabled],
                fix: Some("reencrypt".into()),
            })
        );
    }

    #[test]
    fn a_plan_with_a_journal_was_applied_already() {
        let plan = parse_saved_plan(PLAN_V1).unwrap();
        let store = MemoryJournalStore::default();
        assert_eq!(check_not_applied(&store, &plan), Ok(()));
        store.save(&Journal::new(plan.clone())).unwrap();
        assert_eq!(
            check_not_applied(&store, &plan),
            Err(SavedPlanError::AppliedAlready {
                run_id: plan.run_id.clone()
            })
        );
    }
}
