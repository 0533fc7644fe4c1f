//! A normalized live ISO still boots, under BIOS and under UEFI, in QEMU with a real kernel:
//! the ISO is `ISOFORGE_TEST_ISO` (CI passes the default ISO it built; the epoch comes from the
//! BUILD_INFO beside it, else `ISOFORGE_TEST_EPOCH`), normalized with the committed profile.
//! Without it the test fails and says so. Console logs stay in `target/tmp/normalize-boot/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use isoforge_boot::{Firmware, Options, boot};
use isoforge_exec::Progress;

fn epoch_of(iso: &Path) -> i64 {
    if let Ok(e) = std::env::var("ISOFORGE_TEST_EPOCH") {
        return e.parse().expect("ISOFORGE_TEST_EPOCH: seconds");
    }
    let info = iso.with_file_name("BUILD_INFO");
    let text = std::fs::read_to_string(&info)
        .unwrap_or_else(|e| panic!("{}: {e}; set ISOFORGE_TEST_EPOCH instead", info.display()));
    text.lines()
        .find_map(|l| l.strip_prefix("Source-Date-Epoch: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("BUILD_INFO has Source-Date-Epoch")
}

#[test]
fn normalized_default_iso_boots_under_bios_and_uefi() {
    let Some(iso) = std::env::var_os("ISOFORGE_TEST_ISO").map(PathBuf::from) else {
        panic!("ISOFORGE_TEST_ISO is not set: set it to the default ISO isoforge built");
    };
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("normalize-boot");
    std::fs::create_dir_all(&out_dir).unwrap();
    let work = tempfile::tempdir_in(&out_dir).unwrap();
    let out = work.path().join("normalized.iso");
    let report = isoforge_normalize::normalize(
        &isoforge_normalize::Options {
            input: iso.clone(),
            output: out.clone(),
            epoch: epoch_of(&iso),
            table: isoforge_offenders::Table::load(&config).unwrap(),
            mksquashfs_options: isoforge_inputs::Profile::load(
                &config,
                isoforge_inputs::flavors::select(&config, None)
                    .unwrap()
                    .as_ref(),
            )
            .unwrap()
            .mksquashfs_options,
            max_unpacked: None,
            force: false,
        },
        &Progress::plain(false),
    )
    .unwrap();
    eprintln!("{}", report.render());
    assert_eq!(report.iso.boot_platforms, ["BIOS", "UEFI"]);
    for firmware in [Firmware::Bios, Firmware::Uefi] {
        let mut o = Options::new(
            &out,
            firmware,
            out_dir.join(format!("{}.log", firmware.name())),
        );
        // A bound for a hung boot, not a speed claim: TCG on a shared machine.
        o.timeout = Duration::from_secs(900);
        let r = boot(&o, &mut |_| {}).unwrap();
        assert!(
            r.passed(),
            "{} boot of the normalized ISO failed: {:?}\n  log {}\n    {}",
            firmware.name(),
            r.result,
            r.log.display(),
            r.tail.join("\n    ")
        );
        eprintln!(
            "{} boot: {:?} after {:?}",
            firmware.name(),
            r.result,
            r.elapsed
        );
    }
}
