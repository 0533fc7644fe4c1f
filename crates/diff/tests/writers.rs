//! The build's record of who wrote what (`logs/writers`) in the report: two real squashfs
//! images, made with mksquashfs from trees where a "hook" wrote `date` into a file (real
//! `date` output, minutes apart) and an overlay wrote a file that does not differ. The report
//! names the file, the hook, and the "time near the build" hint with its remedy.

mod common;

use std::sync::Arc;

use common::*;
use isoforge_diff::{Options, OutputFormat, Tree, Writers, diff};

const TREES: &str = r#"
for t in a b; do
  mkdir -p $t/etc $t/usr/local/bin
  echo "welcome" > $t/etc/motd
  printf '#!/bin/sh\necho hi\n' > $t/usr/local/bin/hello; chmod 755 $t/usr/local/bin/hello
done
date -u > a/etc/build-date
date -u -d '+3 minutes' > b/etc/build-date
echo "only in B" > b/etc/hook-extra
for t in a b; do SOURCE_DATE_EPOCH=1764000000 mksquashfs $t $t.sqfs -noappend -no-progress >/dev/null; done
"#;

#[test]
fn the_report_names_the_hook_that_wrote_a_differing_file() {
    require("mksquashfs", "squashfs-tools");
    let d = tmp();
    sh(d.path(), TREES);
    // As the build records it: an overlay, then two hooks.
    let mut w = Writers::default();
    w.add(Tree::Image, "/etc/motd", "includes.chroot");
    w.add(Tree::Image, "/usr/local/bin/hello", "includes.chroot");
    w.add(Tree::Image, "/etc/build-date", "hooks/20-date.hook.chroot");
    w.add(Tree::Image, "/etc/hook-extra", "hooks/30-extra.hook.chroot");
    // The same path in the ISO tree is another file: it must not be attributed.
    w.add(Tree::Iso, "/etc/motd", "includes.binary");
    let writers = Writers::parse(&w.render()).unwrap();
    let opts = Options {
        source_date_epoch: Some(1_764_000_000),
        writers: Arc::new(writers),
        ..Options::default()
    };
    let r = diff(&d.path().join("a.sqfs"), &d.path().join("b.sqfs"), &opts).unwrap();
    assert!(!r.identical);
    assert_eq!(
        node(&r, &["/etc/build-date"]).writers,
        ["hooks/20-date.hook.chroot"]
    );
    assert_eq!(
        node(&r, &["/etc/hook-extra"]).writers,
        ["hooks/30-extra.hook.chroot"]
    );
    let cause = r
        .causes
        .iter()
        .find(|c| c.id == "time-near-build")
        .unwrap_or_else(|| panic!("no time-near-build cause: {:#?}", r.causes));
    assert!(cause.places[0].location.ends_with("/etc/build-date"));
    assert_eq!(cause.places[0].written_by, ["hooks/20-date.hook.chroot"]);

    let mut text = Vec::new();
    r.render(OutputFormat::Text, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("[time-near-build]"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("/etc/build-date"), "{line}");
    assert!(
        line.contains("(written by the hook hooks/20-date.hook.chroot)"),
        "{line}"
    );
    assert!(
        text.contains("a time near the build")
            && text.contains("date -u -d \"@$SOURCE_DATE_EPOCH\""),
        "{text}"
    );
    assert!(
        text.contains("(written by the hook hooks/30-extra.hook.chroot)"),
        "{text}"
    );
    // Files that do not differ are not named, whoever wrote them.
    assert!(!text.contains("includes.chroot"), "{text}");
    let json = serde_json::to_string(&r).unwrap();
    assert!(
        json.contains("\"written_by\":[\"hooks/20-date.hook.chroot\"]"),
        "{json}"
    );
}
