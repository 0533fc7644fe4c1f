//! SHA-256 digests of artefacts and the `SHA256SUMS` file that lists them.
//!
//! Written in GNU coreutils' format (`<64 hex><two spaces><name>`), sorted by name byte-wise
//! (as `LC_ALL=C sort` would), so that `sha256sum -c SHA256SUMS` checks it.

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

pub fn sha256_reader(mut r: impl Read) -> io::Result<Sha256Digest> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
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
/// a backslash or a newline are escaped the way GNU does it: a leading `\` on the line and
/// `\\` / `\n` in the name.
pub fn render(entries: &[Entry]) -> String {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let mut out = String::new();
    for e in sorted {
        if e.name.contains(['\\', '\n']) {
            let escaped = e.name.replace('\\', "\\\\").replace('\n', "\\n");
            out.push_str(&format!("\\{}  {escaped}\n", e.digest));
        } else {
            out.push_str(&format!("{}  {}\n", e.digest, e.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn matches_coreutils() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["b.iso", "BUILD_INFO", "a b.txt", "back\\slash"];
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
        let theirs = Command::new("sha256sum")
            .args(sorted)
            .current_dir(dir.path())
            .env("LC_ALL", "C")
            .output()
            .expect("sha256sum (coreutils) must be installed");
        assert_eq!(ours, String::from_utf8(theirs.stdout).unwrap());
    }
}
