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
use std::process::Command;

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

/// `docker import` / `podman import` of the verified tarball.
pub fn engine_import(engine: Runtime, tarball: &Path, image: &ImageRef) -> Vec<OsString> {
    vec![
        engine.name().into(),
        "import".into(),
        "--change".into(),
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        tarball.into(),
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

/// Checks the builder tarball against the pinned digest; refuses on a mismatch.
pub fn verify_tarball(tarball: &Path, image: &ImageRef) -> Result<(), Error> {
    if !tarball.is_file() {
        return Err(Error::Invalid(format!(
            "the builder {} is not in the cache ({}); run `isoforge builder build` (it prints the digest to pin)",
            image,
            tarball.display()
        )));
    }
    let actual = isoforge_checksums::sha256_file(tarball)
        .map_err(io_err(format!("cannot hash {}", tarball.display())))?
        .hex();
    if actual != image.digest {
        return Err(Error::Invalid(format!(
            "{} has sha256 {actual}, but BUILDER_IMAGE pins {}; refusing to use it: run `isoforge builder build` again",
            tarball.display(),
            image.digest
        )));
    }
    Ok(())
}

/// Extracts `tarball` into `dest` (which must not exist).
pub fn extract(tarball: &Path, dest: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dest).map_err(io_err(format!("cannot create {}", dest.display())))?;
    let out = Command::new("tar")
        .args([
            "--extract",
            "--numeric-owner",
            "--same-permissions",
            "--file",
        ])
        .arg(tarball)
        .arg("--directory")
        .arg(dest)
        .output()
        .map_err(io_err("cannot run tar"))?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "cannot extract {}: {}",
            tarball.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The host side of `--runtime chroot`: re-runs isoforge under `unshare` in new mount, PID,
/// UTS and IPC namespaces, as [`enter`] with `root` and `m`. Returns the exit code.
pub fn run_chroot(root: &Path, m: &Mounts, digest: &str, extra: &[OsString]) -> Result<i32, Error> {
    let mut cmd = Command::new("unshare");
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
        mount(Some(src), &target, None, libc::MS_BIND | libc::MS_REC)?;
        if ro {
            mount(
                None,
                &target,
                None,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC,
            )?;
        }
        Ok(())
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
    let e = Command::new(prog)
        .args(args)
        .env_clear()
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
                strs(engine_import(
                    engine,
                    Path::new("/c/builders/x.tar"),
                    &image
                )),
                vec![
                    engine.name().to_string(),
                    "import".into(),
                    "--change".into(),
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                    "/c/builders/x.tar".into(),
                    format!("registry:5000/sm-builder:sha256-{D}"),
                ]
            );
        }
    }

    #[test]
    fn a_tarball_that_does_not_match_the_pin_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("b.tar");
        std::fs::write(&t, "not the builder").unwrap();
        let image = ImageRef::parse(&format!("b@sha256:{D}")).unwrap();
        let e = verify_tarball(&t, &image).unwrap_err().to_string();
        assert!(e.contains("but BUILDER_IMAGE pins"), "{e}");
        let e = verify_tarball(&dir.path().join("none.tar"), &image)
            .unwrap_err()
            .to_string();
        assert!(e.contains("run `isoforge builder build`"), "{e}");
        assert_eq!(
            Runtime::parse("lxc").unwrap_err(),
            "\"lxc\" is not a runtime; expected host, chroot, docker or podman"
        );
    }
}
