//! The HTML report is one self-contained page: headless Chromium loads it offline, runs its
//! script and finds the tree of differences.

mod common;

use std::process::Command;

use common::*;

#[test]
fn chromium_renders_the_tree() {
    require("mksquashfs", "squashfs-tools");
    require("chromium", "chromium");
    let d = tmp();
    sh(
        d.path(),
        &format!(
            "for t in a b; do mkdir -p $t/etc; echo 'hello world' > $t/etc/motd; done; echo 'hello <there>' > b/etc/motd
             for t in a b; do SOURCE_DATE_EPOCH={SDE} mksquashfs $t $t.sqfs -noappend -no-progress >/dev/null; done"
        ),
    );
    let r = report(&d.path().join("a.sqfs"), &d.path().join("b.sqfs"));
    let html = d.path().join("report.html");
    let mut f = std::fs::File::create(&html).unwrap();
    r.render(isoforge_diff::OutputFormat::Html, &mut f).unwrap();
    drop(f);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://") && !page.contains(" src="),
        "the page must not load anything"
    );

    let profile = tmp();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    // The script ran (it marks the tree ready) and the tree holds the known difference,
    // escaped: the planted `<there>` must be text, not markup.
    assert!(
        dom.contains(r#"id="diff-tree" data-ready="1""#),
        "tree not marked ready by the script:\n{}",
        &dom[..dom.len().min(2000)]
    );
    assert!(dom.contains("/etc/motd"));
    assert!(
        dom.contains("+hello &lt;there&gt;"),
        "escaped diff line missing"
    );
    assert!(
        dom.matches("<details").count() >= 2,
        "collapsible tree missing"
    );
    // Causes first: the root differences (escaped) come before the full detail, which is one
    // closed expand away.
    let causes = dom.find(r#"id="causes""#).expect("causes table");
    let full = dom
        .find(r#"<details id="full">"#)
        .expect("full detail, closed");
    assert!(causes < full);
    assert!(dom[causes..full].contains("/etc/motd"));
    assert!(dom[causes..full].contains("hello &lt;there&gt;"));
}
