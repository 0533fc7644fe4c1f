//! Pinning a FAT image (the UEFI El Torito image): two images that differ only in their
//! serial and their entries' dates (as two mformat/mkfs.fat runs do) become the same bytes,
//! and every date and the serial read back, through the formats parser, as the epoch.

use std::path::Path;

use isoforge_formats::fat::{FatType, parse};
use isoforge_formats::{Limits, Value};

const EPOCH: i64 = 1_700_000_000;

fn sh(script: &str, cwd: &Path) {
    let mut c = isoforge_exec::tool("sh");
    c.args(["-ec", script]).current_dir(cwd);
    isoforge_exec::capture(c).unwrap_or_else(|e| panic!("{script}: {e}"));
}

/// A FAT image of `kib` KiB (`mkfs` options `opts`) with nested directories, long names and
/// files whose mtimes are `mtime`.
fn image(d: &Path, name: &str, opts: &str, kib: u32, serial: &str, mtime: i64) {
    sh(
        &format!(
            "rm -rf src-{name} && mkdir -p src-{name} && cd src-{name} && \
             head -c 70000 /dev/zero > BOOTX64.EFI && echo cfg > 'grub config.cfg' && \
             touch -d @{mtime} BOOTX64.EFI 'grub config.cfg' && cd .. && \
             mkfs.fat {opts} -C -i {serial} {name} {kib} >/dev/null && \
             mmd -i {name} ::/EFI ::/EFI/BOOT ::/EFI/BOOT/deeper ::/boot && \
             mcopy -m -i {name} src-{name}/BOOTX64.EFI ::/EFI/BOOT/ && \
             mcopy -m -i {name} 'src-{name}/grub config.cfg' ::/EFI/BOOT/deeper/ && \
             mcopy -m -i {name} 'src-{name}/grub config.cfg' ::/boot/"
        ),
        d,
    );
}

fn check(opts: &str, kib: u32, kind: FatType) {
    let d = tempfile::tempdir().unwrap();
    image(d.path(), "a.img", opts, kib, "1234abcd", 1_000_000_000);
    image(d.path(), "b.img", opts, kib, "deadbeef", 1_100_000_000);
    let (a, b) = (d.path().join("a.img"), d.path().join("b.img"));
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let ra = isoforge_normalize::fat::pin(&a, "a.img", EPOCH).unwrap();
    let rb = isoforge_normalize::fat::pin(&b, "b.img", EPOCH).unwrap();
    let (ia, ib) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(ia == ib, "{opts}: pinned images differ");
    assert_eq!(ra.serial_from, "1234abcd");
    assert_eq!(rb.serial_from, "deadbeef");
    assert_eq!(ra.serial_to, format!("{:08x}", EPOCH as u32));
    assert_eq!(ra.fat_type, format!("{kind:?}").to_uppercase());
    // Every directory, file and dot entry: 7 named entries (EFI, BOOT, deeper, BOOTX64.EFI,
    // two config files, boot) and 2 dot entries in each of the 4 directories.
    assert_eq!(ra.entries_pinned, 7 + 2 * 4, "{ra:?}");
    let fs = parse(&std::sync::Arc::new(ia), &Limits::default()).unwrap();
    assert_eq!(fs.kind, kind);
    assert_eq!(fs.volume_serial, EPOCH as u32);
    assert_eq!(fs.entries.len(), 7);
    for e in &fs.entries {
        for m in &e.meta {
            match &m.value {
                Value::Time(t) if m.name.contains("access") => {
                    assert_eq!(t.unix, EPOCH - EPOCH % 86400, "{} {}", e.path, m.name)
                }
                Value::Time(t) => assert_eq!(t.unix, EPOCH, "{} {}", e.path, m.name),
                _ => {}
            }
        }
    }
    // Pinning again changes nothing.
    isoforge_normalize::fat::pin(&a, "a.img", EPOCH).unwrap();
    assert!(std::fs::read(&a).unwrap() == ib);
}

#[test]
fn fat12_and_fat32_images_are_pinned_to_the_epoch() {
    check("", 2048, FatType::Fat12);
    check("-F 32 -s 1", 40000, FatType::Fat32);
}

#[test]
fn a_non_fat_file_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("efi.img");
    std::fs::write(&p, vec![0u8; 4096]).unwrap();
    let e = isoforge_normalize::fat::pin(&p, "/boot/grub/efi.img", EPOCH).unwrap_err();
    assert!(
        e.to_string()
            .contains("/boot/grub/efi.img: not a FAT file system"),
        "{e}"
    );
    assert_eq!(std::fs::read(&p).unwrap(), vec![0u8; 4096]);
}
