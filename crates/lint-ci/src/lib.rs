//! `isoforge lint-ci`: least privilege for Gitea Actions workflows and act_runner configs.
//!
//! It stands alone (pinning, injection, secrets on command lines), but what no other linter
//! does is read the runner config next to the workflows: volumes that `valid_volumes` would
//! silently drop, credential directories mounted where one file serves, the Docker socket
//! reaching jobs, `privileged` that no job needs, and Gitea's quirks (`upload-artifact@v4`).
//! Every finding carries file:line:column, a rule id, why it matters and the fix.

mod report;
mod rules;
mod volume;
mod yaml;

use std::path::{Path, PathBuf};

pub use report::{Format, render};
pub use yaml::{Doc, MAX_BYTES};

/// One thing to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub rule: Rule,
    /// What was found and why it matters.
    pub why: String,
    pub fix: String,
}

/// The checks, each with a stable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    CredentialDirMount,
    CredentialWritable,
    DockerSocket,
    VolumeNotAllowed,
    PrivilegedUnneeded,
    UnpinnedUses,
    ImageWithoutDigest,
    UploadArtifactV4,
    EventInjection,
    SecretExposed,
}

impl Rule {
    pub const ALL: [Rule; 10] = [
        Rule::CredentialDirMount,
        Rule::CredentialWritable,
        Rule::DockerSocket,
        Rule::VolumeNotAllowed,
        Rule::PrivilegedUnneeded,
        Rule::UnpinnedUses,
        Rule::ImageWithoutDigest,
        Rule::UploadArtifactV4,
        Rule::EventInjection,
        Rule::SecretExposed,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Rule::CredentialDirMount => "credential-dir-mount",
            Rule::CredentialWritable => "credential-writable",
            Rule::DockerSocket => "docker-socket",
            Rule::VolumeNotAllowed => "volume-not-allowed",
            Rule::PrivilegedUnneeded => "privileged-unneeded",
            Rule::UnpinnedUses => "unpinned-uses",
            Rule::ImageWithoutDigest => "image-without-digest",
            Rule::UploadArtifactV4 => "upload-artifact-v4",
            Rule::EventInjection => "event-injection",
            Rule::SecretExposed => "secret-exposed",
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Rule::CredentialDirMount => "a credential directory is mounted where one file serves",
            Rule::CredentialWritable => "a credential is mounted writable",
            Rule::DockerSocket => "the Docker socket reaches jobs (root on the host)",
            Rule::VolumeNotAllowed => "a volume that container.valid_volumes silently drops",
            Rule::PrivilegedUnneeded => "privileged runner with no job that needs it",
            Rule::UnpinnedUses => "a uses: not pinned to a 40-hex commit",
            Rule::ImageWithoutDigest => "a container or service image without a digest",
            Rule::UploadArtifactV4 => "upload/download-artifact v4+ fails on Gitea",
            Rule::EventInjection => "event data interpolated into a script",
            Rule::SecretExposed => "a secret echoed or put on a command line",
        }
    }
}

/// Why nothing could be linted: exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot read: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("{}:{line}:{column}: invalid YAML: {message}", path.display())]
    Yaml {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Shape {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// Lints the workflows together with the runner config that runs them (if any); findings
/// sorted by file, line and column.
pub fn lint(workflows: &[PathBuf], runner_config: Option<&Path>) -> Result<Vec<Finding>, Error> {
    let workflows = workflows
        .iter()
        .map(|p| Ok((p.clone(), Doc::load(p)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let runner = runner_config
        .map(|p| Ok::<_, Error>((p.to_path_buf(), Doc::load(p)?)))
        .transpose()?;
    lint_docs(&workflows, runner.as_ref())
}

/// [`lint`] on documents already parsed.
pub fn lint_docs(
    workflows: &[(PathBuf, Doc)],
    runner: Option<&(PathBuf, Doc)>,
) -> Result<Vec<Finding>, Error> {
    let runner_cfg = runner
        .map(|(path, doc)| rules::RunnerConfig::read(path, doc))
        .transpose()?;
    let mut findings = Vec::new();
    let mut any_job_needs_privilege = false;
    for (path, doc) in workflows {
        let out = rules::workflow(path, doc, runner_cfg.as_ref())?;
        any_job_needs_privilege |= out.needs_privilege;
        findings.extend(out.findings);
    }
    if let (Some((path, doc)), Some(cfg)) = (runner, &runner_cfg) {
        findings.extend(rules::runner(
            path,
            doc,
            cfg,
            (!workflows.is_empty()).then_some(any_job_needs_privilege),
        ));
    }
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.rule).cmp(&(&b.file, b.line, b.column, b.rule))
    });
    findings.dedup();
    Ok(findings)
}
