//! Linux namespaces around a build.
//!
//! - [`enter_build_namespace`]: re-runs isoforge as PID 1 of a new PID namespace with a
//!   private mount namespace. When the build ends, however it ends (even `kill -9` of the
//!   isoforge process), the kernel kills every process it started and drops every mount
//!   mmdebstrap made, so nothing is left running or mounted on the host.
//! - [`Variation`]: what `isoforge verify` changes for its second build: host and domain name
//!   (UTS namespace), the `/etc/hostname` file tools copy, and the umask.
//!
//! Removing a work directory, mounts and all, is `isoforge_fs::remove_tree`.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Set in the environment of the re-executed build, so it knows it is inside. Alone it proves
/// nothing (anyone can set it): only PID 1 of a new PID namespace that carries it is inside.
const INSIDE: &str = "ISOFORGE_BUILD_NAMESPACE";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "isoforge build needs root (mmdebstrap's root mode and private mounts); run it with sudo"
    )]
    NotRoot,
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Where the caller continues after [`enter_build_namespace`].
#[derive(Debug, PartialEq, Eq)]
pub enum Entered {
    /// This process runs inside the namespaces: do the build.
    Inside,
    /// The build ran in a child and ended with this exit code: exit with it.
    Exited(i32),
}

/// Re-executes the current command line inside a new PID and mount namespace and waits.
///
/// Must be called before the process starts any thread: after `unshare(CLONE_NEWPID)` the
/// kernel refuses to create threads in the calling process.
pub fn enter_build_namespace() -> Result<Entered, Error> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::NotRoot);
    }
    if std::env::var_os(INSIDE).is_some() && nix::unistd::getpid().as_raw() == 1 {
        return Ok(Entered::Inside);
    }
    // Signals are recorded by flag (no thread) and forwarded from the wait loop.
    let pending = Arc::new(AtomicUsize::new(0));
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        signal_hook::flag::register_usize(sig, Arc::clone(&pending), sig as usize)
            .map_err(io_err("cannot install signal handlers"))?;
    }
    unshare(CloneFlags::CLONE_NEWPID)
        .map_err(|e| io_err("cannot create a PID namespace")(e.into()))?;
    // The caller's own command, run again: its environment and terminal are its input.
    let mut cmd = isoforge_exec::process::foreground("/proc/self/exe");
    cmd.args(std::env::args_os().skip(1)).env(INSIDE, "1");
    if let Some(arg0) = std::env::args_os().next() {
        cmd.arg0(arg0);
    }
    // SAFETY: only async-signal-safe syscalls on data prepared before fork.
    unsafe {
        cmd.pre_exec(|| {
            unshare(CloneFlags::CLONE_NEWNS)?;
            make_mounts_private()?;
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(io_err("cannot start the build in its namespace"))?;
    let pid = Pid::from_raw(child.id() as i32);
    loop {
        let sig = pending.swap(0, Ordering::SeqCst);
        if sig != 0
            && let Ok(s) = Signal::try_from(sig as i32)
        {
            let _ = kill(pid, s);
        }
        match child.try_wait() {
            Ok(Some(st)) => {
                let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
                return Ok(Entered::Exited(code));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(io_err("waiting for the build")(e)),
        }
    }
}

/// Marks every mount in this (new) mount namespace private, so nothing propagates back.
fn make_mounts_private() -> io::Result<()> {
    // SAFETY: static C strings, no allocation.
    let r = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The environment differences `isoforge verify` applies to a build it starts.
#[derive(Debug, Clone)]
pub struct Variation {
    pub hostname: String,
    pub domainname: String,
    /// A file holding `hostname`, bind-mounted over `/etc/hostname` (mmdebstrap copies it).
    pub hostname_file: PathBuf,
    pub umask: u32,
}

impl Variation {
    /// Makes `cmd` run in its own UTS and mount namespace with these differences.
    pub fn apply(&self, cmd: &mut Command) -> io::Result<()> {
        let cstr = |b: &[u8]| {
            CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
        };
        let host = cstr(self.hostname.as_bytes())?;
        let domain = cstr(self.domainname.as_bytes())?;
        let file = cstr(self.hostname_file.as_os_str().as_bytes())?;
        let mask = self.umask as libc::mode_t;
        // SAFETY: only async-signal-safe syscalls on strings built before fork.
        unsafe {
            cmd.pre_exec(move || {
                unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWNS)?;
                make_mounts_private()?;
                check(libc::sethostname(host.as_ptr(), host.as_bytes().len()))?;
                check(libc::setdomainname(
                    domain.as_ptr(),
                    domain.as_bytes().len(),
                ))?;
                check(libc::mount(
                    file.as_ptr(),
                    c"/etc/hostname".as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
                libc::umask(mask);
                Ok(())
            });
        }
        Ok(())
    }
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variation_changes_what_a_child_sees() {
        if !nix::unistd::geteuid().is_root() {
            panic!("this test needs root (namespaces); run the test suite as root");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hostname");
        std::fs::write(&file, "isoforge-test-b\n").unwrap();
        let v = Variation {
            hostname: "isoforge-test-b".into(),
            domainname: "b.invalid".into(),
            hostname_file: file,
            umask: 0o002,
        };
        let mut cmd = isoforge_exec::tool("sh");
        cmd.args(["-c", "hostname; domainname; cat /etc/hostname; umask"]);
        v.apply(&mut cmd).unwrap();
        let out = isoforge_exec::capture(cmd).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            "isoforge-test-b\nb.invalid\nisoforge-test-b\n0002\n"
        );
        // The caller's view is untouched.
        let here = std::fs::read_to_string("/etc/hostname").unwrap();
        assert_ne!(here, "isoforge-test-b\n");
    }
}
