//! What a person watching a build sees: a spinner per stage with the running tool's last line
//! on a terminal; plain timestamped lines (with a heartbeat) in CI logs.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a plain-mode stage says it is still running.
const HEARTBEAT: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    multi: Option<MultiProgress>,
    verbose: bool,
}

impl Progress {
    /// Spinners when stderr is a terminal, plain lines otherwise.
    pub fn new(verbose: bool) -> Self {
        let tty = std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_some_and(|t| t != "dumb");
        let multi = tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self {
            inner: Arc::new(Inner { multi, verbose }),
        }
    }

    /// Plain lines regardless of the terminal.
    pub fn plain(verbose: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                multi: None,
                verbose,
            }),
        }
    }

    pub fn verbose(&self) -> bool {
        self.inner.verbose
    }

    /// Prints one line above any spinners.
    pub fn note(&self, msg: impl AsRef<str>) {
        let msg = msg.as_ref();
        match &self.inner.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => eprintln!("{} {msg}", timestamp()),
        }
    }

    /// Starts a stage; finish it with [`Stage::done`] (dropping it counts as failed).
    pub fn stage(&self, label: impl Into<String>) -> Stage {
        let label = label.into();
        let bar = self.inner.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {prefix} [{elapsed}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() {
            eprintln!("{} {label}: started", timestamp());
        }
        Stage {
            label,
            started: Instant::now(),
            bar,
            progress: self.clone(),
            state: Mutex::new(StageState {
                last_heartbeat: Instant::now(),
                last_message: String::new(),
                finished: false,
            }),
        }
    }
}

pub struct Stage {
    label: String,
    started: Instant,
    bar: Option<ProgressBar>,
    progress: Progress,
    state: Mutex<StageState>,
}

struct StageState {
    last_heartbeat: Instant,
    last_message: String,
    finished: bool,
}

impl Stage {
    /// Shows `msg` as the stage's current activity.
    pub fn message(&self, msg: &str) {
        let msg = msg.trim();
        if msg.is_empty() {
            return;
        }
        if let Some(bar) = &self.bar {
            bar.set_message(msg.to_string());
        }
        if let Ok(mut st) = self.state.lock() {
            st.last_message = msg.chars().take(160).collect();
        }
        self.tick();
    }

    /// One line of a tool's output: echoed in verbose mode, else shown as the activity.
    pub fn tool_line(&self, line: &str) {
        if self.progress.verbose() {
            match &self.bar {
                Some(bar) => bar.println(format!("  {line}")),
                None => eprintln!("  {line}"),
            }
        }
        self.message(line);
    }

    /// Called periodically while waiting: plain mode prints a heartbeat now and then.
    pub fn tick(&self) {
        if self.bar.is_some() {
            return;
        }
        if let Ok(mut st) = self.state.lock()
            && st.last_heartbeat.elapsed() >= HEARTBEAT
        {
            st.last_heartbeat = Instant::now();
            eprintln!(
                "{} {}: running for {}: {}",
                timestamp(),
                self.label,
                human(self.started.elapsed()),
                st.last_message
            );
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Marks the stage finished, with an optional result summary.
    pub fn done(self, summary: &str) {
        self.finish(true, summary);
    }

    fn finish(&self, ok: bool, summary: &str) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.finished {
            return;
        }
        st.finished = true;
        let took = human(self.started.elapsed());
        let (mark, word) = if ok {
            ("✔", "done")
        } else {
            ("✘", "failed")
        };
        let tail = if summary.is_empty() {
            String::new()
        } else {
            format!(": {summary}")
        };
        match &self.bar {
            Some(bar) => {
                bar.finish_and_clear();
                self.progress
                    .note(format!("{mark} {} ({took}){tail}", self.label));
            }
            None => eprintln!("{} {}: {word} in {took}{tail}", timestamp(), self.label),
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.finish(false, "");
    }
}

/// `1 min 05 s` / `4.2 s`
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        let whole = d.as_secs();
        format!("{} min {:02} s", whole / 60, whole % 60)
    }
}

fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .map(|s| format!("{}Z", &s[..19]))
        .unwrap_or_default()
}
