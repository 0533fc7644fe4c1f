//! Linux namespaces around a build.
//!
//! - [`enter_build_namespace`]: re-runs isoforge as PID 1 of a new PID namespace with a
//!   private mount namespace. When the build ends, however it ends (even `kill -9` of the
//!   isoforge process), the kernel kills every process it started and drops every mount
//!   mmdebstrap made, so nothing is left running or mounted on the host. It has its own
//!   `/proc`, which shows only its processes.
//! - [`Variation`]: what `isoforge verify` changes for its second build in the process itself:
//!   host and domain name (UTS namespace), the `/etc/hostname` file tools copy, the umask,
//!   one CPU (affinity) and the kernel personality (`uname -r` 2.6, ASLR off).
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
            mount_own_proc()?;
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

/// Mounts a `/proc` of this (new) PID namespace over the host's, in this (new, private)
/// mount namespace: the build's `/proc/<pid>` are its own processes, as in the image's chroot
/// (where mmdebstrap mounts one too), so a `/proc/<pid>/root/…` path means the same process
/// outside and inside the chroot (`isoforge verify`'s libfaketime is preloaded that way).
fn mount_own_proc() -> io::Result<()> {
    // SAFETY: static C strings, no allocation.
    check(unsafe {
        libc::mount(
            c"proc".as_ptr(),
            c"/proc".as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    })
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

/// The environment differences `isoforge verify` applies to a build it starts (each one
/// optional: `--vary` chooses them).
#[derive(Debug, Clone, Default)]
pub struct Variation {
    /// Host and domain name (a UTS namespace) and the `/etc/hostname` file tools copy.
    pub uts: Option<Uts>,
    pub umask: Option<u32>,
    /// Pins the build's whole process tree to one CPU (`nproc` then says 1).
    pub one_cpu: bool,
    /// `personality(2)` flags, as `setarch`: [`UNAME26`] (`uname -r` says 2.6.x),
    /// [`ADDR_NO_RANDOMIZE`] (ASLR off). Inherited by every process the build starts.
    pub personality: u32,
}

/// `setarch --uname-2.6`.
pub const UNAME26: u32 = 0x0020000;
/// `setarch -R`.
pub const ADDR_NO_RANDOMIZE: u32 = 0x0040000;

#[derive(Debug, Clone)]
pub struct Uts {
    pub hostname: String,
    pub domainname: String,
    /// A file holding `hostname`, bind-mounted over `/etc/hostname` (mmdebstrap copies it).
    pub hostname_file: PathBuf,
}

/// The CPUs this process may run on (`sched_getaffinity`): one-CPU pinning needs two.
pub fn cpus_available() -> usize {
    nix::sched::sched_getaffinity(Pid::from_raw(0))
        .map(|set| {
            (0..nix::sched::CpuSet::count())
                .filter(|&i| set.is_set(i).unwrap_or(false))
                .count()
        })
        .unwrap_or(1)
}

/// Whether the kernel accepts `flags` as a personality (`personality(2)` on a child would
/// fail otherwise): probed by setting and restoring this thread's own.
pub fn personality_supported(flags: u32) -> bool {
    // SAFETY: 0xffffffff queries without changing anything.
    let current = unsafe { libc::personality(0xffff_ffff) };
    if current == -1 {
        return false;
    }
    // SAFETY: sets and at once restores this process's personality; no memory involved.
    unsafe {
        let ok = libc::personality((current as u32 | flags) as libc::c_ulong) != -1;
        libc::personality(current as libc::c_ulong);
        ok
    }
}

impl Variation {
    /// Makes `cmd` run with these differences (in its own UTS and mount namespace for
    /// [`Uts`]).
    pub fn apply(&self, cmd: &mut Command) -> io::Result<()> {
        let cstr = |b: &[u8]| {
            CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
        };
        let uts = match &self.uts {
            Some(u) => Some((
                cstr(u.hostname.as_bytes())?,
                cstr(u.domainname.as_bytes())?,
                cstr(u.hostname_file.as_os_str().as_bytes())?,
            )),
            None => None,
        };
        let mask = self.umask.map(|m| m as libc::mode_t);
        let one_cpu = if self.one_cpu {
            // The lowest CPU this process may use.
            let set = nix::sched::sched_getaffinity(Pid::from_raw(0))
                .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
            let first = (0..nix::sched::CpuSet::count())
                .find(|&i| set.is_set(i).unwrap_or(false))
                .ok_or_else(|| io::Error::other("no CPU in this process's affinity mask"))?;
            let mut one = nix::sched::CpuSet::new();
            one.set(first)
                .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
            Some(one)
        } else {
            None
        };
        let personality = self.personality;
        // SAFETY: only async-signal-safe syscalls on data built before fork.
        unsafe {
            cmd.pre_exec(move || {
                if let Some((host, domain, file)) = &uts {
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
                }
                if let Some(mask) = mask {
                    libc::umask(mask);
                }
                if let Some(set) = &one_cpu {
                    nix::sched::sched_setaffinity(Pid::from_raw(0), set)
                        .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
                }
                if personality != 0 {
                    let current = libc::personality(0xffff_ffff);
                    if current == -1
                        || libc::personality((current as u32 | personality) as libc::c_ulong) == -1
                    {
                        return Err(io::Error::last_os_error());
                    }
                }
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
            uts: Some(Uts {
                hostname: "isoforge-test-b".into(),
                domainname: "b.invalid".into(),
                hostname_file: file,
            }),
            umask: Some(0o002),
            one_cpu: true,
            personality: UNAME26 | ADDR_NO_RANDOMIZE,
        };
        let script = "hostname; domainname; cat /etc/hostname; umask; nproc; uname -r; \
                      cat /proc/self/personality";
        let mut cmd = isoforge_exec::tool("sh");
        cmd.args(["-c", script]);
        v.apply(&mut cmd).unwrap();
        let out = String::from_utf8(isoforge_exec::capture(cmd).unwrap()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..4],
            ["isoforge-test-b", "b.invalid", "isoforge-test-b", "0002"]
        );
        assert_eq!(lines[4], "1", "{out}");
        assert!(lines[5].starts_with("2.6."), "{out}");
        assert_eq!(
            u32::from_str_radix(lines[6], 16).unwrap(),
            UNAME26 | ADDR_NO_RANDOMIZE,
            "{out}"
        );
        // Nothing applied: the child sees what this process sees.
        let mut cmd = isoforge_exec::tool("sh");
        cmd.args(["-c", script]);
        Variation::default().apply(&mut cmd).unwrap();
        let plain = String::from_utf8(isoforge_exec::capture(cmd).unwrap()).unwrap();
        let plain: Vec<&str> = plain.lines().collect();
        assert_eq!(plain[4], cpus_available().to_string());
        assert!(!plain[5].starts_with("2.6."), "{plain:?}");
        // The caller's view is untouched.
        let here = std::fs::read_to_string("/etc/hostname").unwrap();
        assert_ne!(here, "isoforge-test-b\n");
    }
}
