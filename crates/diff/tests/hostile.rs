//! The whole engine on damaged images: a truncated or corrupted side yields a report with
//! notes (a partial report), never a panic or an error for the whole comparison.

mod common;

use common::*;

#[test]
fn truncated_and_corrupted_sides_give_partial_reports() {
    require("mksquashfs", "squashfs-tools");
    require("xorriso", "xorriso");
    let d = tmp();
    sh(
        d.path(),
        &format!(
            "mkdir -p t/etc; for i in $(seq 1 50); do echo line $i > t/etc/f$i; done
             SOURCE_DATE_EPOCH={SDE} mksquashfs t s.sqfs -noappend -no-progress >/dev/null
             mkdir -p st/live; cp s.sqfs st/live/filesystem.squashfs
             xorriso -no_rc -as mkisofs -R -J -o a.iso st 2>/dev/null
             xorriso -no_rc -as mkisofs -no-pad -R -J -o nopad.iso st 2>/dev/null
             head -c $(( $(stat -c %s nopad.iso) * 6 / 10 )) nopad.iso > truncated.iso
             cp s.sqfs corrupt.sqfs; printf '\\xff\\xff\\xff\\xff' | dd of=corrupt.sqfs bs=1 seek=$(( $(stat -c %s s.sqfs) - 200 )) conv=notrunc status=none"
        ),
    );
    // Cut into the padding only: the missing bytes are named as padding.
    sh(
        d.path(),
        "head -c $(( $(stat -c %s a.iso) - 4096 )) a.iso > short.iso",
    );
    let r = report(&d.path().join("a.iso"), &d.path().join("short.iso"));
    assert_fully_attributed(&r);
    assert!(text(&r).contains("padding at the end of the ISO 9660 volume"));

    let r = report(&d.path().join("nopad.iso"), &d.path().join("truncated.iso"));
    assert!(!r.identical);
    assert!(r.differing_bytes > 0);
    let t = text(&r);
    assert!(t.contains("note:"), "{t}");

    let r = report(&d.path().join("s.sqfs"), &d.path().join("corrupt.sqfs"));
    assert!(!r.identical);
    for f in [
        isoforge_diff::OutputFormat::Html,
        isoforge_diff::OutputFormat::Json,
        isoforge_diff::OutputFormat::Markdown,
    ] {
        let mut out = Vec::new();
        r.render(f, &mut out).unwrap();
        assert!(!out.is_empty());
    }
}
