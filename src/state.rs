//! amishare's state on disk: run journals as JSON files under the user's state directory,
//! `$AMISHARE_STATE_DIR` or `$XDG_STATE_HOME/amishare` (`~/.local/state/amishare`), one file per
//! run: `runs/RUN_ID.json`, written atomically (temp file + rename).
//!
//! The journals and plan files hold key policies and account structure: the directories are
//! created 0700 and the files written 0600 (on Unix); an existing directory open to others is
//! reported by [`loose_dirs`] (the CLI warns), not changed behind the user's back.

use std::fs;
use std::path::{Path, PathBuf};

use crate::workflow::journal::{Journal, JournalError, JournalStore};

/// The environment variable that overrides the state directory (tests).
pub const STATE_DIR_ENV: &str = "AMISHARE_STATE_DIR";

/// The state directory: `$AMISHARE_STATE_DIR`, else the platform state dir + `amishare`, else
/// `~/.local/state/amishare`.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = dirs::state_dir() {
        return dir.join("amishare");
    }
    dirs::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".local/state/amishare")
}

/// The mode amishare creates its directories with.
pub const DIR_MODE: u32 = 0o700;
/// The mode amishare writes its journals and plan files with.
pub const FILE_MODE: u32 = 0o600;

/// Create `dir` (and its missing parents) with mode 0700 for the directories amishare owns:
/// `dir` itself and its `runs/`; parents that do not exist yet get the default mode.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    match builder.create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
    }
}

/// Write `contents` to `path` readable and writable by the user only (0600 on Unix, also when
/// the file existed with a looser mode).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    }
    file.write_all(contents)?;
    file.flush()
}

/// The directories of the state directory `dir` (itself and `runs/`) that exist and are open
/// to the group or others, with their mode. Empty on other platforms than Unix.
pub fn loose_dirs(dir: &Path) -> Vec<(PathBuf, u32)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        [dir.to_path_buf(), dir.join("runs")]
            .into_iter()
            .filter_map(|d| {
                let mode = fs::metadata(&d).ok()?.permissions().mode() & 0o777;
                (mode & 0o077 != 0).then_some((d, mode))
            })
            .collect()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Vec::new()
    }
}

/// Journals as files in `DIR/runs/`.
#[derive(Debug, Clone)]
pub struct FileJournalStore {
    runs: PathBuf,
}

impl FileJournalStore {
    pub fn new(dir: &Path) -> Self {
        Self {
            runs: dir.join("runs"),
        }
    }

    /// The store in [`state_dir`].
    pub fn default_location() -> Self {
        Self::new(&state_dir())
    }

    pub fn path_of(&self, run_id: &str) -> PathBuf {
        self.runs.join(format!("{run_id}.json"))
    }

    pub fn dir(&self) -> &Path {
        &self.runs
    }
}

fn valid_run_id(run_id: &str) -> bool {
    !run_id.is_empty()
        && run_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl JournalStore for FileJournalStore {
    fn save(&self, journal: &Journal) -> Result<(), JournalError> {
        let path = self.path_of(&journal.run_id);
        let err = |reason: String| JournalError::Write {
            path: path.display().to_string(),
            reason,
        };
        if let Some(state) = self.runs.parent() {
            create_private_dir(state).map_err(|e| err(e.to_string()))?;
        }
        create_private_dir(&self.runs).map_err(|e| err(e.to_string()))?;
        let text = serde_json::to_string_pretty(journal).map_err(|e| err(e.to_string()))?;
        let tmp = self.runs.join(format!(".{}.json.tmp", journal.run_id));
        write_private(&tmp, text.as_bytes()).map_err(|e| err(e.to_string()))?;
        fs::rename(&tmp, &path).map_err(|e| err(e.to_string()))?;
        Ok(())
    }

    fn load(&self, run_id: &str) -> Result<Journal, JournalError> {
        if !valid_run_id(run_id) {
            return Err(JournalError::NotFound {
                run_id: run_id.to_string(),
                dir: self.runs.display().to_string(),
            });
        }
        let path = self.path_of(run_id);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(JournalError::NotFound {
                    run_id: run_id.to_string(),
                    dir: self.runs.display().to_string(),
                })
            }
            Err(e) => {
                return Err(JournalError::Read {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })
            }
        };
        serde_json::from_str(&text).map_err(|e| JournalError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    fn list(&self) -> Result<Vec<Journal>, JournalError> {
        let entries = match fs::read_dir(&self.runs) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(JournalError::Read {
                    path: self.runs.display().to_string(),
                    reason: e.to_string(),
                })
            }
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(id) = name.strip_suffix(".json") {
                if !name.starts_with('.') {
                    if let Ok(j) = self.load(id) {
                        out.push(j);
                    }
                }
            }
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(out)
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_files_are_0600_even_when_they_existed_looser() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        write_private(&path, b"{}").unwrap();
        assert_eq!(mode(&path), 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"{\"a\":1}").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"a\":1}");
    }

    #[test]
    fn the_store_creates_private_directories_and_reports_loose_ones() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("xdg/amishare");
        let store = FileJournalStore::new(&state);
        let plan: crate::workflow::plan::Plan = serde_json::from_value(
            serde_json::from_str::<serde_json::Value>(include_str!(
                "../tests/fixtures/golden/journal-v1.json"
            ))
            .unwrap()["plan"]
                .clone(),
        )
        .unwrap();
        let journal = Journal::new(plan);
        store.save(&journal).unwrap();
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join("runs")), 0o700);
        assert_eq!(mode(&store.path_of(&journal.run_id)), 0o600);
        assert!(loose_dirs(&state).is_empty());
        fs::set_permissions(state.join("runs"), fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(loose_dirs(&state), vec![(state.join("runs"), 0o750)]);
    }
}
