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

/// Copies the uncommitted state of `source`'s work tree over the checkout at `dest`: regular
/// files (with their mode) and symlinks (as symlinks, never followed), read beneath the work
/// tree, so a link there cannot bring a host file into the build.
pub fn copy_dirty(source: &Source, dest: &Path) -> Result<(), Error> {
    use isoforge_fs::Kind;
    use std::os::unix::fs::PermissionsExt;
    let tree = isoforge_fs::Dir::open(&source.root)?;
    for rel in &source.dirty {
        let to = dest.join(rel);
        let kind = tree.kind(rel)?;
        if kind.is_some()
            && let Some(p) = to.parent()
        {
            std::fs::create_dir_all(p).map_err(io_err(format!("cannot create {}", p.display())))?;
        }
        match kind {
            Some(Kind::File) => {
                let mode = tree
                    .open_regular(rel)?
                    .metadata()
                    .map_err(io_err(format!("cannot stat {rel}")))?
                    .permissions()
                    .mode();
                tree.copy_regular(rel, &to)?;
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(io_err(format!("cannot chmod {}", to.display())))?;
            }
            Some(Kind::Symlink) => {
                let target = std::fs::read_link(source.root.join(rel))
                    .map_err(io_err(format!("cannot read the link {rel}")))?;
                isoforge_fs::remove_tree(&to)?;
                std::os::unix::fs::symlink(&target, &to)
                    .map_err(io_err(format!("cannot create the link {}", to.display())))?;
            }
            Some(Kind::Dir | Kind::Special) => {}
            None => isoforge_fs::remove_tree(&to)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn dirty_links_are_copied_as_links_and_never_followed() {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("secret"), "host secret").unwrap();
        let work = tempfile::tempdir().unwrap();
        let root = work.path().join("tree");
        std::fs::create_dir_all(root.join("config/hooks")).unwrap();
        std::fs::write(root.join("config/hooks/run"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            root.join("config/hooks/run"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink(host.path().join("secret"), root.join("config/leak")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("config/hooks/up")).unwrap();
        let dest = work.path().join("checkout");
        std::fs::create_dir_all(dest.join("config")).unwrap();
        std::fs::write(dest.join("config/gone"), "committed").unwrap();
        let source = Source {
            root: root.clone(),
            commit: "0".repeat(40),
            commit_time: 0,
            dirty: [
                "config/hooks/run",
                "config/leak",
                "config/hooks/up",
                "config/gone",
            ]
            .map(String::from)
            .to_vec(),
        };
        copy_dirty(&source, &dest).unwrap();
        let run = dest.join("config/hooks/run");
        assert_eq!(std::fs::read_to_string(&run).unwrap(), "#!/bin/sh\n");
        assert_eq!(run.metadata().unwrap().permissions().mode() & 0o777, 0o755);
        let leak = dest.join("config/leak");
        assert!(leak.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(
            std::fs::read_link(&leak).unwrap(),
            host.path().join("secret")
        );
        assert_eq!(
            std::fs::read_link(dest.join("config/hooks/up")).unwrap(),
            Path::new("../../../..")
        );
        assert!(!dest.join("config/gone").exists());
        assert_eq!(
            std::fs::read_to_string(host.path().join("secret")).unwrap(),
            "host secret"
        );
    }
}
