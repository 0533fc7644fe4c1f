//! The initrd's canonical form is what GNU `cpio --reproducible -H newc` writes for sorted
//! input (initramfs-tools with SOURCE_DATE_EPOCH): such an initrd is kept byte for byte, and
//! any other order of the same files is rewritten into exactly those bytes.

use std::path::Path;

use isoforge_exec::{Progress, Runner, ToolEnv};

const EPOCH: i64 = 1_700_000_000;

fn sh(script: &str, cwd: &Path) {
    let mut c = isoforge_exec::tool("sh");
    c.args(["-ec", script]).current_dir(cwd);
    isoforge_exec::capture(c).unwrap_or_else(|e| panic!("{script}: {e}"));
}

/// A tree with hard links: a complete group of three, one of two, and one whose other link
/// is outside the archive; every time at the epoch minus a day.
fn tree(d: &Path) {
    sh(
        "mkdir -p t/d t/bin && cd t && echo one > x && ln x y && ln x z && echo two > p && \
         ln p d/q && echo three > bin/lone && ln bin/lone ../outside && echo s > bin/sh && \
         find . -exec touch -h -d @1699913600 {} +",
        d,
    );
}

fn normalize(d: &Path, file: &str) -> isoforge_normalize::initrd::InitrdReport {
    let env = ToolEnv::new(EPOCH, d, d);
    let runner = Runner::new(env, &d.join("logs"), Progress::plain(false)).unwrap();
    let stage = runner.progress().stage("initrd");
    let scratch = d.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    isoforge_normalize::initrd::normalize(
        &runner,
        &stage,
        &d.join(file),
        file,
        &scratch,
        EPOCH,
        1 << 30,
    )
    .unwrap()
}

#[test]
fn gnu_reproducible_cpio_is_kept_and_any_order_becomes_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tree(d);
    // initramfs-tools: sorted names, cpio --reproducible, then compressed; an early archive
    // in front.
    sh(
        "cd t && find . | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet > ../sorted.cpio \
         && cd .. && zstd -q -9 -T1 -c sorted.cpio > main.zst && \
         cat sorted.cpio main.zst > canonical.img && cp canonical.img kept.img",
        d,
    );
    let r = normalize(d, "kept.img");
    assert_eq!(r.outcome, "kept", "{r:?}");
    assert_eq!(
        std::fs::read(d.join("kept.img")).unwrap(),
        std::fs::read(d.join("canonical.img")).unwrap()
    );

    // The same files in reverse order, later mtimes, as a builder without care writes them.
    sh(
        "cd t && find . -exec touch -h -d @1800000000 {} + && \
         find . | LC_ALL=C sort -r | cpio -o -H newc --quiet > ../shuffled.cpio && cd .. && \
         zstd -q -3 -c shuffled.cpio > main2.zst && cat shuffled.cpio main2.zst > messy.img",
        d,
    );
    let r = normalize(d, "messy.img");
    assert_eq!(r.outcome, "rewritten", "{r:?}");
    assert_eq!(r.segments.len(), 2);
    assert!(
        r.segments[0].moved > 0 && r.segments[0].mtimes_clamped > 0,
        "{r:?}"
    );
    assert!(r.segments[0].inodes_renumbered > 0, "{r:?}");
    assert_eq!(r.segments[1].compressor.as_deref(), Some("zstd -9"));
    // The uncompressed part is the GNU cpio --reproducible bytes of the clamped tree.
    sh(
        "cd t && find . -exec touch -h -d @1700000000 {} + && \
         find . | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet > ../clamped.cpio",
        d,
    );
    let messy = std::fs::read(d.join("messy.img")).unwrap();
    let clamped = std::fs::read(d.join("clamped.cpio")).unwrap();
    assert_eq!(&messy[..clamped.len()], &clamped[..]);
    // And the compressed part holds the same archive.
    sh(
        &format!(
            "tail -c +{} messy.img | zstd -dc > inner.cpio && cmp inner.cpio clamped.cpio",
            clamped.len() + 1
        ),
        d,
    );
    // Rewriting again changes nothing.
    std::fs::copy(d.join("messy.img"), d.join("again.img")).unwrap();
    assert_eq!(normalize(d, "again.img").outcome, "kept");
}

#[test]
fn gzip_time_is_not_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tree(d);
    sh(
        "cd t && find . | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet > ../s.cpio && \
         cd .. && gzip -9 -c s.cpio > named.img",
        d,
    );
    // gzip without -n on a pipe records the time: rewritten with `gzip -n`.
    let r = normalize(d, "named.img");
    assert_eq!(r.outcome, "rewritten", "{r:?}");
    let b = std::fs::read(d.join("named.img")).unwrap();
    assert_eq!(&b[4..8], &[0, 0, 0, 0], "no time in the gzip header");
}

#[test]
fn garbage_and_truncation_are_clear_errors_or_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("lz.img"), b"\x02\x21\x4c\x18legacy lz4 frame").unwrap();
    let r = normalize(d, "lz.img");
    assert_eq!(r.outcome, "kept");
    assert!(r.reason.contains("NOT normalized"), "{r:?}");

    tree(d);
    sh(
        "cd t && find . | cpio -o -H newc --quiet > ../whole.cpio && cd .. && \
         head -c 300 whole.cpio > cut.img",
        d,
    );
    let env = ToolEnv::new(EPOCH, d, d);
    let runner = Runner::new(env, &d.join("logs"), Progress::plain(false)).unwrap();
    let stage = runner.progress().stage("initrd");
    let e = isoforge_normalize::initrd::normalize(
        &runner,
        &stage,
        &d.join("cut.img"),
        "/cut.img",
        d,
        EPOCH,
        1 << 30,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("initrd /cut.img: "), "{e}");
    assert!(e.contains("past the end") || e.contains("truncated"), "{e}");
}
