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

fn interrupt_and_check(dir: &Path, signal: &str) {
    let blank = dir.join(format!("blank-{signal}.iso"));
    std::fs::write(&blank, vec![0u8; 1 << 20]).unwrap();
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
