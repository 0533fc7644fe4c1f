//! A profile's own offenders: `config/offenders.conf`, one rule a line,
//! `ACTION GLOB  # reason`, read without a shell. Actions: `remove` (files and symlinks),
//! `remove-tree` (directories with their contents too), `truncate` (empty regular files) and
//! `hint` (cleanup leaves it; the diff names it). The reason is required. Globs are relative to
//! the image root; a leading `/`, a `.` or `..` component is refused.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::{Action, Error, Rule};

/// The file's name under the configuration directory.
pub const FILE: &str = "offenders.conf";
/// The largest file read, and the most rules and the longest glob accepted.
pub const MAX_BYTES: u64 = 64 << 10;
pub const MAX_RULES: usize = 1000;
pub const MAX_GLOB: usize = 1024;

/// The rules of `path`, in order; none when it does not exist.
pub fn load(path: &Path) -> Result<Vec<Rule>, Error> {
    let file_err = |message: String| Error::File {
        file: path.to_path_buf(),
        message,
    };
    // A symlink, FIFO or device in a checkout someone else controls is refused, not followed.
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(file_err("a symlink; make it a regular file".into()));
        }
        Err(e) => return Err(file_err(format!("cannot open: {e}"))),
    };
    if !f
        .metadata()
        .map_err(|e| file_err(format!("cannot stat: {e}")))?
        .is_file()
    {
        return Err(file_err("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    f.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| file_err(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(file_err(format!(
            "larger than {MAX_BYTES} bytes; keep it to a list of rules"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| file_err("not UTF-8 text".into()))?;
    let mut rules = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let err = |message: String| Error::Line {
            file: path.to_path_buf(),
            line: n,
            message,
        };
        let Some(rule) = parse_line(line, n).map_err(err)? else {
            continue;
        };
        if rules.len() == MAX_RULES {
            return Err(err(format!("more than {MAX_RULES} rules")));
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// One line: `None` for a blank line or a comment.
fn parse_line(line: &str, n: usize) -> Result<Option<Rule>, String> {
    let (rule, reason) = match line.split_once('#') {
        Some((r, why)) => (r.trim(), Some(why.trim())),
        None => (line.trim(), None),
    };
    if rule.is_empty() {
        return Ok(None);
    }
    let mut words = rule.split_whitespace();
    let (Some(action), Some(glob), None) = (words.next(), words.next(), words.next()) else {
        return Err(
            "expected `ACTION GLOB  # reason` (one glob a line; no spaces in the glob)".into(),
        );
    };
    let (action, verb) = match action {
        "remove" => (Some(Action::RemoveFile), "remove"),
        "remove-tree" => (Some(Action::RemoveTree), "remove"),
        "truncate" => (Some(Action::Truncate), "empty"),
        "hint" => (None, "remove or fix"),
        other => {
            return Err(format!(
                "unknown action {other:?}; use remove, remove-tree, truncate or hint"
            ));
        }
    };
    let reason = reason.filter(|r| !r.is_empty()).ok_or_else(|| {
        format!(
            "{glob}: add the reason after the glob (`{} {glob}  # why`)",
            words_of(action)
        )
    })?;
    check_glob(glob)?;
    Rule::new(
        "profile",
        glob,
        action,
        format!("{reason} (profile rule, {FILE}:{n})"),
        format!("{verb} /{glob} before squashing (isoforge's cleanup does, by {FILE}:{n})"),
    )
    .map(Some)
    .map_err(|e| format!("{glob}: not a valid glob: {e}"))
}

fn words_of(a: Option<Action>) -> &'static str {
    match a {
        Some(Action::RemoveFile) => "remove",
        Some(Action::RemoveTree) => "remove-tree",
        Some(Action::Truncate) => "truncate",
        None => "hint",
    }
}

/// Relative to the image root, inside it, and printable.
fn check_glob(glob: &str) -> Result<(), String> {
    if glob.len() > MAX_GLOB {
        return Err(format!("a glob longer than {MAX_GLOB} bytes"));
    }
    if glob.chars().any(char::is_control) {
        return Err("the glob has a control character".into());
    }
    if glob.starts_with('/') {
        return Err(format!(
            "{glob}: write the path relative to the image root ({}), not absolute",
            glob.trim_start_matches('/')
        ));
    }
    if glob
        .split('/')
        .any(|c| c == ".." || c == "." || c.is_empty())
    {
        return Err(format!(
            "{glob}: a `..`, `.` or empty component; name paths inside the image only"
        ));
    }
    Ok(())
}
