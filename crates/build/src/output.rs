//! The output directory: a build works in a hidden temporary directory next to its final place
//! and is renamed into `output/<build-id>/` only when complete, so an interrupted build never
//! leaves anything that looks like a result.
//!
//! The output root may be writable by others, so everything here works through descriptors
//! ([`isoforge_fs`]): a planted symlink in place of a name below it is replaced or unlinked,
//! never followed. A build locks `.isoforge-tmp-<id>-<random>.lock` before its directory
//! `.isoforge-tmp-<id>-<random>` exists, so a concurrent build's sweep never removes it.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use isoforge_fs::{Dir, remove_tree_at, replace_dir};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, Flock, FlockArg, OFlag, openat};
use nix::sys::stat::{Mode, fstat, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::Error;

const TMP_PREFIX: &str = ".isoforge-tmp-";
const LOCK_SUFFIX: &str = ".lock";

/// A build's temporary directory, locked while the build runs, removed (mounts and all)
/// when dropped.
pub struct Staged {
    root_dir: Dir,
    tmp_dir: Dir,
    /// The temporary directory's name in the output root (its lock is this + `.lock`).
    tmp_name: OsString,
    tmp: PathBuf,
    build_id: String,
    final_dir: PathBuf,
    failed_dir: PathBuf,
    force: bool,
    _lock: Flock<File>,
}

impl Staged {
    /// Prepares `root/<build_id>`: refuses an existing one unless `force`, sweeps what
    /// killed builds left behind, locks and creates the temporary directory.
    pub fn prepare(root: &Path, build_id: &str, force: bool) -> Result<Self, Error> {
        if build_id.is_empty() || build_id.contains(['/', '\0']) || build_id.starts_with('.') {
            return Err(Error::Invalid(format!(
                "{build_id:?} is not a build id (one plain file name)"
            )));
        }
        // Absolute: the paths below are handed to tools that run elsewhere (mmdebstrap's
        // `copy://` sources).
        let abs = std::path::absolute(root)
            .map_err(Error::io(format!("cannot resolve {}", root.display())))?;
        let root_dir = Dir::create(&abs)?;
        let final_dir = root.join(build_id);
        if root_dir.kind(build_id)?.is_some() && !force {
            return Err(Error::Invalid(format!(
                "{} already exists; pass --force to replace it",
                final_dir.display()
            )));
        }
        sweep_stale(&root_dir)?;
        let (tmp_name, lock) = lock_new(&root_dir, build_id)?;
        let tmp = abs.join(&tmp_name);
        mkdirat(
            &root_dir,
            tmp_name.as_os_str(),
            Mode::from_bits_truncate(0o700),
        )
        .map_err(|e| Error::io(format!("cannot create {}", tmp.display()))(e.into()))?;
        let tmp_dir = root_dir.open_dir(&tmp_name)?;
        for d in ["work", "result", "result/logs"] {
            tmp_dir.create_dir(d, 0o755)?;
        }
        let staged = Self {
            failed_dir: root.join(format!("{build_id}.failed")),
            final_dir,
            root_dir,
            tmp_dir,
            tmp_name,
            tmp,
            build_id: build_id.to_string(),
            force,
            _lock: lock,
        };
        std::fs::set_permissions(
            staged.result(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .map_err(Error::io("cannot chmod the result directory"))?;
        Ok(staged)
    }

    /// Scratch space: rootfs, staging tree, tool home and tmp.
    pub fn work(&self) -> PathBuf {
        self.tmp.join("work")
    }

    /// What becomes `output/<build-id>/`.
    pub fn result(&self) -> PathBuf {
        self.tmp.join("result")
    }

    pub fn logs(&self) -> PathBuf {
        self.result().join("logs")
    }

    pub fn final_dir(&self) -> &Path {
        &self.final_dir
    }

    pub fn failed_dir(&self) -> &Path {
        &self.failed_dir
    }

    /// Moves the complete result into place (exchanged with an old one, which is then
    /// removed), and drops the scratch.
    pub fn commit(self) -> Result<PathBuf, Error> {
        self.tmp_dir.remove_tree("work")?;
        let id = OsStr::new(&self.build_id);
        replace_dir(
            &self.tmp_dir,
            "result".as_ref(),
            &self.root_dir,
            id,
            self.force,
        )
        .map_err(|e| match e.kind() {
            Some(std::io::ErrorKind::AlreadyExists) => Error::Invalid(format!(
                "{} appeared while building (another build?); pass --force to replace it",
                self.final_dir.display()
            )),
            _ => e.into(),
        })?;
        let _ = remove_tree_at(&self.root_dir, self.failed_name().as_os_str());
        Ok(self.final_dir.clone())
    }

    fn failed_name(&self) -> OsString {
        format!("{}.failed", self.build_id).into()
    }

    /// Keeps only the logs of a failed build, in `output/<build-id>.failed/`.
    pub fn fail(self, message: &str) -> Option<PathBuf> {
        let t = &self.tmp_dir;
        t.create_dir("failed", 0o755).ok()?;
        let failed = t.open_dir("failed").ok()?;
        replace_dir(
            &t.open_dir("result").ok()?,
            "logs".as_ref(),
            &failed,
            "logs".as_ref(),
            false,
        )
        .ok()?;
        let mut f = isoforge_fs::AtomicFile::create_in(&failed, "ERROR".as_ref(), 0o644).ok()?;
        std::io::Write::write_all(&mut f, format!("{message}\n").as_bytes()).ok()?;
        f.commit().ok()?;
        replace_dir(
            t,
            "failed".as_ref(),
            &self.root_dir,
            &self.failed_name(),
            true,
        )
        .ok()?;
        Some(self.failed_dir.clone())
    }

    /// Moves the rootfs and staging tree to `output/<build-id>.work/` for inspection.
    pub fn keep_work(&self) -> Result<PathBuf, Error> {
        let name = format!("{}.work", self.build_id);
        isoforge_fs::unmount_under_dir(&self.tmp_dir.open_dir("work")?)?;
        replace_dir(
            &self.tmp_dir,
            "work".as_ref(),
            &self.root_dir,
            name.as_ref(),
            true,
        )?;
        self.tmp_dir.create_dir("work", 0o755)?;
        Ok(self.final_dir.with_file_name(name))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = remove_tree_at(&self.root_dir, &self.tmp_name);
        // Still holding the lock: no sweep can be looking at this name.
        let _ = unlinkat(
            &self.root_dir,
            lock_name(&self.tmp_name).as_os_str(),
            UnlinkatFlags::NoRemoveDir,
        );
    }
}

fn lock_name(tmp_name: &OsStr) -> OsString {
    let mut n = tmp_name.to_os_string();
    n.push(LOCK_SUFFIX);
    n
}

/// Creates and locks `.isoforge-tmp-<id>-<random>.lock`; returns the temporary directory's
/// name with the held lock. The lock is checked to still be linked after locking, since a
/// sweep removes free locks.
fn lock_new(root: &Dir, build_id: &str) -> Result<(OsString, Flock<File>), Error> {
    let cannot = |e: Errno| {
        Error::io(format!(
            "cannot create a lock file in {}",
            root.path().display()
        ))(e.into())
    };
    for _ in 0..64 {
        let tmp_name = OsString::from(format!(
            "{TMP_PREFIX}{build_id}-{:016x}",
            isoforge_fs::random()
        ));
        let lock = lock_name(&tmp_name);
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = match openat(
            root,
            lock.as_os_str(),
            flags,
            Mode::from_bits_truncate(0o600),
        ) {
            Ok(fd) => fd,
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(cannot(e)),
        };
        let Ok(held) = Flock::lock(File::from(fd), FlockArg::LockExclusiveNonblock) else {
            continue; // a sweep holds it for a moment and will unlink it
        };
        let mine = fstat(held.as_fd()).map_err(cannot)?;
        match fstatat(root, lock.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino) => {
                return Ok((tmp_name, held));
            }
            _ => continue,
        }
    }
    Err(cannot(Errno::EEXIST))
}

/// Removes temporary directories (and their locks) of builds that are no longer running:
/// the lock is missing or free. A planted symlink under such a name is unlinked.
fn sweep_stale(root: &Dir) -> Result<(), Error> {
    let mut bases: Vec<OsString> = root
        .read_dir("")?
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .filter(|n| n.starts_with(TMP_PREFIX))
        .map(|n| {
            n.strip_suffix(LOCK_SUFFIX)
                .map(str::to_string)
                .unwrap_or(n)
                .into()
        })
        .collect();
    bases.sort();
    bases.dedup();
    for base in bases {
        let lock = lock_name(&base);
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let held = match openat(root, lock.as_os_str(), flags, Mode::empty()) {
            Ok(fd) => match Flock::lock(File::from(fd), FlockArg::LockExclusiveNonblock) {
                Ok(held) => Some(held),
                Err(_) => continue, // a running build
            },
            Err(_) => None, // missing, or not a plain file: stale either way
        };
        remove_tree_at(root, &base)?;
        match held {
            Some(_held) => {
                // Unlinked while held, so a build that locked it meanwhile notices.
                let _ = unlinkat(root, lock.as_os_str(), UnlinkatFlags::NoRemoveDir);
            }
            None => remove_tree_at(root, &lock)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn result_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let s = Staged::prepare(dir.path(), "abc", false).unwrap();
        fs::write(s.result().join("x.iso"), "iso").unwrap();
        assert!(!dir.path().join("abc").exists());
        let out = s.commit().unwrap();
        assert_eq!(fs::read_to_string(out.join("x.iso")).unwrap(), "iso");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec!["abc"], "no temporary directory is left");
        let e = Staged::prepare(dir.path(), "abc", false).err().unwrap();
        assert!(
            e.to_string().contains("already exists; pass --force"),
            "{e}"
        );
        let s = Staged::prepare(dir.path(), "abc", true).unwrap();
        fs::write(s.result().join("y.iso"), "new").unwrap();
        let out = s.commit().unwrap();
        assert!(!out.join("x.iso").exists() && out.join("y.iso").exists());
    }

    #[test]
    fn dropped_build_leaves_nothing_and_stale_dirs_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Staged::prepare(dir.path(), "abc", false).unwrap();
            fs::write(s.result().join("x.iso"), "half").unwrap();
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        // A directory a killed build left behind: its lock is free.
        let stale = dir.path().join(format!("{TMP_PREFIX}abc-zzz"));
        fs::create_dir_all(stale.join("result")).unwrap();
        fs::write(stale.join("lock"), "").unwrap();
        let running = Staged::prepare(dir.path(), "def", false).unwrap();
        assert!(!stale.exists());
        // A running build's directory is not swept by another build.
        let other = Staged::prepare(dir.path(), "ghi", false).unwrap();
        assert!(running.result().exists());
        drop(other);
        drop(running);
    }

    /// A directory outside the output root that must survive.
    fn sentinel() -> tempfile::TempDir {
        let s = tempfile::tempdir().unwrap();
        fs::create_dir(s.path().join("sub")).unwrap();
        fs::write(s.path().join("sub/keep"), "x").unwrap();
        s
    }

    fn intact(s: &tempfile::TempDir) {
        assert_eq!(fs::read_to_string(s.path().join("sub/keep")).unwrap(), "x");
    }

    #[test]
    fn planted_symlinks_are_unlinked_never_followed() {
        let s = sentinel();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            ".isoforge-tmp-evil",
            ".isoforge-tmp-evil2.lock",
            "abc.failed",
            "abc.work",
        ] {
            std::os::unix::fs::symlink(s.path(), root.join(name)).unwrap();
        }
        // The sweep unlinks the stale-looking names.
        let st = Staged::prepare(root, "abc", false).unwrap();
        for name in [".isoforge-tmp-evil", ".isoforge-tmp-evil2.lock"] {
            assert!(fs::symlink_metadata(root.join(name)).is_err(), "{name}");
        }
        // keep_work replaces the planted `.work` symlink; fail replaces `.failed`.
        fs::write(st.work().join("rootfs-file"), "w").unwrap();
        let kept = st.keep_work().unwrap();
        assert!(fs::symlink_metadata(&kept).unwrap().is_dir());
        assert_eq!(fs::read_to_string(kept.join("rootfs-file")).unwrap(), "w");
        fs::write(st.logs().join("build.log"), "log").unwrap();
        let failed = st.fail("it broke").unwrap();
        assert!(fs::symlink_metadata(&failed).unwrap().is_dir());
        assert_eq!(
            fs::read_to_string(failed.join("ERROR")).unwrap(),
            "it broke\n"
        );
        assert_eq!(
            fs::read_to_string(failed.join("logs/build.log")).unwrap(),
            "log"
        );
        intact(&s);
        // A planted `<id>` symlink is exchanged out on commit (with --force).
        std::os::unix::fs::symlink(s.path(), root.join("abc")).unwrap();
        let st = Staged::prepare(root, "abc", true).unwrap();
        let out = st.commit().unwrap();
        assert!(fs::symlink_metadata(&out).unwrap().is_dir());
        assert!(fs::symlink_metadata(root.join("abc.failed")).is_err());
        intact(&s);
        let mut names: Vec<_> = fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["abc", "abc.work"]);
    }

    #[test]
    fn a_build_id_that_is_not_one_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x", "", ".hidden", "a/b"] {
            let e = Staged::prepare(dir.path(), bad, false).err().unwrap();
            assert!(e.to_string().contains("is not a build id"), "{e}");
        }
    }

    /// Builds started at the same moment into one root: each sweeps, none removes another's
    /// directory, all finish (the same id, so each replaces the one before).
    #[test]
    fn concurrent_builds_never_sweep_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let root = root.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    for round in 0..20 {
                        barrier.wait();
                        let s = Staged::prepare(&root, "same", true).unwrap();
                        let mark = format!("{i}-{round}");
                        fs::write(s.result().join("x.iso"), &mark).unwrap();
                        fs::write(s.work().join("scratch"), &mark).unwrap();
                        barrier.wait(); // every build has its directory now; others sweep
                        let again = Staged::prepare(&root, &format!("other{i}"), false).unwrap();
                        drop(again);
                        assert_eq!(fs::read_to_string(s.work().join("scratch")).unwrap(), mark);
                        assert_eq!(fs::read_to_string(s.result().join("x.iso")).unwrap(), mark);
                        s.commit().unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let names: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["same"], "no temporary directory or lock is left");
    }
}
