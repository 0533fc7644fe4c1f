//! The source being built: the git commit that holds the configuration directory.

use std::path::{Path, PathBuf};

use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The repository's top-level directory.
    pub root: PathBuf,
    /// Full commit id of HEAD.
    pub commit: String,
    /// Committer time of HEAD, seconds since 1970.
    pub commit_time: i64,
    /// Paths with uncommitted changes (tracked or untracked), as `git status` names them.
    pub dirty: Vec<String>,
}

impl Source {
    /// Finds the repository that holds `dir` and reads HEAD and the work-tree state.
    pub fn discover(dir: &Path) -> Result<Self, Error> {
        let root = git(dir, &["rev-parse", "--show-toplevel"]).map_err(|m| {
            Error::Other(format!(
                "{}: not inside a git work tree ({m}); isoforge builds a commit: \
                 commit the configuration first",
                dir.display()
            ))
        })?;
        let root = PathBuf::from(root);
        let commit = git(&root, &["rev-parse", "--verify", "HEAD^{commit}"]).map_err(|m| {
            Error::Other(format!(
                "{}: no commit to build ({m}); commit the configuration first",
                root.display()
            ))
        })?;
        let time = git(&root, &["log", "-1", "--format=%ct", &commit])
            .map_err(|m| Error::Other(format!("{}: git log: {m}", root.display())))?;
        let commit_time = time
            .parse()
            .map_err(|_| Error::Other(format!("git log printed {time:?} as the commit time")))?;
        let status = git(
            &root,
            &["status", "--porcelain=v1", "--untracked-files=normal", "-z"],
        )
        .map_err(|m| Error::Other(format!("{}: git status: {m}", root.display())))?;
        let dirty = status
            .split('\0')
            .filter(|e| e.len() > 3)
            .map(|e| e[3..].to_string())
            .collect();
        Ok(Self {
            root,
            commit,
            commit_time,
            dirty,
        })
    }

    /// The first 12 hex digits of the commit: a fixed length, so every clone agrees.
    pub fn short(&self) -> &str {
        &self.commit[..12.min(self.commit.len())]
    }

    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The build's name: the short commit id, marked when the tree was dirty.
    pub fn build_id(&self) -> String {
        if self.is_dirty() {
            format!("{}-dirty", self.short())
        } else {
            self.short().to_string()
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    isoforge_exec::git::run(dir, args).map_err(|e| e.to_string())
}
