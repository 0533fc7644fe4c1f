//! Shared helpers for the integration tests: running real tools (failing with the apt package
//! to install when one is missing), diffing, and finding things in reports.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use isoforge_diff::report::{Attribution, Node, Report};
use isoforge_diff::{Options, diff};

pub const SDE: i64 = 1_764_000_000;

/// Fails the test with the package to install when `tool` is not on PATH.
pub fn require(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(tool).is_file()
        || Path::new("/sbin").join(tool).is_file();
    assert!(
        found,
        "required tool `{tool}` is missing: apt-get install {package} (see crates/diff/APT-PACKAGES)"
    );
}

/// Runs a shell script in `dir` with a fixed environment; panics with its output on failure.
pub fn sh(dir: &Path, script: &str) {
    let out = Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("LC_ALL", "C.UTF-8")
        .env("TZ", "UTC")
        .env(
            "PATH",
            format!(
                "/usr/sbin:/sbin:{}",
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "script failed:\n{script}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

pub fn report(a: &Path, b: &Path) -> Report {
    let opts = Options {
        source_date_epoch: Some(SDE),
        ..Options::default()
    };
    diff(a, b, &opts).unwrap_or_else(|e| panic!("diff {} {}: {e}", a.display(), b.display()))
}

/// The node reached by following child names from the root.
pub fn node<'a>(r: &'a Report, path: &[&str]) -> &'a Node {
    let mut n = r.root.as_ref().expect("report has differences");
    for p in path {
        n = n.child(p).unwrap_or_else(|| {
            let names: Vec<&str> = n.children.iter().map(|c| c.name.as_str()).collect();
            panic!("no child {p:?} under {:?}; children: {names:?}", n.location)
        });
    }
    n
}

/// Asserts that the node at `path` has a field change `field` whose values contain `a` and `b`.
pub fn assert_field(r: &Report, path: &[&str], field: &str, a: &str, b: &str) {
    let n = node(r, path);
    let f = n
        .fields
        .iter()
        .find(|f| f.field == field)
        .unwrap_or_else(|| {
            let names: Vec<&str> = n.fields.iter().map(|f| f.field.as_str()).collect();
            panic!("{}: no change of {field:?}; changes: {names:?}", n.location)
        });
    assert!(
        f.a.contains(a) && f.b.contains(b),
        "{}: {field} is {:?} vs {:?}, expected {a:?} vs {b:?}",
        n.location,
        f.a,
        f.b
    );
}

/// All attributions of all byte reports.
pub fn attributions(r: &Report) -> Vec<&Attribution> {
    r.nodes()
        .into_iter()
        .filter_map(|n| n.bytes.as_ref())
        .flat_map(|b| b.ranges.iter())
        .collect()
}

/// Asserts an attribution whose structure label (last element) contains `structure`, with
/// field `field` and values containing `a` and `b` on the two sides.
pub fn assert_attributed(r: &Report, structure: &str, field: &str, a: &str, b: &str) {
    let all = attributions(r);
    let hit = all.iter().any(|x| match (&x.a, &x.b) {
        (Some(pa), Some(pb)) => {
            pa.structure.last().is_some_and(|s| s.contains(structure))
                && pa.field.as_deref() == Some(field)
                && pa.value.as_deref().is_some_and(|v| v.contains(a))
                && pb.value.as_deref().is_some_and(|v| v.contains(b))
        }
        _ => false,
    });
    if !hit {
        let mut text = Vec::new();
        r.render_full(isoforge_diff::OutputFormat::Text, &mut text)
            .unwrap();
        panic!(
            "no attribution {structure:?} / {field:?}: {a:?} vs {b:?} in:\n{}",
            String::from_utf8_lossy(&text)
        );
    }
}

/// Every byte report in the tree attributes all its differing bytes.
pub fn assert_fully_attributed(r: &Report) {
    assert!(r.differing_bytes > 0, "expected differing bytes");
    assert_eq!(
        r.attributed_bytes, r.differing_bytes,
        "outer bytes not all attributed"
    );
    for n in r.nodes() {
        if let Some(b) = &n.bytes {
            assert_eq!(
                b.attributed, b.differing,
                "{}: unattributed ranges {:?}",
                n.location, b.unattributed
            );
            assert!(b.unattributed.is_empty());
        }
    }
}

pub fn has_hint(r: &Report, id: &str) -> bool {
    r.hints.iter().any(|h| h.id == id)
}

pub fn text(r: &Report) -> String {
    let mut v = Vec::new();
    r.render_full(isoforge_diff::OutputFormat::Text, &mut v)
        .unwrap();
    String::from_utf8(v).unwrap()
}

pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Asserts that the default text report opens with the causes: its first 40 lines name each
/// of `planted` (hint ids) with its remedy, and each of `places` (a field or path it names).
pub fn assert_causes_first(r: &Report, planted: &[&str], places: &[&str]) {
    let mut v = Vec::new();
    r.render(isoforge_diff::OutputFormat::Text, &mut v).unwrap();
    let t = String::from_utf8(v).unwrap();
    // One screen: the whole default report fits in about 40 lines.
    assert!(t.lines().count() <= 42, "longer than a screen:\n{t}");
    let head: String = t.lines().take(40).collect::<Vec<_>>().join("\n");
    for id in planted {
        let c = r
            .causes
            .iter()
            .find(|c| c.id == *id)
            .unwrap_or_else(|| panic!("no root cause [{id}]:\n{t}"));
        assert!(
            head.contains(&format!("[{id}]")),
            "[{id}] not in the first 40 lines:\n{t}"
        );
        assert!(
            head.contains(&c.remedy),
            "remedy of [{id}] not in the first 40 lines:\n{t}"
        );
    }
    for p in places {
        assert!(head.contains(p), "{p:?} not in the first 40 lines:\n{t}");
    }
}
