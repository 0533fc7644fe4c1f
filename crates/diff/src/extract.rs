//! Copies both sides of one member into a directory, for handing to an external tool
//! (`--diffoscope`). Names are reduced to a safe basename; nothing else is ever written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use isoforge_formats::io::{FileSource, ReadAt, Source, read_exact_at};

use crate::{Error, Options, containers};

use crate::report::LOCATION_SEP as SEP;

/// Writes side A and side B of the member at `location` (a report node's location: the root
/// name, then member paths or derived stream names separated by ` › `) into `dir`.
pub fn extract_member(
    a: &Path,
    b: &Path,
    location: &str,
    opts: &Options,
    dir: &Path,
) -> Result<(PathBuf, PathBuf), Error> {
    let parts: Vec<&str> = location.split(SEP).skip(1).collect();
    let base = safe_name(parts.last().copied().unwrap_or("input"));
    let pa = dir.join(format!("A-{base}"));
    let pb = dir.join(format!("B-{base}"));
    for (input, out) in [(a, &pa), (b, &pb)] {
        let src = resolve(input, &parts, opts)?;
        copy(&*src, out).map_err(|source| Error::Open {
            op: "write",
            path: out.display().to_string(),
            source,
        })?;
    }
    Ok((pa, pb))
}

fn resolve(input: &Path, parts: &[&str], opts: &Options) -> Result<Source, Error> {
    let mut src: Source = Arc::new(FileSource::open(input).map_err(|source| Error::Open {
        op: "read",
        path: input.display().to_string(),
        source,
    })?);
    for part in parts {
        let fmt = isoforge_formats::detect(&*src);
        let parsed = containers::parse(fmt, &src, &opts.limits)
            .map_err(|e| Error::Member(format!("{part}: {e}")))?;
        if let Some(i) = parsed.entries.iter().position(|e| e.path == *part) {
            src = containers::open(&parsed.opener, &src, &parsed.entries, i)
                .map_err(|e| Error::Member(format!("{part}: {e}")))?
                .ok_or_else(|| Error::Member(format!("{part} has no content")))?;
        } else if let Some(d) = parsed.derived.into_iter().find(|d| d.name() == *part) {
            src = match d {
                containers::Derived::Table { data, .. }
                | containers::Derived::Stream { data, .. } => data,
            };
        } else {
            return Err(Error::Member(format!(
                "no member {part:?} in {}",
                input.display()
            )));
        }
    }
    Ok(src)
}

fn copy(src: &dyn ReadAt, out: &Path) -> std::io::Result<()> {
    let mut f = std::fs::File::create(out)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < src.size() {
        let n = (src.size() - pos).min(buf.len() as u64) as usize;
        read_exact_at(src, pos, &mut buf[..n])?;
        f.write_all(&buf[..n])?;
        pos += n as u64;
    }
    Ok(())
}

/// The last path component with anything but `[A-Za-z0-9._-]` replaced, never empty or dots.
fn safe_name(p: &str) -> String {
    let last = p.rsplit('/').next().unwrap_or(p);
    let s: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        "member".into()
    } else {
        s.chars().take(100).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_cannot_escape() {
        assert_eq!(super::safe_name("/a/../../etc/passwd"), "passwd");
        assert_eq!(super::safe_name(".."), "member");
        assert_eq!(super::safe_name("/x/a\\x2f..\\x2fb"), "a_x2f.._x2fb");
    }
}
