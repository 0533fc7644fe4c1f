//! Comparing two builds' artefacts: digests, and where the first differing byte is.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use isoforge_checksums::{Sha256Digest, sha256_file};

/// One artefact as found on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    pub name: String,
    pub a: Option<Sha256Digest>,
    pub b: Option<Sha256Digest>,
    /// For differing files present on both sides: the first differing byte offset (or the
    /// shorter length when one is a prefix of the other).
    pub first_difference: Option<u64>,
}

impl Compared {
    pub fn identical(&self) -> bool {
        self.a.is_some() && self.a == self.b
    }
}

/// Compares the artefacts (regular files; `logs/` and the per-run provenance
/// `*.intoto.json`, whose invocation id is fresh for every build, excluded) of two output
/// directories.
pub fn artefacts(a: &Path, b: &Path) -> io::Result<Vec<Compared>> {
    let mut names = list(a)?;
    names.extend(list(b)?);
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let (pa, pb) = (a.join(&name), b.join(&name));
            let da = pa.is_file().then(|| sha256_file(&pa)).transpose()?;
            let db = pb.is_file().then(|| sha256_file(&pb)).transpose()?;
            let first_difference = match (da, db) {
                (Some(x), Some(y)) if x != y => first_difference(&pa, &pb)?,
                _ => None,
            };
            Ok(Compared {
                name,
                a: da,
                b: db,
                first_difference,
            })
        })
        .collect()
}

fn list(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_file()
            && let Some(n) = e.file_name().to_str()
            && !n.ends_with(".intoto.json")
        {
            out.push(n.to_string());
        }
    }
    Ok(out)
}

/// The offset of the first byte where `a` and `b` differ, streaming both.
pub fn first_difference(a: &Path, b: &Path) -> io::Result<Option<u64>> {
    let mut ra = BufReader::with_capacity(1 << 20, File::open(a)?);
    let mut rb = BufReader::with_capacity(1 << 20, File::open(b)?);
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let na = read_full(&mut ra, &mut ba)?;
        let nb = read_full(&mut rb, &mut bb)?;
        let n = na.min(nb);
        if let Some(i) = ba[..n].iter().zip(&bb[..n]).position(|(x, y)| x != y) {
            return Ok(Some(offset + i as u64));
        }
        if na != nb {
            return Ok(Some(offset + n as u64));
        }
        if na == 0 {
            return Ok(None);
        }
        offset += n as u64;
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_differing_byte() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let mut data = vec![7u8; 3 << 20];
        std::fs::write(&a, &data).unwrap();
        std::fs::write(&b, &data).unwrap();
        assert_eq!(first_difference(&a, &b).unwrap(), None);
        data[(2 << 20) + 5] = 8;
        std::fs::write(&b, &data).unwrap();
        assert_eq!(first_difference(&a, &b).unwrap(), Some((2 << 20) + 5));
        std::fs::write(&b, &data[..100]).unwrap();
        assert_eq!(first_difference(&a, &b).unwrap(), Some(100));
    }

    #[test]
    fn compares_output_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d.join("logs")).unwrap();
            std::fs::write(d.join("same.iso"), "x").unwrap();
        }
        std::fs::write(a.join("logs/l.log"), "a").unwrap();
        std::fs::write(a.join("SHA256SUMS"), "1").unwrap();
        std::fs::write(b.join("SHA256SUMS"), "2").unwrap();
        std::fs::write(b.join("extra"), "").unwrap();
        std::fs::write(a.join("same.iso.intoto.json"), "{\"run\": 1}").unwrap();
        std::fs::write(b.join("same.iso.intoto.json"), "{\"run\": 2}").unwrap();
        let c = artefacts(&a, &b).unwrap();
        let names: Vec<_> = c.iter().map(|c| (c.name.as_str(), c.identical())).collect();
        assert_eq!(
            names,
            [("SHA256SUMS", false), ("extra", false), ("same.iso", true)]
        );
        assert_eq!(c[0].first_difference, Some(0));
        assert!(c[1].a.is_none());
    }
}
