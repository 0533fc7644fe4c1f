//! Cancellation while a tool prints without pause: the cancel flag is process-wide, so these
//! tests live in their own test binary.

use std::time::{Duration, Instant};

use isoforge_exec::{Error, Progress, Runner, ToolEnv, cancel, process};

#[test]
fn cancel_is_honoured_while_output_streams() {
    let dir = tempfile::tempdir().unwrap();
    let env = ToolEnv::new(1_700_000_000, dir.path(), dir.path());
    let r = Runner::new(env, &dir.path().join("logs"), Progress::plain(false)).unwrap();
    let stage = r.progress().stage("test");
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(1500));
        cancel::cancel();
    });
    let start = Instant::now();
    // `yes` never pauses: every turn of the read loop has data waiting.
    let mut cmd = r.command("yes");
    cmd.arg("a line of output that never ends");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(r.run(&stage, "yes", cmd));
    });
    // Fails rather than hangs if the cancel is never seen.
    let res = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the runner did not honour the cancel within 20 s");
    let took = start.elapsed();
    assert!(matches!(res, Err(Error::Cancelled)), "{res:?}");
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let log = std::fs::read_to_string(dir.path().join("logs/yes.log")).unwrap();
    assert!(log.ends_with("isoforge: cancelled\n"));

    // Once cancelled, nothing new starts, captured or not.
    let start = Instant::now();
    let res = process::capture(process::tool("yes"));
    assert!(matches!(res, Err(Error::Cancelled)), "{res:?}");
    assert!(start.elapsed() < Duration::from_secs(1));
}
