//! `amishare apply PLAN`: every check a saved plan must pass before it is applied: a plan of a
//! version this amishare applies, the world unchanged since (discovered again and compared with
//! the plan's fingerprint), not blocked, and not applied already (no journal of its run).

use super::discover::discover;
use super::fingerprint::fingerprint;
use super::CopyError;
use crate::workflow::events::Events;
use crate::workflow::journal::JournalStore;
use crate::workflow::plan::{BlockerCode, Plan, PlanOptions, PLAN_VERSION};
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
/// ([`CopyError::WorldChanged`]).
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
    let diffs = plan.fingerprint.differences(&fingerprint(&discovery));
    if !diffs.is_empty() {
        return Err(CopyError::WorldChanged(diffs));
    }
    Ok(())
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
