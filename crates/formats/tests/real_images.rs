//! Parses images made by real tools and checks what the parsers see against the tools' own
//! listings and extracted contents (an independent cross-check).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use isoforge_formats::io::{FileSource, ReadAt, Source, read_vec_at};
use isoforge_formats::{Content, EntryKind, Limits, Value};

fn open(p: &std::path::Path) -> Source {
    Arc::new(FileSource::open(p).unwrap())
}

fn meta<'a>(e: &'a isoforge_formats::Entry, name: &str) -> &'a Value {
    &e.meta
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{}: no {name}", e.path))
        .value
}

const TREE: &str = "mkdir -p t/etc/deep/er t/usr/bin t/dev
    echo hello > t/etc/motd; printf '#!/bin/sh\\n' > t/usr/bin/tool; chmod 750 t/usr/bin/tool
    head -c 700000 /dev/urandom > t/usr/bin/big; head -c 5000 /dev/urandom > t/etc/deep/er/small
    ln -s ../usr/bin/tool t/etc/link; ln t/etc/motd t/etc/hard
    chown 1000:100 t/etc/motd; mknod t/dev/null c 1 3 || true";

#[test]
fn squashfs_matches_unsquashfs() {
    require("mksquashfs", "squashfs-tools");
    let d = tmp();
    sh(d.path(), TREE);
    sh(
        d.path(),
        &format!(
            "SOURCE_DATE_EPOCH={SDE} mksquashfs t t.sqfs -comp xz -b 128K -noappend -no-progress >/dev/null; unsquashfs -q -d x t.sqfs"
        ),
    );
    let src = open(&d.path().join("t.sqfs"));
    let img = isoforge_formats::squashfs::parse(&*src, &Limits::default()).unwrap();
    // unsquashfs -lln: numeric owners, one line per entry.
    let listing = sh(d.path(), "unsquashfs -lln t.sqfs | grep squashfs-root");
    let mut want: BTreeMap<String, (String, String)> = BTreeMap::new();
    for line in listing.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let col = cols
            .iter()
            .find(|c| c.starts_with("squashfs-root"))
            .expect("path column");
        let path = col.trim_start_matches("squashfs-root").to_string();
        want.insert(
            if path.is_empty() { "/".into() } else { path },
            (cols[0].to_string(), cols[1].to_string()),
        );
    }
    assert_eq!(img.entries.len(), want.len(), "entry count");
    let reader = img.data_reader(src.clone());
    for e in &img.entries {
        let (mode, owner) = want
            .get(&e.path)
            .unwrap_or_else(|| panic!("{} not listed by unsquashfs", e.path));
        let Value::Mode(m) = meta(e, "mode") else {
            panic!()
        };
        assert_eq!(
            &isoforge_formats::layout::mode_string(*m),
            mode,
            "{}",
            e.path
        );
        assert_eq!(
            &format!("{}/{}", meta(e, "uid"), meta(e, "gid")),
            owner,
            "{}",
            e.path
        );
        if let Content::Squashfs(data) = &e.content {
            let s = reader.open(data).unwrap();
            let got = read_vec_at(&*s, 0, s.size(), 1 << 30).unwrap();
            let disk =
                std::fs::read(d.path().join("x").join(e.path.trim_start_matches('/'))).unwrap();
            assert_eq!(got, disk, "content of {}", e.path);
        }
    }
    assert!(img.entries.iter().any(|e| e.kind == EntryKind::Symlink
        && *meta(e, "symlink target") == Value::Text("../usr/bin/tool".into())));
    // Every byte of the image belongs to a structure.
    let mut ranges: Vec<(u64, u64)> = img
        .layout
        .structures
        .iter()
        .map(|s| (s.start, s.end()))
        .collect();
    ranges.sort_unstable();
    let mut end = 0;
    for (s, e) in ranges {
        assert!(s <= end, "gap at {end:#x}..{s:#x}");
        end = end.max(e);
    }
    assert_eq!(end, src.size());
}

#[test]
fn iso_matches_xorriso_listing() {
    require("xorriso", "xorriso");
    let d = tmp();
    sh(d.path(), TREE);
    sh(
        d.path(),
        "head -c 5000000 /dev/urandom > t/usr/bin/bigger; xorriso -no_rc -as mkisofs -R -J -joliet-long -iso-level 3 -o t.iso t 2>/dev/null",
    );
    let src = open(&d.path().join("t.iso"));
    let img = isoforge_formats::iso9660::parse(&*src, &Limits::default()).unwrap();
    let listing = sh(
        d.path(),
        "xorriso -indev t.iso -find / -exec report_lba 2>/dev/null | grep 'File data lba'",
    );
    let mut files = 0;
    for line in listing.lines() {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let lba: u64 = cols[1].parse().unwrap();
        let size: u64 = cols[3].parse().unwrap();
        let path = cols[4].trim_matches('\'');
        let e = img
            .entries
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(e.size, size, "{path}");
        match &e.content {
            Content::Extents(x) if size > 0 => assert_eq!(x[0].start, lba * 2048, "{path}"),
            _ => {}
        }
        files += 1;
    }
    assert!(files >= 5);
    let motd = img.entries.iter().find(|e| e.path == "/etc/motd").unwrap();
    assert_eq!(*meta(motd, "uid"), Value::Int(1000));
    assert!(
        img.layout
            .structures
            .iter()
            .any(|s| s.name == "Joliet directory record of /etc/motd")
    );
    assert!(
        img.layout
            .structures
            .iter()
            .any(|s| s.name.starts_with("L path table record") && s.name.contains("/ETC/DEEP/ER"))
    );
}

#[test]
fn fat_matches_mtools() {
    require("mkfs.fat", "dosfstools");
    require("mcopy", "mtools");
    for size in ["2048", "40000"] {
        let d = tmp();
        sh(
            d.path(),
            &format!(
                "head -c 300000 /dev/urandom > big.bin; echo hi > 'A long file name.txt'
                 mkfs.fat --invariant -C -i 12345678 f.img {size} >/dev/null
                 mmd -i f.img ::/EFI ::/EFI/BOOT; mcopy -i f.img big.bin ::/EFI/BOOT/BOOTX64.EFI; mcopy -i f.img 'A long file name.txt' ::/
                 mcopy -i f.img ::/EFI/BOOT/BOOTX64.EFI out.bin"
            ),
        );
        let src = open(&d.path().join("f.img"));
        let fs = isoforge_formats::fat::parse(&*src, &Limits::default()).unwrap();
        assert_eq!(fs.volume_serial, 0x1234_5678);
        let efi = fs
            .entries
            .iter()
            .find(|e| e.path == "/EFI/BOOT/BOOTX64.EFI")
            .expect("BOOTX64.EFI");
        let Content::Extents(x) = &efi.content else {
            panic!()
        };
        let w = isoforge_formats::io::Window::new(src.clone(), x);
        assert_eq!(
            read_vec_at(&w, 0, w.size(), 1 << 30).unwrap(),
            std::fs::read(d.path().join("out.bin")).unwrap()
        );
        assert!(
            fs.entries.iter().any(|e| e.path == "/A long file name.txt"),
            "long name"
        );
    }
}

#[test]
fn cpio_tar_ar_match_their_tools() {
    require("cpio", "cpio");
    require("ar", "binutils");
    let d = tmp();
    sh(d.path(), TREE);
    sh(
        d.path(),
        "(cd t && find . | LC_ALL=C sort | cpio -o -H newc --quiet > ../t.cpio)
         (cd t && find . | LC_ALL=C sort | cpio -o -H odc --quiet > ../t.odc)
         tar --format=pax -cf t.pax -C t . ; tar --format=gnu -cf t.tar -C t .
         echo x > m1; printf 'yy' > a_member_with_a_very_long_name.txt; ar rc t.a m1 a_member_with_a_very_long_name.txt",
    );
    let limits = Limits::default();
    let count = |cmd: &str| sh(d.path(), cmd).lines().count();
    let c = isoforge_formats::cpio::parse(&*open(&d.path().join("t.cpio")), &limits).unwrap();
    assert_eq!(c.entries.len(), count("cpio -t --quiet < t.cpio"));
    let c = isoforge_formats::cpio::parse(&*open(&d.path().join("t.odc")), &limits).unwrap();
    assert_eq!(c.entries.len(), count("cpio -t --quiet < t.odc"));
    for f in ["t.pax", "t.tar"] {
        let t = isoforge_formats::tar::parse(&*open(&d.path().join(f)), &limits).unwrap();
        assert_eq!(t.entries.len(), count(&format!("tar -tf {f}")), "{f}");
        assert!(
            t.entries.iter().any(|e| e.kind == EntryKind::HardLink),
            "{f}: hard link"
        );
    }
    let a = isoforge_formats::ar::parse(&*open(&d.path().join("t.a")), &limits).unwrap();
    let names: Vec<&str> = a.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, ["/m1", "/a_member_with_a_very_long_name.txt"]);
}

/// The El Torito check agrees with xorriso: a bootable image has a boot record and its
/// catalog block is where xorriso reports it; a plain ISO and a non-ISO file have none.
#[test]
fn el_torito_check_matches_xorriso() {
    require("xorriso", "xorriso");
    let d = tmp();
    sh(
        d.path(),
        "mkdir -p e/boot && head -c 2048 /dev/zero > e/boot/boot.img && echo x > e/f && \
         xorriso -no_rc -as mkisofs -b boot/boot.img -no-emul-boot -boot-load-size 4 -c boot/boot.cat -o boot.iso e 2>/dev/null && \
         xorriso -no_rc -as mkisofs -o plain.iso e 2>/dev/null && \
         head -c 100000 /dev/urandom > random.bin",
    );
    let lba: u32 = sh(
        d.path(),
        "xorriso -indev boot.iso -report_el_torito plain 2>/dev/null | awk '/El Torito catalog/ {print $5}'",
    )
    .trim()
    .parse()
    .unwrap();
    let check = |n: &str| isoforge_formats::iso9660::el_torito_catalog(&*open(&d.path().join(n)));
    assert_eq!(check("boot.iso").unwrap(), Some(lba));
    assert_eq!(check("plain.iso").unwrap(), None);
    assert_eq!(check("random.bin").unwrap(), None);
}
