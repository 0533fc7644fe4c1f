//! squashfs pairs made with mksquashfs, with planted differences of each kind.

mod common;

use common::*;
use isoforge_diff::Change;
use isoforge_diff::report::ContentDiff;

/// Two trees that differ in content, mtime, mode, owner, symlink target and membership.
const TREES: &str = r#"
for t in a b; do
  mkdir -p $t/etc $t/usr/bin $t/srv
  echo "hello world" > $t/etc/motd
  echo "Debian GNU/Linux" > $t/etc/issue
  printf '#!/bin/sh\necho tool\n' > $t/usr/bin/tool; chmod 755 $t/usr/bin/tool
  head -c 400000 /dev/zero > $t/srv/big
  echo data > $t/srv/data
  ln -s motd $t/etc/link
done
echo "hello there" > b/etc/motd
touch -d @1700000000 a/etc/issue; touch -d @1700000100 b/etc/issue
chmod 775 b/usr/bin/tool
chown 1000:1000 b/srv/data
ln -sfn issue b/etc/link
echo new > b/etc/added
echo old > a/etc/removed
printf 'y' | dd of=b/srv/big bs=1 seek=300000 conv=notrunc status=none
python3 -c "import os; os.setxattr('a/etc/issue', 'user.origin', b'build-1'); os.setxattr('b/etc/issue', 'user.origin', b'build-2')"
"#;

fn build(dir: &std::path::Path, comp: &str) {
    require("mksquashfs", "squashfs-tools");
    require("python3", "python3");
    sh(dir, TREES);
    sh(
        dir,
        &format!(
            "for t in a b; do SOURCE_DATE_EPOCH={SDE} mksquashfs $t $t.sqfs -comp {comp} -b 128K -noappend -no-progress >/dev/null; done"
        ),
    );
}

#[test]
fn planted_differences_are_reported_with_path_field_and_values() {
    let d = tmp();
    build(d.path(), "xz");
    let r = report(&d.path().join("a.sqfs"), &d.path().join("b.sqfs"));
    assert!(!r.identical);

    let motd = node(&r, &["/etc/motd"]);
    match &motd.content {
        Some(ContentDiff::Text { unified, .. }) => assert!(
            unified.contains("-hello world") && unified.contains("+hello there"),
            "{unified}"
        ),
        other => panic!("expected a text diff of /etc/motd, got {other:?}"),
    }
    assert_field(
        &r,
        &["/etc/issue"],
        "mtime",
        "2023-11-14 22:13:20",
        "2023-11-14 22:15:00",
    );
    assert_field(&r, &["/usr/bin/tool"], "mode", "0755", "0775");
    // Their tails moved inside the fragment blocks (a file was added before them) but their
    // content is the same: no content difference may be reported.
    for p in ["/usr/bin/tool", "/srv/data", "/etc/issue"] {
        assert!(
            node(&r, &[p]).content.is_none(),
            "{p}: content wrongly reported as different"
        );
    }
    assert_field(&r, &["/srv/data"], "uid", "0", "1000");
    assert_field(&r, &["/srv/data"], "gid", "0", "1000");
    assert_field(&r, &["/etc/link"], "symlink target", "motd", "issue");
    assert_field(
        &r,
        &["/etc/issue"],
        "xattr user.origin",
        "build-1",
        "build-2",
    );
    assert_eq!(node(&r, &["/etc/added"]).change, Change::Added);
    assert_eq!(node(&r, &["/etc/removed"]).change, Change::Removed);
    match &node(&r, &["/srv/big"]).content {
        Some(ContentDiff::Hex { windows, .. }) => assert_eq!(windows[0].offset, 300000 & !15),
        other => panic!(
            "/srv/big: expected hex windows, got {}",
            if other.is_some() { "text" } else { "nothing" }
        ),
    }
    // Unchanged members are not reported.
    assert!(
        node(&r, &[])
            .child("/etc")
            .is_none_or(|n| n.fields.iter().all(|f| f.field != "mode"))
    );

    // Inside the decompressed inode table, the changed fields are named with both values.
    assert_attributed(&r, "inode of /usr/bin/tool", "permissions", "0755", "0775");
    assert!(has_hint(&r, "umask"), "umask hint");
    assert!(has_hint(&r, "owner"), "owner hint");
    assert!(has_hint(&r, "file-set"), "file-set hint");
    assert_fully_attributed(&r);
    // Moved data is one hint listing its shifts, not one hint per shift.
    let moved: Vec<_> = r.hints.iter().filter(|h| h.id == "moved").collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(
        moved[0].cause.contains("shifted by +"),
        "{}",
        moved[0].cause
    );
    // The default report opens with every planted difference, its place and remedy.
    assert_causes_first(
        &r,
        &["umask", "owner", "file-set"],
        &[
            "/etc/motd",
            "/etc/issue › ",
            "/usr/bin/tool › mode",
            "/srv/data › uid",
            "/etc/link › symlink target",
            "/etc/added",
            "/etc/removed",
            "/srv/big",
        ],
    );
}

#[test]
fn other_compressors_decode() {
    for comp in ["gzip", "zstd", "lz4"] {
        let d = tmp();
        build(d.path(), comp);
        let r = report(&d.path().join("a.sqfs"), &d.path().join("b.sqfs"));
        assert!(
            node(&r, &[]).kind.contains(comp),
            "{comp}: {}",
            node(&r, &[]).kind
        );
        match &node(&r, &["/etc/motd"]).content {
            Some(ContentDiff::Text { unified, .. }) => {
                assert!(unified.contains("+hello there"), "{comp}: {unified}")
            }
            other => panic!("{comp}: {other:?}"),
        }
        assert_fully_attributed(&r);
    }
}

#[test]
fn mkfs_time_and_times_later_than_the_epoch() {
    require("mksquashfs", "squashfs-tools");
    let d = tmp();
    sh(
        d.path(),
        &format!(
            "mkdir t; echo x > t/f; touch -d @{} t/f t
             SOURCE_DATE_EPOCH={SDE} mksquashfs t a.sqfs -noappend -no-progress >/dev/null
             SOURCE_DATE_EPOCH={} mksquashfs t b.sqfs -noappend -no-progress >/dev/null",
            SDE + 5000,
            SDE + 3600
        ),
    );
    let r = report(&d.path().join("a.sqfs"), &d.path().join("b.sqfs"));
    assert_attributed(
        &r,
        "squashfs superblock",
        "modification time (mkfs time)",
        "2025-11-24 16:00:00",
        "2025-11-24 17:00:00",
    );
    assert_field(
        &r,
        &["/f"],
        "mtime",
        "2025-11-24 16:00:00",
        "2025-11-24 17:00:00",
    );
    assert!(has_hint(&r, "time-after-sde"));
    assert!(has_hint(&r, "squashfs-mkfs-time"));
    assert_fully_attributed(&r);
}

#[test]
fn identical_images_are_identical() {
    require("mksquashfs", "squashfs-tools");
    let d = tmp();
    sh(
        d.path(),
        &format!(
            "mkdir t; echo x > t/f; for i in 1 2; do SOURCE_DATE_EPOCH={SDE} mksquashfs t $i.sqfs -noappend -no-progress >/dev/null; done"
        ),
    );
    let r = report(&d.path().join("1.sqfs"), &d.path().join("2.sqfs"));
    assert!(r.is_identical());
    assert!(r.summary().starts_with("identical"));
}
