//! Hooks run for real: `unshare` and `chroot` into a small real root file system (the host's
//! own bash, coreutils and their libraries, copied), loaded from a real `config/hooks/`.
//! Needs root (as the build does).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use isoforge_exec::{Progress, Runner, ToolEnv};
use isoforge_inputs::hooks;
use isoforge_rootfs::hooks::{run_binary, run_chroot};

const EPOCH: i64 = 1_700_000_000;

fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: needs root (unshare, mount, chroot)");
    false
}

/// Copies `bin` (resolved) and the libraries `ldd` names into `root`.
fn install(root: &Path, bin: &str) {
    let real = fs::canonicalize(bin).unwrap();
    let mut cmd = isoforge_exec::process::tool("ldd");
    cmd.arg(&real);
    let out = String::from_utf8(isoforge_exec::process::capture(cmd).unwrap()).unwrap();
    let mut files: Vec<PathBuf> = vec![real.clone()];
    for w in out.split_whitespace().filter(|w| w.starts_with('/')) {
        files.push(PathBuf::from(w));
    }
    for f in files {
        let to = root.join(f.strip_prefix("/").unwrap());
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&f, &to).unwrap();
    }
    let link = root.join(bin.trim_start_matches('/'));
    if !link.exists() {
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
    }
}

/// A tiny real root: bash as /bin/sh, and the coreutils the hooks use.
fn rootfs() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    for bin in [
        "/usr/bin/bash",
        "/usr/bin/env",
        "/usr/bin/sort",
        "/usr/bin/cat",
        "/usr/bin/date",
        "/usr/bin/ls",
        "/usr/bin/touch",
        "/usr/bin/tr",
        "/usr/bin/sleep",
    ] {
        install(r, bin);
    }
    for d in ["bin", "etc", "tmp", "run", "dev", "proc", "root"] {
        let p = r.join(d);
        if !p.exists() {
            fs::create_dir_all(&p).unwrap();
        }
    }
    for b in ["sh", "bash"] {
        let p = r.join("bin").join(b);
        if !p.exists() {
            std::os::unix::fs::symlink("/usr/bin/bash", p).unwrap();
        }
    }
    fs::set_permissions(r.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    // Something the image already had in /tmp: the hooks must not see it, and it stays.
    fs::write(r.join("tmp/from-the-image"), "x").unwrap();
    d
}

/// `config/hooks/` with these `(name, script)` files, executable.
fn config(hooks: &[(&str, &str)]) -> (tempfile::TempDir, Vec<hooks::Hook>) {
    let c = tempfile::tempdir().unwrap();
    fs::create_dir(c.path().join(hooks::DIR)).unwrap();
    for (name, text) in hooks {
        let p = c.path().join(hooks::DIR).join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let loaded = hooks::load(c.path()).unwrap();
    (c, loaded)
}

fn runner(dir: &Path) -> Runner {
    let env = ToolEnv::new(EPOCH, &dir.join("home"), &dir.join("tmp"));
    Runner::new(env, &dir.join("logs"), Progress::plain(false)).unwrap()
}

fn no_mounts_under(p: &Path) {
    assert!(
        isoforge_fs::mounts_under(p).unwrap().is_empty(),
        "mounts left under {}",
        p.display()
    );
}

#[test]
fn chroot_hooks_run_in_order_offline_with_the_build_env_and_a_clean_tmp() {
    if !require_root() {
        return;
    }
    let root = rootfs();
    let (_c, hooks) = config(&[
        (
            "20-second.hook.chroot",
            "#!/bin/sh\necho second >> /etc/order\n",
        ),
        (
            "10-first.hook.chroot",
            "#!/bin/sh\nset -e\necho first >> /etc/order\nenv | sort\necho \"umask $(umask)\"\n\
             echo \"tmp: $(ls -A /tmp | tr '\\n' ' ')\"\necho \"cwd: $PWD\"\n\
             touch /tmp/left-by-the-hook\ntest -c /dev/null && echo dev-null-ok\n\
             ls /proc/self/ns >/dev/null && echo proc-ok\n",
        ),
        ("05-binary.hook.binary", "#!/bin/sh\necho not here\n"),
    ]);
    let work = tempfile::tempdir().unwrap();
    let r = runner(work.path());
    let stage = r.progress().stage("hooks");
    let ran = run_chroot(
        &r,
        &stage,
        &hooks,
        root.path(),
        &work.path().join("scratch"),
        EPOCH,
    )
    .unwrap();
    assert_eq!(
        ran.iter().map(|r| r.hook.as_str()).collect::<Vec<_>>(),
        ["hooks/10-first.hook.chroot", "hooks/20-second.hook.chroot"]
    );
    assert_eq!(
        fs::read_to_string(root.path().join("etc/order")).unwrap(),
        "first\nsecond\n"
    );
    assert_eq!(ran[0].wrote, ["/etc/order"]);
    assert_eq!(ran[1].wrote, ["/etc/order"]);
    let log = fs::read_to_string(work.path().join("logs/hooks/10-first.hook.chroot.log")).unwrap();
    let env: Vec<&str> = log
        .lines()
        .filter(|l| l.contains('=') && !l.starts_with('$'))
        .collect();
    for want in [
        "SOURCE_DATE_EPOCH=1700000000",
        "LC_ALL=C.UTF-8",
        "TZ=UTC",
        "HOME=/root",
        "TMPDIR=/tmp",
    ] {
        assert!(env.contains(&want), "{want} not in the hook's env:\n{log}");
    }
    // Nothing of the caller's leaks (cargo sets these for tests).
    assert!(!log.contains("CARGO"), "{log}");
    assert!(log.contains("\numask 0022\n"), "{log}");
    assert!(
        log.contains("\ntmp: \n"),
        "the hook's /tmp was not clean:\n{log}"
    );
    assert!(log.contains("\ncwd: /\n"), "{log}");
    assert!(
        log.contains("dev-null-ok") && log.contains("proc-ok"),
        "{log}"
    );
    // The hook's /tmp is gone with it; the image's own /tmp is as it was.
    assert!(!root.path().join("tmp/left-by-the-hook").exists());
    assert!(root.path().join("tmp/from-the-image").exists());
    assert!(
        fs::read_dir(root.path().join("dev"))
            .unwrap()
            .next()
            .is_none()
    );
    no_mounts_under(root.path());
}

#[test]
fn a_failing_hook_names_itself_and_its_status_and_stops() {
    if !require_root() {
        return;
    }
    let root = rootfs();
    let (_c, hooks) = config(&[
        (
            "10-fail.hook.chroot",
            "#!/bin/sh\necho 'something went wrong' >&2\nexit 3\n",
        ),
        ("20-after.hook.chroot", "#!/bin/sh\ntouch /etc/after\n"),
    ]);
    let work = tempfile::tempdir().unwrap();
    let r = runner(work.path());
    let stage = r.progress().stage("hooks");
    let e = run_chroot(
        &r,
        &stage,
        &hooks,
        root.path(),
        &work.path().join("s"),
        EPOCH,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "hook hooks/10-fail.hook.chroot exited with status 3: something went wrong (full log: \
         logs/hooks/10-fail.hook.chroot.log; hooks run offline, with a clean /tmp)"
    );
    assert_eq!(e.lines().count(), 1);
    assert!(!root.path().join("etc/after").exists(), "a later hook ran");
    no_mounts_under(root.path());
}

#[test]
fn a_hook_that_tries_the_network_fails_saying_hooks_run_offline() {
    if !require_root() {
        return;
    }
    let root = rootfs();
    // bash's /dev/tcp: a real connect(2) to a public address.
    let (_c, hooks) = config(&[(
        "10-net.hook.chroot",
        "#!/bin/bash\nset -e\nexec 3<>/dev/tcp/1.1.1.1/80\necho connected\n",
    )]);
    let work = tempfile::tempdir().unwrap();
    let r = runner(work.path());
    let stage = r.progress().stage("hooks");
    let e = run_chroot(
        &r,
        &stage,
        &hooks,
        root.path(),
        &work.path().join("s"),
        EPOCH,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("hook hooks/10-net.hook.chroot exited with status 1: it tried the network"),
        "{e}"
    );
    assert!(e.contains("hooks run offline"), "{e}");
    let log = fs::read_to_string(work.path().join("logs/hooks/10-net.hook.chroot.log")).unwrap();
    assert!(!log.contains("connected"), "{log}");
    no_mounts_under(root.path());
}

#[test]
fn a_tmp_symlink_in_the_image_is_refused_and_the_host_untouched() {
    if !require_root() {
        return;
    }
    let root = rootfs();
    let host = tempfile::tempdir().unwrap();
    fs::write(host.path().join("host-file"), "host").unwrap();
    fs::remove_dir_all(root.path().join("tmp")).unwrap();
    std::os::unix::fs::symlink(host.path(), root.path().join("tmp")).unwrap();
    let (_c, hooks) = config(&[("10-a.hook.chroot", "#!/bin/sh\ntouch /tmp/x\n")]);
    let work = tempfile::tempdir().unwrap();
    let r = runner(work.path());
    let stage = r.progress().stage("hooks");
    let e = run_chroot(
        &r,
        &stage,
        &hooks,
        root.path(),
        &work.path().join("s"),
        EPOCH,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("the image's /tmp is a symbolic link"), "{e}");
    no_mounts_under(host.path());
    assert_eq!(
        fs::read_dir(host.path()).unwrap().count(),
        1,
        "the host directory changed"
    );
}

#[test]
fn binary_hooks_run_in_the_iso_tree_offline_with_a_clean_tmp() {
    if !require_root() {
        return;
    }
    let staging = tempfile::tempdir().unwrap();
    fs::create_dir(staging.path().join("live")).unwrap();
    fs::write(staging.path().join("live/filesystem.squashfs"), "sq").unwrap();
    let (_c, hooks) = config(&[
        (
            "10-readme.hook.binary",
            "#!/bin/sh\nset -e\necho \"tmp: $(ls -A /tmp | tr '\\n' ' ')\"\n\
             echo \"umask $(umask)\"\nls live\necho hello > README.hook\ntouch /tmp/scratch\n",
        ),
        ("20-image.hook.chroot", "#!/bin/sh\nexit 9\n"),
    ]);
    let work = tempfile::tempdir().unwrap();
    let r = runner(work.path());
    let stage = r.progress().stage("hooks");
    let ran = run_binary(
        &r,
        &stage,
        &hooks,
        staging.path(),
        &work.path().join("s"),
        EPOCH,
    )
    .unwrap();
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0].wrote, ["/README.hook"]);
    assert_eq!(
        fs::read_to_string(staging.path().join("README.hook")).unwrap(),
        "hello\n"
    );
    let log = fs::read_to_string(work.path().join("logs/hooks/10-readme.hook.binary.log")).unwrap();
    assert!(log.contains("\ntmp: \n"), "{log}");
    assert!(log.contains("\numask 0022\n"), "{log}");
    assert!(log.contains("\nfilesystem.squashfs\n"), "{log}");
    no_mounts_under(staging.path());
}

/// A hook that leaves a daemon behind: its PID namespace ends with it, so the daemon is
/// killed, and the build goes on at once.
#[test]
fn what_a_hook_leaves_running_is_killed() {
    if !require_root() {
        return;
    }
    let root = rootfs();
    let marker = format!("isoforge-hook-daemon-{}", std::process::id());
    let (_c, hooks) = config(&[(
        "10-daemon.hook.chroot",
        &format!(
            "#!/bin/bash
(exec -a {marker} sleep 300) >/dev/null 2>&1 &
echo started
"
        ),
    )]);
    let work = tempfile::tempdir().unwrap();
    let r = runner(work.path());
    let stage = r.progress().stage("hooks");
    let start = std::time::Instant::now();
    run_chroot(
        &r,
        &stage,
        &hooks,
        root.path(),
        &work.path().join("s"),
        EPOCH,
    )
    .unwrap();
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    let alive = || {
        fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .any(|e| {
                fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes()))
            })
    };
    // The kernel reaps the namespace's processes as its init exits; give it a moment.
    let mut tries = 0;
    while alive() && tries < 50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        tries += 1;
    }
    assert!(!alive(), "the hook's daemon is still running");
    let log = fs::read_to_string(work.path().join("logs/hooks/10-daemon.hook.chroot.log")).unwrap();
    assert!(log.contains("started"), "{log}");
    no_mounts_under(root.path());
}
