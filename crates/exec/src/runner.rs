//! Runs one external tool: fixed environment, own process group, output to a log file and to
//! the progress display, killed on cancellation.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::process::{self, Flow, Stream, describe};
use crate::{Progress, Stage, ToolEnv};

/// Lines of output kept in memory to explain a failure (the log has everything).
const TAIL_LINES: usize = 20;

/// A line longer than this is cut (a tool writing an endless line must not fill memory).
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start {tool}: {source}{}", install_hint(.source))]
    Spawn { tool: String, source: io::Error },
    #[error("{tool} {status}: {last_line} (full log: {log})")]
    Failed {
        tool: String,
        status: String,
        last_line: String,
        /// The log's file name, relative to the build's log directory.
        log: String,
    },
    /// A captured tool failed (no log file: its stderr's last line says why).
    #[error("{tool} {status}: {last_line}")]
    Exited {
        tool: String,
        status: String,
        last_line: String,
    },
    #[error("{tool} wrote more than {limit} bytes of output; stopped it")]
    TooMuchOutput { tool: String, limit: usize },
    #[error("cancelled")]
    Cancelled,
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

fn install_hint(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::NotFound {
        " (is it installed?)"
    } else {
        ""
    }
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

    /// A command with the fixed environment and nothing inherited from the caller (see
    /// [`process::command`]).
    pub fn command(&self, program: &str) -> Command {
        process::command(program, &self.env)
    }

    /// Runs `cmd` to completion, appending its output to `<log_dir>/<log>.log`.
    pub fn run(&self, stage: &Stage, log: &str, mut cmd: Command) -> Result<(), Error> {
        let tool = cmd.get_program().to_string_lossy().into_owned();
        let (mut out, log_file) = self.open_log(log, &cmd)?;
        stage.message(&format!("{tool} …"));
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = process::spawn(&mut cmd, &tool)?;
        let mut lines = [Lines::default(), Lines::default()];
        let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
        let mut show = |chunk: Chunk| match chunk {
            Chunk::Line(line) => {
                let _ = writeln!(out, "{line}");
                stage.tool_line(&line);
                if !line.trim().is_empty() {
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            }
            Chunk::Status(s) => stage.message(&s),
        };
        let res = process::pump(
            &mut child,
            &tool,
            |stream, bytes| {
                lines[stream as usize].feed(bytes, &mut show);
                Flow::Go
            },
            || stage.tick(),
        );
        for l in &mut lines {
            l.finish(&mut show);
        }
        let st = match res {
            Ok(st) => st,
            Err(e) => {
                if matches!(e, Error::Cancelled) {
                    let _ = writeln!(out, "isoforge: cancelled");
                }
                return Err(e);
            }
        };
        let _ = writeln!(out, "isoforge: {tool} {}", describe(st));
        if st.success() {
            return Ok(());
        }
        Err(Error::Failed {
            tool,
            status: describe(st),
            last_line: explain(&tail),
            log: log_file,
        })
    }

    /// Runs `cmd` and returns its stdout (at most `limit` bytes); its stderr goes to
    /// `<log_dir>/<log>.log`.
    pub fn output(&self, log: &str, mut cmd: Command, limit: usize) -> Result<Vec<u8>, Error> {
        let tool = cmd.get_program().to_string_lossy().into_owned();
        let (mut out, log_file) = self.open_log(log, &cmd)?;
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = process::spawn(&mut cmd, &tool)?;
        let mut stdout = Vec::new();
        let mut too_big = false;
        let mut err = Lines::default();
        let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
        let mut keep = |chunk: Chunk| {
            if let Chunk::Line(line) = chunk {
                let _ = writeln!(out, "{line}");
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        };
        let st = process::pump(
            &mut child,
            &tool,
            |stream, bytes| match stream {
                Stream::Out if stdout.len() + bytes.len() > limit => {
                    too_big = true;
                    Flow::Stop
                }
                Stream::Out => {
                    stdout.extend_from_slice(bytes);
                    Flow::Go
                }
                Stream::Err => {
                    err.feed(bytes, &mut keep);
                    Flow::Go
                }
            },
            || {},
        )?;
        err.finish(&mut keep);
        if too_big {
            return Err(Error::TooMuchOutput { tool, limit });
        }
        let _ = writeln!(out, "isoforge: {tool} {}", describe(st));
        if st.success() {
            return Ok(stdout);
        }
        Err(Error::Failed {
            tool,
            status: describe(st),
            last_line: explain(&tail),
            log: log_file,
        })
    }

    fn open_log(&self, log: &str, cmd: &Command) -> Result<(File, String), Error> {
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
        let _ = writeln!(out, "$ {}", render_command(cmd));
        Ok((out, log_file))
    }
}

/// Splits one stream into lines and `\r`-terminated progress updates.
#[derive(Default)]
struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    fn feed(&mut self, bytes: &[u8], emit: &mut impl FnMut(Chunk)) {
        for &b in bytes {
            match b {
                b'\n' => emit(Chunk::Line(self.take())),
                b'\r' => emit(Chunk::Status(self.take())),
                _ if self.pending.len() < MAX_LINE => self.pending.push(b),
                _ => {}
            }
        }
    }

    fn finish(&mut self, emit: &mut impl FnMut(Chunk)) {
        if !self.pending.is_empty() {
            emit(Chunk::Line(self.take()));
        }
    }

    fn take(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
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
    use std::time::{Duration, Instant};

    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

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

    /// Starts a daemon in its own session that inherits stdout and stderr, and waits until it
    /// wrote its pid to `$1`.
    const DAEMON: &str = r#"rm -f "$1"; setsid -f sh -c 'echo $$ > "$0.tmp"; mv "$0.tmp" "$0"; exec sleep 60' "$1"; while [ ! -s "$1" ]; do sleep 0.05; done; "#;

    fn kill_daemon(pidfile: &Path) {
        if let Ok(pid) = std::fs::read_to_string(pidfile)
            .unwrap_or_default()
            .trim()
            .parse()
        {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    /// A daemon started with `setsid` is outside the tool's process group and keeps both pipes
    /// open: the runner still ends, shortly after the tool itself.
    #[test]
    fn setsid_grandchild_holding_the_pipes_does_not_hang() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(dir.path());
        let stage = r.progress().stage("test");
        let pidfile = dir.path().join("daemon.pid");
        let mut cmd = r.command("sh");
        cmd.arg("-c")
            .arg(DAEMON.to_owned() + "echo started")
            .arg("sh")
            .arg(&pidfile);
        let start = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| tx.send(r.run(&stage, "setsid", cmd)));
            // Fails rather than hangs: the scope still waits, but the daemon ends in 60 s.
            let res = rx.recv_timeout(Duration::from_secs(10));
            if res.is_err() {
                kill_daemon(&pidfile);
            }
            res.expect("the runner still waits for the daemon's pipes after 10 s")
                .unwrap();
        });
        let took = start.elapsed();
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let alive = nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok();
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        assert!(alive, "the daemon was still running and holding the pipes");
        assert!(took < Duration::from_secs(5), "took {took:?}");
        let log = std::fs::read_to_string(dir.path().join("logs/setsid.log")).unwrap();
        assert!(log.contains("started"), "{log}");

        let mut cmd = r.command("sh");
        cmd.arg("-c")
            .arg(DAEMON.to_owned() + "echo out")
            .arg("sh")
            .arg(&pidfile);
        let start = Instant::now();
        let out = r.output("setsid-capture", cmd, 1024).unwrap();
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        assert_eq!(out, b"out\n");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn output_keeps_stdout_logs_stderr_and_bounds_size() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(dir.path());
        let mut cmd = r.command("sh");
        cmd.args(["-c", "echo data; echo note >&2"]);
        assert_eq!(r.output("out", cmd, 100).unwrap(), b"data\n");
        let log = std::fs::read_to_string(dir.path().join("logs/out.log")).unwrap();
        assert!(log.contains("note") && !log.contains("data\n"), "{log}");
        let mut cmd = r.command("sh");
        cmd.args(["-c", "head -c 5000 /dev/zero"]);
        let err = r.output("big", cmd, 4096).unwrap_err().to_string();
        assert_eq!(err, "sh wrote more than 4096 bytes of output; stopped it");
    }
}
