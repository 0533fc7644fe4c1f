//! `isoforge lint-ci` as a command: default files, exit status 0/1/2, formats.

use std::path::Path;
use std::process::{Command, Output};

fn lint_ci(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .arg("lint-ci")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const RUNNER: &str = "runner:
  capacity: 1
container:
  privileged: false
  options: -v /root/.docker/config.json:/root/.docker/config.json:ro
  valid_volumes: [/root/.docker/config.json]
  docker_host: \"-\"
";

#[test]
fn defaults_exit_codes_and_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    // Nothing there: an error, not a pass.
    let out = lint_ci(dir, &[]);
    assert_eq!(out.status.code(), Some(2));

    // The defaults: .gitea/workflows/*.y*ml and runner/config.yaml.
    write(dir, "runner/config.yaml", RUNNER);
    write(
        dir,
        ".gitea/workflows/ci.yml",
        "on: [push]\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n",
    );
    let out = lint_ci(dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty());

    write(
        dir,
        ".gitea/workflows/pr.yaml",
        "on: [pull_request]\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo \"${{ github.event.pull_request.title }}\"\n",
    );
    let out = lint_ci(dir, &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with(".gitea/workflows/pr.yaml:6:20: event-injection: "),
        "{stdout}"
    );

    let out = lint_ci(dir, &["--format", "json", ".gitea/workflows/pr.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["rule"], "event-injection");

    let out = lint_ci(dir, &["--format", "sarif", ".gitea/workflows/ci.yml"]);
    assert_eq!(out.status.code(), Some(0));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["runs"][0]["results"], serde_json::json!([]));

    // Invalid YAML: exit 2 with the file and line.
    write(dir, ".gitea/workflows/bad.yaml", "on: [push\njobs: {}\n");
    let out = lint_ci(dir, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(".gitea/workflows/bad.yaml:2:") && stderr.contains("invalid YAML"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
