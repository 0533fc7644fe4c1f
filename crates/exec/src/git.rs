//! The git commands isoforge runs (find the repository, read HEAD and the work tree's state,
//! clone a commit), all through [`crate::process`]: the caller's `GIT_*` variables never
//! redirect them to another repository.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::{Error, process};

/// Runs `git -C dir args…` and returns its stdout without the final newline.
pub fn run<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Result<String, Error> {
    let mut cmd = process::tool("git");
    cmd.arg("-C").arg(dir).args(args);
    let out = process::capture(cmd)?;
    Ok(String::from_utf8_lossy(&out)
        .trim_end_matches('\n')
        .to_string())
}

/// The top-level directory of the work tree that holds `dir`.
pub fn toplevel(dir: &Path) -> Result<PathBuf, Error> {
    run(dir, &["rev-parse", "--show-toplevel"]).map(PathBuf::from)
}

/// Clones `repo` (a path or URL) into `dest` without checking anything out.
pub fn clone(repo: &OsStr, dest: &Path) -> Result<(), Error> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    // `--`: a repository named `-x` is not an option.
    let mut cmd = process::tool("git");
    cmd.arg("-C")
        .arg(parent)
        .args(["clone", "--quiet", "--no-hardlinks", "--no-checkout", "--"])
        .arg(repo)
        .arg(dest);
    process::capture(cmd).map(drop)
}

/// Checks out `commit` in the work tree at `dir`, detached.
pub fn checkout_detached(dir: &Path, commit: &str) -> Result<(), Error> {
    run(dir, &["checkout", "--quiet", "--detach", commit, "--"]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let mut cmd = process::tool("git");
        cmd.arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@invalid"])
            .args(args);
        process::capture(cmd).unwrap();
    }

    #[test]
    fn reads_a_repository_and_clones_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, &["init", "--quiet"]);
        std::fs::write(repo.join("f"), "one\n").unwrap();
        git(&repo, &["add", "f"]);
        git(&repo, &["commit", "--quiet", "-m", "one"]);
        let head = run(&repo, &["rev-parse", "HEAD"]).unwrap();
        assert_eq!(head.len(), 40, "{head}");
        std::fs::create_dir(repo.join("sub")).unwrap();
        assert_eq!(
            toplevel(&repo.join("sub")).unwrap(),
            repo.canonicalize().unwrap()
        );

        let dest = dir.path().join("clones/c");
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        clone(repo.as_os_str(), &dest).unwrap();
        checkout_detached(&dest, &head).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("f")).unwrap(), "one\n");

        let err = toplevel(Path::new("/")).unwrap_err().to_string();
        assert!(
            err.starts_with("git exited with status 128: fatal: not a git repository"),
            "{err}"
        );
    }
}
