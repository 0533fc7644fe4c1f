//! A build that is interrupted leaves nothing that looks complete under `output/<build-id>/`,
//! no mounts and no processes behind: Ctrl-C (SIGINT) unwinds cleanly, and even `kill -9`
//! of isoforge takes mmdebstrap and its mounts with it (they live in the build's PID and
//! mount namespace).

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Repo, require_root};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// PIDs (host view) of processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline"))
            && String::from_utf8_lossy(&cmd).contains(needle)
            && pid != std::process::id() as i32
        {
            out.push(pid);
        }
    }
    out
}

/// Waits until mmdebstrap runs for this build and has mounted something in the rootfs
/// (visible only inside the build's mount namespace, through mmdebstrap's own mountinfo).
fn wait_for_mounted_mmdebstrap(output: &Path, child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(600);
    let needle = output.display().to_string();
    while Instant::now() < deadline {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the build ended before it could be interrupted"
        );
        for pid in processes_mentioning(&needle) {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let mounts =
                std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
            if comm.trim() == "mmdebstrap"
                && mounts
                    .lines()
                    .any(|l| l.contains(&needle) && l.contains("/rootfs/"))
            {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("mmdebstrap never mounted anything in the rootfs");
}

fn assert_nothing_left(repo: &Repo, allow_failed_logs: bool) {
    let needle = repo.output().display().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes_mentioning(&needle).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        processes_mentioning(&needle).is_empty(),
        "processes of the build are still running"
    );
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host_mounts.contains(&needle),
        "a mount is left on the host: {host_mounts}"
    );
    for name in repo.output_entries() {
        let complete_looking = !name.starts_with('.') && !name.ends_with(".failed");
        assert!(!complete_looking, "{name} looks like a result");
        if name.ends_with(".failed") {
            assert!(allow_failed_logs, "unexpected {name}");
            let dir = repo.output().join(&name);
            assert!(!dir.join("BUILD_INFO").exists() && !dir.join("SHA256SUMS").exists());
        }
    }
}

#[test]
fn sigkill_leaves_no_mounts_processes_or_result() {
    require_root();
    let repo = Repo::with_default_profile();
    let mut child = repo
        .isoforge()
        .arg("build")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_mounted_mmdebstrap(&repo.output(), &mut child);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    assert_nothing_left(&repo, false);
    // What it left is hidden, and the next build sweeps it away.
    assert!(
        repo.output_entries()
            .iter()
            .all(|n| n.starts_with(".isoforge-tmp-"))
    );
    // A build that fails fast, but after preparing its output directory.
    repo.break_lock();
    repo.commit("fail fast");
    let out = repo.build(&[]);
    assert!(
        common::stderr(&out).contains("mmdebstrap exited with status"),
        "{}",
        common::stderr(&out)
    );
    assert!(
        repo.output_entries()
            .iter()
            .all(|n| !n.starts_with(".isoforge-tmp-")),
        "stale temporary directory not swept: {:?}",
        repo.output_entries()
    );
}

#[test]
fn ctrl_c_unwinds_cleanly() {
    require_root();
    let repo = Repo::with_default_profile();
    let mut child = repo
        .isoforge()
        .arg("build")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_mounted_mmdebstrap(&repo.output(), &mut child);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cancelled"), "{err}");
    assert_nothing_left(&repo, true);
    assert!(
        repo.output_entries()
            .iter()
            .all(|n| !n.starts_with(".isoforge-tmp-")),
        "Ctrl-C must remove the temporary directory: {:?}",
        repo.output_entries()
    );
}
