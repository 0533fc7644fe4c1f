//! The build tools on both sides of a verify: the host's, read before build A and after
//! build B (runtime `host`), and the ones each build recorded in its BUILD_INFO. A change
//! during the verify is said in one line at the top of the result, since it explains
//! differing artefacts better than their diffs do.

use std::path::Path;

/// `(package, version)` pairs.
pub type Versions = Vec<(String, String)>;

/// The host's recorded build tools now, when the builds use them (runtime `host`); the
/// builder of the other runtimes is pinned by its digest.
pub fn host(runtime: &str) -> Option<Versions> {
    if runtime != "host" {
        return None;
    }
    isoforge_build::preflight::tool_versions().ok()
}

/// The tools a build recorded in its BUILD_INFO.
pub fn recorded(output: &Path) -> Option<Versions> {
    let text = std::fs::read_to_string(output.join("BUILD_INFO")).ok()?;
    Some(
        isoforge_buildinfo::BuildInfo::parse(&text)
            .ok()?
            .build_tools,
    )
}

/// `apt 2.6.1 vs 2.6.2` for each tool whose version differs or that one side lacks.
pub fn changes(a: &Versions, b: &Versions) -> Vec<String> {
    let find = |v: &Versions, n: &str| v.iter().find(|x| x.0 == n).map(|x| x.1.clone());
    let mut names: Vec<&str> = a.iter().chain(b.iter()).map(|x| x.0.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| {
            let (x, y) = (find(a, n), find(b, n));
            let show = |v: Option<String>| v.unwrap_or_else(|| "(absent)".into());
            (x != y).then(|| format!("{n} {} vs {}", show(x), show(y)))
        })
        .collect()
}

/// The one line for the top of the result when the tools changed: from the host's versions
/// before A and after B if known, else from what the two builds recorded.
pub fn line(
    host: Option<(&Versions, &Versions)>,
    recorded: Option<(&Versions, &Versions)>,
) -> Option<String> {
    if let Some((before, after)) = host {
        let c = changes(before, after);
        if !c.is_empty() {
            return Some(format!(
                "the host's build tools changed during the verify ({}): the two builds are not comparable; rerun with --runtime chroot, or do not upgrade the host while verifying",
                c.join(", ")
            ));
        }
    }
    let (a, b) = recorded?;
    let c = changes(a, b);
    (!c.is_empty()).then(|| {
        format!(
            "the two builds recorded different build tools ({}): the host changed during the build; use --runtime chroot (the pinned builder)",
            c.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[(&str, &str)]) -> Versions {
        x.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn one_line_names_each_changed_tool() {
        let a = v(&[("apt", "2.6.1"), ("xorriso", "1.5.4")]);
        let b = v(&[("apt", "2.6.2"), ("xorriso", "1.5.4"), ("mtools", "4.0")]);
        assert_eq!(
            changes(&a, &b),
            ["apt 2.6.1 vs 2.6.2", "mtools (absent) vs 4.0"]
        );
        let l = line(Some((&a, &b)), None).unwrap();
        assert!(l.starts_with("the host's build tools changed during the verify (apt 2.6.1 vs 2.6.2, mtools (absent) vs 4.0)"), "{l}");
        assert!(l.contains("--runtime chroot"));
        // Unchanged host, but the builds recorded different tools.
        let l = line(Some((&a, &a)), Some((&a, &b))).unwrap();
        assert!(
            l.starts_with("the two builds recorded different build tools"),
            "{l}"
        );
        assert_eq!(line(Some((&a, &a)), Some((&b, &b))), None);
        assert_eq!(line(None, None), None);
    }

    #[test]
    fn recorded_reads_a_real_build_info() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(recorded(dir.path()), None);
        std::fs::write(dir.path().join("BUILD_INFO"), "not: a build info\n").unwrap();
        assert_eq!(recorded(dir.path()), None);
    }

    /// The way verify sums up two output directories: BUILD_INFO through the real writer
    /// with apt upgraded between the builds, SHA256SUMS through `sha256sum`, the ISO alike.
    #[test]
    fn headline_says_the_iso_is_identical_and_what_build_info_differs_in() {
        use isoforge_buildinfo::{Artefact, BuildInfo};
        let info = |apt: &str| BuildInfo {
            build_tools: vec![
                ("apt".into(), apt.into()),
                ("xorriso".into(), "1.5.4".into()),
            ],
            artefacts: vec![Artefact {
                sha256: "23".repeat(32),
                size: 16,
                name: "x.iso".into(),
            }],
            ..isoforge_buildinfo::sample()
        };
        let d = tempfile::tempdir().unwrap();
        for (side, apt) in [("a", "2.6.1"), ("b", "2.6.2")] {
            let dir = d.path().join(side);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("BUILD_INFO"), info(apt).render()).unwrap();
            std::fs::write(dir.join("x.iso"), b"same image bytes").unwrap();
            let mut sums = isoforge_exec::tool("sha256sum");
            sums.args(["BUILD_INFO", "x.iso"]).current_dir(&dir);
            let sums = isoforge_exec::capture(sums).unwrap();
            std::fs::write(dir.join("SHA256SUMS"), sums).unwrap();
        }
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        let (ra, rb) = (recorded(&a).unwrap(), recorded(&b).unwrap());
        let note = line(None, Some((&ra, &rb))).unwrap();
        assert!(note.contains("(apt 2.6.1 vs 2.6.2)"), "{note}");
        let artefacts = crate::compare::artefacts(&a, &b).unwrap();
        let differing: Vec<&str> = artefacts
            .iter()
            .filter(|c| !c.identical())
            .map(|c| c.name.as_str())
            .collect();
        let progress = isoforge_exec::Progress::new(false);
        let explained = differing
            .iter()
            .map(|n| {
                crate::explain::artefact(
                    n,
                    &a.join(n),
                    &b.join(n),
                    None,
                    &Default::default(),
                    &Default::default(),
                    &differing,
                    None,
                    &d.path().join("reports"),
                    &progress,
                )
                .unwrap()
            })
            .collect();
        let side = |name: &str| crate::Side {
            name: name.to_string(),
            dir: d.path().to_path_buf(),
            environment: vec![],
            took: std::time::Duration::ZERO,
            result: d.path().join(name),
        };
        let report = crate::Report {
            build_id: "x".into(),
            runtime: "host".into(),
            commit: "c".into(),
            dir: d.path().to_path_buf(),
            sides: [side("a"), side("b")],
            artefacts,
            promoted: None,
            explained,
            tools_changed: Some(note),
            varied: [crate::Name::Timezone].into_iter().collect(),
            skipped: vec![(crate::Name::Time, "libfaketime is not installed".into())],
            bisect: Some(crate::bisect::Finding::Follows {
                set: [crate::Name::Timezone].into_iter().collect(),
                extra_builds: 2,
            }),
            bisect_builds: vec![],
            log: d.path().join("verification.log"),
        };
        assert_eq!(
            report.headline(),
            "BUILD_INFO differs only in Build-Tools (apt 2.6.1 vs 2.6.2); SHA256SUMS differs only as a consequence (the checksums of BUILD_INFO); x.iso identical"
        );
        let log = crate::render_log(&report);
        let top: Vec<&str> = log.lines().take(3).collect();
        assert!(
            top[1].starts_with(
                "NOTE: the two builds recorded different build tools (apt 2.6.1 vs 2.6.2)"
            ),
            "{log}"
        );
        assert!(
            top[2].starts_with("in brief: BUILD_INFO differs only in Build-Tools"),
            "{log}"
        );
        // Every variation is accounted for: varied, skipped with its reason, or left out.
        for l in [
            "  timezone: varied: TZ=Pacific/Chatham (UTC+13:45)",
            "  time: SKIPPED: libfaketime is not installed",
            "  umask: not varied (left out by --vary)",
            "  user_group: not applicable (the build needs root (mmdebstrap's root mode), so it cannot run as another user)",
            "bisect: the difference follows `timezone` (2 extra builds)",
        ] {
            assert!(log.lines().any(|x| x == l), "{l:?} not in\n{log}");
        }
    }
}
