//! Checking the files a sums file lists: each one is OK, mismatched (expected and actual
//! digest), missing, or unreadable, with the same verdicts as `sha256sum -c`.
//!
//! Names in a published sums file are untrusted. When checking a release (a directory or a
//! download), [`Options::confine`] refuses absolute names and `..` components, so a sums file
//! cannot make isoforge read, or write downloads, outside the release. Plain
//! `isoforge check SHA256SUMS` resolves names as `sha256sum` does, but against the sums file's
//! directory.

use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::{Listed, ParseError, Sha256Digest, sha256_reader_progress};

/// How to check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Skip listed files that do not exist, as `sha256sum --ignore-missing`; a check that
    /// verifies nothing is still an anomaly.
    pub ignore_missing: bool,
    /// Refuse absolute names and `..` components (checking a release directory or URL).
    pub confine: bool,
}

/// The verdict for one listed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok,
    Mismatch {
        actual: Sha256Digest,
    },
    Missing,
    /// It exists but could not be read to the end (a directory, no permission, I/O error).
    Unreadable {
        error: String,
    },
}

/// A listed file and where it was looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub listed: Listed,
    pub path: PathBuf,
}

/// One listed file, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub target: Target,
    pub status: Status,
}

impl Checked {
    /// The line `sha256sum -c` prints for this file: `name: OK`, `name: FAILED` or
    /// `name: FAILED open or read`.
    pub fn status_line(&self) -> String {
        let verdict = match self.status {
            Status::Ok => "OK",
            Status::Mismatch { .. } => "FAILED",
            Status::Missing | Status::Unreadable { .. } => "FAILED open or read",
        };
        format!(
            "{}: {verdict}",
            display_name(&self.target.listed.entry.name)
        )
    }

    /// `supply-chain anomaly: ...` for a file that is not OK.
    pub fn anomaly(&self) -> Option<String> {
        let name = anomaly_name(&self.target.listed.entry.name);
        let expected = self.target.listed.entry.digest;
        let what = match &self.status {
            Status::Ok => return None,
            Status::Mismatch { actual } => format!("got {actual}"),
            Status::Missing => "file is missing".to_string(),
            Status::Unreadable { error } => format!("cannot read it: {error}"),
        };
        Some(format!(
            "supply-chain anomaly: {name}: expected {expected}, {what}"
        ))
    }
}

/// The outcome of checking one sums file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The sums file as the user named it.
    pub sums_name: String,
    /// How many files it lists (before `--ignore-missing`).
    pub listed: usize,
    /// The files checked, in the order listed.
    pub checked: Vec<Checked>,
    /// Files skipped because they are missing and `ignore_missing` was set.
    pub ignored_missing: usize,
}

impl Report {
    /// One line per anomaly; empty when everything checked out.
    pub fn anomalies(&self) -> Vec<String> {
        let mut out: Vec<String> = self.checked.iter().filter_map(Checked::anomaly).collect();
        if self.listed == 0 {
            out.push(format!(
                "supply-chain anomaly: {}: lists no files",
                self.sums_name
            ));
        } else if self.checked.is_empty() && self.ignored_missing > 0 {
            out.push(format!(
                "supply-chain anomaly: {}: none of the {} listed files is present, so nothing \
                 was verified (--ignore-missing)",
                self.sums_name, self.listed
            ));
        } else if self.checked.is_empty() {
            out.push(format!(
                "supply-chain anomaly: {}: nothing was verified",
                self.sums_name
            ));
        }
        out
    }

    pub fn is_ok(&self) -> bool {
        self.anomalies().is_empty()
    }
}

/// Progress while hashing, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Hashing `path` starts; `len` is its size if known.
    Start {
        name: &'a str,
        len: Option<u64>,
    },
    /// `n` more bytes hashed.
    Bytes(u64),
    Done,
}

/// Checks every listed file under `base`. Fails (before reading anything) only when
/// `opts.confine` is set and a name is unsafe.
pub fn verify(
    sums_name: &str,
    entries: &[Listed],
    base: &Path,
    opts: Options,
) -> Result<Report, ParseError> {
    let targets = targets(sums_name, entries, base, opts.confine)?;
    Ok(check_targets(
        sums_name,
        entries.len(),
        targets,
        opts.ignore_missing,
        &mut |_| {},
    ))
}

/// Where each listed file is looked for: `base` joined with its name. With `confine`, a name
/// that is absolute or contains `..` is an error naming the line.
pub fn targets(
    sums_name: &str,
    entries: &[Listed],
    base: &Path,
    confine: bool,
) -> Result<Vec<Target>, ParseError> {
    entries
        .iter()
        .map(|l| {
            if confine {
                confined(&l.entry.name).map_err(|message| ParseError {
                    source_name: sums_name.to_string(),
                    line: l.line,
                    message,
                })?;
            }
            Ok(Target {
                listed: l.clone(),
                path: base.join(&l.entry.name),
            })
        })
        .collect()
}

/// Checks that a listed name stays inside the release; returns it as a relative path.
pub fn confined(name: &str) -> Result<PathBuf, String> {
    let path = Path::new(name);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "{name:?} is an absolute path; a release lists its own files by relative \
                     name, so isoforge refuses to read (or download to) a path outside it"
                ));
            }
            Component::ParentDir => {
                return Err(format!(
                    "{name:?} contains \"..\"; a release lists its own files, so isoforge \
                     refuses names that climb out of the release directory"
                ));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(format!("{name:?} names no file"));
    }
    Ok(out)
}

/// Hashes each target and compares. `listed` is the number of files the sums file lists.
pub fn check_targets(
    sums_name: &str,
    listed: usize,
    targets: Vec<Target>,
    ignore_missing: bool,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Report {
    let mut checked = Vec::with_capacity(targets.len());
    let mut ignored_missing = 0;
    for target in targets {
        let status = match check_one(&target, progress) {
            Status::Missing if ignore_missing => {
                ignored_missing += 1;
                continue;
            }
            s => s,
        };
        checked.push(Checked { target, status });
    }
    Report {
        sums_name: sums_name.to_string(),
        listed,
        checked,
        ignored_missing,
    }
}

fn check_one(target: &Target, progress: &mut dyn FnMut(Progress<'_>)) -> Status {
    let file = match File::open(&target.path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Status::Missing,
        Err(e) => {
            return Status::Unreadable {
                error: e.to_string(),
            };
        }
    };
    let len = file.metadata().ok().map(|m| m.len());
    progress(Progress::Start {
        name: &target.listed.entry.name,
        len,
    });
    let result = sha256_reader_progress(file, &mut |n| progress(Progress::Bytes(n)));
    progress(Progress::Done);
    match result {
        Ok(actual) => status_for(target.listed.entry.digest, actual),
        Err(e) => Status::Unreadable {
            error: e.to_string(),
        },
    }
}

/// The verdict for a file whose digest is `actual`.
pub fn status_for(expected: Sha256Digest, actual: Sha256Digest) -> Status {
    if actual == expected {
        Status::Ok
    } else {
        Status::Mismatch { actual }
    }
}

/// A name as `sha256sum -c` prints it: a name with a newline is escaped (`\\`, `\n`, `\r`)
/// and marked with a leading `\`, so that every verdict stays on one line.
pub fn display_name(name: &str) -> String {
    if name.contains('\n') {
        format!("\\{}", crate::escape_name(name))
    } else {
        name.to_string()
    }
}

/// Like [`display_name`], but a carriage return also triggers escaping: anomaly lines are
/// isoforge's own and must not be overwritten on a terminal.
fn anomaly_name(name: &str) -> String {
    if name.contains(['\n', '\r']) {
        format!("\\{}", crate::escape_name(name))
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, sha256_file};

    #[test]
    fn ok_mismatch_missing_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good"), b"good").unwrap();
        std::fs::write(dir.path().join("bad"), b"bad").unwrap();
        std::fs::create_dir(dir.path().join("adir")).unwrap();
        let good = sha256_file(&dir.path().join("good")).unwrap();
        let text = format!("{good}  good\n{good}  bad\n{good}  gone\n{good}  adir\n");
        let entries = parse("SUMS", text.as_bytes()).unwrap();
        let r = verify("SUMS", &entries, dir.path(), Options::default()).unwrap();
        let lines: Vec<_> = r.checked.iter().map(Checked::status_line).collect();
        assert_eq!(
            lines,
            [
                "good: OK",
                "bad: FAILED",
                "gone: FAILED open or read",
                "adir: FAILED open or read"
            ]
        );
        let bad = sha256_file(&dir.path().join("bad")).unwrap();
        let a = r.anomalies();
        assert_eq!(a.len(), 3);
        assert_eq!(
            a[0],
            format!("supply-chain anomaly: bad: expected {good}, got {bad}")
        );
        assert_eq!(
            a[1],
            format!("supply-chain anomaly: gone: expected {good}, file is missing")
        );
        assert!(a[2].contains("cannot read it: Is a directory"), "{}", a[2]);
    }

    #[test]
    fn ignore_missing_still_needs_one_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"f").unwrap();
        let f = sha256_file(&dir.path().join("f")).unwrap();
        let opts = Options {
            ignore_missing: true,
            confine: false,
        };
        let entries = parse("S", format!("{f}  gone\n{f}  f\n").as_bytes()).unwrap();
        let r = verify("S", &entries, dir.path(), opts).unwrap();
        assert!(r.is_ok());
        assert_eq!((r.checked.len(), r.ignored_missing), (1, 1));
        let entries = parse("S", format!("{f}  gone\n").as_bytes()).unwrap();
        let r = verify("S", &entries, dir.path(), opts).unwrap();
        assert!(r.anomalies()[0].contains("S: none of the 1 listed files is present"));
    }

    #[test]
    fn empty_sums_is_an_anomaly() {
        let dir = tempfile::tempdir().unwrap();
        let r = verify("S", &[], dir.path(), Options::default()).unwrap();
        assert_eq!(r.anomalies(), ["supply-chain anomaly: S: lists no files"]);
    }

    #[test]
    fn confinement_names_the_line() {
        let h = "0".repeat(64);
        let opts = Options {
            ignore_missing: false,
            confine: true,
        };
        for (name, why) in [
            ("/etc/passwd", "absolute path"),
            ("a/../../x", "contains \"..\""),
            ("./.", "names no file"),
        ] {
            let entries = parse("S", format!("{h}  ok\n{h}  {name}\n").as_bytes()).unwrap();
            let e = verify("S", &entries, Path::new("/nonexistent"), opts).unwrap_err();
            assert_eq!(e.line, 2);
            assert!(e.to_string().starts_with("S:2: "), "{e}");
            assert!(e.message.contains(why), "{e}");
        }
        assert_eq!(confined("./sub/x.iso").unwrap(), Path::new("sub/x.iso"));
    }

    #[test]
    fn names_print_on_one_line() {
        assert_eq!(display_name("a\\b"), "a\\b");
        assert_eq!(display_name("a\nb\\c\r"), "\\a\\nb\\\\c\\r");
        assert_eq!(display_name("a\rb"), "a\rb");
        assert_eq!(anomaly_name("a\rb"), "\\a\\rb");
    }
}
