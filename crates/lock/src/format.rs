//! The lock file format.
//!
//! ```text
//! # comments
//! format 1
//! input suite bookworm                 the inputs it was resolved from, in a fixed order
//! ...
//! inputs-sha256 <hex>                  sha256 of the input lines
//! resolved debian mirror http://…      where each repository was read
//! package <name> <version> <arch> <priority> <size> <sha256> <repository> <archive path>
//! ```
//!
//! Package lines are sorted by name, architecture and version; nothing in the file depends
//! on when or where it was written.

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{Error, io_err};

pub const FORMAT: u32 = 1;

/// The largest lock read (a lock of the whole Debian archive would be ~20 MiB).
pub const MAX_BYTES: u64 = 64 << 20;

/// The inputs a lock was resolved from: `(key, value)` in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inputs(pub Vec<(String, String)>);

impl Inputs {
    pub fn push(&mut self, key: &str, value: impl Into<String>) {
        self.0.push((key.to_string(), value.into()));
    }

    /// sha256 over the rendered input lines.
    pub fn sha256(&self) -> String {
        let mut h = Sha256::new();
        for (k, v) in &self.0 {
            h.update(format!("input {k} {v}\n").as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// What differs between `self` (recorded) and `now`, one phrase per input; for a list
    /// of words (packages, components), which words came and went.
    pub fn differences(&self, now: &Inputs) -> Vec<String> {
        let mut out = Vec::new();
        let get = |i: &Inputs, k: &str| -> Vec<String> {
            i.0.iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let mut keys: Vec<&str> = self
            .0
            .iter()
            .chain(now.0.iter())
            .map(|(k, _)| k.as_str())
            .collect();
        keys.dedup();
        let mut seen = Vec::new();
        for k in keys {
            if seen.contains(&k) {
                continue;
            }
            seen.push(k);
            let (was, is) = (get(self, k), get(now, k));
            if was != is {
                out.push(format!(
                    "{k}: locked {:?}, now {:?}{}",
                    was.join("; "),
                    is.join("; "),
                    word_changes(&was, &is)
                ));
            }
        }
        out
    }
}

/// ` (added a b; removed c)` between two single-valued word lists; empty otherwise.
fn word_changes(was: &[String], is: &[String]) -> String {
    let ([was], [is]) = (was, is) else {
        return String::new();
    };
    let (was, is): (Vec<&str>, Vec<&str>) = (
        was.split_whitespace().collect(),
        is.split_whitespace().collect(),
    );
    if was.len() < 2 && is.len() < 2 {
        return String::new();
    }
    let added: Vec<&str> = is.iter().filter(|w| !was.contains(w)).copied().collect();
    let removed: Vec<&str> = was.iter().filter(|w| !is.contains(w)).copied().collect();
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("added {}", added.join(" ")));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {}", removed.join(" ")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

/// One locked package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Locked {
    pub name: String,
    pub architecture: String,
    pub version: String,
    /// The archive's Priority (`-` when the repository gives none).
    pub priority: String,
    pub size: u64,
    /// 64 lowercase hex digits.
    pub sha256: String,
    /// The configured repository it comes from (`debian`, or an extra repository's name).
    pub repository: String,
    /// Path of the .deb below the repository's base URL (`pool/main/…`).
    pub path: String,
}

/// A whole lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub inputs: Inputs,
    /// `(repository, how, url)`: where each repository was read when resolving.
    pub resolved: Vec<(String, String, String)>,
    pub packages: Vec<Locked>,
}

impl Lock {
    /// The hash recorded in the file for its inputs.
    pub fn inputs_sha256(&self) -> String {
        self.inputs.sha256()
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(
            "# isoforge lock: every package installed, pinned by content. Written by\n\
             # `isoforge lock`; do not edit. The same inputs always give the same bytes.\n\
             # package <name> <version> <architecture> <priority> <size> <sha256> <repository> <path>\n",
        );
        let _ = writeln!(s, "format {FORMAT}");
        for (k, v) in &self.inputs.0 {
            let _ = writeln!(s, "input {k} {v}");
        }
        let _ = writeln!(s, "inputs-sha256 {}", self.inputs.sha256());
        for (repo, how, url) in &self.resolved {
            let _ = writeln!(s, "resolved {repo} {how} {url}");
        }
        let mut pkgs = self.packages.clone();
        pkgs.sort();
        for p in &pkgs {
            let _ = writeln!(
                s,
                "package {} {} {} {} {} {} {} {}",
                p.name,
                p.version,
                p.architecture,
                p.priority,
                p.size,
                p.sha256,
                p.repository,
                p.path
            );
        }
        s
    }

    /// Reads a lock file; errors name the file and line.
    pub fn load(path: &Path) -> Result<Self, Error> {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes))
            .map_err(io_err(format!("cannot read {}", path.display())))?;
        let file_err = |message: String| Error::At {
            file: path.to_path_buf(),
            line: 0,
            message,
        };
        if bytes.len() as u64 > MAX_BYTES {
            return Err(file_err(format!(
                "larger than {} MiB; not an isoforge lock",
                MAX_BYTES >> 20
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            file_err(format!(
                "not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, Error> {
        let mut inputs = Inputs::default();
        let mut recorded_sha = None;
        let mut resolved = Vec::new();
        let mut packages: Vec<Locked> = Vec::new();
        let mut format = None;
        for (idx, raw) in text.lines().enumerate() {
            let line = idx + 1;
            let err = |message: String| Error::At {
                file: path.to_path_buf(),
                line,
                message,
            };
            let l = raw.trim_end();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (word, rest) = l.split_once(' ').unwrap_or((l, ""));
            match word {
                "format" => {
                    let f: u32 = rest
                        .parse()
                        .map_err(|_| err(format!("format {rest:?} is not a number")))?;
                    if f != FORMAT {
                        return Err(err(format!(
                            "format {f} is not format {FORMAT}, the one this isoforge reads; run `isoforge lock`"
                        )));
                    }
                    format = Some(f);
                }
                "input" => {
                    let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                    if k.is_empty() {
                        return Err(err("expected `input KEY VALUE`".into()));
                    }
                    inputs.push(k, v);
                }
                "inputs-sha256" => recorded_sha = Some((rest.to_string(), line)),
                "resolved" => {
                    let f: Vec<&str> = rest.split(' ').collect();
                    let [repo, how, url] = f.as_slice() else {
                        return Err(err("expected `resolved REPOSITORY HOW URL`".into()));
                    };
                    isoforge_inputs::validate::slug(repo)
                        .and_then(|_| isoforge_inputs::validate::slug(how))
                        .and_then(|_| isoforge_inputs::validate::url(url))
                        .map_err(|m| err(format!("resolved: {m}")))?;
                    resolved.push((repo.to_string(), how.to_string(), url.to_string()));
                }
                "package" => {
                    let p = parse_package(rest).map_err(err)?;
                    if let Some(prev) = packages
                        .iter()
                        .find(|q| q.name == p.name && q.architecture == p.architecture)
                    {
                        return Err(err(format!(
                            "{}:{} is locked twice ({} and {})",
                            p.name, p.architecture, prev.version, p.version
                        )));
                    }
                    packages.push(p);
                }
                other => {
                    return Err(err(format!(
                        "unknown line {other:?}; expected format, input, inputs-sha256, resolved or package"
                    )));
                }
            }
        }
        let file_err = |message: String| Error::At {
            file: path.to_path_buf(),
            line: 0,
            message,
        };
        if format.is_none() {
            return Err(file_err(
                "no `format` line: not an isoforge lock; run `isoforge lock`".into(),
            ));
        }
        match recorded_sha {
            Some((sha, _)) if sha == inputs.sha256() => {}
            Some((_, line)) => {
                return Err(Error::At {
                    file: path.to_path_buf(),
                    line,
                    message: "inputs-sha256 does not match the input lines: the file was edited by hand; run `isoforge lock`".into(),
                });
            }
            None => {
                return Err(file_err(
                    "no inputs-sha256 line; run `isoforge lock`".into(),
                ));
            }
        }
        if packages.is_empty() {
            return Err(file_err("locks no package; run `isoforge lock`".into()));
        }
        packages.sort();
        Ok(Self {
            inputs,
            resolved,
            packages,
        })
    }

    /// Writes the lock atomically and durably (a temporary file renamed into place).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        isoforge_fs::write_atomic(path, self.render().as_bytes())
            .map_err(|e| Error::Invalid(e.to_string()))
    }

    /// sha256 of the rendered file: what BUILD_INFO and `isoforge pins` record.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.render().as_bytes()))
    }
}

fn parse_package(rest: &str) -> Result<Locked, String> {
    let f: Vec<&str> = rest.split(' ').collect();
    let [
        name,
        version,
        arch,
        priority,
        size,
        sha256,
        repository,
        path,
    ] = f.as_slice()
    else {
        return Err(format!(
            "expected `package NAME VERSION ARCH PRIORITY SIZE SHA256 REPOSITORY PATH` (8 fields), found {}",
            f.len()
        ));
    };
    use isoforge_inputs::validate;
    validate::package_name(name)?;
    // Debian policy 5.6.12: [epoch:]upstream[-revision], starting with a digit.
    let version_ok = version.starts_with(|c: char| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.:~".contains(c));
    if !version_ok {
        return Err(format!("version {version:?} is not a Debian version"));
    }
    let arch_ok = !arch.is_empty()
        && arch
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !arch_ok {
        return Err(format!(
            "architecture {arch:?} is not a Debian architecture"
        ));
    }
    let priority_ok =
        !priority.is_empty() && priority.chars().all(|c| c.is_ascii_lowercase() || c == '-');
    if !priority_ok {
        return Err(format!("priority {priority:?} is not valid"));
    }
    // The repository names a cache directory and a configured repository.
    validate::slug(repository).map_err(|m| format!("repository {m}"))?;
    let size: u64 = size
        .parse()
        .map_err(|_| format!("size {size:?} is not a number"))?;
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!("sha256 {sha256:?} is not 64 lowercase hex digits"));
    }
    let path_ok = path.ends_with(".deb")
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && path.chars().all(|c| c.is_ascii_graphic());
    if !path_ok {
        return Err(format!(
            "path {path:?} is not a relative .deb path inside the repository"
        ));
    }
    Ok(Locked {
        name: name.to_string(),
        architecture: arch.to_string(),
        version: version.to_string(),
        priority: priority.to_string(),
        size,
        sha256: sha256.to_string(),
        repository: repository.to_string(),
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        let mut inputs = Inputs::default();
        inputs.push("suite", "bookworm");
        inputs.push("packages", "live-boot systemd-sysv");
        Lock {
            inputs,
            resolved: vec![(
                "debian".into(),
                "mirror".into(),
                "http://deb.debian.org/debian".into(),
            )],
            packages: vec![
                Locked {
                    name: "zlib1g".into(),
                    architecture: "amd64".into(),
                    version: "1:1.2.13.dfsg-1".into(),
                    priority: "required".into(),
                    size: 87_000,
                    sha256: "a".repeat(64),
                    repository: "debian".into(),
                    path: "pool/main/z/zlib/zlib1g_1.2.13.dfsg-1_amd64.deb".into(),
                },
                Locked {
                    name: "base-files".into(),
                    architecture: "amd64".into(),
                    version: "12.4+deb12u13".into(),
                    priority: "required".into(),
                    size: 70_000,
                    sha256: "b".repeat(64),
                    repository: "debian".into(),
                    path: "pool/main/b/base-files/base-files_12.4+deb12u13_amd64.deb".into(),
                },
            ],
        }
    }

    #[test]
    fn round_trips_sorted_and_stable() {
        let l = sample();
        let text = l.render();
        assert_eq!(text, l.render());
        let pkg_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("package ")).collect();
        assert!(pkg_lines[0].starts_with("package base-files "), "{text}");
        let back = Lock::parse(Path::new("packages.lock"), &text).unwrap();
        assert_eq!(back.render(), text);
        assert_eq!(back.packages.len(), 2);
    }

    #[test]
    fn hand_edits_and_garbage_name_the_line() {
        let text = sample().render();
        let edited = text.replace("input suite bookworm", "input suite trixie");
        let e = Lock::parse(Path::new("p.lock"), &edited)
            .unwrap_err()
            .to_string();
        assert!(e.contains("inputs-sha256 does not match"), "{e}");
        let bad = text.replace(&"a".repeat(64), "xyz");
        let e = Lock::parse(Path::new("p.lock"), &bad)
            .unwrap_err()
            .to_string();
        let n = text
            .lines()
            .position(|l| l.contains(&"a".repeat(64)))
            .unwrap()
            + 1;
        assert!(e.starts_with(&format!("p.lock:{n}: sha256 \"xyz\"")), "{e}");
        let bad = text.replace("pool/main/z/", "../../etc/");
        let e = Lock::parse(Path::new("p.lock"), &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a relative .deb path"), "{e}");
        let e = Lock::parse(Path::new("p.lock"), "hello\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.lock:1: unknown line"), "{e}");
    }

    #[test]
    fn hostile_fields_name_the_line_and_field() {
        let text = sample().render();
        let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
        for (from, to, want) in [
            (" zlib1g ", " ../zlib ", "is not a Debian package name"),
            (" 1:1.2.13.dfsg-1 ", " 1.2/../x ", "is not a Debian version"),
            (" 1:1.2.13.dfsg-1 ", " é ", "is not a Debian version"),
            (
                " amd64 required 87000",
                " AMD/64 required 87000",
                "is not a Debian architecture",
            ),
            (" 87000 ", " -1 ", "size \"-1\" is not a number"),
            (
                " debian pool/main/z",
                " ../cache pool/main/z",
                "repository \"../cache\"",
            ),
            ("pool/main/z/zlib/", "/etc/", "is not a relative .deb path"),
        ] {
            let bad = text.replace(from, to);
            let e = Lock::parse(Path::new("p.lock"), &bad)
                .unwrap_err()
                .to_string();
            let n = line_of("zlib1g");
            assert!(e.starts_with(&format!("p.lock:{n}: ")), "{e}");
            assert!(e.contains(want), "{want}: {e}");
        }
        for url in ["ftp://x/debian", "http://x/$(id)", "/etc"] {
            let bad = text.replace("http://deb.debian.org/debian", url);
            let e = Lock::parse(Path::new("p.lock"), &bad)
                .unwrap_err()
                .to_string();
            let n = line_of("resolved ");
            assert!(e.starts_with(&format!("p.lock:{n}: resolved: ")), "{e}");
        }
    }

    #[test]
    fn oversized_lock_is_refused_unread() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("packages.lock");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_BYTES + 1).unwrap();
        let e = Lock::load(&path).unwrap_err().to_string();
        assert!(e.contains("larger than 64 MiB"), "{e}");
    }

    #[test]
    fn differences_name_the_input() {
        let a = sample().inputs;
        let mut b = Inputs::default();
        b.push("suite", "bookworm");
        b.push("packages", "live-boot systemd-sysv vim");
        let d = a.differences(&b);
        assert_eq!(d.len(), 1);
        assert!(d[0].starts_with("packages: locked"), "{d:?}");
        assert!(d[0].ends_with(" (added vim)"), "{d:?}");
        assert!(a.differences(&a).is_empty());
    }

    #[test]
    fn writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("packages.lock");
        sample().write(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), sample().render());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
