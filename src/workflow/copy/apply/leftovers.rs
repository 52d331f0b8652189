//! Resuming: the test instances (and test groups) an earlier, interrupted run of this journal
//! launched and did not see terminated are terminated (and confirmed) before anything else runs.

use super::asg::delete_group_and_template;
use super::Run;
use crate::workflow::events::{Event, Events};
use crate::workflow::journal::JournalStore;
use crate::workflow::ports::Reader;
use crate::workflow::ports_write::Writer;
use crate::workflow::waiters::terminate_and_confirm;

/// Terminate the test instances an earlier (interrupted) run of this journal left unconfirmed.
pub async fn terminate_leftovers<
    R: Reader,
    W: Writer,
    S: JournalStore + ?Sized,
    E: Events + ?Sized,
>(
    run: &Run<'_, R, W, S, E>,
) -> Vec<String> {
    let ctx = run.ctx;
    let mut left = Vec::new();
    for (id, rec) in run.journal.snapshot().unconfirmed_instances() {
        let Some(conn) = ctx.world.target_conn(&rec.account, &rec.region) else {
            left.push(format!(
                "test instance {id} in {}/{} (no credentials to terminate it)",
                rec.account, rec.region
            ));
            continue;
        };
        match terminate_and_confirm(&conn.writer, &id, ctx.timing).await {
            Ok(()) => {
                run.recorded(
                    &format!("that test instance {id} is terminated"),
                    run.journal.instance_terminated(&id),
                );
                ctx.events.emit(Event::Note {
                    message: format!("terminated test instance {id} left by the interrupted run"),
                });
            }
            Err(e) => left.push(format!("test instance {id}: {e}")),
        }
    }
    for (name, rec) in run.journal.snapshot().undeleted_groups() {
        let Some(conn) = ctx.world.target_conn(&rec.account, &rec.region) else {
            left.push(format!(
                "test group and launch template {name} in {}/{} (no credentials to delete them)",
                rec.account, rec.region
            ));
            continue;
        };
        match delete_group_and_template(&conn.writer, &name, ctx.timing).await {
            Ok(()) => {
                run.recorded(
                    &format!("that test group {name} is deleted"),
                    run.journal.group_deleted(&name),
                );
                ctx.events.emit(Event::Note {
                    message: format!("deleted test group {name} left by the interrupted run"),
                });
            }
            Err(e) => left.push(format!("test group {name}: {e}")),
        }
    }
    left
}
