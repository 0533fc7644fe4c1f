//! Runs one external tool: fixed environment, own process group, output to a log file and to
//! the progress display, killed on cancellation.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::{Progress, Stage, ToolEnv, cancel};

/// Lines of output kept in memory to explain a failure (the log has everything).
const TAIL_LINES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start {tool}: {source} (is it installed?)")]
    Spawn { tool: String, source: io::Error },
    #[error("{tool} {status}: {last_line} (full log: {log})")]
    Failed {
        tool: String,
        status: String,
        last_line: String,
        /// The log's file name, relative to the build's log directory.
        log: String,
    },
    #[error("cancelled")]
    Cancelled,
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

/// Runs tools for one build.
pub struct Runner {
    env: ToolEnv,
    log_dir: PathBuf,
    progress: Progress,
}

enum Chunk {
    /// A complete line (ended by `\n`).
    Line(String),
    /// A `\r`-terminated progress update: shown, not logged.
    Status(String),
}

impl Runner {
    pub fn new(env: ToolEnv, log_dir: &Path, progress: Progress) -> io::Result<Self> {
        std::fs::create_dir_all(log_dir)?;
        Ok(Self {
            env,
            log_dir: log_dir.to_path_buf(),
            progress,
        })
    }

    pub fn env(&self) -> &ToolEnv {
        &self.env
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// A command with the fixed environment and nothing inherited from the caller.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear();
        for (k, v) in self.env.vars() {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `cmd` to completion, appending its output to `<log_dir>/<log>.log`.
    pub fn run(&self, stage: &Stage, log: &str, mut cmd: Command) -> Result<(), Error> {
        let tool = cmd.get_program().to_string_lossy().into_owned();
        let log_file = format!("{log}.log");
        let log_path = self.log_dir.join(&log_file);
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| Error::Io {
                context: format!("cannot open {}", log_path.display()),
                source,
            })?;
        let _ = writeln!(out, "$ {}", render_command(&cmd));
        stage.message(&format!("{tool} …"));

        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        // Own process group: Ctrl-C reaches us, and we stop the whole tool (apt, dpkg, …).
        cmd.process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)
            });
        }
        if cancel::is_cancelled() {
            return Err(Error::Cancelled);
        }
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            tool: tool.clone(),
            source,
        })?;
        let (tx, rx) = mpsc::channel();
        let readers = [
            child.stdout.take().map(|s| spawn_reader(s, tx.clone())),
            child.stderr.take().map(|s| spawn_reader(s, tx.clone())),
        ];
        drop(tx);

        let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
        let mut status: Option<ExitStatus> = None;
        let mut channel_open = true;
        loop {
            if channel_open {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(Chunk::Line(line)) => {
                        let _ = writeln!(out, "{line}");
                        stage.tool_line(&line);
                        if !line.trim().is_empty() {
                            if tail.len() == TAIL_LINES {
                                tail.pop_front();
                            }
                            tail.push_back(line);
                        }
                        continue;
                    }
                    Ok(Chunk::Status(s)) => {
                        stage.message(&s);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => channel_open = false,
                }
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
            stage.tick();
            if status.is_none() {
                if cancel::is_cancelled() {
                    terminate(&mut child);
                    let _ = writeln!(out, "isoforge: cancelled");
                    return Err(Error::Cancelled);
                }
                status = child.try_wait().map_err(|source| Error::Io {
                    context: format!("waiting for {tool}"),
                    source,
                })?;
            }
            // Done when the tool exited and both pipes are drained (a daemonized grandchild
            // holding a pipe must not hang us: the pipes close when the group is gone).
            if let Some(st) = status
                && !channel_open
            {
                for r in readers.into_iter().flatten() {
                    let _ = r.join();
                }
                let _ = writeln!(out, "isoforge: {tool} {}", describe(st));
                if st.success() {
                    return Ok(());
                }
                return Err(Error::Failed {
                    tool,
                    status: describe(st),
                    last_line: explain(&tail),
                    log: log_file,
                });
            }
            if status.is_some() {
                // Stray processes of the tool's group still hold the pipes: end them.
                let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            }
        }
    }
}

fn spawn_reader(
    mut src: impl Read + Send + 'static,
    tx: mpsc::Sender<Chunk>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for &b in &buf[..n] {
                match b {
                    b'\n' => {
                        let line = String::from_utf8_lossy(&pending).into_owned();
                        pending.clear();
                        if tx.send(Chunk::Line(line)).is_err() {
                            return;
                        }
                    }
                    b'\r' => {
                        let s = String::from_utf8_lossy(&pending).into_owned();
                        pending.clear();
                        if tx.send(Chunk::Status(s)).is_err() {
                            return;
                        }
                    }
                    // Bound memory if a tool writes an endless line.
                    _ if pending.len() < 64 * 1024 => pending.push(b),
                    _ => {}
                }
            }
        }
        if !pending.is_empty() {
            let _ = tx.send(Chunk::Line(String::from_utf8_lossy(&pending).into_owned()));
        }
    })
}

/// SIGTERM to the tool's process group, then SIGKILL if it has not gone within 5 s.
fn terminate(child: &mut Child) {
    let pgid = Pid::from_raw(child.id() as i32);
    let _ = killpg(pgid, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            let _ = killpg(pgid, Signal::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = killpg(pgid, Signal::SIGKILL);
    let _ = child.wait();
}

fn describe(st: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(0), _) => "succeeded".into(),
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        _ => format!("ended: {st}"),
    }
}

/// The most telling line of a failed tool's output: its last error line, else its last line.
fn explain(tail: &VecDeque<String>) -> String {
    let is_error = |l: &&String| {
        let t = l.trim_start();
        t.starts_with("E:") || t.to_ascii_lowercase().contains("error") || t.starts_with("FATAL")
    };
    tail.iter()
        .rev()
        .find(is_error)
        .or_else(|| tail.back())
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| "no output".into())
}

fn render_command(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
            s.push_str(&format!(" '{}'", a.replace('\'', r"'\''")));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner(dir: &Path) -> Runner {
        let env = ToolEnv::new(1_700_000_000, dir, dir);
        Runner::new(env, &dir.join("logs"), Progress::plain(false)).unwrap()
    }

    #[test]
    fn runs_with_fixed_environment_and_logs() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(dir.path());
        let stage = r.progress().stage("test");
        let mut cmd = r.command("sh");
        cmd.args([
            "-c",
            "env | sort; echo to-stderr >&2; printf '50%%\\r'; echo end",
        ]);
        r.run(&stage, "env", cmd).unwrap();
        let log = std::fs::read_to_string(dir.path().join("logs/env.log")).unwrap();
        assert!(log.contains("LC_ALL=C.UTF-8"), "{log}");
        assert!(log.contains("TZ=UTC"));
        assert!(log.contains("SOURCE_DATE_EPOCH=1700000000"));
        assert!(log.contains("to-stderr"));
        assert!(
            !log.lines().any(|l| l.starts_with("50%")),
            "progress updates are not logged"
        );
        assert!(
            !log.contains("CARGO"),
            "caller variables must not leak: {log}"
        );
    }

    #[test]
    fn failure_names_tool_status_and_last_error() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(dir.path());
        let stage = r.progress().stage("test");
        let mut cmd = r.command("sh");
        cmd.args([
            "-c",
            "echo 'E: Unable to locate package nope'; echo trailing; exit 3",
        ]);
        let err = r.run(&stage, "fail", cmd).unwrap_err().to_string();
        assert_eq!(
            err,
            "sh exited with status 3: E: Unable to locate package nope (full log: fail.log)"
        );
        let err = r
            .run(&stage, "missing", r.command("/nonexistent/tool"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot start /nonexistent/tool"), "{err}");
    }

    #[test]
    fn backgrounded_grandchild_does_not_hang() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(dir.path());
        let stage = r.progress().stage("test");
        let mut cmd = r.command("sh");
        cmd.args(["-c", "sleep 600 & echo started"]);
        r.run(&stage, "bg", cmd).unwrap();
    }
}
