//! Runs the profile's hooks ([`isoforge_inputs::hooks`]): chroot hooks inside the image,
//! binary hooks in the ISO staging tree, one at a time in lexical order.
//!
//! Each hook runs under `unshare --net --mount --pid --fork --kill-child`:
//!
//! - **no network**: its own network namespace, with only a loopback that is down;
//! - **its own mounts**: a fresh tmpfs on `/tmp` (a clean `/tmp`, gone afterwards) and on
//!   `/run`, where the hook itself is copied (`/run/isoforge/NAME`); for a chroot hook also a
//!   `/proc` of its own PID namespace and a small `/dev` (null, zero, full, random, urandom,
//!   tty, and the `fd`/`stdin`/`stdout`/`stderr` links). The mount namespace is private: no
//!   mount is ever seen outside it, and it ends with the hook;
//! - **its own PID namespace**: when the hook exits, whatever it left running is killed;
//! - **the build's environment**: `PATH`, `LC_ALL=C.UTF-8`, `LANG`, `TZ=UTC`,
//!   `SOURCE_DATE_EPOCH`, `HOME=/root`, `TMPDIR=/tmp`, umask 022, stdin from `/dev/null`.
//!
//! A chroot hook runs with `/` of the image as its root and working directory; a binary hook
//! runs on the build host with the ISO tree as its working directory.
//!
//! The image's `/tmp`, `/run`, `/dev` and `/proc` must be real directories: they are checked
//! (without following a symlink) before each hook, so a hook or a package that replaced one
//! with a link cannot lead a mount onto the build host.
//!
//! What each hook wrote is found by comparing the tree's metadata (inode, mode, owner, size,
//! modification and change times) before and after it: see [`Ran::wrote`]. Output goes to
//! `logs/hooks/NAME.log`.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use isoforge_exec::{Runner, Stage, ToolEnv};
use isoforge_inputs::hooks::{Hook, Kind};

use crate::{Error, io_err};

/// What one hook did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// `hooks/NAME`.
    pub hook: String,
    /// The paths it created or changed, absolute in the tree (`/etc/x`), sorted. A directory
    /// counts when it was created or its mode or owner changed, not when only its entries did.
    pub wrote: Vec<String>,
}

/// The log directory of hooks, under the build's logs.
pub const LOG_DIR: &str = "hooks";

/// The fixed script that prepares a chroot hook's mounts and runs it. `$1` the image, `$2`
/// the hook's copy on the host, `$3` its name.
const CHROOT_SCRIPT: &str = r#"set -eu
root=$1 hook=$2 name=$3
fail() { echo "isoforge: cannot prepare the hook's chroot: $*" >&2; exit 125; }
umask 022
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp" || fail "tmpfs on /tmp"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run" || fail "tmpfs on /run"
mount -t tmpfs -o mode=0755,nosuid,size=1m tmpfs "$root/dev" || fail "tmpfs on /dev"
for d in null zero full random urandom tty; do
  [ -e "/dev/$d" ] || continue
  : > "$root/dev/$d"
  mount --bind "/dev/$d" "$root/dev/$d" || fail "/dev/$d"
done
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mkdir "$root/dev/pts" "$root/dev/shm"
mkdir "$root/run/isoforge"
cp "$hook" "$root/run/isoforge/$name" || fail "copy the hook"
chmod 0755 "$root/run/isoforge/$name"
cd /
exec chroot "$root" "/run/isoforge/$name"
"#;

/// The fixed script around a binary hook. `$1` the ISO tree, `$2` the hook's copy, `$3` its
/// name. The working directory is entered before `/tmp` is replaced (the tree may lie
/// under it).
const BINARY_SCRIPT: &str = r#"set -eu
tree=$1 hook=$2 name=$3
fail() { echo "isoforge: cannot prepare the hook's mounts: $*" >&2; exit 125; }
umask 022
cd "$tree"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run || fail "tmpfs on /run"
mkdir /run/isoforge
cp "$hook" "/run/isoforge/$name" || fail "copy the hook"
chmod 0755 "/run/isoforge/$name"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp || fail "tmpfs on /tmp"
exec "/run/isoforge/$name"
"#;

/// Runs the chroot hooks of `hooks` inside `rootfs`, in order. `scratch` is a directory of
/// the build's work tree for the hooks' copies.
pub fn run_chroot(
    runner: &Runner,
    stage: &Stage,
    hooks: &[Hook],
    rootfs: &Path,
    scratch: &Path,
    epoch: i64,
) -> Result<Vec<Ran>, Error> {
    run(runner, stage, hooks, Kind::Chroot, rootfs, scratch, epoch)
}

/// Runs the binary hooks of `hooks` in the ISO staging tree `staging`, in order.
pub fn run_binary(
    runner: &Runner,
    stage: &Stage,
    hooks: &[Hook],
    staging: &Path,
    scratch: &Path,
    epoch: i64,
) -> Result<Vec<Ran>, Error> {
    run(runner, stage, hooks, Kind::Binary, staging, scratch, epoch)
}

fn run(
    runner: &Runner,
    stage: &Stage,
    hooks: &[Hook],
    kind: Kind,
    tree: &Path,
    scratch: &Path,
    epoch: i64,
) -> Result<Vec<Ran>, Error> {
    let mut out = Vec::new();
    let hooks: Vec<&Hook> = hooks.iter().filter(|h| h.kind == kind).collect();
    if hooks.is_empty() {
        return Ok(out);
    }
    let logs = runner.log_dir().join(LOG_DIR);
    std::fs::create_dir_all(&logs).map_err(io_err(format!("cannot create {}", logs.display())))?;
    std::fs::create_dir_all(scratch)
        .map_err(io_err(format!("cannot create {}", scratch.display())))?;
    let env = ToolEnv::new(epoch, Path::new("/root"), Path::new("/tmp"));
    for hook in hooks {
        stage.message(&format!("{} …", hook.label()));
        let copy = scratch.join(&hook.name);
        isoforge_fs::write_atomic(&copy, &hook.bytes)?;
        if kind == Kind::Chroot {
            check_mount_points(tree)?;
        }
        let before = snapshot(tree)?;
        let mut cmd = isoforge_exec::process::command("unshare", &env);
        cmd.args(["--net", "--mount", "--pid", "--fork", "--kill-child"]);
        let script = match kind {
            Kind::Chroot => {
                cmd.arg(format!("--mount-proc={}", tree.join("proc").display()));
                CHROOT_SCRIPT
            }
            Kind::Binary => {
                cmd.arg("--mount-proc");
                BINARY_SCRIPT
            }
        };
        cmd.args(["sh", "-c", script, "sh"])
            .arg(tree)
            .arg(&copy)
            .arg(&hook.name);
        let log = format!("{LOG_DIR}/{}", hook.name);
        let res = runner.run(stage, &log, cmd);
        // The mounts lived in the hook's own namespace; none may remain in ours.
        let left = isoforge_fs::mounts_under(tree)?;
        if !left.is_empty() {
            isoforge_fs::unmount_under(tree)?;
            return Err(Error::Invalid(format!(
                "{}: left {} mount(s) behind under {} (unmounted); hooks must not mount \
                 outside their namespace",
                hook.label(),
                left.len(),
                tree.display()
            )));
        }
        match res {
            Ok(()) => {}
            Err(isoforge_exec::Error::Failed {
                status, last_line, ..
            }) => {
                let log_path = format!("logs/{log}.log");
                let text = std::fs::read_to_string(runner.log_dir().join(format!("{log}.log")))
                    .unwrap_or_default();
                return Err(Error::Invalid(failure(
                    hook.label(),
                    &status,
                    &last_line,
                    &log_path,
                    &text,
                )));
            }
            Err(e) => return Err(e.into()),
        }
        let after = snapshot(tree)?;
        out.push(Ran {
            hook: hook.label().to_string(),
            wrote: changes(&before, &after),
        });
    }
    Ok(out)
}

/// What the log says when something tried the network (resolver and connect errors of
/// libc, curl, wget, apt, Python).
const OFFLINE_SIGNS: &[&str] = &[
    "network is unreachable",
    "temporary failure in name resolution",
    "temporary failure resolving",
    "cannot initiate the connection",
    "could not resolve",
    "name or service not known",
    "no address associated with hostname",
    "failed to establish a new connection",
    "unable to resolve host",
    "couldn't connect to server",
    "unable to connect to",
    "failed to fetch http",
];

/// The one line for a failed hook: its name, its exit status, the telling line, the log, and
/// why when the log shows it tried the network.
fn failure(label: &str, status: &str, last_line: &str, log: &str, text: &str) -> String {
    let lower = text.to_lowercase();
    let offline = OFFLINE_SIGNS.iter().find(|s| lower.contains(*s));
    match offline {
        Some(sign) => format!(
            "hook {label} {status}: it tried the network ({sign:?} in its log {log}); hooks run \
             offline, in a network namespace of their own: ship what it downloads as a package \
             (package-lists/) or a file (includes.chroot/)"
        ),
        None => format!(
            "hook {label} {status}: {last_line} (full log: {log}; hooks run offline, with a \
             clean /tmp)"
        ),
    }
}

/// Refuses an image whose `/tmp`, `/run`, `/dev` or `/proc` is not a real directory (a
/// symlink there would lead the hook's mounts out of the image).
fn check_mount_points(rootfs: &Path) -> Result<(), Error> {
    let image = isoforge_fs::Dir::open(rootfs)?;
    for d in ["tmp", "run", "dev", "proc"] {
        match image.kind(d)? {
            Some(isoforge_fs::Kind::Dir) => {}
            None => image.create_dir(d, 0o755)?,
            Some(kind) => {
                return Err(Error::Invalid(format!(
                    "the image's /{d} is a {kind}, not a directory; refusing to mount over it \
                     for the hooks (a package or an earlier hook replaced it)"
                )));
            }
        }
    }
    Ok(())
}

/// The metadata that changes when a file is written: inode, mode, owner, size, and the
/// modification and change times (the change time cannot be set back by the writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    dir: bool,
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// Entries that always change under a running system and say nothing about the hook.
const SKIP: &[&str] = &["proc", "dev", "tmp", "run"];

type Snapshot = BTreeMap<PathBuf, Stat>;

/// Every entry of `tree` (not following symlinks, not crossing into another file system),
/// except what [`SKIP`] names at the top.
fn snapshot(tree: &Path) -> Result<Snapshot, Error> {
    let mut out = BTreeMap::new();
    let walk = walkdir::WalkDir::new(tree)
        .follow_links(false)
        .same_file_system(true)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| {
            !(e.depth() == 1 && e.file_name().to_str().is_some_and(|n| SKIP.contains(&n)))
        });
    for e in walk {
        let e = e.map_err(|e| Error::Invalid(format!("cannot read {}: {e}", tree.display())))?;
        let m = e
            .metadata()
            .map_err(|err| Error::Invalid(format!("cannot stat {}: {err}", e.path().display())))?;
        let rel = e
            .path()
            .strip_prefix(tree)
            .unwrap_or(e.path())
            .to_path_buf();
        out.insert(
            rel,
            Stat {
                dir: m.is_dir(),
                ino: m.ino(),
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                size: m.size(),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
            },
        );
    }
    Ok(out)
}

/// Paths created or changed between two snapshots, absolute (`/etc/x`), sorted.
fn changes(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    after
        .iter()
        .filter(|(p, s)| match before.get(*p) {
            None => true,
            Some(b) if s.dir && b.dir => {
                (b.ino, b.mode, b.uid, b.gid) != (s.ino, s.mode, s.uid, s.gid)
            }
            Some(b) => b != *s,
        })
        .map(|(p, _)| format!("/{}", p.display()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_created_and_written_files_not_parent_dirs() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("etc/app")).unwrap();
        std::fs::write(r.join("etc/app/keep"), "1").unwrap();
        std::fs::write(r.join("etc/app/edit"), "1").unwrap();
        std::fs::create_dir_all(r.join("tmp")).unwrap();
        let before = snapshot(r).unwrap();
        // The change time moves on with the clock: make sure it does.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(r.join("etc/app/edit"), "2").unwrap();
        std::fs::write(r.join("etc/app/new"), "n").unwrap();
        std::fs::write(r.join("tmp/ignored"), "t").unwrap();
        std::fs::create_dir(r.join("srv")).unwrap();
        let after = snapshot(r).unwrap();
        assert_eq!(
            changes(&before, &after),
            ["/etc/app/edit", "/etc/app/new", "/srv"]
        );
    }

    #[test]
    fn a_failure_names_the_hook_status_and_log_and_says_offline() {
        let m = failure(
            "hooks/20-net.hook.chroot",
            "exited with status 4",
            "wget: unable to resolve host address 'deb.debian.org'",
            "logs/hooks/20-net.hook.chroot.log",
            "$ unshare …\nwget: unable to resolve host address 'deb.debian.org'\n",
        );
        assert!(
            m.starts_with(
                "hook hooks/20-net.hook.chroot exited with status 4: it tried the network"
            ),
            "{m}"
        );
        assert!(m.contains("hooks run offline"), "{m}");
        let m = failure(
            "hooks/a",
            "exited with status 3",
            "boom",
            "logs/hooks/a.log",
            "boom\n",
        );
        assert_eq!(
            m,
            "hook hooks/a exited with status 3: boom (full log: logs/hooks/a.log; hooks run \
             offline, with a clean /tmp)"
        );
    }
}
