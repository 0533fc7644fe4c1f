//! Which squashfs files have the same content on both sides, decided from stored bytes first:
//! equal sizes and block lists, then equal compressed blocks (no decompression), then
//! fragment tails. Tails are compared in fragment order, each thread taking a contiguous
//! range, so every fragment block is decompressed about once per side with a two-block cache.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use isoforge_formats::io::read_vec_at;
use isoforge_formats::squashfs::{DataReader, FileData};
use isoforge_formats::{Content, Entry};
use rayon::prelude::*;

use crate::runs::Runs;

/// Verdict after looking at stored bytes only.
enum Stored {
    Equal,
    Differ,
    /// Blocks are equal; the tails must be decompressed: `(fragment, offset)` per side.
    Tail {
        a: (u32, u32),
        b: (u32, u32),
        len: usize,
    },
}

/// A file whose tail must be decompressed: entry index in A, `(fragment, offset)` in A and in
/// B, length.
type Tail = (usize, (u32, u32), (u32, u32), usize);

/// What [`verdicts`] decided, and what it cost.
pub struct Verdicts {
    /// `entry index in A -> same content` for every matched pair of squashfs files.
    pub same: HashMap<usize, bool>,
    /// Fragment blocks decompressed (both sides together).
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "the tests check what was avoided")
    )]
    pub decoded: usize,
}

/// Decides, for every matched pair of squashfs files, whether their contents are equal.
pub fn verdicts(
    pairs: &[(usize, usize)],
    ea: &[Entry],
    eb: &[Entry],
    ra: &DataReader,
    rb: &DataReader,
    runs: &Runs,
) -> Verdicts {
    let stored: Vec<(usize, Stored)> = pairs
        .par_iter()
        .filter_map(|&(i, j)| match (&ea[i].content, &eb[j].content) {
            (Content::Squashfs(da), Content::Squashfs(db)) => {
                Some((i, stored(ra, rb, da, db, runs)))
            }
            _ => None,
        })
        .collect();
    let mut out = HashMap::with_capacity(stored.len());
    let mut tails: Vec<Tail> = Vec::new();
    for (i, s) in stored {
        match s {
            Stored::Equal => {
                out.insert(i, true);
            }
            Stored::Differ => {
                out.insert(i, false);
            }
            Stored::Tail { a, b, len } => tails.push((i, a, b, len)),
        }
    }
    // A fragment block whose stored bytes are equal on both sides holds equal tails at equal
    // offsets, wherever it lies in each image: after a file early in the fragment order grows
    // or shrinks, packing usually realigns within a block or two and later fragment blocks are
    // equal but shifted. Each pair of blocks is read (not decompressed) once.
    let mut pairs: Vec<(u32, u32)> = tails
        .iter()
        .filter(|t| t.1.1 == t.2.1)
        .map(|t| (t.1.0, t.2.0))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let equal_blocks: HashSet<(u32, u32)> = pairs
        .into_par_iter()
        .filter(|&(fa, fb)| same_stored_fragment(ra, rb, fa, fb))
        .collect();
    tails.retain(|&(i, (fa, oa), (fb, ob), _)| {
        let equal = oa == ob && equal_blocks.contains(&(fa, fb));
        if equal {
            out.insert(i, true);
        }
        !equal
    });
    tails.sort_unstable_by_key(|t| t.1);
    // A few contiguous ranges per thread: tails are uneven (a range where the sides' fragment
    // orders part costs more). Ranges end where A's fragment block changes, so each of A's
    // blocks is decompressed once, and each of B's at most once more per range boundary.
    let target = tails
        .len()
        .div_ceil(rayon::current_num_threads() * 4)
        .max(1);
    let mut parts: Vec<&[Tail]> = Vec::new();
    let mut rest = &tails[..];
    while !rest.is_empty() {
        let mut end = target.min(rest.len());
        while end < rest.len() && rest[end].1.0 == rest[end - 1].1.0 {
            end += 1;
        }
        let (part, r) = rest.split_at(end);
        parts.push(part);
        rest = r;
    }
    let compared: Vec<(Vec<(usize, bool)>, usize)> = parts
        .into_par_iter()
        .map(|part| {
            // A part's tails are in A's fragment order, so one block of A is enough; B's
            // order mostly follows. Every kept block is a decompressed block per thread.
            let (mut ca, mut cb) = (Blocks::new(ra, 1), Blocks::new(rb, 2));
            let v = part
                .iter()
                .map(|&(i, (fa, oa), (fb, ob), len)| {
                    let same = match (ca.get(fa), cb.get(fb)) {
                        (Some(x), Some(y)) => {
                            slice(&x, oa, len).is_some_and(|s| Some(s) == slice(&y, ob, len))
                        }
                        // Unreadable: let the content comparison report it.
                        _ => false,
                    };
                    (i, same)
                })
                .collect();
            (v, ca.decoded + cb.decoded)
        })
        .collect();
    let mut decoded = 0;
    for (v, n) in compared {
        out.extend(v);
        decoded += n;
    }
    Verdicts { same: out, decoded }
}

/// Whether fragment blocks `fa` of A and `fb` of B have the same size word and stored bytes.
fn same_stored_fragment(ra: &DataReader, rb: &DataReader, fa: u32, fb: u32) -> bool {
    let (Some(x), Some(y)) = (ra.fragment(fa), rb.fragment(fb)) else {
        return false;
    };
    if x.size != y.size {
        return false;
    }
    let (rx, ry) = (x.range(), y.range());
    let bx = read_vec_at(&**ra.source(), rx.start, rx.end - rx.start, 1 << 24);
    let by = read_vec_at(&**rb.source(), ry.start, ry.end - ry.start, 1 << 24);
    matches!((bx, by), (Ok(bx), Ok(by)) if bx == by)
}

fn slice(b: &[u8], off: u32, len: usize) -> Option<&[u8]> {
    b.get(off as usize..(off as usize).checked_add(len)?)
}

fn stored(ra: &DataReader, rb: &DataReader, da: &FileData, db: &FileData, runs: &Runs) -> Stored {
    if da.file_size != db.file_size || da.block_sizes != db.block_sizes {
        return Stored::Differ;
    }
    // At the same place in both images with no differing byte there: equal without reading.
    let untouched = |r: &Range<u64>, s: &Range<u64>| r == s && !runs.intersects(r);
    for ((x, _), (y, _)) in da.block_ranges().iter().zip(db.block_ranges().iter()) {
        if untouched(x, y) {
            continue;
        }
        let bx = read_vec_at(&**ra.source(), x.start, x.end - x.start, 1 << 24);
        let by = read_vec_at(&**rb.source(), y.start, y.end - y.start, 1 << 24);
        match (bx, by) {
            (Ok(bx), Ok(by)) if bx == by => {}
            _ => return Stored::Differ,
        }
    }
    match (da.fragment, db.fragment) {
        (None, None) => Stored::Equal,
        (Some((fa, oa)), Some((fb, ob))) => match (ra.fragment(fa), rb.fragment(fb)) {
            (Some(x), Some(y))
                if oa == ob && x.size == y.size && untouched(&x.range(), &y.range()) =>
            {
                Stored::Equal
            }
            (Some(_), Some(_)) => Stored::Tail {
                a: (fa, oa),
                b: (fb, ob),
                len: da.tail_len() as usize,
            },
            _ => Stored::Differ,
        },
        _ => Stored::Differ,
    }
}

/// The last few decompressed fragment blocks of one side.
struct Blocks<'a> {
    reader: &'a DataReader,
    keep: usize,
    recent: Vec<(u32, Option<Arc<Vec<u8>>>)>,
    decoded: usize,
}

impl<'a> Blocks<'a> {
    fn new(reader: &'a DataReader, keep: usize) -> Self {
        Self {
            reader,
            keep,
            recent: Vec::new(),
            decoded: 0,
        }
    }

    fn get(&mut self, index: u32) -> Option<Arc<Vec<u8>>> {
        if let Some((_, b)) = self.recent.iter().find(|(i, _)| *i == index) {
            return b.clone();
        }
        self.decoded += 1;
        let b = self.reader.decompress_fragment(index).ok().map(Arc::new);
        if self.recent.len() >= self.keep {
            self.recent.remove(0);
        }
        self.recent.push((index, b.clone()));
        b
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use isoforge_formats::io::{FileSource, Source};
    use isoforge_formats::{Limits, squashfs};

    use super::*;

    /// 400 files of 100 to 3000 random bytes in ten directories: with 4 KiB blocks every file
    /// is a tail, a little over one per fragment block on average. B has one more small file
    /// before all of them, which moves every later tail, and one changed file (same size) near
    /// the end, in a block that moved too.
    const TREES: &str = r#"
import os, random
rnd = random.Random(13)
for d in range(10):
    for f in range(40):
        data = rnd.randbytes(rnd.randrange(100, 3000))
        for side in ("a", "b"):
            os.makedirs(f"{side}/d{d}", exist_ok=True)
            open(f"{side}/d{d}/f{f:02}", "wb").write(data)
open("b/d0/0-extra", "wb").write(b"x" * 37)
late = bytearray(open("b/d9/f38", "rb").read())
late[len(late) // 2] ^= 0xff
open("b/d9/f38", "wb").write(late)
"#;

    fn run(dir: &Path, cmd: &str, args: &[&str]) {
        let out = Command::new(cmd)
            .args(args)
            .current_dir(dir)
            .env("SOURCE_DATE_EPOCH", "1764000000")
            .output()
            .unwrap_or_else(|e| panic!("{cmd}: {e} (apt-get install squashfs-tools python3)"));
        assert!(
            out.status.success(),
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn image(path: &Path) -> (squashfs::Image, DataReader) {
        let src: Source = Arc::new(FileSource::open(path).expect("image"));
        let img = squashfs::parse(&*src, &Limits::default()).expect("parse");
        let reader = img.data_reader(src);
        (img, reader)
    }

    #[test]
    fn tails_in_moved_but_equal_fragment_blocks_are_not_decompressed() {
        let d = tempfile::tempdir().expect("tempdir");
        run(d.path(), "python3", &["-c", TREES]);
        for (t, img) in [("a", "a.sqfs"), ("b", "b.sqfs")] {
            let opts = ["-comp", "xz", "-b", "4K", "-noappend", "-no-progress"];
            run(d.path(), "mksquashfs", &[&[t, img][..], &opts].concat());
        }
        let (ia, ra) = image(&d.path().join("a.sqfs"));
        let (ib, rb) = image(&d.path().join("b.sqfs"));
        let runs = crate::runs::compare(&**ra.source(), &**rb.source()).expect("compare");
        // The case this is about: many fragment blocks, nearly all of them at another place in B.
        assert!(
            ia.fragments.len() >= 100,
            "{} fragment blocks",
            ia.fragments.len()
        );
        let moved = ia
            .fragments
            .iter()
            .zip(&ib.fragments)
            .filter(|(x, y)| x.start != y.start)
            .count();
        assert!(
            moved * 10 >= ia.fragments.len() * 9,
            "only {moved} blocks moved"
        );

        let index_b: HashMap<&str, usize> = ib
            .entries
            .iter()
            .enumerate()
            .map(|(j, e)| (e.path.as_str(), j))
            .collect();
        let pairs: Vec<(usize, usize)> = ia
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((i, *index_b.get(e.path.as_str())?)))
            .collect();
        let v = verdicts(&pairs, &ia.entries, &ib.entries, &ra, &rb, &runs);
        let files: Vec<&str> = pairs
            .iter()
            .filter(|&&(i, _)| v.same.contains_key(&i))
            .map(|&(i, _)| ia.entries[i].path.as_str())
            .collect();
        assert_eq!(files.len(), 400);
        let differ: Vec<&str> = pairs
            .iter()
            .filter(|&&(i, _)| v.same.get(&i) == Some(&false))
            .map(|&(i, _)| ia.entries[i].path.as_str())
            .collect();
        assert_eq!(differ, ["/d9/f38"]);
        // Only the blocks where packing had not realigned yet, and the changed file's, are
        // decompressed: a handful, not every block of both sides.
        assert!(
            v.decoded <= 12,
            "{} fragment blocks decompressed",
            v.decoded
        );
    }
}
