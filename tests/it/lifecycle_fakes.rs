//! The copy's lifecycle (`--deprecate-in`, `--deregistration-protection`, `--copy-duration`,
//! `--ssm-parameter`) over the in-memory fakes: planned after the test launch, applied with what
//! each step replaced in the journal, undone by rollback (restoring a previous parameter value,
//! explaining the protection cooldown).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use amishare::testing::Cloud;
use amishare::workflow::copy::ReportStatus;
use amishare::workflow::events::CollectEvents;
use amishare::workflow::journal::{JournalStore, MemoryJournalStore};
use amishare::workflow::plan::{Action, LifecycleBefore, LifecycleOptions, Plan, PlanOptions};
use amishare::workflow::ports_write::SsmParameter;
use amishare::workflow::rollback::{rollback, RollbackStatus, UndoResult};

use super::workflow_fakes::{cloud, fast, options, plan, run, world, FakeWorld, KEY, REGION, T1};

const PARAM: &str = "/images/web/latest";

fn lifecycle_options(cooldown: bool) -> PlanOptions {
    PlanOptions {
        lifecycle: LifecycleOptions {
            deprecate_in_days: Some(30),
            deregistration_protection: true,
            protection_cooldown: cooldown,
            copy_duration_minutes: Some(60),
            ssm_parameter: Some(PARAM.into()),
        },
        ..options(&[T1])
    }
}

fn copy_of(plan_report: &amishare::workflow::copy::Report) -> String {
    plan_report.targets[0].image_id.clone().expect("a copy")
}

fn parameter(cloud: &Cloud) -> Option<SsmParameter> {
    let s = cloud.lock();
    s.lifecycle
        .parameters
        .get(&format!("{T1}/{REGION}/{PARAM}"))
        .cloned()
}

async fn applied(
    cloud: &Cloud,
    opts: &PlanOptions,
) -> (FakeWorld, MemoryJournalStore, Plan, String) {
    let w = world(cloud, &[T1]);
    let p = plan(&w, opts, "run-life").await;
    let store = MemoryJournalStore::default();
    let report = run(&w, &store, &p).await;
    assert_eq!(report.status, ReportStatus::Ok, "{report:#?}");
    let copy = copy_of(&report);
    (w, store, p, copy)
}

#[tokio::test]
async fn lifecycle_steps_follow_the_test_launch_and_the_copy_is_time_based() {
    let cloud = cloud(KEY);
    let w = world(&cloud, &[T1]);
    let p = plan(&w, &lifecycle_options(false), "run-plan").await;
    let target: Vec<&Action> = p
        .steps
        .iter()
        .filter(|s| s.account == T1)
        .map(|s| &s.action)
        .collect();
    let n = target.len();
    // The lifecycle steps come after every test launch (as the target role, then as each
    // `--grant` launcher: issue 11).
    assert!(
        matches!(
            target[n - 4],
            Action::TestLaunch { .. } | Action::TestLaunchAs { .. }
        ),
        "{target:#?}"
    );
    assert!(
        target
            .iter()
            .any(|a| matches!(a, Action::TestLaunch { .. })),
        "{target:#?}"
    );
    assert!(matches!(
        target[n - 3],
        Action::DeprecateImage {
            image_id: None,
            days: 30
        }
    ));
    assert!(matches!(
        target[n - 2],
        Action::ProtectImage {
            image_id: None,
            with_cooldown: false
        }
    ));
    assert!(
        matches!(target[n - 1], Action::PublishImageId { image_id: None, name } if name == PARAM)
    );
    assert!(p.steps.iter().any(|s| matches!(
        s.action,
        Action::CopyImage {
            completion_minutes: Some(60),
            ..
        }
    )));
    let text = p.to_string();
    assert!(text.contains("ec2:EnableImageDeprecation"), "{text}");
    assert!(
        text.contains("time-based: done within 60 minutes"),
        "{text}"
    );
    assert!(
        text.contains(&format!("as SSM parameter {PARAM}")),
        "{text}"
    );
}

#[tokio::test]
async fn apply_sets_each_setting_and_journals_what_it_replaced_then_rollback_undoes_it() {
    let cloud = cloud(KEY);
    let (w, store, p, copy) = applied(&cloud, &lifecycle_options(false)).await;
    {
        let s = cloud.lock();
        let l = s
            .lifecycle
            .images
            .get(&copy)
            .expect("lifecycle of the copy");
        assert!(l.deprecation_time.is_some());
        assert_eq!(
            l.deregistration_protection.as_deref(),
            Some("enabled-without-cooldown")
        );
    }
    assert_eq!(parameter(&cloud).map(|x| x.value), Some(copy.clone()));
    let journal = store.load(&p.run_id).unwrap();
    for e in journal
        .entries
        .values()
        .filter(|e| e.step.action.is_lifecycle())
    {
        let before = LifecycleBefore::from_journal(e.before.as_deref()).expect("before recorded");
        assert_eq!(before.image_id, copy);
        assert_eq!(before.parameter, None, "there was no parameter before");
    }
    let events = CollectEvents::default();
    let r = rollback(&w, &store, &events, &p.run_id, false, fast())
        .await
        .unwrap();
    assert_eq!(r.status, RollbackStatus::RolledBack, "{r:#?}");
    let s = cloud.lock();
    let l = s.lifecycle.images.get(&copy).unwrap();
    assert_eq!(l.deprecation_time, None);
    assert_eq!(l.deregistration_protection.as_deref(), Some("disabled"));
    drop(s);
    assert_eq!(
        parameter(&cloud),
        None,
        "the parameter amishare created is deleted"
    );
}

#[tokio::test]
async fn rollback_puts_back_the_previous_parameter_value() {
    let cloud = cloud(KEY);
    cloud.lock().lifecycle.parameters.insert(
        format!("{T1}/{REGION}/{PARAM}"),
        SsmParameter {
            name: PARAM.into(),
            value: "ami-00000000000000old".into(),
            kind: "String".into(),
            data_type: "text".into(),
            version: 4,
        },
    );
    let opts = PlanOptions {
        lifecycle: LifecycleOptions {
            ssm_parameter: Some(PARAM.into()),
            ..LifecycleOptions::default()
        },
        ..options(&[T1])
    };
    let (w, store, p, copy) = applied(&cloud, &opts).await;
    assert_eq!(
        parameter(&cloud).map(|x| (x.value, x.version)),
        Some((copy, 5))
    );
    let r = rollback(
        &w,
        &store,
        &CollectEvents::default(),
        &p.run_id,
        false,
        fast(),
    )
    .await
    .unwrap();
    assert!(r.complete(), "{r:#?}");
    let back = parameter(&cloud).unwrap();
    assert_eq!(
        (back.value.as_str(), back.data_type.as_str()),
        ("ami-00000000000000old", "text")
    );
}

#[tokio::test]
async fn a_parameter_changed_since_is_not_touched_by_rollback() {
    let cloud = cloud(KEY);
    let opts = PlanOptions {
        lifecycle: LifecycleOptions {
            ssm_parameter: Some(PARAM.into()),
            ..LifecycleOptions::default()
        },
        ..options(&[T1])
    };
    let (w, store, p, _) = applied(&cloud, &opts).await;
    let key = format!("{T1}/{REGION}/{PARAM}");
    cloud
        .lock()
        .lifecycle
        .parameters
        .get_mut(&key)
        .unwrap()
        .value = "ami-0000000000someone".into();
    let r = rollback(
        &w,
        &store,
        &CollectEvents::default(),
        &p.run_id,
        false,
        fast(),
    )
    .await
    .unwrap();
    let u = r.undone.iter().find(|u| u.summary.contains(PARAM)).unwrap();
    assert_eq!(u.result, UndoResult::Refused, "{u:#?}");
    assert_eq!(parameter(&cloud).unwrap().value, "ami-0000000000someone");
}

#[tokio::test]
async fn a_secure_string_parameter_is_not_overwritten() {
    let cloud = cloud(KEY);
    cloud.lock().lifecycle.parameters.insert(
        format!("{T1}/{REGION}/{PARAM}"),
        SsmParameter {
            name: PARAM.into(),
            value: "secret".into(),
            kind: "SecureString".into(),
            data_type: "text".into(),
            version: 1,
        },
    );
    let opts = PlanOptions {
        lifecycle: LifecycleOptions {
            ssm_parameter: Some(PARAM.into()),
            ..LifecycleOptions::default()
        },
        ..options(&[T1])
    };
    let w = world(&cloud, &[T1]);
    let p = plan(&w, &opts, "run-secure").await;
    let report = run(&w, &MemoryJournalStore::default(), &p).await;
    assert_eq!(report.status, ReportStatus::Failed);
    let failed = report.changes.iter().find(|c| !c.ok).unwrap();
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("SecureString"),
        "{failed:#?}"
    );
    assert_eq!(parameter(&cloud).unwrap().value, "secret");
}

#[tokio::test]
async fn with_cooldown_rollback_explains_when_the_copy_can_go() {
    let cloud = cloud(KEY);
    let (w, store, p, copy) = applied(&cloud, &lifecycle_options(true)).await;
    let r = rollback(
        &w,
        &store,
        &CollectEvents::default(),
        &p.run_id,
        true,
        fast(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, RollbackStatus::Partial, "{r:#?}");
    let protect = r
        .undone
        .iter()
        .find(|u| u.summary.contains("protect"))
        .unwrap();
    assert_eq!(protect.result, UndoResult::Undone);
    let note = protect.detail.as_deref().unwrap_or("");
    assert!(
        note.contains("24-hour cooldown") && note.contains(&copy),
        "{note}"
    );
    let deprecate = r
        .undone
        .iter()
        .find(|u| u.summary.contains("deprecate"))
        .unwrap();
    assert_eq!(
        deprecate.result,
        UndoResult::NothingToDo,
        "the copy itself goes"
    );
    let copy_undo = r
        .undone
        .iter()
        .find(|u| u.summary.starts_with("copy "))
        .unwrap();
    assert_eq!(copy_undo.result, UndoResult::Failed);
    assert!(
        copy_undo
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("still protected"),
        "{copy_undo:#?}"
    );
}
