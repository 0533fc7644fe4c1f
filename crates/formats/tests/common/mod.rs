//! Helpers for tests that make real images with real tools.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use isoforge_formats::io::{MemSource, Source};

pub const SDE: i64 = 1_764_000_000;

/// Fails the test with the package to install when `tool` is missing.
pub fn require(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(tool).is_file()
        || Path::new("/sbin").join(tool).is_file();
    assert!(
        found,
        "required tool `{tool}` is missing: apt-get install {package} (see crates/diff/APT-PACKAGES)"
    );
}

/// Runs a bash script in `dir`; panics with its output on failure; returns stdout.
pub fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("LC_ALL", "C.UTF-8")
        .env("TZ", "UTC")
        .env(
            "PATH",
            format!(
                "/usr/sbin:/sbin:{}",
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "script failed:\n{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

pub fn mem(bytes: Vec<u8>) -> Source {
    Arc::new(MemSource(bytes))
}

/// A small deterministic generator for mutation tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}
