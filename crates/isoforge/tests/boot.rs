//! `isoforge boot` never leaves QEMU behind: not on Ctrl-C (SIGINT), not even when isoforge
//! is killed outright. Uses a disk that boots nothing, so QEMU runs until stopped; needs
//! qemu-system-x86.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn qemu_running_with(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        cmdline.starts_with("qemu-system") && cmdline.contains(needle)
    })
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An El Torito ISO whose boot image only loops: QEMU runs until stopped.
fn looping_iso(dir: &Path, name: &str) -> std::path::PathBuf {
    let tree = dir.join(format!("{name}-tree"));
    std::fs::create_dir_all(&tree).unwrap();
    let mut image = vec![0u8; 2048];
    image[..2].copy_from_slice(&[0xeb, 0xfe]);
    std::fs::write(tree.join("loop.img"), image).unwrap();
    let path = dir.join(name);
    let ok = Command::new("xorriso")
        .args([
            "-no_rc",
            "-as",
            "mkisofs",
            "-b",
            "loop.img",
            "-no-emul-boot",
        ])
        .args(["-boot-load-size", "4", "-o"])
        .arg(&path)
        .arg(&tree)
        .stderr(Stdio::null())
        .status()
        .expect("xorriso must be installed")
        .success();
    assert!(ok);
    path
}

fn interrupt_and_check(dir: &Path, signal: &str) {
    let blank = looping_iso(dir, &format!("blank-{signal}.iso"));
    let needle = blank.to_string_lossy().into_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .args(["boot", "--firmware", "bios", "--accel", "tcg", "--log-dir"])
        .arg(dir)
        .arg(&blank)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("QEMU runs", || qemu_running_with(&needle));
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Promptly, not at the boot's timeout (also where SIGINT was inherited as ignored, as in
    // a background job of a non-interactive shell).
    let mut status = None;
    wait_until(&format!("isoforge exits after {signal}"), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let status = status.unwrap();
    assert!(!status.success(), "{signal}: isoforge exited with {status}");
    wait_until(&format!("QEMU is gone after {signal}"), || {
        !qemu_running_with(&needle)
    });
}

#[test]
fn qemu_dies_with_isoforge() {
    let dir = tempfile::tempdir().unwrap();
    interrupt_and_check(dir.path(), "INT");
    interrupt_and_check(dir.path(), "KILL");
}

/// A file that is not a bootable ISO is one error line (exit 2), fast, before QEMU; nothing
/// is written beside it (logs go to the working directory or --log-dir, never there).
#[test]
fn not_an_iso_is_refused_and_nothing_written_beside_it() {
    let inputs = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let file = inputs.path().join("notaniso");
    std::fs::write(&file, "silvermetal\n").unwrap();
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .arg("boot")
        .arg(&file)
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not a bootable ISO"), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "refused before QEMU"
    );
    let names = |d: &Path| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(inputs.path()), ["notaniso"]);
    assert!(names(cwd.path()).is_empty(), "{:?}", names(cwd.path()));
}
