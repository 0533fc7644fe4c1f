//! Cleanup of the known sources of non-determinism in a freshly installed Debian system: applies
//! the entries of the offenders table (crate `isoforge-offenders`: the built-in entries plus a
//! profile's `config/offenders.conf`) that have an action, and gives apt's directories a fixed
//! owner ([`OWNERS`]).

use std::fs;
use std::path::Path;

use isoforge_offenders::{Kind, Table};

use crate::{Error, io_err};

/// What cleanup did to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Deleted a file or symlink.
    RemoveFile,
    /// Deleted a directory with its contents (or a file).
    RemoveTree,
    /// Emptied a regular file, keeping owner and mode.
    Truncate,
    /// Gave a directory the owner and mode of an [`OWNERS`] entry.
    Own,
}

impl From<isoforge_offenders::Action> for Action {
    fn from(a: isoforge_offenders::Action) -> Self {
        match a {
            isoforge_offenders::Action::RemoveFile => Self::RemoveFile,
            isoforge_offenders::Action::RemoveTree => Self::RemoveTree,
            isoforge_offenders::Action::Truncate => Self::Truncate,
        }
    }
}

/// A directory whose owner depends on the build host, and the owner it gets instead.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    pub path: &'static str,
    /// A user of the image's `/etc/passwd` (root when the image has no such user).
    pub user: &'static str,
    pub mode: u32,
    pub why: &'static str,
}

pub const OWNERS: &[Owner] = &[
    Owner {
        path: "var/cache/apt/archives/partial",
        user: "_apt",
        mode: 0o700,
        why: "apt gives it to its sandbox user _apt only when _apt can reach the build \
              directory (not under a 0700 parent such as a mktemp -d): owned as apt would",
    },
    Owner {
        path: "var/lib/apt/lists/partial",
        user: "_apt",
        mode: 0o700,
        why: "apt gives it to its sandbox user _apt only when _apt can reach the build \
              directory (not under a 0700 parent such as a mktemp -d): owned as apt would",
    },
];

/// What cleanup did: one `(action, path, why)` per entry touched.
#[derive(Debug, Default)]
pub struct Report {
    pub actions: Vec<(Action, String, String)>,
}

impl Report {
    /// One line per action, for the build's cleanup log.
    pub fn render(&self) -> String {
        self.actions
            .iter()
            .map(|(a, p, why)| {
                let verb = match a {
                    Action::Truncate => "emptied",
                    Action::Own => "owned",
                    Action::RemoveFile | Action::RemoveTree => "removed",
                };
                format!("{verb} /{p}: {why}\n")
            })
            .collect()
    }
}

/// Applies the built-in offenders table to `root` (see [`run_with`]).
pub fn run(root: &Path) -> Result<Report, Error> {
    run_with(root, &Table::builtin())
}

/// Applies `table`'s entries with an action to `root`, then [`OWNERS`]. Never follows symlinks
/// or leaves the file system.
pub fn run_with(root: &Path, table: &Table) -> Result<Report, Error> {
    let mut todo: Vec<(Action, String, String, bool)> = Vec::new();
    let mut walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .same_file_system(true)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry =
            entry.map_err(|e| io_err(format!("cannot walk {}", root.display()))(e.into()))?;
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let Some(rel) = rel.to_str() else { continue };
        let ft = entry.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else {
            Kind::Other
        };
        let Some(rule) = table.cleanup(rel, kind) else {
            continue;
        };
        let Some(action) = rule.action else { continue };
        if ft.is_dir() {
            walk.skip_current_dir();
        }
        todo.push((
            action.into(),
            rel.to_string(),
            rule.cause.clone(),
            ft.is_dir(),
        ));
    }

    let mut report = Report::default();
    for (action, rel, why, is_dir) in todo {
        let path = root.join(&rel);
        match action {
            Action::Truncate => {
                let meta = fs::symlink_metadata(&path)
                    .map_err(io_err(format!("cannot stat {}", path.display())))?;
                if meta.len() == 0 && rel != "etc/machine-id" {
                    continue;
                }
                fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .custom_flags_nofollow()
                    .open(&path)
                    .map_err(io_err(format!("cannot empty {}", path.display())))?;
            }
            Action::RemoveFile => fs::remove_file(&path)
                .map_err(io_err(format!("cannot remove {}", path.display())))?,
            Action::RemoveTree if is_dir => {
                isoforge_fs::Dir::open_image(root)?.remove_tree(&rel)?
            }
            Action::RemoveTree => fs::remove_file(&path)
                .map_err(io_err(format!("cannot remove {}", path.display())))?,
            Action::Own => continue,
        }
        report.actions.push((action, rel, why));
    }
    let passwd = read_passwd(root)?;
    for owner in OWNERS {
        if own(root, owner, &passwd)? {
            report
                .actions
                .push((Action::Own, owner.path.to_string(), owner.why.to_string()));
        }
    }
    Ok(report)
}

/// Applies one [`Owner`] entry, if its directory exists. Every component resolves inside the
/// image (an absolute symlink means the image's own path); a symlink as the last one is left
/// alone.
fn own(root: &Path, owner: &Owner, passwd: &str) -> Result<bool, Error> {
    let uid = user_id(passwd, owner.user).unwrap_or(0);
    Ok(isoforge_fs::Dir::open_image(root)?.own_dir(owner.path, uid, 0, owner.mode)?)
}

/// The image's `/etc/passwd` (empty when it has none).
fn read_passwd(root: &Path) -> Result<String, Error> {
    let passwd = root.join("etc/passwd");
    match fs::read_to_string(&passwd) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(io_err(format!("cannot read {}", passwd.display()))(e)),
    }
}

/// `user`'s uid in `passwd`.
fn user_id(passwd: &str, user: &str) -> Option<u32> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(user))
            .then(|| f.nth(1).and_then(|uid| uid.parse().ok()))
            .flatten()
    })
}

trait NoFollow {
    fn custom_flags_nofollow(&mut self) -> &mut Self;
}

impl NoFollow for fs::OpenOptions {
    fn custom_flags_nofollow(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(nix::libc::O_NOFOLLOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    #[test]
    fn cleans_known_offenders_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        touch(r, "etc/machine-id", "0123456789abcdef\n");
        touch(r, "var/cache/ldconfig/aux-cache", "x");
        touch(r, "etc/ssh/ssh_host_ed25519_key", "k");
        touch(r, "etc/ssh/sshd_config", "keep");
        touch(
            r,
            "usr/lib/python3/dist-packages/m/__pycache__/m.cpython-311.pyc",
            "b",
        );
        touch(r, "usr/lib/python3/dist-packages/m/old.pyc", "b");
        touch(r, "var/log/dpkg.log", "2026-01-01 install");
        touch(r, "var/log/apt/term.log", "Log started");
        touch(r, "etc/nvme/hostid", "uuid");
        touch(
            r,
            "var/lib/dkms/zfs/2.1/6.1.0-amd64/x86_64/log/make.log",
            "built at 12:00",
        );
        touch(
            r,
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
            "x",
        );
        touch(r, "var/lib/apt/lists/lock", "");
        touch(r, "etc/resolv.conf", "nameserver 10.0.0.1");
        touch(r, "tmp/leftover/file", "x");
        // A link whose target must not be touched even though its name matches.
        let outside = tempfile::tempdir().unwrap();
        touch(outside.path(), "precious.log", "keep me");
        std::os::unix::fs::symlink(
            outside.path().join("precious.log"),
            r.join("var/log/link.log"),
        )
        .unwrap();

        let report = run(r).unwrap();
        assert_eq!(fs::read(r.join("etc/machine-id")).unwrap(), b"");
        for gone in [
            "var/cache/ldconfig/aux-cache",
            "etc/ssh/ssh_host_ed25519_key",
            "usr/lib/python3/dist-packages/m/__pycache__",
            "usr/lib/python3/dist-packages/m/old.pyc",
            "etc/nvme/hostid",
            "var/lib/dkms/zfs/2.1/6.1.0-amd64/x86_64/log/make.log",
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
            "etc/resolv.conf",
            "tmp/leftover",
        ] {
            assert!(
                fs::symlink_metadata(r.join(gone)).is_err(),
                "{gone} should be gone"
            );
        }
        assert_eq!(fs::read(r.join("var/log/dpkg.log")).unwrap(), b"");
        assert_eq!(fs::read(r.join("var/log/apt/term.log")).unwrap(), b"");
        assert!(r.join("etc/ssh/sshd_config").exists());
        assert!(r.join("var/lib/apt/lists/lock").exists());
        assert!(r.join("tmp").is_dir());
        assert_eq!(
            fs::read_to_string(outside.path().join("precious.log")).unwrap(),
            "keep me"
        );
        let log = report.render();
        assert!(log.contains("removed /etc/nvme/hostid: nvme-cli"), "{log}");
    }

    /// A profile's rule removes a file the built-in table does not know, and says so.
    #[test]
    fn applies_a_profiles_own_rules() {
        let config = tempfile::tempdir().unwrap();
        fs::write(
            config.path().join(isoforge_offenders::profile::FILE),
            "remove opt/vendor/*.stamp  # the vendor installer writes the install time\n",
        )
        .unwrap();
        let table = Table::load(config.path()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        touch(r, "opt/vendor/install.stamp", "installed at 12:00");
        touch(r, "opt/vendor/keep.txt", "keep");
        touch(r, "etc/machine-id", "0123\n");

        let log = run_with(r, &table).unwrap().render();
        assert!(fs::symlink_metadata(r.join("opt/vendor/install.stamp")).is_err());
        assert!(r.join("opt/vendor/keep.txt").exists());
        assert_eq!(fs::read(r.join("etc/machine-id")).unwrap(), b"");
        assert!(
            log.contains("removed /opt/vendor/install.stamp: the vendor installer writes the install time (profile rule, offenders.conf:1)"),
            "{log}"
        );
        // The built-in table alone leaves it.
        touch(r, "opt/vendor/install.stamp", "x");
        run(r).unwrap();
        assert!(r.join("opt/vendor/install.stamp").exists());
    }

    /// apt's partial directories end up owned by the image's _apt whatever apt did, and a
    /// symlink in their place is not followed.
    #[test]
    fn apt_partial_directories_get_the_images_apt_user() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: changing owners needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        touch(
            r,
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n",
        );
        fs::create_dir_all(r.join("var/cache/apt/archives/partial")).unwrap();
        fs::set_permissions(
            r.join("var/cache/apt/archives/partial"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        fs::create_dir_all(r.join("var/lib/apt/lists")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), r.join("var/lib/apt/lists/partial")).unwrap();

        let report = run(r).unwrap();
        let m = fs::symlink_metadata(r.join("var/cache/apt/archives/partial")).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (42, 0, 0o700));
        assert_eq!(fs::metadata(outside.path()).unwrap().uid(), 0);
        assert!(
            report
                .render()
                .contains("owned /var/cache/apt/archives/partial"),
            "{}",
            report.render()
        );
        assert!(!report.render().contains("owned /var/lib/apt/lists/partial"));
    }

    /// A symlink earlier in the path (`var/cache/apt -> /host/dir`) is resolved inside the
    /// image, so the host directory's `archives/partial` keeps its owner and mode.
    #[test]
    fn owners_never_reach_the_host_through_a_parent_symlink() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: changing owners needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        touch(
            r,
            "etc/passwd",
            "_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n",
        );
        let host = tempfile::tempdir().unwrap();
        let host_partial = host.path().join("archives/partial");
        fs::create_dir_all(&host_partial).unwrap();
        fs::set_permissions(&host_partial, fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir_all(r.join("var/cache")).unwrap();
        std::os::unix::fs::symlink(host.path(), r.join("var/cache/apt")).unwrap();

        let report = run(r).unwrap();
        let m = fs::metadata(&host_partial).unwrap();
        assert_eq!((m.uid(), m.mode() & 0o7777), (0, 0o755));
        assert!(
            !report
                .render()
                .contains("owned /var/cache/apt/archives/partial")
        );
    }
}
