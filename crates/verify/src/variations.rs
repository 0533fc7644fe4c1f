//! What build B varies, one named variation at a time (reprotest's names), which of them this
//! machine can apply, and how a chosen set is applied to one build.
//!
//! Each variation is applied on its own, so that `--vary` can leave any out and `--bisect` can
//! build with any subset. `user_group` is not one of them: the build needs root.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use isoforge_sandbox::{ADDR_NO_RANDOMIZE, Uts, Variation};

use crate::{Error, io_err};

/// One variation of build B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Name {
    Time,
    NumCpus,
    FileOrdering,
    Aslr,
    ExecPath,
    BuildPath,
    DomainHost,
    Timezone,
    Locales,
    Umask,
    Home,
}

/// The clock offset of `time`: 398 days, 7 h 13 min (another date and time of day).
pub const CLOCK_OFFSET: &str = "+34413180";
/// The directory `exec_path` puts first in the tools' `PATH`; it does not exist, so it holds
/// nothing (as reprotest's), and it is the same in every build.
pub const EXTRA_PATH: &str = "/nonexistent/isoforge-verify-exec-path";

impl Name {
    pub const ALL: [Name; 11] = [
        Name::Time,
        Name::NumCpus,
        Name::FileOrdering,
        Name::Aslr,
        Name::ExecPath,
        Name::BuildPath,
        Name::DomainHost,
        Name::Timezone,
        Name::Locales,
        Name::Umask,
        Name::Home,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Name::Time => "time",
            Name::NumCpus => "num_cpus",
            Name::FileOrdering => "fileordering",
            Name::Aslr => "aslr",
            Name::ExecPath => "exec_path",
            Name::BuildPath => "build_path",
            Name::DomainHost => "domain_host",
            Name::Timezone => "timezone",
            Name::Locales => "locales",
            Name::Umask => "umask",
            Name::Home => "home",
        }
    }

    /// What build B gets, for the log.
    pub fn value(self) -> &'static str {
        match self {
            Name::Time => {
                "clock +398 days 7 h 13 min (libfaketime FAKETIME=+34413180) for the tools"
            }
            Name::NumCpus => "one CPU (sched_setaffinity on the whole build; nproc says 1)",
            Name::FileOrdering => {
                "directory entries reversed: the output directory through disorderfs"
            }
            Name::Aslr => "ASLR off (personality ADDR_NO_RANDOMIZE, as setarch -R)",
            Name::ExecPath => "PATH starts with /nonexistent/isoforge-verify-exec-path",
            Name::BuildPath => "build-b/ instead of build-a/, its directory mode 0700",
            Name::DomainHost => {
                "hostname isoforge-verify-b, domain name verify-b.invalid (UTS namespace), /etc/hostname"
            }
            Name::Timezone => "TZ=Pacific/Chatham (UTC+13:45)",
            Name::Locales => "LANG=LC_ALL=fr_FR.UTF-8, LANGUAGE=fr",
            Name::Umask => "umask 0002",
            Name::Home => "HOME=build-b/home, USER=LOGNAME=isoforge-b",
        }
    }

    pub fn parse(s: &str) -> Option<Name> {
        Name::ALL.into_iter().find(|n| n.as_str() == s)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why `fileordering` is not in `all`: measured on the default profile.
pub const FILEORDERING_OFF: &str = "not in `all`: through disorderfs (FUSE) dpkg cannot build \
    the image: usrmerge stops on FUSE's `.fuse_hidden*` file (an unlinked file still open) in \
    /bin, and with `-o hard_remove` replacing the running libc6 fails; ask for it by name";

impl Name {
    /// What `all` means: every variation that an image build survives.
    pub fn default_set() -> Set {
        Name::ALL
            .into_iter()
            .filter(|n| *n != Name::FileOrdering)
            .collect()
    }
}

/// A set of variations (ordered as [`Name::ALL`]).
pub type Set = BTreeSet<Name>;

/// Parses `--vary`: comma-separated names; `-NAME` leaves one out; `all` (or `+all`) is every
/// one. A list of removals only starts from all; otherwise from the names listed.
pub fn parse_list(list: &str) -> Result<Set, String> {
    let items: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut set = if items.iter().all(|i| i.starts_with('-')) {
        Name::default_set()
    } else {
        Set::new()
    };
    for item in items {
        let (remove, name) = match item.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, item.strip_prefix('+').unwrap_or(item)),
        };
        let names: Vec<Name> = if name == "all" {
            Name::default_set().into_iter().collect()
        } else if let Some(why) = not_applicable(name) {
            return Err(format!("--vary: {name} does not apply: {why}"));
        } else {
            vec![Name::parse(name).ok_or_else(|| {
                format!(
                    "--vary: unknown variation {name:?}; known: all, {}",
                    Name::ALL.map(Name::as_str).join(", ")
                )
            })?]
        };
        for n in names {
            if remove {
                set.remove(&n);
            } else {
                set.insert(n);
            }
        }
    }
    Ok(set)
}

/// reprotest's variations that cannot apply to an image build, and why.
pub const NOT_APPLICABLE: [(&str, &str); 2] = [
    (
        "user_group",
        "the build needs root (mmdebstrap's root mode), so it cannot run as another user",
    ),
    (
        "kernel",
        "with `uname -r` 2.6 (setarch --uname-2.6) libc6's preinst refuses to install \
         (\"Kernel must be upgraded\": it needs 3.2), so no Debian image can be built",
    ),
];

fn not_applicable(name: &str) -> Option<&'static str> {
    NOT_APPLICABLE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}

/// Where libfaketime is, when this machine has it.
pub fn libfaketime() -> Option<PathBuf> {
    let dirs = std::fs::read_dir("/usr/lib").ok()?;
    let mut found: Vec<PathBuf> = dirs
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketime.so.1")])
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Why `name` cannot be applied here with `runtime`, or `None` when it can.
pub fn unavailable(name: Name, runtime: &str) -> Option<String> {
    let container = matches!(runtime, "docker" | "podman");
    match name {
        Name::Time | Name::ExecPath if container => Some(format!(
            "--runtime {runtime} does not pass isoforge verify's variables into the container"
        )),
        Name::Time => libfaketime()
            .is_none()
            .then(|| "libfaketime is not installed (apt-get install faketime)".to_string()),
        Name::NumCpus => (isoforge_sandbox::cpus_available() < 2)
            .then(|| "this machine gives isoforge only one CPU".to_string()),
        Name::FileOrdering => {
            if which("disorderfs").is_none() {
                Some("disorderfs is not installed (apt-get install disorderfs)".into())
            } else if !Path::new("/dev/fuse").exists() {
                Some("/dev/fuse is missing (FUSE is not available here)".into())
            } else {
                None
            }
        }
        Name::Aslr => (!isoforge_sandbox::personality_supported(ADDR_NO_RANDOMIZE))
            .then(|| "the kernel refuses the ADDR_NO_RANDOMIZE personality".to_string()),
        _ => None,
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    isoforge_exec::TOOL_PATH
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// The two sides' directories: every build runs at A's paths or at B's (`build_path`).
#[derive(Debug, Clone)]
pub struct Place {
    /// `build-a/` or `build-b/`.
    pub dir: PathBuf,
}

impl Place {
    pub fn src(&self) -> PathBuf {
        self.dir.join("src")
    }
    pub fn output(&self) -> PathBuf {
        self.dir.join("output")
    }
}

/// What one build needs set up before it starts and undone after it ends.
pub struct Applied {
    /// `(what, value)` for the log.
    pub environment: Vec<(String, String)>,
    /// The disorderfs mount, unmounted when dropped.
    mount: Option<DisorderMount>,
}

impl Applied {
    /// Unmounts what was mounted (also done on drop); an error here is reported.
    pub fn finish(mut self) -> Result<(), Error> {
        match self.mount.take() {
            Some(m) => m.unmount(),
            None => Ok(()),
        }
    }
}

/// Applies `set` to `cmd`, the build at `place` (its `src` and `output` already made).
pub fn apply(set: &Set, place: &Place, cmd: &mut Command) -> Result<Applied, Error> {
    let mut env = Vec::new();
    let mut variation = Variation::default();
    for &name in set {
        match name {
            Name::Timezone => {
                // UTC+13:45: a zone nobody builds in, so a leak cannot pass for UTC.
                cmd.env("TZ", "Pacific/Chatham");
            }
            Name::Locales => {
                cmd.env("LANG", "fr_FR.UTF-8")
                    .env("LC_ALL", "fr_FR.UTF-8")
                    .env("LANGUAGE", "fr");
            }
            Name::Home => {
                let home = place.dir.join("home");
                std::fs::create_dir_all(&home).map_err(io_err("cannot create the varied HOME"))?;
                cmd.env("HOME", &home)
                    .env("USER", "isoforge-b")
                    .env("LOGNAME", "isoforge-b");
            }
            Name::Umask => variation.umask = Some(0o002),
            Name::DomainHost => {
                let hostname_file = place.dir.join("etc-hostname");
                std::fs::write(&hostname_file, "isoforge-verify-b\n")
                    .map_err(io_err("cannot write the varied /etc/hostname"))?;
                variation.uts = Some(Uts {
                    hostname: "isoforge-verify-b".into(),
                    domainname: "verify-b.invalid".into(),
                    hostname_file,
                });
            }
            Name::NumCpus => variation.one_cpu = true,
            Name::Aslr => variation.personality |= ADDR_NO_RANDOMIZE,
            Name::ExecPath => {
                let path = std::env::var("PATH").unwrap_or_default();
                cmd.env("PATH", format!("{EXTRA_PATH}:{path}"))
                    .env(isoforge_build::varied::EXEC_PATH, EXTRA_PATH);
            }
            Name::Time => {
                let lib = libfaketime().ok_or_else(|| {
                    Error::Failed(
                        "time: libfaketime is not installed (apt-get install faketime)".into(),
                    )
                })?;
                let to = place.output().join(isoforge_build::varied::FAKETIME_LIB);
                if let Some(p) = to.parent() {
                    std::fs::create_dir_all(p)
                        .map_err(io_err(format!("cannot create {}", p.display())))?;
                }
                std::fs::copy(&lib, &to).map_err(io_err(format!(
                    "cannot copy {} to {}",
                    lib.display(),
                    to.display()
                )))?;
                cmd.env(isoforge_build::varied::FAKETIME, CLOCK_OFFSET);
            }
            // Chosen by the caller with `place`; mounted below, once the rest is ready.
            Name::BuildPath | Name::FileOrdering => {}
        }
        env.push((name.as_str().to_string(), name.value().to_string()));
    }
    variation
        .apply(cmd)
        .map_err(io_err("cannot prepare the varied environment"))?;
    let mount = if set.contains(&Name::FileOrdering) {
        Some(DisorderMount::mount(&place.output())?)
    } else {
        None
    };
    Ok(Applied {
        environment: env,
        mount,
    })
}

/// `output/` seen through disorderfs (entries in reverse order), over itself: the real
/// directory is first bind-mounted at `.output-real` beside it, so every path stays the same.
/// The daemon runs in the foreground as this process's child, and is stopped after the
/// unmount (a copy of the mount in a build's namespace could otherwise keep it alive).
struct DisorderMount {
    point: PathBuf,
    real: PathBuf,
    daemon: Option<std::process::Child>,
}

/// Whether `path` is a mount point of file system type `fstype` (from `/proc/self/mountinfo`).
fn is_mounted(path: &Path, fstype: &str) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.display().to_string();
    info.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let dash = f.iter().position(|x| *x == "-");
        f.get(4) == Some(&want.as_str()) && dash.and_then(|d| f.get(d + 1)) == Some(&fstype)
    })
}

impl DisorderMount {
    fn mount(output: &Path) -> Result<Self, Error> {
        let real = output.with_file_name(".output-real");
        std::fs::create_dir_all(&real)
            .map_err(io_err(format!("cannot create {}", real.display())))?;
        nix::mount::mount(
            Some(output),
            &real,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            Error::Failed(format!(
                "fileordering: cannot bind-mount {}: {e}",
                output.display()
            ))
        })?;
        let mut m = Self {
            point: output.to_path_buf(),
            real,
            daemon: None,
        };
        // Reversed, not shuffled: the same order in every build, so builds of a subset
        // (--bisect) give the same bytes as build B when this variation is the cause.
        let mut cmd = isoforge_exec::tool("disorderfs");
        cmd.args([
            "-f",
            "--quiet",
            "--multi-user=yes",
            "--reverse-dirents=yes",
            "--shuffle-dirents=no",
            "-o",
            "allow_other,dev,suid,nonempty",
        ])
        .arg(&m.real)
        .arg(&m.point)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
        let child = cmd
            .spawn()
            .map_err(io_err("fileordering: cannot start disorderfs"))?;
        m.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !is_mounted(&m.point, "fuse.disorderfs") {
            let exited = m.daemon.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                let mut err = String::new();
                if let Some(mut e) = m.daemon.as_mut().and_then(|c| c.stderr.take()) {
                    use std::io::Read as _;
                    let _ = (&mut e).take(4096).read_to_string(&mut err);
                }
                m.daemon = None;
                return Err(Error::Failed(format!(
                    "fileordering: disorderfs {status}: {}",
                    err.trim()
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::Failed(format!(
                    "fileordering: disorderfs did not mount {} within 20 s",
                    m.point.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(m)
    }

    fn unmount(mut self) -> Result<(), Error> {
        self.release()
    }

    fn release(&mut self) -> Result<(), Error> {
        let mut first = None;
        if let Some(mut daemon) = self.daemon.take() {
            if is_mounted(&self.point, "fuse.disorderfs")
                && let Err(e) = nix::mount::umount2(&self.point, nix::mount::MntFlags::empty())
                && let Err(e2) = nix::mount::umount2(&self.point, nix::mount::MntFlags::MNT_DETACH)
            {
                first = Some(format!(
                    "cannot unmount disorderfs from {}: {e}; {e2}",
                    self.point.display()
                ));
            }
            // Our own child, by its pid: it may still serve a copy of the mount.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(daemon.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while daemon.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if daemon.try_wait().ok().flatten().is_none() {
                let _ = daemon.kill();
                let _ = daemon.wait();
            }
        }
        if !self.real.as_os_str().is_empty() {
            let real = std::mem::take(&mut self.real);
            if let Err(e) = nix::mount::umount2(&real, nix::mount::MntFlags::MNT_DETACH) {
                first.get_or_insert(format!("cannot unmount {}: {e}", real.display()));
            } else {
                let _ = std::fs::remove_dir(&real);
            }
        }
        first.map_or(Ok(()), |e| Err(Error::Failed(e)))
    }
}

impl Drop for DisorderMount {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_lists_add_and_leave_out() {
        let all = Name::default_set();
        assert_eq!(parse_list("all").unwrap(), all);
        assert!(!all.contains(&Name::FileOrdering));
        assert!(
            parse_list("all,fileordering")
                .unwrap()
                .contains(&Name::FileOrdering)
        );
        let mut no_time = all.clone();
        no_time.remove(&Name::Time);
        assert_eq!(parse_list("-time").unwrap(), no_time);
        assert_eq!(parse_list("all,-time").unwrap(), no_time);
        assert_eq!(
            parse_list("timezone, umask").unwrap(),
            [Name::Timezone, Name::Umask].into_iter().collect()
        );
        assert_eq!(
            parse_list("timezone,umask,-umask").unwrap(),
            [Name::Timezone].into_iter().collect()
        );
        let e = parse_list("user_group").unwrap_err();
        assert!(e.contains("needs root"), "{e}");
        let e = parse_list("all,kernel").unwrap_err();
        assert!(e.contains("libc6's preinst refuses"), "{e}");
        let e = parse_list("tiem").unwrap_err();
        assert!(
            e.contains("unknown variation \"tiem\"") && e.contains("num_cpus"),
            "{e}"
        );
        for n in Name::ALL {
            assert_eq!(Name::parse(n.as_str()), Some(n));
        }
    }

    /// Every variation reaches a child the way it reaches a build: in its environment, its
    /// process or its view of the output directory. Needs root, libfaketime and disorderfs.
    #[test]
    fn every_variation_reaches_a_child() {
        if !nix::unistd::geteuid().is_root() {
            panic!("this test needs root (namespaces, mounts); run the test suite as root");
        }
        for n in Name::ALL {
            assert_eq!(unavailable(n, "host"), None, "{n} cannot be applied here");
        }
        let dir = tempfile::tempdir().unwrap();
        let place = Place {
            dir: dir.path().join("build-b"),
        };
        std::fs::create_dir_all(place.output().join("d")).unwrap();
        for f in ["a", "b", "c", "d"] {
            std::fs::write(place.output().join("d").join(f), f).unwrap();
        }
        let script = r#"echo "tz=$TZ lang=$LANG home=$HOME"; hostname; umask; nproc; uname -r;
            cat /proc/self/personality; echo "path=$PATH"; echo "ft=$ISOFORGE_VERIFY_FAKETIME";
            ls -f "$1/d" | grep -v '^\.' | tr '\n' ' '; echo"#;
        let run = |set: &Set| {
            let mut cmd = isoforge_exec::process::foreground("sh");
            cmd.args(["-c", script, "sh"]).arg(place.output());
            let applied = apply(set, &place, &mut cmd).unwrap();
            let out = isoforge_exec::capture(cmd).unwrap();
            applied.finish().unwrap();
            String::from_utf8(out).unwrap()
        };
        let all: Set = Name::ALL.into_iter().collect();
        let varied = run(&all);
        let plain = run(&Set::new());
        let v: Vec<&str> = varied.lines().collect();
        let p: Vec<&str> = plain.lines().collect();
        assert!(
            v[0].starts_with("tz=Pacific/Chatham lang=fr_FR.UTF-8 home="),
            "{varied}"
        );
        assert_eq!(v[1], "isoforge-verify-b");
        assert_eq!(v[2], "0002");
        assert_eq!(v[3], "1");
        assert_eq!(v[4], p[4], "{varied}");
        assert_eq!(u32::from_str_radix(v[5], 16).unwrap(), ADDR_NO_RANDOMIZE);
        assert!(v[6].starts_with(&format!("path={EXTRA_PATH}:")), "{varied}");
        assert_eq!(v[7], format!("ft={CLOCK_OFFSET}"));
        assert!(
            place
                .output()
                .join(isoforge_build::varied::FAKETIME_LIB)
                .is_file()
        );
        // disorderfs reverses what the directory gives without it.
        let mut reversed: Vec<&str> = p[8].split_whitespace().collect();
        reversed.reverse();
        assert_eq!(v[8].split_whitespace().collect::<Vec<_>>(), reversed);
        assert_ne!(p[1], "isoforge-verify-b");
        assert_eq!(p[7], "ft=");
        // Unmounted again, no daemon left, nothing left beside it.
        assert!(!place.dir.join(".output-real").exists());
        let real = place.dir.join(".output-real").display().to_string();
        for p in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&cmdline).contains(&real),
                "disorderfs still runs: {}",
                p.path().display()
            );
        }
        assert!(
            !std::fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .contains(&place.dir.display().to_string())
        );
    }
}
