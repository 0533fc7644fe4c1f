//! A throwaway git repository holding a copy of the default profile, and a way to run the
//! real `isoforge` binary on it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    /// A repository with the workspace's `config/` committed.
    pub fn with_default_profile() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), config.join(e.file_name())).unwrap();
        }
        std::fs::write(dir.path().join(".gitignore"), "/output\n").unwrap();
        let repo = Self { dir };
        repo.git(&["init", "-q"]);
        repo.commit("profile");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("config")
    }

    pub fn output(&self) -> PathBuf {
        self.path().join("output")
    }

    pub fn git(&self, args: &[&str]) {
        let st = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t.invalid"])
            .args(args)
            .current_dir(self.path())
            .status()
            .unwrap();
        assert!(st.success(), "git {args:?}");
    }

    pub fn commit(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
    }

    /// Replaces the line starting with `KEY=` in a config file (or appends it).
    pub fn set(&self, file: &str, key: &str, line: &str) {
        let path = self.config().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key}=")))
            .map(str::to_string)
            .collect();
        lines.push(line.to_string());
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }

    /// Drops libc6 from `packages.lock` (its header still matching the profile): the build
    /// gets past every check and the output staging, then mmdebstrap fails quickly (apt
    /// cannot satisfy the essential set from the local repository).
    pub fn break_lock(&self) {
        let lock = self.config().join("packages.lock");
        let text = std::fs::read_to_string(&lock).unwrap();
        let without: String = text
            .lines()
            .filter(|l| !l.starts_with("package libc6 "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(without, text);
        std::fs::write(&lock, without).unwrap();
    }

    pub fn isoforge(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_isoforge"));
        cmd.current_dir(self.path()).env_remove("SOURCE_DATE_EPOCH");
        cmd
    }

    pub fn build(&self, extra: &[&str]) -> Output {
        self.isoforge().arg("build").args(extra).output().unwrap()
    }

    /// Names in the output directory.
    pub fn output_entries(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.output()) else {
            return Vec::new();
        };
        let mut v: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests run the real build (mmdebstrap root mode, namespaces): run them as root"
    );
}
