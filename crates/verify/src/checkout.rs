//! Fresh checkouts of a commit: each build of `verify` and `rebuild` starts from its own clone,
//! at its own path, sharing nothing with the caller's work tree.

use std::ffi::OsStr;
use std::path::Path;

use isoforge_exec::git;
use isoforge_inputs::Source;

use crate::{Error, io_err};

/// Clones `repo` (a path or URL) into `dest` and checks out `commit`, detached.
pub fn commit(repo: &OsStr, commit: &str, dest: &Path) -> Result<(), Error> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(io_err(format!("cannot create {}", parent.display())))?;
    git::clone(repo, dest).map_err(|e| {
        Error::Failed(format!(
            "cannot clone {} into {}: {e}",
            repo.to_string_lossy(),
            dest.display()
        ))
    })?;
    git::checkout_detached(dest, commit).map_err(|e| {
        Error::Failed(format!(
            "commit {commit} is not in {} ({e}); give the repository it was built from",
            repo.to_string_lossy()
        ))
    })
}

/// Copies the uncommitted state of `source`'s work tree over the checkout at `dest`.
pub fn copy_dirty(source: &Source, dest: &Path) -> Result<(), Error> {
    for rel in &source.dirty {
        let from = source.root.join(rel);
        let to = dest.join(rel);
        if from.is_file() {
            if let Some(p) = to.parent() {
                std::fs::create_dir_all(p)
                    .map_err(io_err(format!("cannot create {}", p.display())))?;
            }
            std::fs::copy(&from, &to).map_err(io_err(format!("cannot copy {rel}")))?;
        } else if !from.exists() && to.is_file() {
            std::fs::remove_file(&to).map_err(io_err(format!("cannot remove {rel}")))?;
        }
    }
    Ok(())
}
