//! Plan and journal files as the released binary (version 1 formats, commit 1772d60) wrote them:
//! today's types must read them and write them back byte for byte, so `amishare apply PLAN` and
//! the resume/rollback of a journal written by an older amishare keep working. The fixtures were
//! written by `amishare copy ... --dry-run --plan-out` and `amishare apply` against the emulator
//! (two snapshots, two target regions, `--grant`, `--revoke-after-copy`).

use super::journal::{Journal, RunStatus, StepState};
use super::plan::{Plan, PLAN_VERSION};

const PLAN_V1: &str = include_str!("../../tests/fixtures/golden/plan-v1.json");
const JOURNAL_V1: &str = include_str!("../../tests/fixtures/golden/journal-v1.json");

#[test]
fn a_version_1_plan_file_round_trips_byte_for_byte() {
    let plan: Plan = serde_json::from_str(PLAN_V1).unwrap();
    assert_eq!(plan.version, PLAN_VERSION);
    assert_eq!(plan.steps.len(), 14);
    assert!(plan.options.revoke_after_copy && plan.options.probe);
    assert_eq!(serde_json::to_string_pretty(&plan).unwrap(), PLAN_V1);
}

#[test]
fn a_version_1_journal_file_round_trips_byte_for_byte() {
    let journal: Journal = serde_json::from_str(JOURNAL_V1).unwrap();
    assert_eq!(journal.status, RunStatus::Completed);
    assert_eq!(journal.entries.len(), 14);
    assert!(journal.entries.values().all(|e| e.state == StepState::Done));
    assert!(journal.is_done("s1"));
    // both test instances were recorded when launched and confirmed terminated
    assert_eq!(journal.instances.len(), 2);
    assert!(journal.unconfirmed_instances().is_empty());
    assert_eq!(serde_json::to_string_pretty(&journal).unwrap(), JOURNAL_V1);
}
