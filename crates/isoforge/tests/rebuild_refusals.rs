//! `isoforge rebuild` refuses a BUILD_INFO it cannot honestly rebuild, with the reason,
//! before building anything.

mod common;

use common::{Repo, require_root, stderr};

/// A BUILD_INFO as the build writes it, for `repo`'s HEAD, with `edit` applied.
fn build_info(
    repo: &Repo,
    edit: impl Fn(&mut isoforge_buildinfo::BuildInfo),
) -> std::path::PathBuf {
    let commit = String::from_utf8(
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(repo.path())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let mut info = isoforge_buildinfo::sample();
    let flavor = isoforge_inputs::Flavor {
        name: common::DEFAULT_FLAVOR.into(),
    };
    info.flavor = Some(flavor.name.clone());
    info.profile_sha256 = isoforge_inputs::profile_sha256(&repo.config(), Some(&flavor)).unwrap();
    info.commit = commit;
    edit(&mut info);
    let path = repo.path().join("BUILD_INFO.test");
    std::fs::write(&path, info.render()).unwrap();
    path
}

fn rebuild(repo: &Repo, bi: &std::path::Path) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = repo
        .isoforge()
        .arg("rebuild")
        .arg(bi)
        .arg("--source")
        .arg(repo.path())
        .arg("--dir")
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn another_profile_is_refused() {
    require_root();
    let repo = Repo::with_default_profile();
    let bi = build_info(&repo, |i| i.profile_sha256 = "ff".repeat(32));
    let (code, err) = rebuild(&repo, &bi);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("it comes from another profile"), "{err}");
    let bi = build_info(&repo, |i| i.source = "othermetal".into());
    let (_, err) = rebuild(&repo, &bi);
    assert!(
        err.contains("BUILD_INFO is for profile othermetal"),
        "{err}"
    );
    // `Flavor:` selects the flavor: one the commit does not have is named with the others;
    // none recorded (a BUILD_INFO from before flavors) does not fit a profile with flavors.
    let bi = build_info(&repo, |i| i.flavor = Some("server".into()));
    let (code, err) = rebuild(&repo, &bi);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("config/flavors/server.conf: no such flavor; the flavors are: cli, desktop"),
        "{err}"
    );
    let bi = build_info(&repo, |i| i.flavor = None);
    let (code, err) = rebuild(&repo, &bi);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("BUILD_INFO records no Flavor, but config at commit"),
        "{err}"
    );
    // Another flavor's hash is another profile.
    let bi = build_info(&repo, |i| i.flavor = Some("desktop".into()));
    let (_, err) = rebuild(&repo, &bi);
    assert!(err.contains("it comes from another profile"), "{err}");
}

#[test]
fn newer_format_dirty_and_unknown_commit_are_refused() {
    require_root();
    let repo = Repo::with_default_profile();
    let bi = build_info(&repo, |_| {});
    let text = std::fs::read_to_string(&bi)
        .unwrap()
        .replace("Format: 1", "Format: 7");
    std::fs::write(&bi, text).unwrap();
    let (code, err) = rebuild(&repo, &bi);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("format 7 is newer than this isoforge understands"),
        "{err}"
    );

    let bi = build_info(&repo, |i| i.dirty_paths = vec!["config/x".into()]);
    let (_, err) = rebuild(&repo, &bi);
    assert!(err.contains("only a commit can be rebuilt"), "{err}");

    let bi = build_info(&repo, |i| {
        i.commit = "0123456789abcdef0123456789abcdef01234567".into()
    });
    let (_, err) = rebuild(&repo, &bi);
    assert!(err.contains("is not in"), "{err}");
}

/// A well-formed BUILD_INFO (as a build writes it) with `edit` applied to its text.
fn hostile_text(edit: impl Fn(String) -> String) -> String {
    let info = isoforge_buildinfo::sample();
    edit(info.render())
}

/// A corpus of hostile BUILD_INFO files, each refused with one line (exit 2) before anything
/// is checked out, cleared or built; the directories their fields name stay intact. Needs
/// no root: the refusal comes first.
#[test]
fn hostile_build_info_is_refused_with_one_line() {
    const COMMIT: &str = "Commit: 0123456789abcdef0123456789abcdef01234567";
    let cwd = tempfile::tempdir().unwrap();
    // `rebuild/` + the first 12 characters of `Commit` was cleared as root: `../victim123`
    // would name this directory, `/etc` the host's.
    let victim = cwd.path().join("victim123");
    std::fs::create_dir_all(victim.join("keep")).unwrap();
    std::fs::write(victim.join("keep/file"), "precious").unwrap();
    let corpus: Vec<(&str, String, &str)> = vec![
        (
            "commit-path",
            hostile_text(|t| t.replace(COMMIT, &format!("Commit: ../victim123{}", "0".repeat(28)))),
            "field Commit:",
        ),
        (
            "commit-etc",
            hostile_text(|t| t.replace(COMMIT, "Commit: /etc")),
            "field Commit:",
        ),
        (
            "commit-dotdot",
            hostile_text(|t| t.replace(COMMIT, "Commit: ../../x")),
            "field Commit:",
        ),
        (
            "commit-non-ascii",
            hostile_text(|t| t.replace(COMMIT, &format!("Commit: {}", "é".repeat(20)))),
            "field Commit:",
        ),
        (
            "commit-upper-hex",
            hostile_text(|t| t.replace(COMMIT, &COMMIT.to_uppercase().replace("COMMIT", "Commit"))),
            "field Commit:",
        ),
        (
            "config-dir",
            hostile_text(|t| t.replace("Config-Dir: config", "Config-Dir: ../../etc")),
            "field Config-Dir:",
        ),
        (
            "config-dir-absolute",
            hostile_text(|t| t.replace("Config-Dir: config", "Config-Dir: /etc")),
            "field Config-Dir:",
        ),
        (
            "artefact-dotdot",
            hostile_text(|t| t.replace(" silvermetal-1.1.0-amd64.iso", " ../x")),
            "field Checksums-Sha256:",
        ),
        (
            "artefact-absolute",
            hostile_text(|t| t.replace(" silvermetal-1.1.0-amd64.iso", " /etc/passwd")),
            "field Checksums-Sha256:",
        ),
        (
            "overlong-field",
            hostile_text(|t| {
                t.replace(
                    "Kernel: 6.1.0-50-amd64",
                    &format!("Kernel: {}", "k".repeat(100_000)),
                )
            }),
            "field Kernel: 100000 bytes long",
        ),
        (
            "oversized-file",
            hostile_text(|t| format!("{t}{}", "#".repeat(17 << 20))),
            "larger than 16 MiB",
        ),
        (
            "not-utf8",
            hostile_text(|t| t.replace("SilverMetal", "Silver\u{fffd}Metal")),
            "not UTF-8",
        ),
    ];
    for (name, text, want) in corpus {
        let path = cwd.path().join(format!("{name}.BUILD_INFO"));
        let mut bytes = text.into_bytes();
        if name == "not-utf8" {
            let at = bytes
                .windows(3)
                .position(|w| w == "\u{fffd}".as_bytes())
                .unwrap();
            bytes.splice(at..at + 3, [0xff]);
        }
        std::fs::write(&path, bytes).unwrap();
        let start = std::time::Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_isoforge"))
            .arg("rebuild")
            .arg(&path)
            .args(["--source", "/nonexistent-repository"])
            .current_dir(cwd.path())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
        assert!(err.len() < 400, "{name}: a short line: {err}");
        assert!(err.contains(&path.display().to_string()), "{name}: {err}");
        assert!(err.contains(want), "{name}: expected {want:?} in {err}");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{name}: refused before any work"
        );
        assert!(
            !cwd.path().join("rebuild").exists(),
            "{name}: nothing cleared or made"
        );
        assert_eq!(
            std::fs::read_to_string(victim.join("keep/file")).unwrap(),
            "precious",
            "{name}"
        );
    }
    assert!(std::path::Path::new("/etc/passwd").is_file());
}
