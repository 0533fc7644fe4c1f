//! Structure of the text formats builds write or ship: deb822 (`BUILD_INFO`, `Packages`,
//! dpkg `status`), `SHA256SUMS`, JSON, the package lock, KEY=VALUE files (os-release) and
//! passwd/group. Each side is split into keyed records with named fields and byte spans, so a
//! differing byte is named by its record and field (`Build-Tools › apt`) instead of a line.
//!
//! The text is untrusted: it is already capped in size by the caller, records are capped here,
//! and anything that does not parse cleanly as the detected format is left to the plain diff.

use std::collections::HashMap;
use std::ops::Range;

use isoforge_formats::{Layout, Role};

/// Records kept per side; beyond this the format is not used.
const MAX_RECORDS: usize = 200_000;
/// Differences listed per pair.
const MAX_CHANGES: usize = 500;

/// A text format this module understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Deb822,
    Sums,
    Json,
    Lock,
    KeyValue,
    Passwd,
    Group,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Deb822 => "deb822 text",
            Kind::Sums => "checksum list",
            Kind::Json => "JSON",
            Kind::Lock => "package lock",
            Kind::KeyValue => "KEY=VALUE text",
            Kind::Passwd => "passwd-style table",
            Kind::Group => "group-style table",
        }
    }
}

/// One keyed record: a deb822 field or list entry, a sums line, a JSON leaf, a table row.
#[derive(Clone, Debug)]
struct Record {
    key: String,
    /// `(name, value)`; an empty name stands for the whole value.
    fields: Vec<(String, String)>,
    /// Bytes of the record in the text (`None` for JSON leaves).
    span: Option<Range<u64>>,
}

/// One differing field of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// `Build-Tools › apt`, `predicate.x[3].uri`, `user root › shell`.
    pub key: String,
    /// The record's key alone (`Build-Tools › apt`), for hints.
    pub record: String,
    /// The field's name within the record (empty for the whole value).
    pub field: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

/// Both sides understood as one format.
pub struct Structured {
    pub kind: Kind,
    pub changes: Vec<Change>,
    /// Changes left out of `changes`.
    pub omitted: usize,
    /// Layouts naming each record's bytes, when the format has spans.
    pub layouts: Option<(Layout, Layout)>,
}

/// Detects the format from the member name and both texts, and compares record by record.
pub fn compare(name: &str, a: &str, b: &str) -> Option<Structured> {
    let kind = detect(name, a, b)?;
    let ra = records(kind, a)?;
    let rb = records(kind, b)?;
    let mut changes = Vec::new();
    let mut omitted = 0;
    let mut push = |c: Change| {
        if changes.len() < MAX_CHANGES {
            changes.push(c);
        } else {
            omitted += 1;
        }
    };
    let index_b: HashMap<&str, &Record> = rb.iter().map(|r| (r.key.as_str(), r)).collect();
    let keys_a: std::collections::HashSet<&str> = ra.iter().map(|r| r.key.as_str()).collect();
    for x in &ra {
        match index_b.get(x.key.as_str()) {
            None => push(whole(x, true)),
            Some(y) => {
                let mut names: Vec<&str> = x.fields.iter().map(|f| f.0.as_str()).collect();
                for f in &y.fields {
                    if !names.contains(&f.0.as_str()) {
                        names.push(&f.0);
                    }
                }
                for n in names {
                    let va = x.fields.iter().find(|f| f.0 == n).map(|f| f.1.clone());
                    let vb = y.fields.iter().find(|f| f.0 == n).map(|f| f.1.clone());
                    if va != vb {
                        push(Change {
                            key: join(&x.key, n),
                            record: x.key.clone(),
                            field: n.to_string(),
                            a: va,
                            b: vb,
                        });
                    }
                }
            }
        }
    }
    for y in rb.iter().filter(|y| !keys_a.contains(y.key.as_str())) {
        push(whole(y, false));
    }
    let layouts = (kind != Kind::Json).then(|| (layout(&ra), layout(&rb)));
    Some(Structured {
        kind,
        changes,
        omitted,
        layouts,
    })
}

fn join(key: &str, field: &str) -> String {
    if field.is_empty() {
        key.to_string()
    } else {
        format!("{key}{}{field}", crate::report::LOCATION_SEP)
    }
}

/// A record on one side only, as one change.
fn whole(r: &Record, in_a: bool) -> Change {
    let v = r
        .fields
        .iter()
        .map(|(n, v)| {
            if n.is_empty() {
                v.clone()
            } else {
                format!("{n}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    Change {
        key: r.key.clone(),
        record: r.key.clone(),
        field: String::new(),
        a: in_a.then(|| v.clone()),
        b: (!in_a).then_some(v),
    }
}

fn layout(records: &[Record]) -> Layout {
    let mut l = Layout::new();
    for r in records {
        if let Some(s) = &r.span {
            l.region(r.key.clone(), s.start, s.end - s.start, Role::Data);
        }
    }
    l
}

fn base(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn detect(name: &str, a: &str, b: &str) -> Option<Kind> {
    let n = base(name);
    let by_name = match n {
        "BUILD_INFO" | "Packages" | "status" | "Release" | "InRelease" | "available"
        | "Sources" => Some(Kind::Deb822),
        _ if n.ends_with(".buildinfo") || n.ends_with(".changes") || n.ends_with(".dsc") => {
            Some(Kind::Deb822)
        }
        _ if n.ends_with("SUMS") || n.ends_with(".sha256") || n.ends_with(".sha256sum") => {
            Some(Kind::Sums)
        }
        _ if n.ends_with(".json") || n.ends_with(".intoto.jsonl") => Some(Kind::Json),
        // `packages-<flavor>.lock` is a flavor's image lock.
        "packages.lock" | "builder.lock" => Some(Kind::Lock),
        _ if n.starts_with("packages-") && n.ends_with(".lock") => Some(Kind::Lock),
        "passwd" | "passwd-" | "shadow" | "shadow-" => Some(Kind::Passwd),
        "group" | "group-" | "gshadow" | "gshadow-" => Some(Kind::Group),
        "os-release" | "lsb-release" => Some(Kind::KeyValue),
        _ if (n.ends_with(".env") || n.ends_with(".conf"))
            && looks_key_value(a)
            && looks_key_value(b) =>
        {
            Some(Kind::KeyValue)
        }
        _ => None,
    };
    if by_name.is_some() {
        return by_name;
    }
    // By content: both sides must look the same way.
    [Kind::Json, Kind::Sums, Kind::KeyValue, Kind::Deb822]
        .into_iter()
        .find(|&k| looks_like(k, a) && looks_like(k, b))
}

fn looks_like(k: Kind, t: &str) -> bool {
    let lines = || {
        t.lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    };
    if lines().next().is_none() {
        return false;
    }
    match k {
        Kind::Json => {
            let s = t.trim_start();
            (s.starts_with('{') || s.starts_with('['))
                && serde_json::from_str::<serde_json::Value>(t).is_ok()
        }
        Kind::Sums => lines().all(|l| sums_line(l).is_some()),
        Kind::KeyValue => looks_key_value(t),
        Kind::Deb822 => {
            t.lines().next().is_some_and(|l| deb822_field(l).is_some())
                && t.lines().all(|l| {
                    l.trim().is_empty()
                        || l.starts_with('#')
                        || l.starts_with([' ', '\t'])
                        || deb822_field(l).is_some()
                })
        }
        _ => false,
    }
}

fn looks_key_value(t: &str) -> bool {
    let mut any = false;
    for l in t.lines().map(str::trim) {
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if key_value(l).is_none() {
            return false;
        }
        any = true;
    }
    any
}

fn key_value(l: &str) -> Option<(&str, &str)> {
    let l = l.strip_prefix("export ").unwrap_or(l);
    let (k, v) = l.split_once('=')?;
    let ok = !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !k.starts_with(|c: char| c.is_ascii_digit());
    ok.then_some((k, v))
}

fn deb822_field(l: &str) -> Option<(&str, &str)> {
    let (n, v) = l.split_once(':')?;
    let ok = !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    ok.then_some((n, v.trim()))
}

fn sums_line(l: &str) -> Option<(&str, &str)> {
    let (h, rest) = l.split_once(' ')?;
    let name = rest.strip_prefix([' ', '*'])?;
    let ok = matches!(h.len(), 32 | 40 | 56 | 64 | 96 | 128)
        && h.bytes().all(|c| c.is_ascii_hexdigit())
        && !name.is_empty();
    ok.then_some((h, name))
}

/// Lines with their byte spans (the newline included).
fn lines_with_spans(t: &str) -> impl Iterator<Item = (&str, Range<u64>)> {
    let mut pos = 0u64;
    t.split_inclusive('\n').map(move |raw| {
        let start = pos;
        pos += raw.len() as u64;
        (raw.trim_end_matches(['\n', '\r']), start..pos)
    })
}

/// Gives duplicate keys a `#n` suffix so every record has its own key.
fn unique(mut v: Vec<Record>) -> Vec<Record> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in &mut v {
        let n = seen.entry(r.key.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            r.key = format!("{} #{n}", r.key);
        }
    }
    v
}

fn records(k: Kind, t: &str) -> Option<Vec<Record>> {
    let v = match k {
        Kind::Deb822 => deb822(t)?,
        Kind::Sums => sums(t),
        Kind::Json => json(t)?,
        Kind::Lock => lock(t),
        Kind::KeyValue => key_values(t),
        Kind::Passwd | Kind::Group => table(k, t),
    };
    (v.len() <= MAX_RECORDS).then(|| unique(v))
}

fn one(key: String, value: &str, span: Range<u64>) -> Record {
    Record {
        key,
        fields: vec![(String::new(), value.to_string())],
        span: Some(span),
    }
}

fn sums(t: &str) -> Vec<Record> {
    lines_with_spans(t)
        .filter_map(|(l, s)| sums_line(l).map(|(h, n)| one(n.to_string(), h, s)))
        .take(MAX_RECORDS + 1)
        .collect()
}

fn key_values(t: &str) -> Vec<Record> {
    lines_with_spans(t)
        .filter(|(l, _)| !l.trim_start().starts_with('#'))
        .filter_map(|(l, s)| key_value(l.trim()).map(|(k, v)| one(k.to_string(), v, s)))
        .take(MAX_RECORDS + 1)
        .collect()
}

fn table(k: Kind, t: &str) -> Vec<Record> {
    let names: &[&str] = if k == Kind::Passwd {
        &["password", "uid", "gid", "gecos", "home", "shell"]
    } else {
        &["password", "gid", "members"]
    };
    let what = if k == Kind::Passwd { "user" } else { "group" };
    lines_with_spans(t)
        .filter(|(l, _)| !l.trim().is_empty() && !l.starts_with('#'))
        .take(MAX_RECORDS + 1)
        .map(|(l, s)| {
            let mut parts = l.split(':');
            let name = parts.next().unwrap_or_default();
            let fields = parts
                .enumerate()
                .map(|(i, v)| {
                    let n = names
                        .get(i)
                        .map_or_else(|| format!("field {}", i + 2), |n| n.to_string());
                    (n, v.to_string())
                })
                .collect();
            Record {
                key: format!("{what} {name}"),
                fields,
                span: Some(s),
            }
        })
        .collect()
}

fn lock(t: &str) -> Vec<Record> {
    const PACKAGE: &[&str] = &[
        "version",
        "architecture",
        "priority",
        "size",
        "sha256",
        "repository",
        "path",
    ];
    lines_with_spans(t)
        .filter(|(l, _)| !l.trim().is_empty() && !l.starts_with('#'))
        .take(MAX_RECORDS + 1)
        .map(|(l, s)| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                ["package", name, rest @ ..] => Record {
                    key: format!("package {name}"),
                    fields: rest
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let n = PACKAGE
                                .get(i)
                                .map_or_else(|| format!("word {}", i + 3), |n| n.to_string());
                            (n, v.to_string())
                        })
                        .collect(),
                    span: Some(s),
                },
                [kind, key, rest @ ..] if *kind == "input" => {
                    one(format!("input {key}"), &rest.join(" "), s)
                }
                [first, rest @ ..] => one(first.to_string(), &rest.join(" "), s),
                [] => one(String::new(), "", s),
            }
        })
        .collect()
}

/// The key and value of one entry of a multi-line deb822 field.
fn list_entry(field: &str, line: &str) -> (String, Vec<(String, String)>) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let first = words.first().copied().unwrap_or_default();
    // "<hash> <size> <name>" (Checksums-*, Files): keyed by the name.
    if words.len() >= 3 && sums_line(&format!("{first}  x")).is_some() {
        let name = words[2..].join(" ");
        return (
            name,
            vec![
                ("sha256".into(), first.to_string()),
                ("size".into(), words[1].to_string()),
            ],
        );
    }
    // NAME="value" (Environment).
    if let Some((k, v)) = key_value(line.trim()) {
        return (k.to_string(), vec![(String::new(), v.to_string())]);
    }
    // "name (= version) [architecture [sha256]]" (Build-Tools, Installed-Packages).
    if let (Some(open), Some(close)) = (line.find('('), line.find(')')) {
        if open < close {
            let version = line[open + 1..close]
                .trim()
                .trim_start_matches(['=', '>', '<'])
                .trim();
            let name = line[..open].trim().to_string();
            let mut fields = vec![("version".to_string(), version.to_string())];
            let rest: Vec<&str> = line[close + 1..]
                .split([' ', ','])
                .filter(|w| !w.is_empty())
                .collect();
            for (i, w) in rest.iter().enumerate() {
                let n = match (i, w.len()) {
                    (_, 64) => "sha256".to_string(),
                    (0, _) => "architecture".to_string(),
                    (i, _) => format!("word {}", i + 1),
                };
                fields.push((n, w.to_string()));
            }
            if field.eq_ignore_ascii_case("Build-Tools") {
                fields.retain(|f| f.0 == "version");
                fields[0].0 = String::new();
            }
            return (name, fields);
        }
    }
    (
        first.trim_end_matches(',').to_string(),
        vec![(String::new(), words.get(1..).unwrap_or_default().join(" "))],
    )
}

fn deb822(t: &str) -> Option<Vec<Record>> {
    // Paragraphs: (records, Package/Source name).
    let mut paragraphs: Vec<(Vec<Record>, Option<String>)> = vec![(Vec::new(), None)];
    let mut field: Option<String> = None;
    let mut total = 0usize;
    for (l, s) in lines_with_spans(t) {
        if l.trim().is_empty() {
            if !paragraphs.last().is_some_and(|p| p.0.is_empty()) {
                paragraphs.push((Vec::new(), None));
            }
            field = None;
            continue;
        }
        if l.starts_with('#') {
            continue;
        }
        total += 1;
        if total > MAX_RECORDS {
            return None;
        }
        let para = paragraphs.last_mut()?;
        if l.starts_with([' ', '\t']) {
            let f = field.as_deref()?;
            let (key, fields) = list_entry(f, l.trim());
            para.0.push(Record {
                key: join(f, &key),
                fields,
                span: Some(s),
            });
            continue;
        }
        let (n, v) = deb822_field(l)?;
        if n.eq_ignore_ascii_case("Package") || (para.1.is_none() && n == "Source") {
            para.1 = Some(v.to_string());
        }
        field = Some(n.to_string());
        if !v.is_empty() {
            para.0.push(one(n.to_string(), v, s));
        }
    }
    paragraphs.retain(|p| !p.0.is_empty());
    let many = paragraphs.len() > 1;
    let mut out = Vec::new();
    for (i, (recs, name)) in paragraphs.into_iter().enumerate() {
        let prefix = match (&name, many) {
            (_, false) => None,
            (Some(n), true) => Some(format!("Package {n}")),
            (None, true) => Some(format!("paragraph {}", i + 1)),
        };
        for mut r in recs {
            if let Some(p) = &prefix {
                r.key = join(p, &r.key);
            }
            out.push(r);
        }
    }
    Some(out)
}

fn json(t: &str) -> Option<Vec<Record>> {
    // One document, or one per line (in-toto .jsonl).
    let docs: Vec<serde_json::Value> = match serde_json::from_str(t) {
        Ok(v) => vec![v],
        Err(_) => t
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .ok()?,
    };
    let mut out = Vec::new();
    let many = docs.len() > 1;
    for (i, d) in docs.iter().enumerate() {
        let root = if many {
            format!("[line {}]", i + 1)
        } else {
            String::new()
        };
        flatten(d, root, &mut out);
        if out.len() > MAX_RECORDS {
            return None;
        }
    }
    Some(out)
}

fn flatten(v: &serde_json::Value, path: String, out: &mut Vec<Record>) {
    if out.len() > MAX_RECORDS {
        return;
    }
    let leaf = |value: String, out: &mut Vec<Record>| {
        out.push(Record {
            key: if path.is_empty() {
                "(root)".into()
            } else {
                path.clone()
            },
            fields: vec![(String::new(), value)],
            span: None,
        })
    };
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let simple = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
                let p = match (path.is_empty(), simple) {
                    (true, true) => k.clone(),
                    (false, true) => format!("{path}.{k}"),
                    (_, false) => format!("{path}[{}]", serde_json::Value::from(k.as_str())),
                };
                flatten(x, p, out);
            }
        }
        serde_json::Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                flatten(x, format!("{path}[{i}]"), out);
            }
        }
        other => leaf(other.to_string(), out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &Structured) -> Vec<String> {
        s.changes
            .iter()
            .map(|c| format!("{}: {:?} vs {:?}", c.key, c.a, c.b))
            .collect()
    }

    #[test]
    fn deb822_list_entries() {
        let a = "Format: 1\nBuild-Tools:\n apt (= 2.6.1)\n dpkg (= 1.21.22)\nInstalled-Packages:\n bash (= 5.2-2) amd64 aaaa\n";
        let b = "Format: 1\nBuild-Tools:\n apt (= 2.6.2)\n dpkg (= 1.21.22)\nInstalled-Packages:\n bash (= 5.2-3) amd64 aaaa\n";
        let s = compare("BUILD_INFO", a, b).unwrap();
        assert_eq!(
            keys(&s),
            [
                "Build-Tools › apt: Some(\"2.6.1\") vs Some(\"2.6.2\")",
                "Installed-Packages › bash › version: Some(\"5.2-2\") vs Some(\"5.2-3\")"
            ]
        );
    }

    #[test]
    fn packages_paragraphs_by_name() {
        let a = "Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\nSHA256: 00\n";
        let b = "Package: a\nVersion: 1\n\nPackage: b\nVersion: 3\nSHA256: 00\n";
        let s = compare("x/Packages", a, b).unwrap();
        assert_eq!(
            keys(&s),
            ["Package b › Version: Some(\"2\") vs Some(\"3\")"]
        );
    }

    #[test]
    fn passwd_by_entry_and_field_and_os_release() {
        let s = compare(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\n",
            "root:x:0:0:root:/root:/bin/sh\n",
        )
        .unwrap();
        assert_eq!(
            keys(&s),
            ["user root › shell: Some(\"/bin/bash\") vs Some(\"/bin/sh\")"]
        );
        let s = compare(
            "os-release",
            "ID=debian\nVERSION_ID=\"12\"\n",
            "ID=debian\nVERSION_ID=\"13\"\n",
        )
        .unwrap();
        assert_eq!(
            keys(&s),
            ["VERSION_ID: Some(\"\\\"12\\\"\") vs Some(\"\\\"13\\\"\")"]
        );
    }

    #[test]
    fn lock_and_json_and_hostile_input() {
        let a = "format 1\npackage apt 2.6.1 amd64 important 1 aa debian pool/a.deb\n";
        let b = "format 1\npackage apt 2.6.1 amd64 important 1 bb debian pool/a.deb\n";
        let s = compare("packages.lock", a, b).unwrap();
        assert_eq!(
            keys(&compare("packages-desktop.lock", a, b).unwrap()),
            keys(&s)
        );
        assert_eq!(
            keys(&s),
            ["package apt › sha256: Some(\"aa\") vs Some(\"bb\")"]
        );
        let s = compare(
            "p.json",
            r#"{"a":{"b":[1,{"c":"x"}]}}"#,
            r#"{"a":{"b":[1,{"c":"y"}]}}"#,
        )
        .unwrap();
        assert_eq!(
            keys(&s),
            ["a.b[1].c: Some(\"\\\"x\\\"\") vs Some(\"\\\"y\\\"\")"]
        );
        // Deeply nested JSON is refused by serde_json's recursion limit, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert!(compare("d.json", &deep, &deep).is_none());
        // Too many records: left to the plain diff, not listed.
        let many: String = (0..MAX_RECORDS + 1).map(|i| format!("K{i}=v\n")).collect();
        assert!(compare("x.env", &many, "K=v\n").is_none());
        // Continuation before any field: not deb822, no panic.
        assert!(compare("BUILD_INFO", " x\n", " y\n").is_none());
    }

    /// Garbage made of the characters the parsers split on, under every name: no panic.
    #[test]
    fn garbage_never_panics() {
        let alphabet: Vec<char> = " \t\n:=()[]{}\",.#*@?-_aZ09é€".chars().collect();
        let names = [
            "BUILD_INFO",
            "SHA256SUMS",
            "p.json",
            "packages.lock",
            "os-release",
            "passwd",
            "group",
            "x.env",
            "other",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..3000 {
            let len = (next() % 200) as usize;
            let t: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let u: String = t.chars().rev().collect();
            let _ = compare(names[i % names.len()], &t, &u);
        }
    }
}
