//! Differing byte runs between two sources, found by streaming both in chunks.
//!
//! A [`Runs`] is a sorted list of ranges with the exact number of differing bytes in each.
//! Nearby differences are merged (a gap of up to [`MERGE_GAP`] equal bytes), and when the list
//! grows past [`MAX_RUNS`] it is coarsened, so memory stays bounded whatever the input; the
//! per-run counts stay exact, and a sub-range can be recounted with [`count_diff`].

use std::io;
use std::ops::Range;

use isoforge_formats::io::{ReadAt, read_exact_at};

/// Equal bytes allowed inside one run.
pub const MERGE_GAP: u64 = 8;
/// Runs kept before coarsening.
pub const MAX_RUNS: usize = 1 << 20;
const CHUNK: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub start: u64,
    pub end: u64,
    /// Exact number of differing bytes in `start..end` (bytes present on one side only count).
    pub differing: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Runs {
    pub runs: Vec<Run>,
    pub size_a: u64,
    pub size_b: u64,
}

impl Runs {
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub fn total(&self) -> u64 {
        self.runs.iter().map(|r| r.differing).sum()
    }

    /// Whether any run touches `r`.
    pub fn intersects(&self, r: &Range<u64>) -> bool {
        let i = self.runs.partition_point(|x| x.end <= r.start);
        self.runs.get(i).is_some_and(|x| x.start < r.end)
    }

    /// The runs inside `extents` (a window onto these coordinates), in window coordinates.
    /// Runs cut by an extent boundary are recounted exactly from the sources.
    pub fn window(
        &self,
        extents: &[Range<u64>],
        a: &dyn ReadAt,
        b: &dyn ReadAt,
        size_a: u64,
        size_b: u64,
    ) -> io::Result<Runs> {
        let mut out = Builder::new();
        let mut base = 0u64;
        for ext in extents {
            let i = self.runs.partition_point(|x| x.end <= ext.start);
            for r in &self.runs[i..] {
                if r.start >= ext.end {
                    break;
                }
                let s = r.start.max(ext.start);
                let e = r.end.min(ext.end);
                let n = if s == r.start && e == r.end {
                    r.differing
                } else {
                    count_diff(a, b, s..e)?
                };
                if n > 0 {
                    out.push_run(base + s - ext.start, base + e - ext.start, n);
                }
            }
            base += ext.end - ext.start;
        }
        Ok(out.finish(size_a, size_b))
    }
}

/// Accumulates differing positions into merged, bounded runs.
pub struct Builder {
    runs: Vec<Run>,
    gap: u64,
}

impl Builder {
    pub fn new() -> Self {
        Self {
            runs: Vec::new(),
            gap: MERGE_GAP,
        }
    }

    pub fn push_run(&mut self, start: u64, end: u64, differing: u64) {
        if let Some(last) = self.runs.last_mut() {
            if start <= last.end + self.gap {
                last.end = last.end.max(end);
                last.differing += differing;
                return;
            }
        }
        self.runs.push(Run {
            start,
            end,
            differing,
        });
        if self.runs.len() > MAX_RUNS {
            self.coarsen();
        }
    }

    /// Halves the number of runs by merging neighbours; counts stay exact.
    fn coarsen(&mut self) {
        self.gap = self.gap.saturating_mul(4);
        let mut out: Vec<Run> = Vec::with_capacity(self.runs.len() / 2 + 1);
        for pair in self.runs.chunks(2) {
            let mut r = pair[0];
            if let Some(n) = pair.get(1) {
                r.end = n.end;
                r.differing += n.differing;
            }
            out.push(r);
        }
        self.runs = out;
    }

    pub fn finish(self, size_a: u64, size_b: u64) -> Runs {
        Runs {
            runs: self.runs,
            size_a,
            size_b,
        }
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

/// Compares two sources in full.
pub fn compare(a: &dyn ReadAt, b: &dyn ReadAt) -> io::Result<Runs> {
    let (la, lb) = (a.size(), b.size());
    let common = la.min(lb);
    let mut out = Builder::new();
    // Small members are common: size the buffers by what is compared.
    let n = common.min(CHUNK as u64) as usize;
    let (mut ba, mut bb) = (vec![0u8; n], vec![0u8; n]);
    let mut pos = 0u64;
    while pos < common {
        let n = (common - pos).min(CHUNK as u64) as usize;
        let (ra, rb) = rayon::join(
            || read_exact_at(a, pos, &mut ba[..n]),
            || read_exact_at(b, pos, &mut bb[..n]),
        );
        ra?;
        rb?;
        diff_chunk(&ba[..n], &bb[..n], pos, &mut out);
        pos += n as u64;
    }
    if la != lb {
        out.push_run(common, la.max(lb), la.max(lb) - common);
    }
    Ok(out.finish(la, lb))
}

/// Appends the differing runs of two equal-length slices starting at `base`.
///
/// Works a word (8 bytes) at a time: where data moved, nearly every byte differs, and this
/// loop sees every byte of the image.
pub fn diff_chunk(a: &[u8], b: &[u8], base: u64, out: &mut Builder) {
    if a == b {
        return;
    }
    const W: usize = 8;
    // The run being built: first and last differing byte (relative to `a`), differing bytes.
    let mut run: Option<(usize, usize, u64)> = None;
    let mut add = |first: usize, last: usize, count: u64, out: &mut Builder| match &mut run {
        Some((_, l, c)) if first as u64 <= *l as u64 + 1 + MERGE_GAP => {
            *l = last;
            *c += count;
        }
        r => {
            if let Some((s, l, c)) = r.take() {
                out.push_run(base + s as u64, base + l as u64 + 1, c);
            }
            *r = Some((first, last, count));
        }
    };
    let (wa, wb) = (a.chunks_exact(W), b.chunks_exact(W));
    let tail = wa.remainder().len();
    for (k, (x, y)) in wa.zip(wb).enumerate() {
        let w = word(x) ^ word(y);
        if w == 0 {
            continue;
        }
        let nonzero = nonzero_bytes(w);
        let p = k * W;
        let first = p + nonzero.trailing_zeros() as usize / 8;
        let last = p + (63 - nonzero.leading_zeros() as usize) / 8;
        add(first, last, u64::from(nonzero.count_ones()), out);
    }
    for i in a.len() - tail..a.len() {
        if a[i] != b[i] {
            add(i, i, 1, out);
        }
    }
    if let Some((s, l, c)) = run {
        out.push_run(base + s as u64, base + l as u64 + 1, c);
    }
}

/// High bit of each byte of the result: that byte of `w` is not zero.
fn nonzero_bytes(w: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    ((w & LOW7).wrapping_add(LOW7) | w) & !LOW7
}

fn word(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().unwrap_or_default())
}

/// Number of positions where `a` and `b` (equal lengths) differ.
fn count_differing(a: &[u8], b: &[u8]) -> u64 {
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ta, tb) = (wa.remainder(), wb.remainder());
    let words: u64 = wa
        .zip(wb)
        .map(|(x, y)| u64::from(nonzero_bytes(word(x) ^ word(y)).count_ones()))
        .sum();
    words + ta.iter().zip(tb).filter(|(x, y)| x != y).count() as u64
}

/// Exact number of differing bytes of `r` (bytes past one side's end count as differing).
pub fn count_diff(a: &dyn ReadAt, b: &dyn ReadAt, r: Range<u64>) -> io::Result<u64> {
    let (la, lb) = (a.size(), b.size());
    let common_end = r.end.min(la).min(lb);
    let mut n = r.end.saturating_sub(r.start.max(common_end));
    let mut pos = r.start;
    let mut ba = vec![0u8; (common_end.saturating_sub(pos)).min(CHUNK as u64) as usize];
    let mut bb = ba.clone();
    while pos < common_end {
        let k = (common_end - pos).min(CHUNK as u64) as usize;
        read_exact_at(a, pos, &mut ba[..k])?;
        read_exact_at(b, pos, &mut bb[..k])?;
        n += count_differing(&ba[..k], &bb[..k]);
        pos += k as u64;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoforge_formats::io::MemSource;

    #[test]
    fn runs_merge_small_gaps_and_count_exactly() {
        let a = MemSource(vec![0u8; 100]);
        let mut v = vec![0u8; 100];
        v[10] = 1;
        v[12] = 1; // gap of 1: merged
        v[50] = 1; // far: separate
        let b = MemSource(v);
        let r = compare(&a, &b).unwrap();
        assert_eq!(
            r.runs,
            vec![
                Run {
                    start: 10,
                    end: 13,
                    differing: 2
                },
                Run {
                    start: 50,
                    end: 51,
                    differing: 1
                }
            ]
        );
        assert_eq!(r.total(), 3);
        assert!(r.intersects(&(12..20)));
        assert!(!r.intersects(&(13..50)));
    }

    #[test]
    fn size_difference_is_a_run() {
        let a = MemSource(b"abc".to_vec());
        let b = MemSource(b"abcdef".to_vec());
        let r = compare(&a, &b).unwrap();
        assert_eq!(
            r.runs,
            vec![Run {
                start: 3,
                end: 6,
                differing: 3
            }]
        );
        assert_eq!(count_diff(&a, &b, 0..6).unwrap(), 3);
    }

    #[test]
    fn window_maps_and_recounts() {
        let a = MemSource(vec![0u8; 64]);
        let mut v = vec![0u8; 64];
        for i in [5usize, 6, 7, 40, 41] {
            v[i] = 9;
        }
        let b = MemSource(v);
        let r = compare(&a, &b).unwrap();
        let w = r.window(&[6..8, 38..42], &a, &b, 6, 6).unwrap();
        // Window offsets 0..2 and 4..6 are within the merge gap: one run, exact count.
        assert_eq!(
            w.runs,
            vec![Run {
                start: 0,
                end: 6,
                differing: 4
            }]
        );
        let one = 7..8;
        let w = r.window(&[one], &a, &b, 1, 1).unwrap();
        assert_eq!(
            w.runs,
            vec![Run {
                start: 0,
                end: 1,
                differing: 1
            }]
        );
    }

    /// The byte-at-a-time definition: differing bytes separated by at most `MERGE_GAP` equal
    /// bytes are one run.
    fn bytewise(a: &[u8], b: &[u8], base: u64) -> Vec<Run> {
        let mut out = Builder::new();
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if x != y {
                out.push_run(base + i as u64, base + i as u64 + 1, 1);
            }
        }
        out.finish(0, 0).runs
    }

    #[test]
    fn word_scan_matches_the_bytewise_definition() {
        // xorshift: sparse, dense and gap-of-exactly-MERGE_GAP patterns at every alignment.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for case in 0..400 {
            let n = (rnd() % 300) as usize;
            let a: Vec<u8> = (0..n).map(|_| rnd() as u8).collect();
            let mut b = a.clone();
            let density = rnd() % 4;
            for (i, v) in b.iter_mut().enumerate() {
                let flip = match density {
                    0 => rnd() % 40 == 0,
                    1 => rnd() % 3 == 0,
                    2 => i % (MERGE_GAP as usize + 1 + case % 3) == 0,
                    _ => rnd() % 256 != 0,
                };
                if flip {
                    *v ^= 1 + (rnd() % 255) as u8;
                }
            }
            let base = rnd() % 1000;
            let mut w = Builder::new();
            diff_chunk(&a, &b, base, &mut w);
            assert_eq!(w.finish(0, 0).runs, bytewise(&a, &b, base), "case {case}");
            let n = a.iter().zip(&b).filter(|(x, y)| x != y).count() as u64;
            assert_eq!(count_differing(&a, &b), n, "case {case}");
        }
    }

    #[test]
    fn coarsening_keeps_counts() {
        let mut b = Builder::new();
        for i in 0..(MAX_RUNS as u64 + 10) {
            b.push_run(i * 100, i * 100 + 1, 1);
        }
        let r = b.finish(0, 0);
        assert!(r.runs.len() <= MAX_RUNS);
        assert_eq!(r.total(), MAX_RUNS as u64 + 10);
    }
}
