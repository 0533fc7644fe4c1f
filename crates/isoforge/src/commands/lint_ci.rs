//! `isoforge lint-ci`: least privilege for the Gitea workflows and the act_runner config
//! (the checks live in [`isoforge_lint_ci`]). With no arguments it lints
//! `.gitea/workflows/*.y*ml` and `runner/config.yaml` of the current directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use isoforge_lint_ci::Format;

use crate::exit;

const WORKFLOW_DIR: &str = ".gitea/workflows";
const RUNNER_CONFIG: &str = "runner/config.yaml";

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum OutputFormat {
    Text,
    Json,
    Sarif,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Rules: credential-dir-mount, credential-writable, docker-socket, \
volume-not-allowed, privileged-unneeded, unpinned-uses, image-without-digest, \
upload-artifact-v4, event-injection, secret-exposed.\n\n\
Exit status: 0 clean, 1 findings, 2 unreadable or invalid YAML (with its line)."
)]
pub struct Args {
    /// Workflow files [default: .gitea/workflows/*.yml and *.yaml].
    #[arg(value_name = "WORKFLOW")]
    pub workflows: Vec<PathBuf>,

    /// The act_runner config that runs them; its valid_volumes decide which of the
    /// workflows' volumes survive [default: runner/config.yaml if present].
    #[arg(long, value_name = "FILE")]
    pub runner_config: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let workflows = if args.workflows.is_empty() {
        default_workflows(Path::new(WORKFLOW_DIR))?
    } else {
        args.workflows
    };
    let runner = args.runner_config.or_else(|| {
        let p = PathBuf::from(RUNNER_CONFIG);
        p.exists().then_some(p)
    });
    if workflows.is_empty() && runner.is_none() {
        bail!("nothing to lint: no {WORKFLOW_DIR}/*.y*ml, no {RUNNER_CONFIG}; name the files");
    }
    let findings = isoforge_lint_ci::lint(&workflows, runner.as_deref())?;
    let format = match args.format {
        OutputFormat::Text => Format::Text,
        OutputFormat::Json => Format::Json,
        OutputFormat::Sarif => Format::Sarif,
    };
    print!("{}", isoforge_lint_ci::render(&findings, format));
    if findings.is_empty() {
        Ok(exit::OK)
    } else {
        if matches!(format, Format::Text) {
            eprintln!("isoforge lint-ci: {} finding(s)", findings.len());
        }
        Ok(exit::DIFFERENT)
    }
}

fn default_workflows(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot list", dir.display()))?
    {
        let path = entry
            .with_context(|| format!("{}: cannot list", dir.display()))?
            .path();
        let yaml = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
        if yaml {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}
