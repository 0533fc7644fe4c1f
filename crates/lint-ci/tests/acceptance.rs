//! The acceptance cases of the CI gate, on small workflow and runner-config fixtures written
//! here, plus the repository's own workflow and runner config, which must be clean.

use std::path::{Path, PathBuf};

use isoforge_lint_ci::{Error, Finding, Format, Rule, lint, render};

const PINNED: &str = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2";
const IMAGE: &str =
    "debian:bookworm@sha256:aadf411dc9ed5199bc7dab48b3e6ce18f8bbee4f170127f5ff1b75cd8035eb36";

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A workflow with one job, `job` being the job's YAML (indented by four).
    fn workflow(&self, job: &str) -> PathBuf {
        self.file(
            "wf.yaml",
            &format!("on: [push]\npermissions:\n  contents: read\njobs:\n  build:\n{job}"),
        )
    }

    fn runner(&self, container: &str) -> PathBuf {
        self.file(
            "config.yaml",
            &format!("runner:\n  capacity: 1\ncontainer:\n{container}"),
        )
    }
}

/// A clean runner config allowing the credential file and the cache volume.
const GOOD_RUNNER: &str = "  privileged: true
  options: -v /root/.docker/config.json:/root/.docker/config.json:ro -v isoforge-cache:/var/cache/isoforge
  valid_volumes:
    - /root/.docker/config.json
    - isoforge-cache
  docker_host: \"-\"
";

fn clean_job() -> String {
    format!(
        "    runs-on: silvermetal-builder
    container:
      image: {IMAGE}
      options: --privileged
    steps:
      - uses: {PINNED}
      - run: scripts/ci/verify.sh
"
    )
}

fn rules(findings: &[Finding]) -> Vec<Rule> {
    findings.iter().map(|f| f.rule).collect()
}

fn only(findings: &[Finding], rule: Rule) -> &Finding {
    let matching: Vec<&Finding> = findings.iter().filter(|f| f.rule == rule).collect();
    assert_eq!(matching.len(), 1, "one {rule:?} in {findings:#?}");
    matching[0]
}

#[test]
fn clean_fixture_has_no_findings() {
    let fx = Fixture::new();
    let wf = fx.workflow(&clean_job());
    let runner = fx.runner(GOOD_RUNNER);
    assert_eq!(lint(&[wf], Some(&runner)).unwrap(), []);
}

#[test]
fn whole_docker_dir_is_flagged_and_the_one_file_is_not() {
    let fx = Fixture::new();
    let wf = fx.workflow(&clean_job());
    let runner = fx.runner(
        "  privileged: true
  options: -v /root/.docker:/root/.docker:ro
  valid_volumes:
    - /root/.docker
  docker_host: \"-\"
",
    );
    let findings = lint(std::slice::from_ref(&wf), Some(&runner)).unwrap();
    // The option and the valid_volumes entry that admits the directory.
    assert_eq!(
        rules(&findings),
        [Rule::CredentialDirMount, Rule::CredentialDirMount]
    );
    let f = &findings[0];
    assert_eq!((f.line, f.column), (5, 15), "{f:?}");
    assert!(
        f.fix
            .contains("/root/.docker/config.json:/root/.docker/config.json:ro")
    );

    // The acceptance's "no finding": the one file, read-only, allowed by valid_volumes.
    let runner = fx.runner(GOOD_RUNNER);
    assert_eq!(lint(&[wf], Some(&runner)).unwrap(), []);
}

#[test]
fn credential_mounted_writable() {
    let fx = Fixture::new();
    let wf = fx.workflow(&clean_job());
    let runner = fx.runner(
        "  privileged: true
  options: -v /root/.docker/config.json:/root/.docker/config.json
  valid_volumes: [/root/.docker/config.json]
  docker_host: \"-\"
",
    );
    let findings = lint(&[wf], Some(&runner)).unwrap();
    assert_eq!(rules(&findings), [Rule::CredentialWritable]);
    assert!(findings[0].fix.ends_with(":ro)"), "{:?}", findings[0]);
}

#[test]
fn workflow_volume_that_valid_volumes_drops() {
    let fx = Fixture::new();
    let job = format!(
        "    runs-on: silvermetal-builder
    container:
      image: {IMAGE}
      options: --privileged
      volumes:
        - /srv/data:/data:ro
        - /root/.docker/config.json:/root/.docker/config.json:ro
    steps:
      - run: make
"
    );
    let wf = fx.workflow(&job);
    let runner = fx.runner(GOOD_RUNNER);
    let findings = lint(std::slice::from_ref(&wf), Some(&runner)).unwrap();
    let f = only(&findings, Rule::VolumeNotAllowed);
    assert_eq!((f.line, f.column), (11, 11), "{f:?}");
    assert!(f.why.contains("[/srv/data] is not a valid volume"), "{f:?}");
    assert_eq!(findings.len(), 1, "{findings:#?}");

    // A glob: `*` stays in one segment, `**` crosses; `:ro` plays no part.
    let one_level =
        fx.runner(&GOOD_RUNNER.replace("- isoforge-cache", "- isoforge-cache\n    - /srv/*"));
    assert_eq!(
        lint(std::slice::from_ref(&wf), Some(&one_level)).unwrap(),
        []
    );
    let deeper = fx.workflow(&job.replace("/srv/data:", "/srv/data/x:"));
    let findings = lint(std::slice::from_ref(&deeper), Some(&one_level)).unwrap();
    assert_eq!(rules(&findings), [Rule::VolumeNotAllowed]);
    let any_depth =
        fx.runner(&GOOD_RUNNER.replace("- isoforge-cache", "- isoforge-cache\n    - /srv/**"));
    assert_eq!(lint(&[deeper], Some(&any_depth)).unwrap(), []);
}

#[test]
fn empty_valid_volumes_drops_every_bind() {
    let fx = Fixture::new();
    let wf = fx.workflow(&clean_job());
    let runner = fx.runner(
        "  privileged: true
  options: -v isoforge-cache:/var/cache/isoforge
  valid_volumes: []
  docker_host: \"-\"
",
    );
    let findings = lint(&[wf], Some(&runner)).unwrap();
    let f = only(&findings, Rule::VolumeNotAllowed);
    assert!(f.why.contains("is empty"), "{f:?}");
}

#[test]
fn unpinned_uses_and_pinned_uses() {
    let fx = Fixture::new();
    let wf = fx.workflow(
        "    runs-on: x
    steps:
      - uses: actions/checkout@v4
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
      - uses: ./local/action
",
    );
    let findings = lint(&[wf], None).unwrap();
    let f = only(&findings, Rule::UnpinnedUses);
    assert_eq!((f.line, f.column), (8, 15), "{f:?}");
    assert!(
        f.fix.contains("actions/checkout@<40-hex commit> # v4"),
        "{f:?}"
    );
    assert_eq!(findings.len(), 1);
}

#[test]
fn images_without_digest() {
    let fx = Fixture::new();
    let wf = fx.workflow(&format!(
        "    runs-on: x
    container: debian:bookworm
    services:
      db:
        image: postgres:16
      cache:
        image: {IMAGE}
    steps:
      - uses: docker://alpine:3.20
"
    ));
    let findings = lint(&[wf], None).unwrap();
    assert_eq!(
        rules(&findings),
        [
            Rule::ImageWithoutDigest,
            Rule::ImageWithoutDigest,
            Rule::ImageWithoutDigest
        ]
    );
    let lines: Vec<usize> = findings.iter().map(|f| f.line).collect();
    assert_eq!(lines, [7, 10, 14]);
    // And a runner label's image.
    let runner = fx.file(
        "config.yaml",
        "runner:\n  labels: [\"silvermetal-builder:docker://debian:bookworm\"]\ncontainer:\n  docker_host: \"-\"\n",
    );
    let findings = lint(&[], Some(&runner)).unwrap();
    assert_eq!(rules(&findings), [Rule::ImageWithoutDigest]);
}

#[test]
fn docker_socket_reaching_jobs() {
    let fx = Fixture::new();
    let wf = fx.workflow(&clean_job());
    let empty = fx.runner(&GOOD_RUNNER.replace("docker_host: \"-\"", "docker_host: \"\""));
    let findings = lint(std::slice::from_ref(&wf), Some(&empty)).unwrap();
    let f = only(&findings, Rule::DockerSocket);
    assert_eq!((f.line, f.column), (9, 16), "{f:?}");
    assert_eq!(findings.len(), 1);

    // Unset means "" too; and a mounted socket, and a valid_volumes glob that admits it.
    let unset = fx.runner(&GOOD_RUNNER.replace("  docker_host: \"-\"\n", ""));
    assert_eq!(
        rules(&lint(std::slice::from_ref(&wf), Some(&unset)).unwrap()),
        [Rule::DockerSocket]
    );
    let mounted = fx.runner(
        "  privileged: true
  options: -v /var/run/docker.sock:/var/run/docker.sock
  valid_volumes: [\"**\"]
  docker_host: \"-\"
",
    );
    let findings = lint(&[wf], Some(&mounted)).unwrap();
    assert_eq!(
        rules(&findings),
        // The mount (line 5), then the glob that admits both the socket and credentials.
        [
            Rule::DockerSocket,
            Rule::CredentialDirMount,
            Rule::DockerSocket
        ]
    );
}

#[test]
fn privileged_with_no_job_that_needs_it() {
    let fx = Fixture::new();
    let wf = fx.workflow(&clean_job().replace("      options: --privileged\n", ""));
    let runner = fx.runner(GOOD_RUNNER);
    let findings = lint(std::slice::from_ref(&wf), Some(&runner)).unwrap();
    let f = only(&findings, Rule::PrivilegedUnneeded);
    assert_eq!((f.line, f.column), (4, 15), "{f:?}");
    // Alone, the runner config cannot tell.
    assert_eq!(lint(&[], Some(&runner)).unwrap(), []);
}

#[test]
fn upload_artifact_v4_on_gitea() {
    let fx = Fixture::new();
    let wf = fx.workflow(
        "    runs-on: x
    steps:
      - uses: actions/upload-artifact@v4
      - uses: actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2
      - uses: actions/upload-artifact@a8a3f3ad30e3422c9c7b888a15615d19a852ae32 # v3.1.3
      - uses: \"actions/download-artifact@fa0a91b85d4f404e444e00e005971372dc801d16\" # v4.1.8
      - {uses: actions/download-artifact@v4.1.0}
",
    );
    let findings = lint(&[wf], None).unwrap();
    assert_eq!(
        rules(&findings),
        [
            Rule::UnpinnedUses,
            Rule::UploadArtifactV4,
            Rule::UploadArtifactV4,
            Rule::UploadArtifactV4,
            Rule::UnpinnedUses,
            Rule::UploadArtifactV4
        ]
    );
    let lines: Vec<usize> = findings.iter().map(|f| f.line).collect();
    assert_eq!(lines, [8, 8, 9, 11, 12, 12]);
}

#[test]
fn event_data_in_run() {
    let fx = Fixture::new();
    let wf = fx.workflow(
        "    runs-on: x
    steps:
      - run: |
          echo building
          echo \"${{ github.event.pull_request.title }}\"
      - env:
          TITLE: ${{ github.event.pull_request.title }}
        run: echo \"$TITLE\" ${{ gitea.sha }} ${{ github.event_name }}
",
    );
    let findings = lint(&[wf], None).unwrap();
    let f = only(&findings, Rule::EventInjection);
    assert_eq!((f.line, f.column), (10, 17), "{f:?}");
    assert!(
        f.fix
            .contains("TITLE: ${{ github.event.pull_request.title }}"),
        "{f:?}"
    );
    assert_eq!(findings.len(), 1);
}

#[test]
fn secrets_echoed_or_on_a_command_line() {
    let fx = Fixture::new();
    let wf = fx.workflow(
        "    runs-on: x
    steps:
      - run: 'curl -H \"Authorization: token ${{ secrets.GITEA_TOKEN }}\" https://x'
      - env:
          TOKEN: ${{ secrets.GITEA_TOKEN }}
        run: |
          export OTHER=$TOKEN
          echo \"$TOKEN\"
          tool --token \"${TOKEN}\"
          TOKENS=1 tool
      - env:
          GITEA_TOKEN: ${{ secrets.GITEA_TOKEN }}
        run: scripts/ci/release.sh out
",
    );
    let findings = lint(&[wf], None).unwrap();
    assert_eq!(
        rules(&findings),
        [
            Rule::SecretExposed,
            Rule::SecretExposed,
            Rule::SecretExposed
        ]
    );
    let at: Vec<(usize, usize)> = findings.iter().map(|f| (f.line, f.column)).collect();
    assert_eq!(at, [(8, 45), (13, 11), (14, 11)]);
    assert!(findings[1].why.contains("echoed"), "{:?}", findings[1]);
    assert!(
        findings[2].why.contains("command line"),
        "{:?}",
        findings[2]
    );
}

#[test]
fn invalid_yaml_names_the_line() {
    let fx = Fixture::new();
    let bad = fx.file("bad.yaml", "on: [push]\njobs:\n  a:\n    steps: [\n");
    let err = lint(&[bad], None).unwrap_err();
    assert!(matches!(err, Error::Yaml { line: 5, .. }), "{err}");
    assert!(err.to_string().contains("bad.yaml:5:"), "{err}");

    let dup = fx.file("dup.yaml", "jobs: {}\njobs: {}\n");
    let err = lint(&[dup], None).unwrap_err();
    assert!(err.to_string().contains("dup.yaml:"), "{err}");

    let not_wf = fx.file("list.yaml", "- a\n- b\n");
    let err = lint(&[not_wf], None).unwrap_err();
    assert!(matches!(err, Error::Shape { line: 1, .. }), "{err}");

    let missing = fx.dir.path().join("missing.yaml");
    let err = lint(&[missing], None).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err}");
}

#[test]
fn formats_carry_position_rule_and_fix() {
    let fx = Fixture::new();
    let wf = fx.workflow("    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n");
    let findings = lint(&[wf], None).unwrap();
    let text = render(&findings, Format::Text);
    assert!(text.contains("wf.yaml:8:15: unpinned-uses: "), "{text}");
    assert!(text.contains("\n    fix: "), "{text}");
    let json: serde_json::Value = serde_json::from_str(&render(&findings, Format::Json)).unwrap();
    assert_eq!(json[0]["rule"], "unpinned-uses");
    assert_eq!(json[0]["line"], 8);
    let sarif: serde_json::Value = serde_json::from_str(&render(&findings, Format::Sarif)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "unpinned-uses");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startColumn"],
        15
    );
}

/// The repository's own workflow and runner config are the reference: clean.
#[test]
fn repository_files_are_clean() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut workflows: Vec<PathBuf> = std::fs::read_dir(top.join(".gitea/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    workflows.sort();
    assert!(!workflows.is_empty());
    let findings = lint(&workflows, Some(&top.join("runner/config.yaml"))).unwrap();
    assert_eq!(findings, [], "{}", render(&findings, Format::Text));
}

/// Files others control: nesting, alias bombs, special files and oversize input end in one
/// error (exit 2), never a crash or a hang.
#[test]
fn hostile_files_are_errors() {
    let fx = Fixture::new();
    let deep = fx.file(
        "deep.yaml",
        &format!("jobs: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
    );
    let err = lint(&[deep], None).unwrap_err();
    assert!(matches!(err, Error::Yaml { line: 1, .. }), "{err}");

    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    bomb.push_str("jobs: {}\n");
    let bomb = fx.file("bomb.yaml", &bomb);
    let err = lint(&[bomb], None).unwrap_err();
    assert!(matches!(err, Error::Yaml { .. }), "{err}");

    let fifo = fx.dir.path().join("fifo.yaml");
    mkfifo(&fifo);
    let err = lint(&[fifo], None).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");

    let big = fx.file("big.yaml", &"#".repeat(isoforge_lint_ci::MAX_BYTES + 1));
    let err = lint(&[big], None).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// The fixture pair bench/lint-ci-compare.sh runs all three linters on: every rule fires
/// where it should, and nothing else.
#[test]
fn hostile_fixture_pair() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let runner = dir.join("hostile-runner.yaml");
    let workflow = dir.join("hostile-workflow.yaml");
    let findings = lint(&[workflow], Some(&runner)).unwrap();
    let got: Vec<(usize, usize, &str, &str)> = findings
        .iter()
        .map(|f| {
            let runner = f.file.ends_with("hostile-runner.yaml");
            (
                f.line,
                f.column,
                if runner { "runner" } else { "workflow" },
                f.rule.id(),
            )
        })
        .collect();
    let want = [
        (4, 12, "runner", "image-without-digest"),
        (6, 15, "runner", "privileged-unneeded"),
        (7, 15, "runner", "credential-dir-mount"),
        (9, 7, "runner", "credential-dir-mount"),
        (10, 7, "runner", "docker-socket"),
        (11, 16, "runner", "docker-socket"),
        (11, 14, "workflow", "image-without-digest"),
        (13, 11, "workflow", "credential-dir-mount"),
        (14, 11, "workflow", "volume-not-allowed"),
        (15, 11, "workflow", "docker-socket"),
        (16, 11, "workflow", "credential-writable"),
        (16, 11, "workflow", "volume-not-allowed"),
        (19, 16, "workflow", "image-without-digest"),
        (21, 15, "workflow", "unpinned-uses"),
        (24, 20, "workflow", "event-injection"),
        (25, 45, "workflow", "secret-exposed"),
        (28, 14, "workflow", "secret-exposed"),
        (29, 15, "workflow", "unpinned-uses"),
        (29, 15, "workflow", "upload-artifact-v4"),
    ];
    assert_eq!(got, want);
    let every: std::collections::BTreeSet<&str> = got.iter().map(|g| g.3).collect();
    assert_eq!(every.len(), Rule::ALL.len(), "every rule is exercised");
}
