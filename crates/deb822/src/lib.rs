//! deb822: the RFC-822-like format of dpkg's status file, apt's Packages indices and
//! isoforge's `BUILD_INFO`.
//!
//! A document is a list of paragraphs separated by blank lines; a paragraph is an ordered list
//! of `Name: value` fields whose values may continue on lines that start with a space. This
//! crate keeps field order and the raw value (continuation lines joined with `\n`, their
//! leading space removed) and leaves the meaning of fields to its callers.

use std::fmt::Write as _;

/// A parse error, with the 1-based line it was found on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct Error {
    pub line: usize,
    pub message: String,
}

/// One paragraph: fields in their original order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of a field; names compare case-insensitively, as dpkg does.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Appends a field. A multi-line value is written as continuation lines.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.fields.push((name.into(), value.into()));
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Parses a whole document. Comment lines (`#`) are skipped, as in apt's files.
pub fn parse(text: &str) -> Result<Vec<Paragraph>, Error> {
    let mut out = Vec::new();
    let mut cur = Paragraph::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        if raw.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if raw.starts_with('#') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            let Some((_, value)) = cur.fields.last_mut() else {
                return Err(Error {
                    line,
                    message: "continuation line before any field".into(),
                });
            };
            let cont = &raw[1..];
            // A lone "." stands for an empty line inside a multi-line value.
            let cont = if cont.trim_end() == "." { "" } else { cont };
            // Keep line structure: a value whose first line is empty starts with "\n".
            value.push('\n');
            value.push_str(cont);
            continue;
        }
        let Some((name, value)) = raw.split_once(':') else {
            return Err(Error {
                line,
                message: format!("expected `Name: value`, found {raw:?}"),
            });
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(Error {
                line,
                message: format!("invalid field name {name:?}"),
            });
        }
        cur.push(name, value.trim());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Writes paragraphs separated by blank lines. Multi-line values become continuation lines,
/// and empty lines inside them become ` .`.
pub fn write(paragraphs: &[Paragraph]) -> String {
    let mut out = String::new();
    for (i, p) in paragraphs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for (name, value) in p.fields() {
            let mut lines = value.split('\n');
            let first = lines.next().unwrap_or("");
            if first.is_empty() {
                let _ = writeln!(out, "{name}:");
            } else {
                let _ = writeln!(out, "{name}: {first}");
            }
            for l in lines {
                if l.is_empty() {
                    out.push_str(" .\n");
                } else {
                    let _ = writeln!(out, " {l}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_like_paragraphs() {
        let text = "Package: a\nStatus: install ok installed\nVersion: 1.0\n\nPackage: b\nDescription: short\n long line\n .\n more\n";
        let ps = parse(text).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some("a"));
        assert_eq!(ps[1].get("Description"), Some("short\nlong line\n\nmore"));
    }

    #[test]
    fn round_trips() {
        let mut p = Paragraph::new();
        p.push("Format", "1");
        p.push("Checksums-Sha256", "\nabc 1 f\n\ndef 2 g");
        let text = write(&[p.clone(), p.clone()]);
        assert_eq!(parse(&text).unwrap(), vec![p.clone(), p]);
    }

    #[test]
    fn rejects_garbage_with_line() {
        let err = parse("Package: a\nno colon here\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse(" leading continuation\n").unwrap_err();
        assert_eq!(err.line, 1);
    }
}
