//! `isoforge check` end to end: the binary against `sha256sum -c` on a real ISO made with
//! xorriso, a release directory, and a release served over loopback HTTP by Python's
//! http.server. Needs coreutils, xorriso and python3.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn isoforge(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn sha256sum_c(sums: &str, cwd: &Path) -> bool {
    Command::new("sha256sum")
        .args(["--strict", "-c", sums])
        .current_dir(cwd)
        .output()
        .expect("sha256sum (coreutils) must be installed")
        .status
        .success()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A small real ISO 9660 image, and SHA256SUMS for it written by sha256sum.
fn release(dir: &Path, iso: &str) -> PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("live")).unwrap();
    std::fs::write(tree.join("live/filesystem.txt"), vec![b'x'; 100_000]).unwrap();
    std::fs::write(tree.join("README"), "SilverMetal test image\n").unwrap();
    let out = Command::new("xorriso")
        .args(["-no_rc", "-as", "mkisofs", "-R", "-J", "-V", "TEST", "-o"])
        .arg(dir.join(iso))
        .arg(&tree)
        .output()
        .expect("xorriso must be installed");
    assert!(out.status.success(), "xorriso: {}", text(&out.stderr));
    std::fs::remove_dir_all(&tree).unwrap();
    let sums = Command::new("sha256sum")
        .arg(iso)
        .current_dir(dir)
        .output()
        .unwrap();
    std::fs::write(dir.join("SHA256SUMS"), &sums.stdout).unwrap();
    dir.join(iso)
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// A profile with a report contact, as the build reads it.
fn config(dir: &Path) -> PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("silvermetal-base.conf"),
        r#"DISTRIBUTION=debian
SUITE=bookworm
ARCHITECTURE=amd64
PACKAGES="linux-image-amd64 live-boot systemd-sysv"
PRODUCT_NAME="SilverMetal Linux"
PRODUCT_ID=silvermetal
PRODUCT_VERSION=1.1.0
ISO_VOLUME_LABEL=SILVERMETAL_1_1_0
MKSQUASHFS_OPTIONS="-noappend -comp xz"
REPORT_CONTACT=security@silverlabs.uk
"#,
    )
    .unwrap();
    config
}

#[test]
fn flipped_byte_fails_both_tools_untouched_iso_passes_both() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let iso = release(d, "silvermetal-1.1.0-amd64.iso");
    let config = config(d);
    let cfg = config.to_str().unwrap();

    assert!(sha256sum_c("SHA256SUMS", d));
    let out = isoforge(&["check", "SHA256SUMS", "--config", cfg], d);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "silvermetal-1.1.0-amd64.iso: OK\n");

    let expected = text(&std::fs::read(d.join("SHA256SUMS")).unwrap())[..64].to_string();
    // Sector 16 holds the primary volume descriptor; flip a byte of its volume id.
    flip_byte(&iso, 16 * 2048 + 40);
    assert!(!sha256sum_c("SHA256SUMS", d));
    let out = isoforge(&["check", "SHA256SUMS", "--config", cfg], d);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "silvermetal-1.1.0-amd64.iso: FAILED\n");
    let got = text(&Command::new("sha256sum").arg(&iso).output().unwrap().stdout)[..64].to_string();
    assert_eq!(
        text(&out.stderr),
        format!(
            "supply-chain anomaly: silvermetal-1.1.0-amd64.iso: expected {expected}, got {got}\n\
             report it to security@silverlabs.uk\n"
        )
    );

    // Flipped back: both pass again.
    flip_byte(&iso, 16 * 2048 + 40);
    assert!(sha256sum_c("SHA256SUMS", d));
    let out = isoforge(&["check", "--release", ".", "--config", cfg], d);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn missing_empty_and_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    release(d, "a.iso");
    let sums = text(&std::fs::read(d.join("SHA256SUMS")).unwrap());
    let expected = &sums[..64];
    std::fs::rename(d.join("a.iso"), d.join("b.iso")).unwrap();

    let out = isoforge(&["check", "SHA256SUMS", "--config", "no-such-config"], d);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "supply-chain anomaly: a.iso: expected {expected}, file is missing\n\
             report it to the publisher (no report contact: cannot load the profile: "
        )),
        "{err}"
    );
    assert!(!sha256sum_c("SHA256SUMS", d));
    // --ignore-missing with nothing left to check is still an anomaly, as in sha256sum.
    let out = isoforge(&["check", "--ignore-missing", "SHA256SUMS"], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nothing was verified"));

    std::fs::write(d.join("EMPTY"), "\n# nothing\n").unwrap();
    let out = isoforge(&["check", "EMPTY"], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("supply-chain anomaly: EMPTY: lists no files\n"));

    std::fs::write(
        d.join("BAD"),
        format!("{sums}{expected}  b.iso\nnot a line\n"),
    )
    .unwrap();
    let out = isoforge(&["check", "BAD"], d);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("isoforge: error: BAD:3: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // Given files: listed by file name, checked where they are.
    std::fs::rename(d.join("b.iso"), d.join("a.iso")).unwrap();
    let out = isoforge(&["check", "SHA256SUMS", "./a.iso"], d);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = isoforge(&["check", "SHA256SUMS", "EMPTY"], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("EMPTY: not listed in SHA256SUMS, got "));
}

#[test]
fn release_dir_refuses_names_outside_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rel = d.join("rel");
    std::fs::create_dir(&rel).unwrap();
    release(&rel, "a.iso");
    let line = text(&std::fs::read(rel.join("SHA256SUMS")).unwrap());
    std::fs::copy(rel.join("a.iso"), d.join("outside.iso")).unwrap();
    let sums = format!("{line}{}  ../outside.iso\n", &line[..64]);
    std::fs::write(rel.join("SHA256SUMS"), sums).unwrap();
    // A plain sums check resolves the name as sha256sum does...
    assert!(sha256sum_c("SHA256SUMS", &rel));
    let out = isoforge(&["check", "SHA256SUMS"], &rel);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // ...a release check refuses it.
    let out = isoforge(&["check", "--release", "rel"], d);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("rel/SHA256SUMS:2: \"../outside.iso\" contains \"..\""),
        "{err}"
    );
}

/// `python3 -m http.server` on 127.0.0.1 and an ephemeral port; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 must be installed");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let port = first
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected http.server banner: {first:?}"));
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn release_url_over_loopback_http() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir(&served).unwrap();
    let iso = release(&served, "silver metal#1.iso");
    std::fs::write(served.join("BUILD_INFO"), "Format: 1.0\n").unwrap();
    let sums = Command::new("sha256sum")
        .args(["--tag", "silver metal#1.iso", "BUILD_INFO"])
        .current_dir(&served)
        .output()
        .unwrap();
    std::fs::write(served.join("SHA256SUMS"), &sums.stdout).unwrap();
    let server = Server::start(&served);
    let d = dir.path();
    let keep = d.join("downloads");

    let release_url = format!("{}/SHA256SUMS", server.url);
    let out = isoforge(
        &[
            "check",
            "--release",
            &release_url,
            "--download-dir",
            keep.to_str().unwrap(),
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "silver metal#1.iso: OK\nBUILD_INFO: OK\n"
    );
    assert_eq!(
        std::fs::read(keep.join("silver metal#1.iso")).unwrap(),
        std::fs::read(&iso).unwrap()
    );
    assert!(sha256sum_c("SHA256SUMS", &keep));

    flip_byte(&iso, 40_000);
    let out = isoforge(&["check", "--release", &format!("{}/", server.url)], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("silver metal#1.iso: FAILED\n"));
    assert!(text(&out.stderr).contains("supply-chain anomaly: silver metal#1.iso: expected "));

    std::fs::remove_file(&iso).unwrap();
    let out = isoforge(&["check", "--release", &server.url], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("silver metal#1.iso: expected"));
    assert!(text(&out.stderr).contains("file is missing"));
    let out = isoforge(&["check", "--ignore-missing", "--release", &server.url], d);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "BUILD_INFO: OK\n");

    let out = isoforge(
        &[
            "check",
            "--release",
            &format!("{}/nothing-here", server.url),
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not found (HTTP 404)"));
}
