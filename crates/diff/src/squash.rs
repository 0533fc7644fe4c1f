//! Which squashfs files have the same content on both sides, decided from stored bytes first:
//! equal sizes and block lists, then equal compressed blocks (no decompression), then
//! fragment tails. Tails are compared in fragment order, each thread taking a contiguous
//! range, so every fragment block is decompressed about once per side with a two-block cache.

use std::collections::HashMap;
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

/// `entry index in A -> same content` for every matched pair of squashfs files.
pub fn verdicts(
    pairs: &[(usize, usize)],
    ea: &[Entry],
    eb: &[Entry],
    ra: &DataReader,
    rb: &DataReader,
    runs: &Runs,
) -> HashMap<usize, bool> {
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
    let mut tails = Vec::new();
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
    tails.sort_unstable_by_key(|t| t.1);
    // A few contiguous ranges per thread: tails are uneven (a range where the sides' fragment
    // orders part costs more), and each boundary costs at most one block per side again.
    let chunk = tails
        .len()
        .div_ceil(rayon::current_num_threads() * 4)
        .max(1);
    let compared: Vec<(usize, bool)> = tails
        .par_chunks(chunk)
        .flat_map_iter(|part| {
            let (mut ca, mut cb) = (Blocks::new(ra, 2), Blocks::new(rb, 2));
            part.iter()
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
                .collect::<Vec<_>>()
        })
        .collect();
    out.extend(compared);
    out
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
}

impl<'a> Blocks<'a> {
    fn new(reader: &'a DataReader, keep: usize) -> Self {
        Self {
            reader,
            keep,
            recent: Vec::new(),
        }
    }

    fn get(&mut self, index: u32) -> Option<Arc<Vec<u8>>> {
        if let Some((_, b)) = self.recent.iter().find(|(i, _)| *i == index) {
            return b.clone();
        }
        let b = self.reader.decompress_fragment(index).ok().map(Arc::new);
        if self.recent.len() >= self.keep {
            self.recent.remove(0);
        }
        self.recent.push((index, b.clone()));
        b
    }
}
