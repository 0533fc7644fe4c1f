//! Real boots in QEMU. The ISO comes from `ISOFORGE_TEST_ISO` (CI builds the default ISO first
//! and passes its path); without it the tests that need it fail and say so. Optional:
//! `ISOFORGE_TEST_MARKER` (a regex, e.g. `login:` for an image without isoforge's boot-marker
//! unit) and `ISOFORGE_TEST_EXPECT` (the marker text, e.g. `SilverMetal Linux 1.1.0`).
//! Console logs stay in `target/tmp/boot-test-logs/` for diagnosis.
//!
//! Boots run one at a time (a lock): they share two cores with everything else, and TCG boots
//! take one to three minutes each.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use isoforge_boot::{Accel, Engine, Failure, Firmware, Marker, Options, Report, Sign, Stage, boot};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn test_iso() -> PathBuf {
    let Some(iso) = std::env::var_os("ISOFORGE_TEST_ISO") else {
        panic!(
            "ISOFORGE_TEST_ISO is not set: set it to a bootable live ISO (CI passes the default \
             ISO it built; for an image without the isoforge-boot-ok unit also set \
             ISOFORGE_TEST_MARKER='login:')"
        );
    };
    let iso = PathBuf::from(iso);
    assert!(
        iso.is_file(),
        "ISOFORGE_TEST_ISO={}: no such file",
        iso.display()
    );
    iso
}

/// `ISOFORGE_TEST_ACCEL` (`kvm`, `tcg`; default `auto`) for the boots that do not test the
/// KVM probe itself.
fn test_accel() -> Accel {
    match std::env::var("ISOFORGE_TEST_ACCEL").as_deref() {
        Ok("kvm") => Accel::Kvm,
        Ok("tcg") => Accel::Tcg,
        Ok("auto") | Err(_) => Accel::Auto,
        Ok(other) => panic!("ISOFORGE_TEST_ACCEL={other}: expected auto, kvm or tcg"),
    }
}

fn log_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("boot-test-logs");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn options(iso: &Path, firmware: Firmware, log_name: &str) -> Options {
    let mut o = Options::new(iso, firmware, log_dir().join(log_name));
    if let Ok(m) = std::env::var("ISOFORGE_TEST_MARKER") {
        o.marker = Marker::new(&m).expect("ISOFORGE_TEST_MARKER must be a valid regex");
    }
    o.expect = std::env::var("ISOFORGE_TEST_EXPECT").ok();
    // A bound for a hung boot, not a speed claim: CI boots under TCG while it builds.
    o.timeout = Duration::from_secs(900);
    o
}

fn run(o: &Options) -> Report {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let r = boot(o, &mut |e| eprintln!("{e:?}")).unwrap();
    eprintln!(
        "{} {:?} after {:?} ({}): {:?}; log {}",
        r.firmware.name(),
        r.result,
        r.elapsed,
        r.engine.name(),
        r.kvm_fallback,
        r.log.display()
    );
    assert!(
        !qemu_running_with(&o.iso),
        "a QEMU process with {} is still running",
        o.iso.display()
    );
    r
}

/// Whether any process is QEMU with `iso` on its command line.
fn qemu_running_with(iso: &Path) -> bool {
    let needle = iso.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        cmdline.starts_with("qemu-system") && cmdline.contains(&needle)
    })
}

fn assert_passed(r: &Report) {
    let tail = r.tail.join("\n    ");
    assert!(
        r.passed(),
        "{} boot failed: {:?}\n  log {}\n    {tail}",
        r.firmware.name(),
        r.result,
        r.log.display()
    );
    let log = std::fs::read(&r.log).unwrap();
    assert!(!log.is_empty());
}

#[test]
fn boots_under_bios() {
    let iso = test_iso();
    let r = run(&options(&iso, Firmware::Bios, "bios.log"));
    assert_passed(&r);
}

#[test]
fn boots_under_uefi() {
    let iso = test_iso();
    let mut o = options(&iso, Firmware::Uefi, "uefi.log");
    // The KVM probe and its TCG fallback are exercised by the BIOS boot; where KVM hangs,
    // probing again would only add its timeout.
    o.accel = test_accel();
    let r = run(&o);
    assert_passed(&r);
}

/// The check itself is tested: the same ISO with `boot=nonexistent` on every kernel command
/// line (remastered with xorriso, boot records replayed) must fail, and fast, with a panic.
#[test]
fn broken_kernel_command_line_fails() {
    let iso = test_iso();
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let broken = break_command_line(&iso, work.path());
    let mut o = options(&broken, Firmware::Bios, "broken-bios.log");
    o.timeout = Duration::from_secs(600);
    o.accel = test_accel();
    let r = run(&o);
    assert!(!r.passed(), "the broken ISO passed: {:?}", r.result);
    // It got as far as the kernel, so the failure is the command line's, not the remaster's.
    assert!(
        r.stages.iter().any(|(s, _)| *s == Stage::Kernel),
        "the kernel never started: {:?}\n{}",
        r.result,
        r.tail.join("\n")
    );
    match &r.result {
        Err(Failure::Sign {
            sign: Sign::KernelPanic,
            line,
        }) => assert!(line.contains("Kernel panic"), "{line}"),
        other => panic!("expected a kernel panic, got {other:?}"),
    }
}

/// Writes `<work>/broken.iso`: `iso` with ` boot=nonexistent` appended to each `linux` line of
/// /boot/grub/grub.cfg, so that the initramfs has no boot script to run.
fn break_command_line(iso: &Path, work: &Path) -> PathBuf {
    let original = work.join("grub.cfg.orig");
    let out = Command::new("xorriso")
        .args(["-no_rc", "-osirrox", "on", "-indev"])
        .arg(iso)
        .args(["-extract", "/boot/grub/grub.cfg"])
        .arg(&original)
        .output()
        .expect("xorriso must be installed");
    assert!(
        out.status.success(),
        "cannot extract /boot/grub/grub.cfg from {}: {}",
        iso.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = std::fs::read_to_string(&original).unwrap();
    let mut changed = 0;
    let broken_cfg: String = cfg
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("linux ") || l.trim_start().starts_with("linuxefi ") {
                changed += 1;
                format!("{l} boot=nonexistent\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(changed > 0, "no linux line in grub.cfg:\n{cfg}");
    let new_cfg = work.join("grub.cfg");
    std::fs::write(&new_cfg, broken_cfg).unwrap();
    let broken = work.join("broken.iso");
    let out = Command::new("xorriso")
        .args(["-no_rc", "-indev"])
        .arg(iso)
        .arg("-outdev")
        .arg(&broken)
        .args(["-boot_image", "any", "replay", "-map"])
        .arg(&new_cfg)
        .args(["/boot/grub/grub.cfg", "-commit"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xorriso remaster failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    broken
}

/// An El Torito ISO whose boot image only loops (`jmp $`): it passes the bootable check,
/// then prints nothing on the serial console, so QEMU runs until stopped.
fn unbootable(dir: &Path) -> PathBuf {
    let tree = dir.join("blank-tree");
    std::fs::create_dir_all(&tree).unwrap();
    let mut image = vec![0u8; 2048];
    image[..2].copy_from_slice(&[0xeb, 0xfe]);
    std::fs::write(tree.join("loop.img"), image).unwrap();
    let path = dir.join("blank.iso");
    let out = Command::new("xorriso")
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
        .output()
        .expect("xorriso must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

#[test]
fn not_an_iso_is_refused_before_qemu() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("zeros.iso", vec![0u8; 1 << 20]),
        ("short.iso", b"hello\n".to_vec()),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let log = dir.path().join("logs/n.log");
        let o = Options::new(&file, Firmware::Bios, &log);
        let e = boot(&o, &mut |_| panic!("nothing may start")).unwrap_err();
        assert!(e.to_string().contains("not a bootable ISO"), "{e}");
        assert!(!dir.path().join("logs").exists(), "nothing written");
    }
}

#[test]
fn timeout_is_reported_and_qemu_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let blank = unbootable(dir.path());
    let mut o = Options::new(&blank, Firmware::Bios, dir.path().join("t.log"));
    o.accel = Accel::Tcg;
    o.timeout = Duration::from_secs(3);
    let r = run(&o);
    assert_eq!(r.engine, Engine::Tcg);
    assert_eq!(
        r.result,
        Err(Failure::Timeout {
            limit: Duration::from_secs(3),
            stage: None
        })
    );
    assert!(dir.path().join("t.log").is_file());
    assert!(!dir.path().join("t.log.part").exists());
}

#[test]
fn qemu_exiting_early_is_a_failure_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let blank = unbootable(dir.path());
    let mut o = Options::new(&blank, Firmware::Bios, dir.path().join("x.log"));
    o.accel = Accel::Tcg;
    // More memory than the host can reserve: QEMU refuses to start the guest.
    o.memory_mib = u32::MAX / 2;
    let r = run(&o);
    match &r.result {
        Err(Failure::QemuExited { status, stderr }) => {
            assert!(status.contains("exit status: 1"), "{status}");
            assert!(stderr.contains("memory"), "{stderr}");
        }
        other => panic!("expected QEMU to exit, got {other:?}"),
    }
}

#[test]
fn mismatched_ovmf_pair_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let blank = unbootable(dir.path());
    let mut o = Options::new(&blank, Firmware::Uefi, dir.path().join("u.log"));
    o.ovmf = Some(isoforge_boot::Ovmf {
        code: "/usr/share/OVMF/OVMF_CODE.fd".into(),
        vars: "/usr/share/OVMF/OVMF_VARS_4M.fd".into(),
    });
    let e = boot(&o, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("are not a pair"), "{e}");
}
