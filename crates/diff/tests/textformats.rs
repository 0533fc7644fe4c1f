//! Text formats the builds write: BUILD_INFO through the real writer, SHA256SUMS through
//! `sha256sum`, JSON through serde_json. Each difference is named by its record and field,
//! and checksum lines of a file that differs too are consequences, not causes.

mod common;

use common::{report, sh, tmp};
use isoforge_buildinfo::{Artefact, BuildInfo, Package};

fn info(apt: &str) -> BuildInfo {
    BuildInfo {
        build_tools: vec![
            ("apt".into(), apt.into()),
            ("mmdebstrap".into(), "1.3.5-2".into()),
            ("xorriso".into(), "1.5.4-4".into()),
        ],
        installed: vec![Package {
            name: "bash".into(),
            version: "5.2.15-2+b7".into(),
            architecture: "amd64".into(),
            sha256: Some("01".repeat(32)),
        }],
        artefacts: vec![Artefact {
            sha256: "23".repeat(32),
            size: 4096,
            name: "silvermetal.iso".into(),
        }],
        ..isoforge_buildinfo::sample()
    }
}

fn text(r: &isoforge_diff::Report) -> String {
    let mut v = Vec::new();
    r.render(isoforge_diff::OutputFormat::Text, &mut v).unwrap();
    String::from_utf8(v).unwrap()
}

#[test]
fn one_tool_version_is_one_root_difference_and_sums_are_consequences() {
    let d = tmp();
    for (side, apt) in [("a", "2.6.1"), ("b", "2.6.2")] {
        let dir = d.path().join(side);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("BUILD_INFO"), info(apt).render()).unwrap();
        std::fs::write(dir.join("silvermetal.iso"), b"same image bytes").unwrap();
        sh(
            &dir,
            "sha256sum BUILD_INFO silvermetal.iso > SHA256SUMS; touch -d @1764000000 *",
        );
    }
    let r = report(&d.path().join("a"), &d.path().join("b"));
    let roots: Vec<String> = r
        .causes
        .iter()
        .flat_map(|c| {
            c.places
                .iter()
                .map(move |p| format!("[{}] {}", c.id, p.line()))
        })
        .collect();
    assert_eq!(
        roots,
        [
            "[tool-versions] a ↔ b › /BUILD_INFO › Build-Tools › apt: 2.6.1 vs 2.6.2"
                .replace("a ↔ b", &r.root.as_ref().unwrap().location)
        ],
        "{}",
        text(&r)
    );
    assert!(r.causes[0].remedy.contains("--runtime chroot"));
    // The sums line of BUILD_INFO follows from it.
    let cons: Vec<_> = r
        .consequences
        .iter()
        .filter(|c| c.id == "consequence")
        .collect();
    assert_eq!(cons.len(), 1, "{}", text(&r));
    assert_eq!(cons[0].count, 1);
    assert!(
        cons[0].example.contains("SHA256SUMS › BUILD_INFO"),
        "{}",
        cons[0].example
    );
    // Every differing byte of BUILD_INFO is named by its record.
    let bi = common::node(&r, &["/BUILD_INFO"]);
    let b = bi.bytes.as_ref().expect("BUILD_INFO has a byte report");
    assert!(b.differing > 0);
    assert_eq!(b.attributed, b.differing);
    // One line per artefact, as isoforge verify prints them.
    let file = |side: &str, n: &str| d.path().join(side).join(n);
    let one = |n: &str| report(&file("a", n), &file("b", n));
    assert_eq!(
        one("BUILD_INFO").brief(&[]),
        "differs only in Build-Tools (apt 2.6.1 vs 2.6.2)"
    );
    assert_eq!(
        one("SHA256SUMS").brief(&["BUILD_INFO"]),
        "differs only as a consequence (the checksums of BUILD_INFO)"
    );
    assert_eq!(one("silvermetal.iso").brief(&[]), "identical");
    // Two tools and the ISO's checksum line (the ISO differs too): one line for the tools.
    let mut x = info("2.6.2");
    x.build_tools[1].1 = "1.3.6-1".into();
    x.artefacts[0].sha256 = "45".repeat(32);
    std::fs::write(file("b", "BUILD_INFO"), x.render()).unwrap();
    assert_eq!(
        one("BUILD_INFO").brief(&["silvermetal.iso"]),
        "differs only in Build-Tools (apt 2.6.1 vs 2.6.2, mmdebstrap 1.3.5-2 vs 1.3.6-1)"
    );
    let t = text(&r);
    assert!(t.lines().count() <= 40, "{t}");
    assert!(t.contains("Build-Tools › apt: 2.6.1 vs 2.6.2"), "{t}");
}

#[test]
fn json_pair_names_the_json_path() {
    let d = tmp();
    let doc = |uri: &str| {
        let deps: Vec<serde_json::Value> = (0..42)
            .map(|i| {
                serde_json::json!({
                    "uri": if i == 41 { uri.to_string() } else { format!("pkg:deb/debian/p{i}") },
                    "digest": { "sha256": format!("{i:064x}") },
                })
            })
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "predicate": { "buildDefinition": { "resolvedDependencies": deps } },
        }))
        .unwrap()
    };
    std::fs::write(d.path().join("a.json"), doc("pkg:deb/debian/apt@2.6.1")).unwrap();
    std::fs::write(d.path().join("b.json"), doc("pkg:deb/debian/apt@2.6.2")).unwrap();
    let r = report(&d.path().join("a.json"), &d.path().join("b.json"));
    let root = r.root.as_ref().unwrap();
    assert_eq!(root.kind, "JSON");
    assert_eq!(root.fields.len(), 1, "{:?}", root.fields);
    let f = &root.fields[0];
    assert_eq!(
        f.field,
        "predicate.buildDefinition.resolvedDependencies[41].uri"
    );
    assert_eq!(f.a, "\"pkg:deb/debian/apt@2.6.1\"");
    assert_eq!(f.b, "\"pkg:deb/debian/apt@2.6.2\"");
    assert!(text(&r).contains("resolvedDependencies[41].uri"));
    // A build tool's package URL (no ?arch=, as the provenance writes them) differs.
    assert_eq!(f.hints.first().map(|h| h.id), Some("tool-versions"));
}

#[test]
fn packages_lock_passwd_and_os_release_are_named_by_record_and_field() {
    let d = tmp();
    for (side, sha, shell, ver) in [("a", "aa", "/bin/bash", "12"), ("b", "bb", "/bin/sh", "13")] {
        let dir = d.path().join(side);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(
            dir.join("packages.lock"),
            format!(
                "format 1\npackage apt 2.6.1 amd64 important 1500 {} debian pool/a.deb\n",
                sha.repeat(32)
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("passwd"),
            format!("root:x:0:0:root:/root:{shell}\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("os-release"),
            format!("ID=debian\nVERSION_ID=\"{ver}\"\n"),
        )
        .unwrap();
    }
    let r = report(&d.path().join("a"), &d.path().join("b"));
    common::assert_field(
        &r,
        &["/packages.lock"],
        "package apt › sha256",
        "aaaa",
        "bbbb",
    );
    common::assert_field(
        &r,
        &["/passwd"],
        "user root › shell",
        "/bin/bash",
        "/bin/sh",
    );
    common::assert_field(&r, &["/os-release"], "VERSION_ID", "12", "13");
    let pkg = r
        .causes
        .iter()
        .find(|c| c.id == "package-version")
        .expect("package hint");
    assert!(pkg.remedy.contains("re-lock"), "{}", pkg.remedy);
}
