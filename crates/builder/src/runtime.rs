//! Runtimes: where `isoforge build` runs.
//!
//! `chroot`: the builder tarball, verified against `BUILDER_IMAGE`'s digest, is extracted
//! fresh; isoforge re-runs itself through `unshare --mount --pid --uts --ipc --fork`, mounts
//! `/proc`, `/dev`, `/sys`, the source (read-only), the output, the cache and its own binary
//! into the tree, `chroot`s, and runs `isoforge build` there with the builder's tools.
//! Packages are fetched on the host first, so the build inside needs no network.
//!
//! `docker` / `podman`: the same tarball imported as an image named by its digest, run with
//! the fewest mounts (source read-only, output, cache read-only, the binary read-only) and
//! `--network none`; `--privileged` because mmdebstrap's root mode mounts `/proc` and
//! `/dev` inside its target.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use isoforge_inputs::ImageRef;

use crate::{Error, io_err};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Host,
    Chroot,
    Docker,
    Podman,
}

impl Runtime {
    pub fn parse(v: &str) -> Result<Self, String> {
        match v {
            "host" => Ok(Self::Host),
            "chroot" => Ok(Self::Chroot),
            "docker" => Ok(Self::Docker),
            "podman" => Ok(Self::Podman),
            _ => Err(format!(
                "{v:?} is not a runtime; expected host, chroot, docker or podman"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Chroot => "chroot",
            Self::Docker => "docker",
            Self::Podman => "podman",
        }
    }
}

/// Paths of one build run in the builder.
#[derive(Debug, Clone)]
pub struct Mounts {
    /// The repository's top level (mounted read-only at `/src`).
    pub source: PathBuf,
    /// The configuration directory relative to `source`.
    pub config_rel: PathBuf,
    /// Mounted at `/output`.
    pub output: PathBuf,
    /// The package cache, mounted at `/cache`.
    pub cache: PathBuf,
    /// This isoforge binary, mounted at `/usr/local/bin/isoforge`.
    pub binary: PathBuf,
}

/// The `isoforge build` command line run inside the builder.
pub fn inner_args(m: &Mounts, runtime: Runtime, digest: &str, extra: &[OsString]) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![
        "/usr/local/bin/isoforge".into(),
        "build".into(),
        "--config".into(),
        Path::new("/src").join(&m.config_rel).into(),
        "--output".into(),
        "/output".into(),
        "--cache-dir".into(),
        "/cache".into(),
        "--inside-builder".into(),
        format!("{}:{digest}", runtime.name()).into(),
    ];
    v.extend(extra.iter().cloned());
    v
}

/// The image name an engine knows the builder by: the digest is the tag, so the tarball
/// verified against `BUILDER_IMAGE` is what runs (the engine's own image id differs, as
/// `import` adds its own config).
pub fn engine_image(image: &ImageRef) -> String {
    format!("{}:sha256-{}", image.name, image.digest)
}

/// `docker import` / `podman import` of the verified tarball, read from stdin: the engine is
/// given the descriptor that was hashed ([`crate::unpack::Verified::reader`]), not a path.
pub fn engine_import(engine: Runtime, image: &ImageRef) -> Vec<OsString> {
    vec![
        engine.name().into(),
        "import".into(),
        "--change".into(),
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        "-".into(),
        engine_image(image).into(),
    ]
}

/// `docker run` / `podman run` of the build.
pub fn engine_run(
    engine: Runtime,
    image: &ImageRef,
    m: &Mounts,
    extra: &[OsString],
) -> Vec<OsString> {
    let vol = |host: &Path, inside: &str, ro: bool| -> OsString {
        let mut s = OsString::from(host);
        s.push(format!(":{inside}{}", if ro { ":ro" } else { "" }));
        s
    };
    let mut v: Vec<OsString> = vec![
        engine.name().into(),
        "run".into(),
        "--rm".into(),
        // mmdebstrap --mode=root mounts /proc, /sys and /dev in its target.
        "--privileged".into(),
        // Packages were fetched before; the build itself needs no network.
        "--network".into(),
        "none".into(),
        "-v".into(),
        vol(&m.source, "/src", true),
        "-v".into(),
        vol(&m.output, "/output", false),
        "-v".into(),
        vol(&m.cache, "/cache", true),
        "-v".into(),
        vol(&m.binary, "/usr/local/bin/isoforge", true),
        "-w".into(),
        "/src".into(),
        engine_image(image).into(),
    ];
    v.extend(inner_args(m, engine, &image.digest, extra));
    v
}

/// The host side of `--runtime chroot`: re-runs isoforge under `unshare` in new mount, PID,
/// UTS and IPC namespaces, as [`enter`] with `root` and `m`. Returns the exit code.
pub fn run_chroot(root: &Path, m: &Mounts, digest: &str, extra: &[OsString]) -> Result<i32, Error> {
    // isoforge running itself for the caller: its terminal's Ctrl-C reaches the build.
    let mut cmd = isoforge_exec::process::foreground("unshare");
    cmd.args([
        "--mount",
        "--pid",
        "--uts",
        "--ipc",
        "--fork",
        "--kill-child",
        "--propagation",
        "private",
    ])
    .arg(&m.binary)
    .arg("builder")
    .arg("enter")
    .arg(root)
    .arg(&m.source)
    .arg(&m.output)
    .arg(&m.cache)
    .arg("--")
    .args(inner_args(m, Runtime::Chroot, digest, extra));
    let st = cmd
        .status()
        .map_err(io_err("cannot run unshare (util-linux)"))?;
    Ok(st.code().unwrap_or(2))
}

fn cstr(p: &Path) -> Result<CString, Error> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid(format!("{} contains a NUL byte", p.display())))
}

fn mount(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
) -> Result<(), Error> {
    let s = src.map(cstr).transpose()?;
    let t = cstr(target)?;
    let f = fstype
        .map(|f| CString::new(f).unwrap_or_default())
        .unwrap_or_default();
    // SAFETY: valid NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::mount(
            s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            t.as_ptr(),
            if fstype.is_some() {
                f.as_ptr()
            } else {
                std::ptr::null()
            },
            flags,
            std::ptr::null(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io_err(format!("cannot mount on {}", target.display()))(
            std::io::Error::last_os_error(),
        ))
    }
}

/// Bind-mounts `src` and every mount below it on `target`; `read_only` makes all of them
/// read-only (a remount with `MS_RDONLY` would change the top one only: `/sys/fs/cgroup` and
/// the others below `/sys` would stay writable).
fn bind_mount(src: &Path, target: &Path, read_only: bool) -> Result<(), Error> {
    mount(Some(src), target, None, libc::MS_BIND | libc::MS_REC)?;
    if read_only {
        read_only_recursive(target)?;
    }
    Ok(())
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// Makes the mount at `target` and every mount below it read-only.
fn read_only_recursive(target: &Path) -> Result<(), Error> {
    let t = cstr(target)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a valid path string and a mount_attr of the size passed, both outliving the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            t.as_ptr(),
            (libc::AT_RECURSIVE | libc::AT_SYMLINK_NOFOLLOW) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::ENOSYS) {
        return Err(io_err(format!(
            "cannot make {} read-only",
            target.display()
        ))(e));
    }
    // Before Linux 5.12: each mount on its own, deepest first.
    let mounts = isoforge_fs::mounts_under(target)?;
    for m in mounts.iter().rev() {
        mount(
            None,
            m,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
        )?;
    }
    Ok(())
}

/// Inside the namespaces (PID 1 of the new PID namespace): mounts what the build needs into
/// `root`, chroots, and execs `argv`. Returns only on error.
pub fn enter(
    root: &Path,
    source: &Path,
    output: &Path,
    cache: &Path,
    argv: &[OsString],
) -> Result<std::convert::Infallible, Error> {
    let binary = std::env::current_exe().map_err(io_err("cannot find the isoforge binary"))?;
    let bind = |src: &Path, rel: &str, ro: bool| -> Result<(), Error> {
        let target = root.join(rel);
        if src.is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(io_err(format!("cannot create {}", target.display())))?;
        }
        bind_mount(src, &target, ro)
    };
    // The root must be a mount point: the build inside makes `/` private (EINVAL otherwise).
    mount(Some(root), root, None, libc::MS_BIND | libc::MS_REC)?;
    std::fs::create_dir_all(root.join("proc")).map_err(io_err("cannot create /proc"))?;
    mount(
        Some(Path::new("proc")),
        &root.join("proc"),
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
    )?;
    bind(Path::new("/dev"), "dev", false)?;
    bind(Path::new("/sys"), "sys", true)?;
    bind(source, "src", true)?;
    bind(output, "output", false)?;
    bind(cache, "cache", false)?;
    bind(&binary, "usr/local/bin/isoforge", true)?;
    nix::unistd::chroot(root).map_err(|e| io_err("cannot chroot")(e.into()))?;
    std::env::set_current_dir("/src").map_err(io_err("cannot enter /src"))?;
    let Some((prog, args)) = argv.split_first() else {
        return Err(Error::Invalid("nothing to run inside the builder".into()));
    };
    use std::os::unix::process::CommandExt;
    let e = isoforge_exec::process::for_exec(prog)
        .args(args)
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root")
        .env("LC_ALL", "C.UTF-8")
        .exec();
    Err(io_err("cannot run isoforge inside the builder")(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn mounts() -> Mounts {
        Mounts {
            source: "/work/sm".into(),
            config_rel: "config".into(),
            output: "/work/sm/output".into(),
            cache: "/root/.cache/isoforge".into(),
            binary: "/work/sm/target/release/isoforge".into(),
        }
    }

    fn strs(v: Vec<OsString>) -> Vec<String> {
        v.into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn docker_and_podman_command_lines() {
        let image = ImageRef::parse(&format!("registry:5000/sm-builder@sha256:{D}")).unwrap();
        let want_run = |engine: &str| {
            vec![
                engine.to_string(),
                "run".into(),
                "--rm".into(),
                "--privileged".into(),
                "--network".into(),
                "none".into(),
                "-v".into(),
                "/work/sm:/src:ro".into(),
                "-v".into(),
                "/work/sm/output:/output".into(),
                "-v".into(),
                "/root/.cache/isoforge:/cache:ro".into(),
                "-v".into(),
                "/work/sm/target/release/isoforge:/usr/local/bin/isoforge:ro".into(),
                "-w".into(),
                "/src".into(),
                format!("registry:5000/sm-builder:sha256-{D}"),
                "/usr/local/bin/isoforge".into(),
                "build".into(),
                "--config".into(),
                "/src/config".into(),
                "--output".into(),
                "/output".into(),
                "--cache-dir".into(),
                "/cache".into(),
                "--inside-builder".into(),
                format!("{engine}:{D}"),
                "--force".into(),
            ]
        };
        for engine in [Runtime::Docker, Runtime::Podman] {
            assert_eq!(
                strs(engine_run(engine, &image, &mounts(), &["--force".into()])),
                want_run(engine.name())
            );
            assert_eq!(
                strs(engine_import(engine, &image)),
                vec![
                    engine.name().to_string(),
                    "import".into(),
                    "--change".into(),
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                    "-".into(),
                    format!("registry:5000/sm-builder:sha256-{D}"),
                ]
            );
        }
    }

    /// A read-only bind of a tree is read-only in its submounts too (`/sys/fs/cgroup` below
    /// `/sys` in the chroot runtime).
    #[test]
    fn read_only_bind_covers_submounts() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test needs root (mounts); run the test suite as root"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let res = std::thread::spawn(move || -> Result<(), String> {
            // This thread's own mount namespace: nothing here is seen outside it.
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| e.to_string())?;
            mount(None, Path::new("/"), None, libc::MS_REC | libc::MS_PRIVATE)
                .map_err(|e| e.to_string())?;
            let src = d.join("src");
            let target = d.join("target");
            std::fs::create_dir_all(src.join("sub")).unwrap();
            std::fs::create_dir_all(&target).unwrap();
            mount(Some(Path::new("tmpfs")), &src.join("sub"), Some("tmpfs"), 0)
                .map_err(|e| e.to_string())?;
            bind_mount(&src, &target, true).map_err(|e| e.to_string())?;
            let top = std::fs::write(target.join("f"), "x");
            let sub = std::fs::write(target.join("sub/f"), "x");
            // The source stays writable: only the bind is read-only.
            std::fs::write(src.join("sub/f"), "x").map_err(|e| e.to_string())?;
            for (what, r) in [("top", top), ("submount", sub)] {
                match r {
                    Err(e) if e.raw_os_error() == Some(libc::EROFS) => {}
                    other => return Err(format!("{what}: {other:?}, expected EROFS")),
                }
            }
            Ok(())
        })
        .join()
        .unwrap();
        res.unwrap();
    }

    #[test]
    fn runtime_names() {
        assert_eq!(
            Runtime::parse("lxc").unwrap_err(),
            "\"lxc\" is not a runtime; expected host, chroot, docker or podman"
        );
    }
}
