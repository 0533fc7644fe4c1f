//! A profile's own offenders (`config/offenders.conf`) are named by the hints when the diff
//! runs with that configuration, and only then.

mod common;

use std::sync::Arc;

use common::*;
use isoforge_diff::{Options, diff};
use isoforge_offenders::{Table, profile};

#[test]
fn a_profile_rule_names_the_file_it_covers() {
    require("mksquashfs", "squashfs-tools");
    let d = tmp();
    sh(
        d.path(),
        &format!(
            "for t in a b; do
               mkdir -p $t/opt/vendor $t/etc
               echo 'Debian GNU/Linux' > $t/etc/issue
               echo \"installed by run $t\" > $t/opt/vendor/install.stamp
             done
             echo 0123456789abcdef > b/etc/machine-id
             for t in a b; do
               SOURCE_DATE_EPOCH={SDE} mksquashfs $t $t.sqfs -comp gzip -noappend -no-progress >/dev/null
             done"
        ),
    );
    let config = tmp();
    std::fs::write(
        config.path().join(profile::FILE),
        "# vendor\nremove opt/vendor/*.stamp  # the vendor installer writes its run id\n",
    )
    .unwrap();
    let (a, b) = (d.path().join("a.sqfs"), d.path().join("b.sqfs"));
    let hint_of = |r: &isoforge_diff::Report, path: &str| {
        r.nodes()
            .into_iter()
            .find(|n| n.name == path)
            .unwrap_or_else(|| panic!("no node {path}"))
            .hints
            .first()
            .map(|h| (h.id, h.cause.clone()))
    };

    // Built-in table only: the stamp is not a known offender.
    let plain = report(&a, &b);
    assert_ne!(
        hint_of(&plain, "/opt/vendor/install.stamp").map(|h| h.0),
        Some("profile")
    );

    let opts = Options {
        source_date_epoch: Some(SDE),
        offenders: Arc::new(Table::load(config.path()).unwrap()),
        ..Options::default()
    };
    let r = diff(&a, &b, &opts).unwrap();
    let (id, cause) = hint_of(&r, "/opt/vendor/install.stamp").unwrap();
    assert_eq!(id, "profile");
    assert!(
        cause.contains("the vendor installer writes its run id (profile rule, offenders.conf:2)"),
        "{cause}"
    );
    // The built-in entries still apply (a file only in B).
    assert_eq!(hint_of(&r, "/etc/machine-id").unwrap().0, "machine-id");
}
