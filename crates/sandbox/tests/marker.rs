//! `ISOFORGE_BUILD_NAMESPACE` in the environment does not make a process "inside": only the
//! re-executed build, PID 1 of its new PID namespace, is. A test binary of its own: the test
//! re-executes this binary, as the build re-executes isoforge.

use isoforge_sandbox::{Entered, enter_build_namespace};

#[test]
fn the_marker_alone_does_not_skip_the_namespace() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (namespaces); run the test suite as root"
    );
    if nix::unistd::getpid().as_raw() == 1 {
        // The re-executed copy: inside, and it says so.
        assert_eq!(enter_build_namespace().unwrap(), Entered::Inside);
        return;
    }
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe { std::env::set_var("ISOFORGE_BUILD_NAMESPACE", "1") };
    // In a thread of its own: after unshare(CLONE_NEWPID) the calling thread cannot make
    // threads, and the test harness still needs to.
    let entered = std::thread::spawn(enter_build_namespace)
        .join()
        .unwrap()
        .unwrap();
    // Not Inside: the build ran again in a new namespace (as PID 1), and passed there.
    assert_eq!(entered, Entered::Exited(0));
}
