//! Progress of a run on stderr ([`Events`] rendered): indicatif bars for copies on a terminal,
//! plain lines otherwise; silent with `--output json` unless `-v`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::{GlobalArgs, OutputFormat};
use crate::workflow::events::{Event, Events};

/// Progress on stderr: bars for copies on a terminal, plain lines otherwise.
pub struct Progress {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
    /// The summary line under the per-account/region bars: (bar, copies seen, copies finished).
    summary: Mutex<Option<(ProgressBar, usize, usize)>>,
    tty: bool,
    quiet: bool,
}

/// The summary line's text.
pub fn summary_text(seen: usize, finished: usize) -> String {
    format!(
        "copies: {finished}/{seen} finished, {} in progress",
        seen - finished.min(seen)
    )
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Self {
            multi: MultiProgress::new(),
            bars: Mutex::new(BTreeMap::new()),
            summary: Mutex::new(None),
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    /// Progress for a command: quiet when the output is one JSON document and `-v` was not given.
    pub fn for_output(global: &GlobalArgs) -> Self {
        Self::new(global.output == OutputFormat::Json && global.verbose == 0)
    }

    /// Count a copy seen for the first time (`started`) or finished, on the summary line (a
    /// terminal only; created with the first copy, kept last).
    fn count_copy(&self, started: bool) {
        if !self.tty || self.quiet {
            return;
        }
        if let Ok(mut summary) = self.summary.lock() {
            let (bar, seen, finished) = summary.get_or_insert_with(|| {
                let b = self.multi.add(ProgressBar::new_spinner());
                (b, 0, 0)
            });
            if started {
                *seen += 1;
            } else {
                *finished += 1;
            }
            bar.set_message(summary_text(*seen, *finished));
            bar.tick();
        }
    }

    fn line(&self, s: String) {
        if self.quiet {
            return;
        }
        if self.tty {
            let _ = self.multi.println(s);
        } else {
            eprintln!("{s}");
        }
    }
}

impl Events for Progress {
    fn emit(&self, event: Event) {
        match event {
            Event::Phase { name } => self.line(format!("== {name}")),
            Event::StepStarted { step, summary } => self.line(format!("-> {step}: {summary}")),
            Event::StepFinished { step, ok, detail } => {
                let d = detail.map(|d| format!(": {d}")).unwrap_or_default();
                self.line(format!("{} {step}{d}", if ok { "ok" } else { "FAILED" }));
            }
            Event::CopyProgress {
                account,
                region,
                image_id,
                state,
                percent,
            } => {
                let key = format!("{account}/{region}");
                if self.tty && !self.quiet {
                    let mut first = false;
                    if let Ok(mut bars) = self.bars.lock() {
                        let bar =
                            bars.entry(key.clone()).or_insert_with(|| {
                                first = true;
                                let b =
                                    match self.summary.lock().ok().and_then(|s| {
                                        s.as_ref().map(|(summary, _, _)| summary.clone())
                                    }) {
                                        // one line per account/region, above the summary line
                                        Some(summary) => self
                                            .multi
                                            .insert_before(&summary, ProgressBar::new(100)),
                                        None => self.multi.add(ProgressBar::new(100)),
                                    };
                                if let Ok(style) = ProgressStyle::with_template(
                                    "{prefix} [{bar:30}] {pos:>3}% {msg}",
                                ) {
                                    b.set_style(style.progress_chars("=> "));
                                }
                                b.set_prefix(key.clone());
                                b
                            });
                        bar.set_position(u64::from(percent.unwrap_or(0)));
                        bar.set_message(format!("{image_id} {state}"));
                    }
                    if first {
                        self.count_copy(true);
                    }
                }
            }
            Event::CopyFinished {
                account,
                region,
                image_id,
                state,
            } => {
                let had_bar = self
                    .bars
                    .lock()
                    .ok()
                    .and_then(|mut bars| bars.remove(&format!("{account}/{region}")))
                    .map(|b| b.finish_and_clear())
                    .is_some();
                if had_bar {
                    self.count_copy(false);
                }
                self.line(format!("   copy {image_id} in {account}/{region}: {state}"));
            }
            Event::LaunchState {
                account,
                region,
                instance_id,
                state,
            } => self.line(format!(
                "   test instance {instance_id} in {account}/{region}: {state}"
            )),
            Event::Note { message } => self.line(format!("   {message}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line() {
        assert_eq!(
            summary_text(60, 12),
            "copies: 12/60 finished, 48 in progress"
        );
        assert_eq!(summary_text(1, 1), "copies: 1/1 finished, 0 in progress");
    }
}
