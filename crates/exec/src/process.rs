//! The one way isoforge starts a process: a fixed environment, its own process group, killed
//! with isoforge (parent-death signal, re-checked against a fork race), output read without
//! ever blocking on a pipe that a stray grandchild keeps open, and cancellation honoured while
//! output streams.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::{Error, ToolEnv, cancel};

/// How long the pipes are still read after the tool exited: enough for buffered output, short
/// enough that a daemon that inherited them (e.g. via `setsid`) cannot hold us.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Stdout kept by [`capture`] unless the caller says otherwise.
pub const DEFAULT_CAPTURE_LIMIT: usize = 64 << 20;

/// Stderr kept to explain a failure.
const STDERR_KEEP: usize = 64 << 10;

/// A command for `program` with only `env`, stdin from `/dev/null`, its own process group, and
/// SIGKILL when isoforge dies.
///
/// The kernel sends the parent-death signal when the *thread* that spawned the command ends:
/// spawn from a thread that lives as long as the tool.
pub fn command(program: impl AsRef<OsStr>, env: &ToolEnv) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    for (k, v) in env.vars() {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null());
    // Own process group: we stop the whole tool (apt, dpkg, …), and a terminal's Ctrl-C reaches
    // isoforge, which then decides.
    cmd.process_group(0);
    die_with_parent(&mut cmd);
    cmd
}

/// A command for a tool run outside a build (version probes, git, listings), with
/// [`ToolEnv::minimal`].
pub fn tool(program: impl AsRef<OsStr>) -> Command {
    command(program, &ToolEnv::minimal())
}

/// A command for a process that is part of the user's own command rather than a tool of
/// isoforge's: isoforge re-running itself (in its build namespace, under `unshare`, as
/// verify's and rebuild's builds) and `docker run`/`podman run` of such a build.
///
/// It keeps the caller's environment, which is that command's input (`SOURCE_DATE_EPOCH`, the
/// cache, proxies, `DOCKER_HOST`), the caller's stdin and process group, so a terminal's Ctrl-C
/// reaches it directly and it unwinds on its own; it still dies with isoforge.
pub fn foreground(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    die_with_parent(&mut cmd);
    cmd
}

/// A command that will replace this process ([`CommandExt::exec`]), with an empty
/// environment for the caller to fill: there is no child, so no process group or parent-death
/// signal applies.
pub fn for_exec(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    cmd
}

/// Makes `cmd`'s process receive SIGKILL when isoforge ends, even if isoforge ended between
/// fork and the `prctl` (then the child has been re-parented and refuses to start).
pub fn die_with_parent(cmd: &mut Command) {
    die_with(cmd, nix::unistd::getpid());
}

fn die_with(cmd: &mut Command, parent: Pid) {
    // In a new PID namespace the parent is outside it and `getppid()` is 0 whether or not it
    // lives: there a pidfd of the parent, opened before fork, says whether it ended.
    let pidfd = pidfd_of_self();
    // SAFETY: prctl, getppid and poll are async-signal-safe; nothing is allocated after fork.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            let now = nix::unistd::getppid();
            let gone = if now.as_raw() == 0 {
                pidfd.as_ref().is_some_and(|fd| {
                    let mut p = libc::pollfd {
                        fd: fd.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    libc::poll(&mut p, 1, 0) != 0
                })
            } else {
                now != parent
            };
            if gone {
                // Only an errno crosses from the child: ESRCH, the parent is gone.
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// A pidfd of this process (close-on-exec), or `None` on a kernel without `pidfd_open`.
fn pidfd_of_self() -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    // SAFETY: a fresh descriptor that nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Runs `cmd` and returns its standard output (at most [`DEFAULT_CAPTURE_LIMIT`] bytes).
///
/// A non-zero exit is an error naming the tool, its status and the last line of its stderr.
pub fn capture(cmd: Command) -> Result<Vec<u8>, Error> {
    capture_limited(cmd, DEFAULT_CAPTURE_LIMIT)
}

/// [`capture`] with an explicit size limit: more output than `limit` bytes ends the tool and is
/// an error.
pub fn capture_limited(cmd: Command, limit: usize) -> Result<Vec<u8>, Error> {
    let tool = tool_name(&cmd);
    let out = output(cmd, limit)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(out.failure(&tool))
    }
}

/// What a captured tool did.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// The first 64 KiB of its stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// The error for a failed run: the tool, its status and the last line of its stderr.
    pub fn failure(&self, tool: &str) -> Error {
        let text = String::from_utf8_lossy(&self.stderr);
        Error::Exited {
            tool: tool.to_string(),
            status: describe(self.status),
            last_line: text
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or("no output")
                .to_string(),
        }
    }
}

/// Runs `cmd` and returns its exit status, stdout (at most `limit` bytes) and stderr, for
/// tools whose non-zero status is an answer (`diffoscope` exits 1 on differences).
pub fn output(mut cmd: Command, limit: usize) -> Result<Output, Error> {
    let name = tool_name(&cmd);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn(&mut cmd, &name)?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut too_big = false;
    let status = pump(
        &mut child,
        &name,
        |stream, bytes| {
            match stream {
                Stream::Out => {
                    if stdout.len() + bytes.len() > limit {
                        too_big = true;
                        return Flow::Stop;
                    }
                    stdout.extend_from_slice(bytes);
                }
                Stream::Err => {
                    let room = STDERR_KEEP.saturating_sub(stderr.len());
                    stderr.extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
            }
            Flow::Go
        },
        || {},
    )?;
    if too_big {
        return Err(Error::TooMuchOutput { tool: name, limit });
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// The program's file name, for messages.
pub(crate) fn tool_name(cmd: &Command) -> String {
    let p = cmd.get_program().to_string_lossy();
    p.rsplit('/').next().unwrap_or(&p).to_string()
}

pub(crate) fn spawn(cmd: &mut Command, name: &str) -> Result<Child, Error> {
    if cancel::is_cancelled() {
        return Err(Error::Cancelled);
    }
    cmd.spawn().map_err(|source| Error::Spawn {
        tool: name.to_string(),
        source,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Out = 0,
    Err = 1,
}

pub(crate) enum Flow {
    Go,
    /// Stop the tool (its whole process group) and return.
    Stop,
}

/// Reads the child's stdout and stderr (whichever are piped) until it exits, handing every
/// chunk to `sink` and calling `turn` at least every 100 ms (progress heartbeats), and
/// returns its exit status.
///
/// Cancellation is checked on every turn, including while output streams without pause. After
/// the tool exits, the rest of its process group is killed and the pipes are read for at most
/// [`DRAIN_GRACE`]: a process outside the group (`setsid`) that keeps them open cannot hold
/// isoforge.
pub(crate) fn pump(
    child: &mut Child,
    name: &str,
    mut sink: impl FnMut(Stream, &[u8]) -> Flow,
    mut turn: impl FnMut(),
) -> Result<ExitStatus, Error> {
    let mut pipes: Vec<(Stream, Pipe)> = Vec::new();
    if let Some(s) = child.stdout.take() {
        pipes.push((Stream::Out, Pipe::Out(s)));
    }
    if let Some(s) = child.stderr.take() {
        pipes.push((Stream::Err, Pipe::Err(s)));
    }
    for (_, p) in &pipes {
        set_nonblocking(p.fd()).map_err(|source| Error::Io {
            context: format!("cannot read the output of {name}"),
            source,
        })?;
    }
    let pgid = Pid::from_raw(child.id() as i32);
    let mut exited: Option<(ExitStatus, Instant)> = None;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        turn();
        if cancel::is_cancelled() {
            terminate(child);
            return Err(Error::Cancelled);
        }
        if exited.is_none()
            && let Some(st) = child.try_wait().map_err(|source| Error::Io {
                context: format!("waiting for {name}"),
                source,
            })?
        {
            // Stray processes of the tool's group still hold the pipes: end them.
            let _ = killpg(pgid, Signal::SIGKILL);
            exited = Some((st, Instant::now()));
        }
        if let Some((st, at)) = exited
            && (pipes.is_empty() || at.elapsed() >= DRAIN_GRACE)
        {
            return Ok(st);
        }
        if pipes.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let mut fds: Vec<libc::pollfd> = pipes
            .iter()
            .map(|(_, p)| libc::pollfd {
                fd: p.fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::Io {
                context: format!("cannot read the output of {name}"),
                source: e,
            });
        }
        let mut closed = Vec::new();
        for (i, pfd) in fds.iter().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            // One read per stream per turn, so the cancel and exit checks run between reads.
            let (stream, pipe) = &mut pipes[i];
            match pipe.read(&mut buf) {
                Ok(0) => closed.push(i),
                Ok(k) => {
                    if let Flow::Stop = sink(*stream, &buf[..k]) {
                        terminate(child);
                        return child.wait().map_err(|source| Error::Io {
                            context: format!("waiting for {name}"),
                            source,
                        });
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            pipes.remove(i);
        }
    }
}

enum Pipe {
    Out(ChildStdout),
    Err(ChildStderr),
}

impl Pipe {
    fn fd(&self) -> RawFd {
        match self {
            Pipe::Out(p) => p.as_raw_fd(),
            Pipe::Err(p) => p.as_raw_fd(),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Pipe::Out(p) => p.read(buf),
            Pipe::Err(p) => p.read(buf),
        }
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// SIGTERM to the tool's process group, then SIGKILL if it has not gone within 5 s.
pub(crate) fn terminate(child: &mut Child) {
    let pgid = Pid::from_raw(child.id() as i32);
    if killpg(pgid, Signal::SIGTERM).is_err() {
        // Not a group leader (a [`foreground`] command): the process itself.
        let _ = nix::sys::signal::kill(pgid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            let _ = killpg(pgid, Signal::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = killpg(pgid, Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

pub(crate) fn describe(st: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(0), _) => "succeeded".into(),
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        _ => format!("ended: {st}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_uses_the_minimal_environment() {
        let mut cmd = tool("sh");
        cmd.args(["-c", "env | sort"]).env("GIT_DIR", "/leak-check");
        let out = String::from_utf8(capture(cmd).unwrap()).unwrap();
        assert!(out.contains("LC_ALL=C.UTF-8\n"), "{out}");
        assert!(out.contains("TZ=UTC\n"), "{out}");
        assert!(out.contains("PATH=/usr/local/sbin:"), "{out}");
        assert!(
            !out.contains("CARGO"),
            "caller variables must not leak: {out}"
        );
        assert!(
            out.contains("GIT_DIR=/leak-check"),
            "explicit variables are kept"
        );
    }

    #[test]
    fn capture_runs_in_its_own_process_group() {
        let mut cmd = tool("sh");
        cmd.args(["-c", "ps -o pgid= -p $$; echo $$"]);
        let out = String::from_utf8(capture(cmd).unwrap()).unwrap();
        let v: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(v[0], v[1], "pgid == pid: {out}");
        assert_ne!(v[0], nix::unistd::getpgrp().to_string());
    }

    /// The first process of a new PID namespace sees `getppid() == 0`: the parent-death check
    /// must not take that for a dead parent (the build namespace starts that way).
    #[test]
    fn starts_as_pid_1_of_a_new_pid_namespace() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test needs root (namespaces); run the test suite as root"
        );
        let out = std::thread::spawn(|| {
            // Per thread: only this thread's children go into the new namespace.
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID).unwrap();
            let mut cmd = tool("sh");
            cmd.args(["-c", "echo $$"]);
            capture(cmd)
        })
        .join()
        .unwrap()
        .unwrap();
        assert_eq!(out, b"1\n");
    }

    /// A child whose parent is not the one recorded before fork (isoforge died and the child
    /// was re-parented) does not start.
    #[test]
    fn a_child_re_parented_before_prctl_does_not_start() {
        let mut cmd = Command::new("true");
        die_with(&mut cmd, Pid::from_raw(i32::MAX));
        let e = spawn(&mut cmd, "true").unwrap_err().to_string();
        assert_eq!(e, "cannot start true: No such process (os error 3)");
    }

    #[test]
    fn capture_failure_and_limit_are_clear() {
        let mut cmd = tool("sh");
        cmd.args(["-c", "echo first >&2; echo 'fatal: the reason' >&2; exit 4"]);
        assert_eq!(
            capture(cmd).unwrap_err().to_string(),
            "sh exited with status 4: fatal: the reason"
        );
        let mut cmd = tool("yes");
        cmd.arg("endless");
        let start = Instant::now();
        assert_eq!(
            capture_limited(cmd, 1 << 20).unwrap_err().to_string(),
            "yes wrote more than 1048576 bytes of output; stopped it"
        );
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(
            capture(tool("/nonexistent/tool"))
                .unwrap_err()
                .to_string()
                .starts_with("cannot start tool: "),
        );
        let mut cmd = tool("sh");
        cmd.args(["-c", "exit 1"]);
        let out = output(cmd, 10).unwrap();
        assert_eq!(out.status.code(), Some(1));
    }
}
