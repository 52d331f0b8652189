//! The warning for a state directory open to other users: its journals hold key policies and
//! account structure, so amishare says so (with the fix) instead of using it silently.

use crate::state::{loose_dirs, state_dir};

/// One warning line per directory of the state directory that the group or others can open.
pub fn warnings() -> Vec<String> {
    loose_dirs(&state_dir())
        .into_iter()
        .map(|(dir, mode)| {
            format!(
                "warning: the state directory {} is open to other users (mode {mode:04o}) and holds key policies and account structure; fix: chmod 700 {}",
                dir.display(),
                dir.display()
            )
        })
        .collect()
}

/// Print [`warnings`] on stderr.
pub fn warn_if_loose() {
    for w in warnings() {
        eprintln!("{w}");
    }
}
