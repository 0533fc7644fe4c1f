//! Hostile input: images made by real tools, then truncated, corrupted at random (a fixed-seed
//! mutation loop that runs in every test run, next to the cargo-fuzz targets) or patched into
//! loops, absurd counts and dangerous names. Parsers must return an error or a partial result:
//! never panic, never allocate without bound.

mod common;

use std::sync::Arc;

use common::*;
use isoforge_formats::Limits;
use isoforge_formats::io::Source;

fn mutate(seed: u64, original: &[u8], rounds: usize, hot: usize) {
    let mut rng = Rng(seed);
    for _ in 0..rounds {
        let mut b = original.to_vec();
        match rng.below(4) {
            0 => b.truncate(rng.below(b.len() as u64) as usize),
            _ => {
                for _ in 0..=rng.below(8) {
                    // Mostly in the metadata-rich head, sometimes anywhere.
                    let span = if rng.below(3) == 0 {
                        b.len()
                    } else {
                        hot.min(b.len())
                    };
                    let i = rng.below(span as u64) as usize;
                    b[i] = match rng.below(3) {
                        0 => rng.next() as u8,
                        1 => 0xff,
                        _ => 0,
                    };
                }
            }
        }
        exercise(b);
    }
}

fn images() -> (tempfile::TempDir, Vec<(String, Vec<u8>)>) {
    require("mksquashfs", "squashfs-tools");
    require("xorriso", "xorriso");
    require("mkfs.fat", "dosfstools");
    require("mcopy", "mtools");
    require("cpio", "cpio");
    require("ar", "binutils");
    require("gzip", "gzip");
    require("xz", "xz-utils");
    require("zstd", "zstd");
    let d = tmp();
    sh(
        d.path(),
        &format!(
            "mkdir -p t/etc/a/b t/bin; for i in 1 2 3 4 5; do echo file $i > t/etc/f$i; done; ln -s f1 t/etc/l; head -c 20000 /dev/urandom > t/bin/x
             SOURCE_DATE_EPOCH={SDE} mksquashfs t s.xz -comp xz -noappend -no-progress >/dev/null
             SOURCE_DATE_EPOCH={SDE} mksquashfs t s.gz -comp gzip -noappend -no-progress >/dev/null
             xorriso -no_rc -as mkisofs -R -J -o i.iso t 2>/dev/null
             mkfs.fat -C -i 1234abcd f.img 1440 >/dev/null; mmd -i f.img ::/EFI; mcopy -i f.img t/etc/f1 ::/EFI/LONG-FILE-NAME.TXT
             (cd t && find . | cpio -o -H newc --quiet > ../c.cpio); (cd t && find . | cpio -o -H newc --quiet | gzip -n > ../c.gz); cat c.cpio c.gz > c.initrd
             tar --format=pax -cf t.tar -C t .; ar rc a.a t/etc/f1 t/etc/f2; xz -c t.tar > t.tar.xz; zstd -q -c t.tar > t.tar.zst"
        ),
    );
    let files = [
        "s.xz",
        "s.gz",
        "i.iso",
        "f.img",
        "c.cpio",
        "c.initrd",
        "t.tar",
        "a.a",
        "t.tar.xz",
        "t.tar.zst",
    ];
    let v = files
        .iter()
        .map(|f| (f.to_string(), std::fs::read(d.path().join(f)).unwrap()))
        .collect();
    (d, v)
}

#[test]
fn random_corruption_never_panics() {
    let (_d, imgs) = images();
    for (i, (name, bytes)) in imgs.iter().enumerate() {
        // ISO metadata starts at 32 KiB; everything else near the start or end.
        let hot = if name.ends_with(".iso") {
            64 << 10
        } else {
            bytes.len()
        };
        mutate(0x9e37_79b9_7f4a_7c15 ^ i as u64, bytes, 150, hot);
        if name.starts_with("s.") {
            // squashfs tables live at the end.
            let tail = bytes.len() - 4096.min(bytes.len());
            let mut rng = Rng(42 + i as u64);
            for _ in 0..150 {
                let mut b = bytes.clone();
                for _ in 0..4 {
                    let k = tail + rng.below((bytes.len() - tail) as u64) as usize;
                    b[k] = rng.next() as u8;
                }
                exercise(b);
            }
        }
    }
}

fn patch_both_endian(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn iso_directory_loop_is_cut() {
    require("xorriso", "xorriso");
    let d = tmp();
    sh(
        d.path(),
        "mkdir -p t/a/b/c; echo x > t/a/b/c/f; xorriso -no_rc -as mkisofs -R -o i.iso t 2>/dev/null",
    );
    let mut b = std::fs::read(d.path().join("i.iso")).unwrap();
    let img = isoforge_formats::iso9660::parse(&*mem(b.clone()), &Limits::default()).unwrap();
    let root_rec = img
        .layout
        .structures
        .iter()
        .find(|s| s.name == "directory record '.' of /")
        .unwrap();
    let root_extent = u32::from_le_bytes(
        b[root_rec.start as usize + 2..root_rec.start as usize + 6]
            .try_into()
            .unwrap(),
    );
    // Point /a/b/c at the root directory: a loop back to an ancestor.
    let c = img
        .layout
        .structures
        .iter()
        .find(|s| s.name == "directory record of /a/b/c")
        .unwrap();
    patch_both_endian(&mut b, c.start as usize + 2, root_extent);
    let img = isoforge_formats::iso9660::parse(&*mem(b), &Limits::default()).unwrap();
    assert!(
        img.notes.iter().any(|n| n.contains("directory loop")),
        "{:?}",
        img.notes
    );
    assert!(img.entries.len() < 50);
}

#[test]
fn absurd_counts_and_sizes_are_refused() {
    require("mksquashfs", "squashfs-tools");
    require("cpio", "cpio");
    let d = tmp();
    sh(
        d.path(),
        "mkdir t; echo x > t/f; mksquashfs t s -noappend -no-progress >/dev/null; (cd t && echo f | cpio -o -H newc --quiet > ../c)",
    );
    // squashfs claiming 4 billion inodes.
    let mut s = std::fs::read(d.path().join("s")).unwrap();
    s[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = isoforge_formats::squashfs::parse(&*mem(s.clone()), &Limits::default()).unwrap_err();
    assert_eq!(e.kind, isoforge_formats::ErrorKind::Limit, "{e}");
    // A directory table start far past the end.
    s[4..8].copy_from_slice(&2u32.to_le_bytes());
    s[72..80].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(isoforge_formats::squashfs::parse(&*mem(s), &Limits::default()).is_err());
    // cpio member claiming 4 GiB of data.
    let mut c = std::fs::read(d.path().join("c")).unwrap();
    c[54..62].copy_from_slice(b"FFFFFFFF");
    let e = isoforge_formats::cpio::parse(&*mem(c), &Limits::default()).unwrap_err();
    assert!(e.message.contains("run past the end"), "{e}");
}

#[test]
fn dangerous_names_stay_labels() {
    require("cpio", "cpio");
    let d = tmp();
    sh(
        d.path(),
        "mkdir -p w/in; echo secret > w/esc; (cd w/in && printf '../esc\\n' | cpio -o -H newc --quiet > ../../c)",
    );
    let mut c = std::fs::read(d.path().join("c")).unwrap();
    let a = isoforge_formats::cpio::parse(&*mem(c.clone()), &Limits::default()).unwrap();
    assert_eq!(a.entries[0].path, "/../esc");
    // A NUL and a slash inside one name component.
    let at = c.windows(6).position(|w| w == b"../esc").unwrap();
    c[at + 3] = 0;
    let a = isoforge_formats::cpio::parse(&*mem(c), &Limits::default()).unwrap();
    assert_eq!(a.entries[0].path, "/..");
    assert!(isoforge_formats::layout::component(b"a/b\0c").contains("\\x2f"));
}

#[test]
fn decompression_bombs_stop_at_the_limit() {
    let d = tmp();
    sh(d.path(), "head -c 50000000 /dev/zero | gzip -c > bomb.gz");
    let src: Source =
        Arc::new(isoforge_formats::io::FileSource::open(&d.path().join("bomb.gz")).unwrap());
    let e = isoforge_formats::compress::decompress(
        &src,
        isoforge_formats::compress::Codec::Gzip,
        &isoforge_formats::Limits {
            max_decompressed: 1 << 20,
            ..Default::default()
        },
    )
    .err()
    .expect("refused");
    assert_eq!(e.kind, isoforge_formats::ErrorKind::Limit);
}
