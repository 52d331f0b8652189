//! amishare's state on disk: run journals as JSON files under the user's state directory,
//! `$AMISHARE_STATE_DIR` or `$XDG_STATE_HOME/amishare` (`~/.local/state/amishare`), one file per
//! run: `runs/RUN_ID.json`, written atomically (temp file + rename).

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
        fs::create_dir_all(&self.runs).map_err(|e| err(e.to_string()))?;
        let text = serde_json::to_string_pretty(journal).map_err(|e| err(e.to_string()))?;
        let tmp = self.runs.join(format!(".{}.json.tmp", journal.run_id));
        fs::write(&tmp, text).map_err(|e| err(e.to_string()))?;
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
