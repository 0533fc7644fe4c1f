//! `isoforge diff` as a program: exit codes, formats, output files, the diffoscope hand-off,
//! and that nothing is written outside the given output and temporary directory.

use std::path::Path;
use std::process::Command;

fn sh(dir: &Path, script: &str) {
    let ok = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "{script}");
}

fn isoforge(cwd: &Path, tmpdir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .arg("diff")
        .args(args)
        .current_dir(cwd)
        .env("TMPDIR", tmpdir)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn exit_codes_formats_and_output() {
    let d = tempfile::tempdir().unwrap();
    let (cwd, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sh(
        d.path(),
        "printf 'a\\nb\\n' > x; cp x same; printf 'a\\nc\\n' > y; mkdir dir",
    );
    let p = |n: &str| d.path().join(n).display().to_string();

    let o = isoforge(cwd.path(), tmp.path(), &[&p("x"), &p("same")]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = isoforge(cwd.path(), tmp.path(), &[&p("x"), &p("y")]);
    assert_eq!(o.status.code(), Some(1));
    // Causes first: the changed line with both values; the unified diff with --full.
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("content: b vs c"), "{out}");
    assert!(!out.contains("+c"), "{out}");
    let o = isoforge(cwd.path(), tmp.path(), &["--full", &p("x"), &p("y")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("+c"));
    let o = isoforge(cwd.path(), tmp.path(), &[&p("x"), &p("missing")]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("isoforge: error:") && err.contains("missing") && err.lines().count() == 1,
        "{err}"
    );
    let o = isoforge(cwd.path(), tmp.path(), &[&p("x"), &p("dir")]);
    assert_eq!(o.status.code(), Some(2));

    let o = isoforge(
        cwd.path(),
        tmp.path(),
        &["--format", "json", &p("x"), &p("y")],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["identical"], false);
    assert_eq!(v["differing_bytes"], 1);
    assert_eq!(v["causes"][0]["places"][0]["b"], "c");

    let html = d.path().join("r.html");
    let o = isoforge(
        cwd.path(),
        tmp.path(),
        &[
            "--format",
            "html",
            "--output",
            &html.display().to_string(),
            &p("x"),
            &p("y"),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("different:"),
        "summary line on stderr"
    );

    let o = isoforge(
        cwd.path(),
        tmp.path(),
        &["--source-date-epoch", "nope", &p("x"), &p("y")],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .args(["diff", &p("x"), &p("y")])
        .env("SOURCE_DATE_EPOCH", "12x")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("SOURCE_DATE_EPOCH"));

    assert!(
        empty(cwd.path()) && empty(tmp.path()),
        "nothing may be left behind"
    );
}

/// A member with a hostile name is handed to diffoscope from inside the temporary directory.
#[test]
fn diffoscope_gets_one_member_and_nothing_escapes() {
    for (tool, pkg) in [("cpio", "cpio"), ("diffoscope", "diffoscope-minimal")] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .status()
                .unwrap()
                .success(),
            "missing {tool}: apt-get install {pkg}"
        );
    }
    let d = tempfile::tempdir().unwrap();
    let (cwd, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sh(
        d.path(),
        "mkdir -p w/in; echo one > w/esc; (cd w/in && printf '../esc\\n' | cpio -o -H newc --quiet > ../../a.cpio)
         echo two > w/esc; (cd w/in && printf '../esc\\n' | cpio -o -H newc --quiet > ../../b.cpio)",
    );
    let (a, b) = (
        d.path().join("a.cpio").display().to_string(),
        d.path().join("b.cpio").display().to_string(),
    );
    let o = isoforge(cwd.path(), tmp.path(), &["--diffoscope", "--", &a, &b]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("== diffoscope on a.cpio ↔ b.cpio › /../esc =="),
        "{out}"
    );
    assert!(out.contains("A-esc") && out.contains("B-esc"), "{out}");
    assert!(
        empty(cwd.path()) && empty(tmp.path()),
        "nothing may be left behind"
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("w/esc")).unwrap(),
        "two\n",
        "the file named by ../ was not touched"
    );
}

/// A missing input is one line that names the operation and the path, and says the OS
/// error once.
#[test]
fn missing_input_is_said_once() {
    let (cwd, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let missing = cwd.path().join("nonexist");
    let o = isoforge(
        cwd.path(),
        tmp.path(),
        &[&missing.display().to_string(), "x"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err.matches("No such file or directory (os error 2)")
            .count(),
        1,
        "{err}"
    );
    assert!(
        err.contains(&format!("cannot read {}", missing.display())),
        "{err}"
    );
}

/// Decompression bombs against a total budget: two streams that each fit but together do
/// not are refused (exit 2, naming the budget and the flag), and nothing is left in TMPDIR.
#[test]
fn total_spool_budget_is_a_clean_error() {
    let d = tempfile::tempdir().unwrap();
    let (cwd, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sh(
        d.path(),
        "head -c 12M /dev/zero | zstd -q -c > a.zst; head -c 12M /dev/zero | tr '\\0' a | zstd -q -c > b.zst; \
         mkdir x y; head -c 2G /dev/zero | zstd -q -c > x/bomb.zst; \
         head -c 2G /dev/zero | zstd -q -c --no-check > y/bomb.zst; \
         tar -cf bombs.tar -C x bomb.zst; tar -cf bombs2.tar -C y bomb.zst",
    );
    let p = |n: &str| d.path().join(n).display().to_string();
    let o = isoforge(
        cwd.path(),
        tmp.path(),
        &["--max-spool", "16M", &p("a.zst"), &p("b.zst")],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("decompression budget of 16 MiB"), "{err}");
    assert!(err.contains("--max-spool SIZE"), "{err}");
    // Each stream alone fits.
    let o = isoforge(
        cwd.path(),
        tmp.path(),
        &["--max-spool", "16M", &p("a.zst"), &p("a.zst")],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A 2 GiB bomb nested in a tar, against the 64 MiB budget: refused quickly.
    let start = std::time::Instant::now();
    let o = isoforge(
        cwd.path(),
        tmp.path(),
        &["--max-spool", "64M", &p("bombs.tar"), &p("bombs2.tar")],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("decompression budget of 64 MiB"), "{err}");
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    assert!(
        empty(cwd.path()) && empty(tmp.path()),
        "nothing left behind"
    );
}

/// `--config DIR`: the profile's offenders.conf names a file in the hints; a bad rule is one
/// line with file and line, exit 2, and no report.
#[test]
fn config_adds_the_profiles_offenders() {
    let d = tempfile::tempdir().unwrap();
    let (cwd, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sh(
        d.path(),
        "mkdir -p a/opt/vendor b/opt/vendor cfg; echo 1 > a/opt/vendor/x.stamp
         echo 2 > b/opt/vendor/x.stamp
         echo 'remove opt/vendor/*.stamp  # the vendor run id' > cfg/offenders.conf",
    );
    let p = |n: &str| d.path().join(n).display().to_string();
    let out = isoforge(
        cwd.path(),
        tmp.path(),
        &[&p("a"), &p("b"), "--config", &p("cfg")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("[profile] /opt/vendor/x.stamp")
            && text.contains("the vendor run id (profile rule, offenders.conf:1)"),
        "{text}"
    );
    let out = isoforge(cwd.path(), tmp.path(), &[&p("a"), &p("b")]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("[profile]"));

    std::fs::write(
        d.path().join("cfg/offenders.conf"),
        "# x\nremove ../etc/shadow  # escape\n",
    )
    .unwrap();
    let out = isoforge(
        cwd.path(),
        tmp.path(),
        &[&p("a"), &p("b"), "--config", &p("cfg")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cfg/offenders.conf:2: ../etc/shadow: a `..`"),
        "{err}"
    );
    assert!(empty(tmp.path()));
}
