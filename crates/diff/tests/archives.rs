//! FAT images (mkfs.fat + mtools), cpio archives and initramfs (cpio, zstd, gzip), tar (GNU,
//! pax), ar and Debian packages (ar, dpkg-deb), and compressed streams (gzip, xz, zstd), each
//! with planted differences.

mod common;

use common::*;
use isoforge_diff::Change;
use isoforge_diff::report::ContentDiff;

fn text_diff<'a>(r: &'a isoforge_diff::Report, path: &[&str]) -> &'a str {
    match &node(r, path).content {
        Some(ContentDiff::Text { unified, .. }) => unified,
        _ => panic!("no text diff at {path:?}"),
    }
}

#[test]
fn fat_serial_dates_order_and_content() {
    require("mkfs.fat", "dosfstools");
    require("mcopy", "mtools");
    let d = tmp();
    sh(
        d.path(),
        &format!(
            "echo one > one.txt; echo two > two.txt; echo cfg-a > a.cfg; echo cfg-b > b.cfg
             mkfs.fat --invariant -C -i 0fe31a17 a.img 2048 >/dev/null
             mkfs.fat --invariant -C -i 18d4f947 b.img 2048 >/dev/null
             SOURCE_DATE_EPOCH={SDE} mmd -i a.img ::/EFI
             SOURCE_DATE_EPOCH={} mmd -i b.img ::/EFI
             SOURCE_DATE_EPOCH={SDE} mcopy -i a.img one.txt two.txt ::/EFI/
             SOURCE_DATE_EPOCH={SDE} mcopy -i b.img two.txt one.txt ::/EFI/
             SOURCE_DATE_EPOCH={SDE} mcopy -i a.img a.cfg ::/grub.cfg
             SOURCE_DATE_EPOCH={SDE} mcopy -i b.img b.cfg ::/grub.cfg",
            SDE + 3600
        ),
    );
    let r = report(&d.path().join("a.img"), &d.path().join("b.img"));
    assert!(
        node(&r, &[]).kind.starts_with("FAT1"),
        "{}",
        node(&r, &[]).kind
    );
    assert_attributed(
        &r,
        "FAT boot sector",
        "volume serial",
        "0x0fe31a17",
        "0x18d4f947",
    );
    assert_field(
        &r,
        &["/EFI"],
        "modification time",
        "2025-11-24 16:00:00",
        "2025-11-24 17:00:00",
    );
    assert!(text_diff(&r, &["/grub.cfg"]).contains("+cfg-b"));
    assert!(
        node(&r, &[])
            .notes
            .iter()
            .any(|n| n.contains("different order")),
        "{:?}",
        node(&r, &[]).notes
    );
    for h in ["fat-serial", "entry-order", "fat-dates", "time-after-sde"] {
        assert!(has_hint(&r, h), "missing hint {h}");
    }
    assert_fully_attributed(&r);
    assert_causes_first(
        &r,
        &["fat-serial", "entry-order", "fat-dates"],
        &[
            "volume serial: 0x0fe31a17 vs 0x18d4f947",
            "/EFI",
            "/grub.cfg",
        ],
    );
}

#[test]
fn cpio_order_mtime_and_content() {
    require("cpio", "cpio");
    let d = tmp();
    sh(
        d.path(),
        "mkdir -p t/etc t/bin; echo a > t/etc/a; echo b > t/etc/b; echo '#!/bin/sh' > t/bin/init
         find t -exec touch -h -d @1700000000 {} +
         (cd t && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible > ../a.cpio)
         (cd t && find . | LC_ALL=C sort -r | cpio -o -H newc --quiet --reproducible > ../r.cpio)
         echo changed > t/etc/b; touch -d @1700000500 t/etc/b t/etc/a
         (cd t && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible > ../b.cpio)",
    );
    let r = report(&d.path().join("a.cpio"), &d.path().join("r.cpio"));
    assert!(
        node(&r, &[])
            .notes
            .iter()
            .any(|n| n.contains("different order"))
    );
    assert!(has_hint(&r, "entry-order"));
    assert_fully_attributed(&r);

    let r = report(&d.path().join("a.cpio"), &d.path().join("b.cpio"));
    assert_field(
        &r,
        &["/etc/a"],
        "mtime",
        "2023-11-14 22:13:20",
        "2023-11-14 22:21:40",
    );
    assert!(text_diff(&r, &["/etc/b"]).contains("+changed"));
    assert_attributed(
        &r,
        "cpio header of /etc/a",
        "mtime",
        "2023-11-14 22:13:20",
        "2023-11-14 22:21:40",
    );
    assert_fully_attributed(&r);
}

/// An initramfs as initramfs-tools makes it: an uncompressed early cpio, then a compressed one.
#[test]
fn initramfs_with_compressed_segment() {
    require("cpio", "cpio");
    require("zstd", "zstd");
    require("gzip", "gzip");
    for (codec, cmd) in [("zstd", "zstd -q -c"), ("gzip", "gzip -n -c")] {
        let d = tmp();
        sh(
            d.path(),
            &format!(
                "mkdir -p early/kernel/x86/microcode main/etc main/scripts
                 head -c 3000 /dev/zero > early/kernel/x86/microcode/GenuineIntel.bin
                 echo 'MODULES=most' > main/etc/initramfs.conf; echo 'echo boot' > main/scripts/init-top
                 find early main -exec touch -h -d @{SDE} {{}} +
                 mk() {{ (cd early && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible); (cd main && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible | {cmd}); }}
                 mk > a.img
                 echo 'MODULES=dep' > main/etc/initramfs.conf; touch -d @{SDE} main/etc/initramfs.conf
                 mk > b.img"
            ),
        );
        let r = report(&d.path().join("a.img"), &d.path().join("b.img"));
        assert!(
            node(&r, &[]).kind.starts_with("initramfs"),
            "{codec}: {}",
            node(&r, &[]).kind
        );
        let seg = format!("/[compressed segment 1 ({codec} stream)]");
        let inner = text_diff(&r, &[&seg, "[decompressed]", "/etc/initramfs.conf"]);
        assert!(
            inner.contains("-MODULES=most") && inner.contains("+MODULES=dep"),
            "{codec}: {inner}"
        );
        assert_fully_attributed(&r);
    }
}

#[test]
fn tar_mtime_owner_order_pax_times() {
    let d = tmp();
    sh(
        d.path(),
        &format!(
            "mkdir -p t/etc; echo a > t/etc/a; echo b > t/etc/b
             tar --format=gnu --mtime=@{SDE} --owner=0 --group=0 --numeric-owner -cf a.tar -C t etc/a etc/b
             tar --format=gnu --mtime=@{} --owner=1000 --group=1000 --numeric-owner -cf b.tar -C t etc/a etc/b
             tar --format=gnu --mtime=@{SDE} --owner=0 --group=0 --numeric-owner -cf r.tar -C t etc/b etc/a
             tar --format=pax --mtime=@{SDE} -cf a.pax -C t etc/a
             sleep 1.1; touch t/etc/a
             tar --format=pax --mtime=@{SDE} -cf b.pax -C t etc/a",
            SDE + 60
        ),
    );
    let r = report(&d.path().join("a.tar"), &d.path().join("b.tar"));
    assert_field(
        &r,
        &["/etc/a"],
        "mtime",
        "2025-11-24 16:00:00",
        "2025-11-24 16:01:00",
    );
    assert_field(&r, &["/etc/a"], "uid", "0", "1000");
    assert_attributed(&r, "tar header of /etc/a", "uid", "0", "1000");
    assert_attributed(
        &r,
        "tar header of /etc/b",
        "mtime",
        "2025-11-24 16:00:00",
        "2025-11-24 16:01:00",
    );
    for h in ["tar-header", "owner"] {
        assert!(has_hint(&r, h), "missing hint {h}");
    }
    assert_fully_attributed(&r);
    assert_causes_first(
        &r,
        // The owner hint rides along on the same fields; tar-header's remedy covers it.
        &["tar-header"],
        &["/etc/a › uid: 0 vs 1000", "/etc/b"],
    );

    let r = report(&d.path().join("a.tar"), &d.path().join("r.tar"));
    assert!(
        node(&r, &[])
            .notes
            .iter()
            .any(|n| n.contains("different order"))
    );
    assert!(has_hint(&r, "entry-order"));
    assert_fully_attributed(&r);

    let r = report(&d.path().join("a.pax"), &d.path().join("b.pax"));
    assert!(
        node(&r, &["/etc/a"])
            .fields
            .iter()
            .any(|f| f.field == "atime" || f.field == "ctime"),
        "pax times not reported"
    );
    assert!(has_hint(&r, "pax-times"));
    assert_fully_attributed(&r);
}

/// A member that grows moves everything after it: reported as moved, not as new differences.
#[test]
fn moved_members_are_named_as_moved() {
    let d = tmp();
    sh(
        d.path(),
        "mkdir -p t; echo short > t/a; head -c 100000 /dev/urandom > t/z
         tar --format=gnu --mtime=@1700000000 -cf a.tar -C t a z
         head -c 600 /dev/zero | tr '\\0' x > t/a
         tar --format=gnu --mtime=@1700000000 -cf b.tar -C t a z",
    );
    let r = report(&d.path().join("a.tar"), &d.path().join("b.tar"));
    let moved: Vec<_> = attributions(&r)
        .into_iter()
        .filter(|a| a.moved_by.is_some())
        .collect();
    assert_eq!(moved.len(), 1, "one moved range");
    assert_eq!(moved[0].moved_by, Some(512));
    assert_eq!(moved[0].a.as_ref().unwrap().structure, ["content of /z"]);
    assert!(has_hint(&r, "moved"));
    // Moved data is a consequence, folded into one line with its shift; the cause is /a.
    assert!(r.causes.iter().all(|c| c.id != "moved"));
    let moved = r.consequences.iter().find(|c| c.id == "moved").unwrap();
    assert_eq!(moved.shifts, [512]);
    assert_causes_first(
        &r,
        &[],
        &["/a", "[moved] 1 place(s)", "shifted by +512 bytes"],
    );
    assert!(
        node(&r, &[]).child("/z").is_none(),
        "/z itself did not change"
    );
    assert_fully_attributed(&r);
}

#[test]
fn ar_headers_and_debian_packages() {
    require("ar", "binutils");
    require("dpkg-deb", "dpkg");
    require("xz", "xz-utils");
    let d = tmp();
    sh(
        d.path(),
        &format!(
            "echo one > m1; echo two > m2; touch -d @1700000000 m1 m2
             ar rcD a.a m1 m2; ar rcU b.a m1 m2
             mkdir -p p/DEBIAN p/usr/share/doc/x
             printf 'Package: x\\nVersion: 1\\nArchitecture: all\\nMaintainer: m <m@x>\\nDescription: d\\n' > p/DEBIAN/control
             echo 'docs' > p/usr/share/doc/x/README
             SOURCE_DATE_EPOCH={SDE} dpkg-deb --root-owner-group -Zxz --build p a.deb >/dev/null
             echo 'docs, changed' > p/usr/share/doc/x/README
             SOURCE_DATE_EPOCH={} dpkg-deb --root-owner-group -Zxz --build p b.deb >/dev/null",
            SDE + 100
        ),
    );
    let r = report(&d.path().join("a.a"), &d.path().join("b.a"));
    assert_field(
        &r,
        &["/m1"],
        "mtime",
        "1970-01-01 00:00:00",
        "2023-11-14 22:13:20",
    );
    assert_attributed(
        &r,
        "ar header of /m1",
        "mtime",
        "1970-01-01 00:00:00",
        "2023-11-14 22:13:20",
    );
    assert!(has_hint(&r, "ar-header"));
    assert_fully_attributed(&r);

    let r = report(&d.path().join("a.deb"), &d.path().join("b.deb"));
    assert_eq!(node(&r, &[]).kind, "Debian package (ar archive)");
    let inner = text_diff(
        &r,
        &["/data.tar.xz", "[decompressed]", "/usr/share/doc/x/README"],
    );
    assert!(inner.contains("+docs, changed"), "{inner}");
    assert_field(
        &r,
        &["/data.tar.xz", "[decompressed]", "/usr/share/doc/x/README"],
        "mtime",
        "2025-11-24 16:00:00",
        "2025-11-24 16:01:40",
    );
    assert_fully_attributed(&r);
}

#[test]
fn compressed_streams() {
    require("gzip", "gzip");
    require("xz", "xz-utils");
    require("zstd", "zstd");
    let d = tmp();
    sh(
        d.path(),
        "echo 'same content' > f; touch -d @1700000000 f; gzip -c f > a.gz; touch -d @1700000100 f; gzip -c f > b.gz
         printf 'line 1\\nline 2\\n' > x; printf 'line 1\\nline two\\n' > y
         xz -c x > a.xz; xz -c y > b.xz; zstd -q -c x > a.zst; zstd -q -c y > b.zst",
    );
    let r = report(&d.path().join("a.gz"), &d.path().join("b.gz"));
    assert_attributed(
        &r,
        "gzip header",
        "modification time (MTIME)",
        "2023-11-14 22:13:20",
        "2023-11-14 22:15:00",
    );
    assert!(has_hint(&r, "gzip-header"));
    assert!(
        node(&r, &[]).child("[decompressed]").is_none(),
        "same content must not be reported"
    );
    assert_fully_attributed(&r);
    for ext in ["xz", "zst"] {
        let r = report(
            &d.path().join(format!("a.{ext}")),
            &d.path().join(format!("b.{ext}")),
        );
        assert!(
            text_diff(&r, &["[decompressed]"]).contains("+line two"),
            "{ext}"
        );
        assert_fully_attributed(&r);
    }
}

#[test]
fn directories_recurse_into_archives() {
    let d = tmp();
    sh(
        d.path(),
        "for s in a b; do mkdir -p $s/sub; echo x > $s/sub/f; ln -s f $s/sub/l; mkdir -p t$s; echo $s > t$s/inner; tar --format=gnu --mtime=@1700000000 -cf $s/pkg.tar -C t$s inner; done
         chmod 600 b/sub/f; ln -sfn g b/sub/l; echo only > a/gone",
    );
    let r = report(&d.path().join("a"), &d.path().join("b"));
    assert_field(&r, &["/sub/f"], "mode", "0644", "0600");
    assert_field(&r, &["/sub/l"], "symlink target", "f", "g");
    assert_eq!(node(&r, &["/gone"]).change, Change::Removed);
    assert!(text_diff(&r, &["/pkg.tar", "/inner"]).contains("+b"));
}
