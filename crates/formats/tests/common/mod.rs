//! Helpers for tests that make real images with real tools.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use isoforge_formats::io::{MemSource, ReadAt, Source, Window, read_vec_at};
use isoforge_formats::{Content, Format, Limits, detect};

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

/// Parses `bytes` as whatever it looks like and reads every member's content.
pub fn exercise(bytes: Vec<u8>) {
    // The in-place FAT view (isoforge normalize's): ranges stay inside the image.
    if let Ok(g) = isoforge_formats::fat::geometry(&bytes) {
        let _ = (g.kind(), g.serial_offset(), g.backup_boot_sector());
        for r in g.root(&bytes) {
            assert!(r.start <= r.end && r.end <= bytes.len() as u64);
        }
        for first in [0, 2, 3, u32::MAX] {
            for r in g.chain(&bytes, first) {
                assert!(r.end <= bytes.len() as u64);
            }
        }
    }
    let src = mem(bytes);
    let limits = Limits {
        max_metadata: 64 << 20,
        max_decompressed: 64 << 20,
        ..Limits::default()
    };
    let read_all = |s: &dyn ReadAt| {
        let _ = read_vec_at(s, 0, s.size().min(1 << 20), 1 << 20);
    };
    let windows = |entries: &[isoforge_formats::Entry]| {
        for e in entries {
            if let Content::Extents(x) = &e.content {
                read_all(&Window::new(src.clone(), x));
            }
        }
    };
    match detect(&*src) {
        Format::Iso9660 => {
            if let Ok(i) = isoforge_formats::iso9660::parse(&*src, &limits) {
                windows(&i.entries);
            }
        }
        Format::Squashfs => {
            if let Ok(i) = isoforge_formats::squashfs::parse(&*src, &limits) {
                let r = i.data_reader(src.clone());
                for e in &i.entries {
                    if let Content::Squashfs(d) = &e.content {
                        if let Ok(s) = r.open(d) {
                            read_all(&*s);
                        }
                        let _ = r.tail(d);
                    }
                }
            }
        }
        Format::Fat => {
            if let Ok(f) = isoforge_formats::fat::parse(&*src, &limits) {
                windows(&f.entries);
            }
        }
        Format::Cpio => {
            if let Ok(c) = isoforge_formats::cpio::parse(&*src, &limits) {
                windows(&c.entries);
            }
        }
        Format::Tar => {
            if let Ok(t) = isoforge_formats::tar::parse(&*src, &limits) {
                windows(&t.entries);
            }
        }
        Format::Ar => {
            if let Ok(a) = isoforge_formats::ar::parse(&*src, &limits) {
                windows(&a.entries);
            }
        }
        Format::Compressed(c) => {
            let _ = isoforge_formats::compress::layout(&*src, c);
            if let Ok((out, _)) = isoforge_formats::compress::decompress(&src, c, &limits) {
                read_all(&*out);
            }
        }
        Format::Unknown => {}
    }
}
