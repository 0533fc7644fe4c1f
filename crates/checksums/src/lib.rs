//! SHA-256 digests of artefacts and the `SHA256SUMS` file that lists them.
//!
//! Written in GNU coreutils' format (`<64 hex><two spaces><name>`), sorted by name byte-wise
//! (as `LC_ALL=C sort` would), so that `sha256sum -c SHA256SUMS` checks it ([`render`]).
//! Read back in GNU or BSD tag format ([`parse`], module [`sums`]) and checked against files on
//! disk ([`verify`], module [`check`]), accepting what `sha256sum --strict -c` accepts.

pub mod check;
pub mod sums;

pub use check::{Checked, Options, Report, Status, verify};
pub use sums::{Listed, ParseError, ReadError, Style, parse, read_sums};

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Streams `path` through SHA-256 in fixed-size chunks (memory does not grow with the file).
pub fn sha256_file(path: &Path) -> io::Result<Sha256Digest> {
    sha256_reader(File::open(path)?)
}

pub fn sha256_reader(r: impl Read) -> io::Result<Sha256Digest> {
    sha256_reader_progress(r, &mut |_| {})
}

/// [`sha256_reader`], calling `progress` with the size of each chunk hashed.
pub fn sha256_reader_progress(
    mut r: impl Read,
    progress: &mut dyn FnMut(u64),
) -> io::Result<Sha256Digest> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        progress(n as u64);
    }
    Ok(Sha256Digest(h.finalize().into()))
}

/// One line of a sums file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub digest: Sha256Digest,
}

/// Renders entries as GNU `sha256sum` output, sorted by name byte-wise. Names that contain
/// a backslash, a newline or a carriage return are escaped the way GNU does it: a leading `\`
/// on the line and `\\` / `\n` / `\r` in the name.
pub fn render(entries: &[Entry]) -> String {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let mut out = String::new();
    for e in sorted {
        if e.name.contains(['\\', '\n', '\r']) {
            let escaped = escape_name(&e.name);
            out.push_str(&format!("\\{}  {escaped}\n", e.digest));
        } else {
            out.push_str(&format!("{}  {}\n", e.digest, e.name));
        }
    }
    out
}

/// GNU's escaping of a file name (without the leading `\` marker).
pub(crate) fn escape_name(name: &str) -> String {
    name.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_coreutils() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            "b.iso",
            "BUILD_INFO",
            "a b.txt",
            "back\\slash",
            "new\nline",
            "car\rriage",
        ];
        let mut entries = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let p = dir.path().join(n);
            std::fs::write(&p, vec![i as u8; 1000 * i + 1]).unwrap();
            entries.push(Entry {
                name: n.to_string(),
                digest: sha256_file(&p).unwrap(),
            });
        }
        let ours = render(&entries);
        let mut sorted = names.to_vec();
        sorted.sort();
        let mut cmd = isoforge_exec::tool("sha256sum");
        cmd.args(sorted).current_dir(dir.path());
        let theirs = isoforge_exec::capture(cmd).expect("sha256sum (coreutils) must be installed");
        assert_eq!(ours, String::from_utf8(theirs).unwrap());
    }
}
