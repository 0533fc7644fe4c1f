//! Resolving a package set with apt itself, in a throwaway apt root.
//!
//! The root has an empty dpkg status, only the given sources (each with its `signed-by`
//! key, no keyring of the machine's), and mmdebstrap's own apt settings (native
//! architecture only, no recommends, `pkgCacheGen::ForceEssential ","`). `apt-get update`
//! with `--error-on=any` refuses a repository whose Release signature does not verify.
//! Then mmdebstrap's selection is replayed: the essential set of the suite, then, with it
//! written into the status file as installed, the variant's priority set plus the profile's
//! packages. `apt-get --print-uris` names each .deb with its size and sha256.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use isoforge_deb822::Paragraph;
use isoforge_exec::{Runner, Stage};

use crate::format::{Inputs, Lock, Locked};
use crate::{Error, io_err};

/// One apt repository to resolve against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptRepo {
    /// How the lock names it: `debian` or an extra repository's name.
    pub name: String,
    /// Base URL actually read (the snapshot, the mirror, or the repository's URL).
    pub url: String,
    /// `snapshot`, `mirror` or `repository`, recorded in the lock.
    pub how: String,
    pub suite: String,
    pub components: Vec<String>,
    /// The key file its Release must be signed with.
    pub keyring: PathBuf,
    /// Snapshots' Release files have expired: do not check Valid-Until.
    pub ignore_valid_until: bool,
}

impl AptRepo {
    pub fn sources_line(&self) -> String {
        let extra = if self.ignore_valid_until {
            " check-valid-until=no"
        } else {
            ""
        };
        format!(
            "deb [signed-by={}{extra}] {} {} {}",
            self.keyring.display(),
            self.url,
            self.suite,
            self.components.join(" ")
        )
    }
}

/// What to resolve.
#[derive(Debug, Clone)]
pub struct Request {
    pub inputs: Inputs,
    pub suite: String,
    pub architecture: String,
    /// mmdebstrap variant (`minbase`, `required`, `important`, `debootstrap`, `standard`).
    pub variant: String,
    pub packages: Vec<String>,
    pub repositories: Vec<AptRepo>,
}

/// Resolves `req` with apt under `work` (a fresh directory); tool logs go to `<log>.log`.
pub fn resolve(
    runner: &Runner,
    stage: &Stage,
    req: &Request,
    work: &Path,
    log: &str,
) -> Result<Lock, Error> {
    let root = work.join("root");
    for d in [
        "etc/apt/apt.conf.d",
        "etc/apt/preferences.d",
        "etc/apt/sources.list.d",
        "etc/apt/trusted.gpg.d",
        "var/lib/dpkg",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/log/apt",
    ] {
        let p = root.join(d);
        std::fs::create_dir_all(&p).map_err(io_err(format!("cannot create {}", p.display())))?;
    }
    let status = root.join("var/lib/dpkg/status");
    write(&status, "")?;
    let mut sources = String::new();
    for r in &req.repositories {
        let _ = writeln!(sources, "{}", r.sources_line());
    }
    write(&root.join("etc/apt/sources.list"), &sources)?;
    let arch = &req.architecture;
    let conf = work.join("apt.conf");
    write(
        &conf,
        &format!(
            "Dir \"{root}/\";\n\
             Dir::State::Status \"{status}\";\n\
             Dir::Etc::Trusted \"{root}/etc/apt/trusted.gpg\";\n\
             Dir::Etc::TrustedParts \"{root}/etc/apt/trusted.gpg.d/\";\n\
             Apt::Architecture \"{arch}\";\n\
             Apt::Architectures \"{arch}\";\n\
             pkgCacheGen::ForceEssential \",\";\n\
             Apt::Install-Recommends \"false\";\n\
             Acquire::Languages \"none\";\n\
             Acquire::Retries \"3\";\n\
             Acquire::http::Timeout \"30\";\n\
             APT::Sandbox::User \"root\";\n",
            root = root.display(),
            status = status.display(),
        ),
    )?;
    let apt = |program: &str| {
        let mut cmd = runner.command(program);
        cmd.env("APT_CONFIG", &conf);
        cmd
    };

    stage.message("apt-get update (verifying Release signatures)");
    let mut cmd = apt("apt-get");
    cmd.args(["update", "--error-on=any"]);
    runner.run(stage, log, cmd).map_err(|e| match e {
        isoforge_exec::Error::Failed { last_line, log, .. } => Error::Invalid(format!(
            "apt-get update failed: {last_line} (a repository could not be read, or its Release \
             signature does not verify against its signed-by key; full log: {log})"
        )),
        other => Error::Tool(other),
    })?;

    let narrow = |pattern: &str| {
        format!(
            "?narrow(?or(?archive(^{s}$),?codename(^{s}$)),?architecture({arch}),{pattern})",
            s = req.suite
        )
    };
    stage.message("the essential set");
    let essential = print_uris(runner, stage, &apt, log, &[narrow("?essential")], req)?;
    let essential_stanzas = show(runner, stage, &apt, log, &essential)?;
    let mut status_text = String::new();
    for (p, para) in essential.iter().zip(&essential_stanzas) {
        let mut st = Paragraph::new();
        st.push("Package", &p.name);
        st.push("Status", "install ok installed");
        for (k, v) in para.fields() {
            if !k.eq_ignore_ascii_case("Package") {
                st.push(k, v);
            }
        }
        status_text.push_str(&isoforge_deb822::write(&[st]));
        status_text.push('\n');
    }
    write(&status, &status_text)?;

    stage.message("the priority set and the profile's packages");
    let priority = match req.variant.as_str() {
        "minbase" | "required" => Some("?and(?priority(required),?not(?essential))"),
        "important" | "debootstrap" => {
            Some("?and(?or(?priority(required),?priority(important)),?not(?essential))")
        }
        "standard" => Some("?and(?or(~prequired,~pimportant,~pstandard),?not(?essential))"),
        "essential" => None,
        other => {
            return Err(Error::Invalid(format!(
                "variant {other:?} cannot be locked; use minbase, required, important, debootstrap or standard"
            )));
        }
    };
    let mut wanted: Vec<String> = req.packages.clone();
    if let Some(p) = priority {
        wanted.push(narrow(p));
    }
    let rest = print_uris(runner, stage, &apt, log, &wanted, req)?;
    let rest_stanzas = show(runner, stage, &apt, log, &rest)?;

    let mut packages: Vec<Locked> = Vec::new();
    for (mut p, para) in essential
        .into_iter()
        .zip(essential_stanzas)
        .chain(rest.into_iter().zip(rest_stanzas))
    {
        p.priority = para.get("Priority").unwrap_or("-").to_string();
        if packages
            .iter()
            .any(|q| q.name == p.name && q.architecture == p.architecture)
        {
            continue;
        }
        packages.push(p);
    }
    packages.sort();
    Ok(Lock {
        inputs: req.inputs.clone(),
        resolved: req
            .repositories
            .iter()
            .map(|r| (r.name.clone(), r.how.clone(), r.url.clone()))
            .collect(),
        packages,
    })
}

/// `apt-get install --print-uris` of `args`: the .debs apt would fetch.
fn print_uris(
    runner: &Runner,
    stage: &Stage,
    apt: &dyn Fn(&str) -> std::process::Command,
    log: &str,
    args: &[String],
    req: &Request,
) -> Result<Vec<Locked>, Error> {
    let mut cmd = apt("apt-get");
    cmd.args([
        "install",
        "--print-uris",
        "-qq",
        "--yes",
        "-o",
        "Acquire::ForceHash=SHA256",
    ])
    .args(args);
    // stdout is the list; the runner logs stderr.
    let text = run_keep_stdout(runner, stage, log, cmd)?;
    parse_uris(&text, &req.repositories)
}

/// apt's answer on stdout is kept (at most this much); the whole Debian archive's
/// `--print-uris` or `show` is far below it.
const APT_OUTPUT_LIMIT: usize = 512 << 20;

/// Runs `cmd` and returns its stdout; stderr goes to the log. Cancellable while apt works.
fn run_keep_stdout(
    runner: &Runner,
    stage: &Stage,
    log: &str,
    cmd: std::process::Command,
) -> Result<String, Error> {
    stage.message(&format!("{} …", cmd.get_program().to_string_lossy()));
    match runner.output(log, cmd, APT_OUTPUT_LIMIT) {
        Ok(out) => Ok(String::from_utf8_lossy(&out).into_owned()),
        Err(isoforge_exec::Error::Failed { last_line, log, .. }) => Err(Error::Invalid(format!(
            "apt could not resolve the package set: {last_line} (full log: {log})"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Parses `'URI' FILE SIZE SHA256:HEX` lines, attributing each URI to its repository.
fn parse_uris(text: &str, repos: &[AptRepo]) -> Result<Vec<Locked>, Error> {
    let mut out = Vec::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || Error::Invalid(format!("unexpected apt --print-uris line {l:?}"));
        let f: Vec<&str> = l.split(' ').collect();
        let [uri, file, size, hash] = f.as_slice() else {
            return Err(bad());
        };
        let uri = uri.trim_matches('\'');
        let sha256 = hash
            .strip_prefix("SHA256:")
            .ok_or_else(|| Error::Invalid(format!("apt gave no SHA256 for {uri}")))?;
        let (repo, path) = repos
            .iter()
            .find_map(|r| {
                let base = format!("{}/", normalize(&r.url));
                normalize(uri)
                    .strip_prefix(&base)
                    .map(|rest| (r.name.clone(), percent_decode(rest)))
            })
            .ok_or_else(|| {
                Error::Invalid(format!("{uri} is in none of the configured repositories"))
            })?;
        let stem = file.strip_suffix(".deb").ok_or_else(bad)?;
        let parts: Vec<&str> = stem.split('_').collect();
        let [name, version, arch] = parts.as_slice() else {
            return Err(bad());
        };
        out.push(Locked {
            name: name.to_string(),
            version: percent_decode(version),
            architecture: arch.to_string(),
            priority: "-".into(),
            size: size.parse().map_err(|_| bad())?,
            sha256: sha256.to_ascii_lowercase(),
            repository: repo,
            path,
        });
    }
    Ok(out)
}

/// `apt-cache show name=version` for each package, in the same order, matched by sha256.
fn show(
    runner: &Runner,
    stage: &Stage,
    apt: &dyn Fn(&str) -> std::process::Command,
    log: &str,
    pkgs: &[Locked],
) -> Result<Vec<Paragraph>, Error> {
    if pkgs.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmd = apt("apt-cache");
    cmd.arg("show").args(
        pkgs.iter()
            .map(|p| format!("{}:{}={}", p.name, p.architecture, p.version)),
    );
    let text = run_keep_stdout(runner, stage, log, cmd)?;
    let paras = isoforge_deb822::parse(&text)
        .map_err(|e| Error::Invalid(format!("apt-cache show printed something unreadable: {e}")))?;
    pkgs.iter()
        .map(|p| {
            paras
                .iter()
                .find(|q| {
                    q.get("Package") == Some(p.name.as_str())
                        && q.get("Version") == Some(p.version.as_str())
                        && q.get("SHA256") == Some(p.sha256.as_str())
                })
                .cloned()
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "apt-cache show has no entry for {} {} with sha256 {}",
                        p.name, p.version, p.sha256
                    ))
                })
        })
        .collect()
}

/// apt prints `file:/x` for `file:///x`.
fn normalize(url: &str) -> String {
    match url.strip_prefix("file://") {
        Some(rest) => format!("file:{rest}"),
        None => url.to_string(),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(io_err(format!("cannot write {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_print_uris() {
        let repos = vec![
            AptRepo {
                name: "debian".into(),
                url: "http://deb.debian.org/debian".into(),
                how: "mirror".into(),
                suite: "bookworm".into(),
                components: vec!["main".into()],
                keyring: "/k.gpg".into(),
                ignore_valid_until: false,
            },
            AptRepo {
                name: "local".into(),
                url: "file:///srv/repo".into(),
                how: "repository".into(),
                suite: "bookworm".into(),
                components: vec!["main".into()],
                keyring: "/l.asc".into(),
                ignore_valid_until: false,
            },
        ];
        let text = format!(
            "'http://deb.debian.org/debian/pool/main/u/util-linux/bsdutils_2.38.1-5%2bdeb12u3_amd64.deb' bsdutils_1%3a2.38.1-5+deb12u3_amd64.deb 94412 SHA256:{}\n\
             'file:/srv/repo/pool/b/brand_1.0_all.deb' brand_1.0_all.deb 1000 SHA256:{}\n",
            "A".repeat(64),
            "b".repeat(64)
        );
        let p = parse_uris(&text, &repos).unwrap();
        assert_eq!(p[0].name, "bsdutils");
        assert_eq!(p[0].version, "1:2.38.1-5+deb12u3");
        assert_eq!(
            p[0].path,
            "pool/main/u/util-linux/bsdutils_2.38.1-5+deb12u3_amd64.deb"
        );
        assert_eq!(p[0].sha256, "a".repeat(64));
        assert_eq!(
            (p[1].repository.as_str(), p[1].path.as_str()),
            ("local", "pool/b/brand_1.0_all.deb")
        );
        let e =
            parse_uris("'http://elsewhere/x.deb' x_1_all.deb 1 SHA256:00\n", &repos).unwrap_err();
        assert!(e.to_string().contains("none of the configured"), "{e}");
    }
}
