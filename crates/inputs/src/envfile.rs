//! The `KEY=VALUE` files under `config/`, read without running a shell.
//!
//! The accepted syntax is the subset of POSIX shell assignments that means the same thing to a
//! shell and to this parser: `#` comments, an optional `export`, unquoted words, `'literal'`
//! and `"escaped"` strings (`\"`, `\\`, `\$`, `` \` ``). Anything a shell would expand or
//! execute (`$VAR`, `` `cmd` ``, a second word) is refused rather than silently misread.

use std::path::{Path, PathBuf};

use crate::Error;

/// The largest configuration file read (the real ones are a few KiB).
pub const MAX_BYTES: u64 = 1 << 20;

/// One `KEY=VALUE` assignment and the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
    /// The file the entry was read from, when it is not the [`EnvFile`]'s own: a flavor's
    /// value over the base profile's ([`EnvFile::layered`]). Errors name this file.
    pub from: Option<PathBuf>,
}

/// A parsed file: its assignments in order.
#[derive(Debug, Clone)]
pub struct EnvFile {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

impl EnvFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        use std::io::Read;
        let err = |message: String| Error::File {
            file: path.to_path_buf(),
            message,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| err(format!("cannot read: {e}")))?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(err(format!(
                "larger than {} KiB; not a configuration file",
                MAX_BYTES >> 10
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            err(format!(
                "not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        parse(path, &text)
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Starts typed reading of the keys in `known`; any other key is an error.
    pub fn fields(&self, known: &'static [&'static str]) -> Result<Fields<'_>, Error> {
        for e in &self.entries {
            if !known.contains(&e.key.as_str()) {
                return Err(self.err(
                    e.line,
                    format!(
                        "unknown key {}; expected one of: {}",
                        e.key,
                        known.join(", ")
                    ),
                ));
            }
        }
        Ok(Fields { file: self })
    }

    /// This file with `over`'s entries on top: a key of `over` replaces the same key here
    /// (and keeps naming `over`'s file and line in errors), except the keys in `skip`, which
    /// the caller combines itself. `over`'s keys must have been checked already
    /// ([`EnvFile::fields`]).
    pub fn layered(&self, over: &EnvFile, skip: &[&str]) -> EnvFile {
        let mut entries = self.entries.clone();
        for e in over
            .entries
            .iter()
            .filter(|e| !skip.contains(&e.key.as_str()))
        {
            let layered = Entry {
                from: Some(e.from.clone().unwrap_or_else(|| over.path.clone())),
                ..e.clone()
            };
            match entries.iter_mut().find(|b| b.key == e.key) {
                Some(b) => *b = layered,
                None => entries.push(layered),
            }
        }
        EnvFile {
            path: self.path.clone(),
            entries,
        }
    }

    fn err(&self, line: usize, message: String) -> Error {
        Error::At {
            file: self.path.clone(),
            line,
            message,
        }
    }

    fn err_at(&self, e: &Entry, message: String) -> Error {
        Error::At {
            file: e.from.clone().unwrap_or_else(|| self.path.clone()),
            line: e.line,
            message,
        }
    }
}

/// Typed access to a file's keys, with errors that name file, line and key.
pub struct Fields<'a> {
    file: &'a EnvFile,
}

impl Fields<'_> {
    /// A key that must be present and non-empty; `what` says what is expected.
    pub fn required<T>(
        &self,
        key: &str,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, Error> {
        match self.file.get(key) {
            Some(e) if !e.value.is_empty() => self.convert(e, key, parse),
            Some(e) => Err(self
                .file
                .err_at(e, format!("{key} is empty; expected {what}"))),
            None => Err(Error::File {
                file: self.file.path.clone(),
                message: format!("missing required key {key}; expected {what}"),
            }),
        }
    }

    /// A key that may be absent or empty.
    pub fn optional<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Error> {
        match self.file.get(key) {
            Some(e) if !e.value.is_empty() => self.convert(e, key, parse).map(Some),
            _ => Ok(None),
        }
    }

    fn convert<T>(
        &self,
        e: &Entry,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, Error> {
        parse(&e.value).map_err(|m| self.file.err_at(e, format!("{key}: {m}")))
    }
}

/// Parses `text` as the contents of `path`.
pub fn parse(path: &Path, text: &str) -> Result<EnvFile, Error> {
    let mut entries: Vec<Entry> = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let err = |message: String| Error::At {
            file: path.to_path_buf(),
            line,
            message,
        };
        let s = raw.trim_start();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        let s = s
            .strip_prefix("export")
            .filter(|r| r.starts_with([' ', '\t']))
            .map(str::trim_start)
            .unwrap_or(s);
        let key_len = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        let key = &s[..key_len];
        let rest = &s[key_len..];
        if key.is_empty() || key.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(err(format!("expected KEY=VALUE, found {:?}", raw.trim())));
        }
        let Some(rest) = rest.strip_prefix('=') else {
            return Err(err(format!(
                "expected `=` right after {key} (no spaces around `=`)"
            )));
        };
        let value = parse_value(rest).map_err(|m| err(format!("{key}: {m}")))?;
        if let Some(prev) = entries.iter().find(|e| e.key == key) {
            return Err(err(format!(
                "{key} is set twice (first on line {})",
                prev.line
            )));
        }
        entries.push(Entry {
            key: key.to_string(),
            value,
            line,
            from: None,
        });
    }
    Ok(EnvFile {
        path: path.to_path_buf(),
        entries,
    })
}

fn parse_value(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                let rest: String = chars.collect();
                let rest = rest.trim_start();
                if rest.is_empty() || rest.starts_with('#') {
                    return Ok(out);
                }
                return Err(format!(
                    "unexpected {rest:?} after the value; quote values that contain spaces"
                ));
            }
            '\'' => loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => out.push(c),
                    None => return Err("unterminated single quote".into()),
                }
            },
            '"' => loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('"' | '\\' | '$' | '`')) => out.push(c),
                        Some(c) => {
                            out.push('\\');
                            out.push(c);
                        }
                        None => return Err("unterminated double quote".into()),
                    },
                    Some('$' | '`') => return Err(expansion_refused()),
                    Some(c) => out.push(c),
                    None => return Err("unterminated double quote".into()),
                }
            },
            '\\' => match chars.next() {
                Some(c) => out.push(c),
                None => {
                    return Err("trailing backslash (line continuations are not supported)".into());
                }
            },
            '$' | '`' => return Err(expansion_refused()),
            ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                return Err(format!("unquoted {c:?}; quote the value"));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn expansion_refused() -> String {
    "shell expansion ($ or `) is not supported; write the literal value, or put it in single quotes"
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_and_binary_files_are_refused_unread() {
        let d = tempfile::tempdir().unwrap();
        let big = d.path().join("big.env");
        std::fs::write(&big, "A=b\n".repeat(300_000)).unwrap();
        let e = EnvFile::load(&big).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: larger than 1024 KiB", big.display())),
            "{e}"
        );
        let bin = d.path().join("bin.env");
        std::fs::write(&bin, b"A=\xff\n").unwrap();
        let e = EnvFile::load(&bin).unwrap_err().to_string();
        assert!(e.contains("not UTF-8 text (byte 2)"), "{e}");
        assert!(
            EnvFile::load(Path::new("/dev/null"))
                .unwrap()
                .entries
                .is_empty()
        );
    }

    fn p(text: &str) -> Result<EnvFile, Error> {
        parse(Path::new("t.conf"), text)
    }

    fn one(text: &str) -> String {
        p(text).unwrap().entries.remove(0).value
    }

    #[test]
    fn accepts_shell_assignment_forms() {
        assert_eq!(one("A=plain"), "plain");
        assert_eq!(one("export A=plain # note"), "plain");
        assert_eq!(one("A='x y $HOME'"), "x y $HOME");
        assert_eq!(one(r#"A="say \"hi\" \$5""#), r#"say "hi" $5"#);
        assert_eq!(one("A=a'b c'\"d\""), "ab cd");
        assert_eq!(one("A="), "");
        assert_eq!(one("  # comment\n\nA=1"), "1");
    }

    #[test]
    fn refuses_what_a_shell_would_read_differently() {
        let cases = [
            ("A = 1", "no spaces around"),
            ("A=x y", "quote values"),
            ("A=$HOME", "expansion"),
            ("A=\"$HOME\"", "expansion"),
            ("A=`id`", "expansion"),
            ("A='open", "unterminated single"),
            ("A=\"open", "unterminated double"),
            ("A=1;B=2", "quote the value"),
            ("1A=x", "expected KEY=VALUE"),
            ("just words", "expected `=`"),
            ("A=1\nA=2", "set twice (first on line 1)"),
        ];
        for (text, want) in cases {
            let e = p(text).unwrap_err().to_string();
            assert!(e.starts_with("t.conf:"), "{text}: {e}");
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn names_the_line() {
        let e = p("A=1\n\n# c\nB=x y\n").unwrap_err().to_string();
        assert!(e.starts_with("t.conf:4: B:"), "{e}");
    }

    #[test]
    fn typed_fields() {
        let f = p("A=1\nB=\nZ=2").unwrap();
        let e = f.fields(&["A", "B"]).err().unwrap().to_string();
        assert!(e.starts_with("t.conf:3: unknown key Z"), "{e}");
        let f = p("A=x\nB=").unwrap();
        let fields = f.fields(&["A", "B", "C"]).unwrap();
        let e = fields
            .required("A", "a number", |v| {
                v.parse::<u32>().map_err(|e| e.to_string())
            })
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.conf:1: A: "), "{e}");
        let e = fields
            .required("B", "a value", |v| Ok(v.to_string()))
            .unwrap_err();
        assert_eq!(e.to_string(), "t.conf:2: B is empty; expected a value");
        let e = fields
            .required("C", "a value", |v| Ok(v.to_string()))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.conf: missing required key C; expected a value"
        );
        assert_eq!(fields.optional("C", |v| Ok(v.to_string())).unwrap(), None);
    }
}
