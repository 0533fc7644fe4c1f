//! The output directory: a build works in a hidden temporary directory next to its final place
//! and is renamed into `output/<build-id>/` only when complete, so an interrupted build never
//! leaves anything that looks like a result.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::Error;

const TMP_PREFIX: &str = ".isoforge-tmp-";

/// A build's temporary directory, locked while the build runs, removed (mounts and all)
/// when dropped.
pub struct Staged {
    root: PathBuf,
    tmp: PathBuf,
    final_dir: PathBuf,
    failed_dir: PathBuf,
    _lock: Flock<File>,
}

impl Staged {
    /// Prepares `root/<build_id>`: refuses an existing one unless `force`, sweeps what
    /// killed builds left behind, creates the temporary directory.
    pub fn prepare(root: &Path, build_id: &str, force: bool) -> Result<Self, Error> {
        fs::create_dir_all(root).map_err(Error::io(format!("cannot create {}", root.display())))?;
        let final_dir = root.join(build_id);
        if final_dir.exists() && !force {
            return Err(Error::Invalid(format!(
                "{} already exists; pass --force to replace it",
                final_dir.display()
            )));
        }
        sweep_stale(root)?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{TMP_PREFIX}{build_id}-"))
            .tempdir_in(root)
            .map_err(Error::io(format!(
                "cannot create a temporary directory in {}",
                root.display()
            )))?
            .keep();
        let lock_file = File::create(tmp.join("lock"))
            .map_err(Error::io(format!("cannot create {}/lock", tmp.display())))?;
        let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| Error::io("cannot lock the temporary directory")(e.into()))?;
        let staged = Self {
            root: root.to_path_buf(),
            failed_dir: root.join(format!("{build_id}.failed")),
            final_dir,
            tmp,
            _lock: lock,
        };
        for d in [staged.work(), staged.result(), staged.logs()] {
            fs::create_dir_all(&d).map_err(Error::io(format!("cannot create {}", d.display())))?;
        }
        fs::set_permissions(staged.result(), fs::Permissions::from_mode(0o755))
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

    /// Moves the complete result into place (replacing an old one), and drops the scratch.
    pub fn commit(self) -> Result<PathBuf, Error> {
        isoforge_sandbox::remove_tree(&self.work()).map_err(Error::Sandbox)?;
        if self.final_dir.exists() {
            let old = self.tmp.join("replaced");
            fs::rename(&self.final_dir, &old).map_err(Error::io(format!(
                "cannot move {} aside",
                self.final_dir.display()
            )))?;
        }
        fs::rename(self.result(), &self.final_dir).map_err(Error::io(format!(
            "cannot move the result to {}",
            self.final_dir.display()
        )))?;
        let _ = isoforge_sandbox::remove_tree(&self.failed_dir);
        Ok(self.final_dir.clone())
    }

    /// Keeps only the logs of a failed build, in `output/<build-id>.failed/`.
    pub fn fail(self, message: &str) -> Option<PathBuf> {
        let _ = isoforge_sandbox::remove_tree(&self.failed_dir);
        fs::create_dir_all(&self.failed_dir).ok()?;
        fs::rename(self.logs(), self.failed_dir.join("logs")).ok()?;
        fs::write(self.failed_dir.join("ERROR"), format!("{message}\n")).ok()?;
        Some(self.failed_dir.clone())
    }

    /// Moves the rootfs and staging tree to `output/<build-id>.work/` for inspection.
    pub fn keep_work(&self) -> Result<PathBuf, Error> {
        let dest = self.root.join(format!(
            "{}.work",
            self.final_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("build")
        ));
        isoforge_sandbox::remove_tree(&dest).map_err(Error::Sandbox)?;
        isoforge_sandbox::unmount_under(&self.work()).map_err(Error::Sandbox)?;
        fs::rename(self.work(), &dest).map_err(Error::io(format!(
            "cannot move the work tree to {}",
            dest.display()
        )))?;
        fs::create_dir_all(self.work()).map_err(Error::io("cannot recreate the work directory"))?;
        Ok(dest)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = isoforge_sandbox::remove_tree(&self.tmp);
    }
}

/// Removes temporary directories of builds that are no longer running (their lock is free).
fn sweep_stale(root: &Path) -> Result<(), Error> {
    let entries =
        fs::read_dir(root).map_err(Error::io(format!("cannot read {}", root.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(TMP_PREFIX) {
            continue;
        }
        let path = entry.path();
        let live = File::open(path.join("lock"))
            .ok()
            .map(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err())
            .unwrap_or(false);
        if !live {
            isoforge_sandbox::remove_tree(&path).map_err(Error::Sandbox)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
