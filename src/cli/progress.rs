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
    tty: bool,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Self {
            multi: MultiProgress::new(),
            bars: Mutex::new(BTreeMap::new()),
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    /// Progress for a command: quiet when the output is one JSON document and `-v` was not given.
    pub fn for_output(global: &GlobalArgs) -> Self {
        Self::new(global.output == OutputFormat::Json && global.verbose == 0)
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
                    if let Ok(mut bars) = self.bars.lock() {
                        let bar = bars.entry(key.clone()).or_insert_with(|| {
                            let b = self.multi.add(ProgressBar::new(100));
                            if let Ok(style) =
                                ProgressStyle::with_template("{prefix} [{bar:30}] {pos:>3}% {msg}")
                            {
                                b.set_style(style.progress_chars("=> "));
                            }
                            b.set_prefix(key.clone());
                            b
                        });
                        bar.set_position(u64::from(percent.unwrap_or(0)));
                        bar.set_message(format!("{image_id} {state}"));
                    }
                }
            }
            Event::CopyFinished {
                account,
                region,
                image_id,
                state,
            } => {
                if let Ok(mut bars) = self.bars.lock() {
                    if let Some(b) = bars.remove(&format!("{account}/{region}")) {
                        b.finish_and_clear();
                    }
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
