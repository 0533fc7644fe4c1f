//! Byte attribution: each differing run of a stream is split at structure boundaries and each
//! piece is named after the innermost structure and field holding it, on each side.
//!
//! A side's structures form a [`LayoutTree`]: the stream's own layout plus, for members whose
//! bytes lie in the stream as they are (ISO 9660 files, FAT clusters, cpio/tar/ar members), the
//! member's own layout mapped through its extents. Deeper structures win; among equals the
//! shortest span wins. One sweep over the sorted spans handles all runs, so the cost is
//! O((runs + spans) log spans) and memory is the layouts themselves.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::ops::Range;

use isoforge_formats::io::{ReadAt, Source, read_exact_at};
use isoforge_formats::{Layout, Role, Value};

use crate::hints::{self, HintCtx};
use crate::report::{Attribution, ByteReport, Place, Unattributed};
use crate::runs::{Runs, count_diff};

/// The structures of one side of a stream, with nested members' structures.
pub struct LayoutTree {
    pub layout: Layout,
    /// The bytes the layout's offsets refer to.
    pub source: Source,
    pub nested: Vec<Nested>,
}

/// A member whose bytes are a window of the parent stream, with its own layout.
pub struct Nested {
    /// Where the member's bytes are, in the parent's coordinates, in order.
    pub extents: Vec<Range<u64>>,
    /// Name of the parent span holding the member ("content of /live/filesystem.squashfs").
    pub label: String,
    pub tree: LayoutTree,
}

/// A structure or field span in the root stream's coordinates.
#[derive(Clone, Copy)]
struct Flat {
    start: u64,
    end: u64,
    depth: u16,
    tree: u32,
    structure: u32,
    /// `u32::MAX` for the structure itself.
    field: u32,
}

/// A flattened side: spans plus the trees they refer to (with their label chains).
struct Side<'a> {
    spans: Vec<Flat>,
    trees: Vec<(&'a LayoutTree, Vec<String>)>,
    /// Only spans touching a differing run are kept: the others can never name a byte.
    runs: &'a Runs,
    /// A first pass only counts the spans kept, so that `spans` is allocated once, exactly.
    counting: bool,
    count: usize,
}

impl<'a> Side<'a> {
    fn new(tree: &'a LayoutTree, runs: &'a Runs) -> Self {
        let mut side = Side {
            spans: Vec::new(),
            trees: Vec::new(),
            runs,
            counting: true,
            count: 0,
        };
        flatten(tree, None, 0, Vec::new(), &mut side);
        side.spans = Vec::with_capacity(side.count);
        side.trees.clear();
        side.counting = false;
        flatten(tree, None, 0, Vec::new(), &mut side);
        side
    }

    fn push(&mut self, start: u64, end: u64, f: impl Fn(u64, u64) -> Flat) {
        if end <= start || !self.runs.intersects(&(start..end)) {
            return;
        }
        if self.counting {
            self.count += 1;
        } else {
            self.spans.push(f(start, end));
        }
    }
}

fn flatten<'a>(
    tree: &'a LayoutTree,
    map: Option<&[Range<u64>]>,
    level: u16,
    chain: Vec<String>,
    side: &mut Side<'a>,
) {
    let t = side.trees.len() as u32;
    side.trees.push((tree, chain.clone()));
    let mut push = |start: u64, end: u64, depth: u16, structure: u32, field: u32| {
        if end <= start {
            return;
        }
        let flat = |start, end| Flat {
            start,
            end,
            depth,
            tree: t,
            structure,
            field,
        };
        match map {
            None => side.push(start, end, flat),
            Some(ext) => {
                for r in map_range(ext, start..end) {
                    side.push(r.start, r.end, flat);
                }
            }
        }
    };
    for (si, s) in tree.layout.structures.iter().enumerate() {
        push(s.start, s.end(), level * 2, si as u32, u32::MAX);
        for (fi, f) in s.fields.iter().enumerate() {
            let (fs, flen) = s.span_of(f);
            push(
                fs,
                fs.saturating_add(flen),
                level * 2 + 1,
                si as u32,
                fi as u32,
            );
        }
    }
    for n in &tree.nested {
        // The member's extents in root coordinates.
        let ext: Vec<Range<u64>> = match map {
            None => n.extents.clone(),
            Some(m) => n
                .extents
                .iter()
                .flat_map(|r| map_range(m, r.clone()))
                .collect(),
        };
        let mut c = chain.clone();
        c.push(n.label.clone());
        flatten(&n.tree, Some(&ext), level + 1, c, side);
    }
}

/// Maps `r` (in the coordinates of a window made of `ext`) to ranges of the underlying stream.
fn map_range(ext: &[Range<u64>], r: Range<u64>) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    let mut base = 0u64;
    for e in ext {
        let len = e.end - e.start;
        let (s, t) = (r.start.max(base), r.end.min(base + len));
        if s < t {
            out.push(e.start + (s - base)..e.start + (t - base));
        }
        base += len;
        if base >= r.end {
            break;
        }
    }
    out
}

/// Walks sorted spans once, answering "innermost span over this range" for increasing ranges.
struct Sweeper {
    spans: Vec<Flat>,
    next: usize,
    /// Max-heap on (depth, shortest, latest) with lazy removal of ended spans.
    heap: BinaryHeap<(u16, Reverse<u64>, usize)>,
}

impl Sweeper {
    fn new(mut spans: Vec<Flat>) -> Self {
        // The order `flatten` made them in, among spans that start together (ties in the heap
        // go to the later one), without the scratch buffer of a stable sort.
        spans.sort_unstable_by_key(|s| (s.start, s.tree, s.structure, s.field.wrapping_add(1)));
        Self {
            spans,
            next: 0,
            heap: BinaryHeap::new(),
        }
    }

    /// Splits `r` into pieces with a constant innermost span (index into `spans`).
    fn segments(&mut self, r: Range<u64>) -> Vec<(Range<u64>, Option<usize>)> {
        let mut out: Vec<(Range<u64>, Option<usize>)> = Vec::new();
        let mut pos = r.start;
        while pos < r.end {
            while self.next < self.spans.len() && self.spans[self.next].start <= pos {
                let s = &self.spans[self.next];
                if s.end > pos {
                    self.heap
                        .push((s.depth, Reverse(s.end - s.start), self.next));
                }
                self.next += 1;
            }
            while let Some(&(_, _, i)) = self.heap.peek() {
                if self.spans[i].end <= pos {
                    self.heap.pop();
                } else {
                    break;
                }
            }
            let top = self.heap.peek().map(|&(_, _, i)| i);
            let mut end = r.end;
            if let Some(n) = self.spans.get(self.next) {
                end = end.min(n.start);
            }
            if let Some(i) = top {
                end = end.min(self.spans[i].end);
            }
            let end = end.max(pos + 1);
            match out.last_mut() {
                Some((lr, li)) if *li == top && lr.end == pos => lr.end = end,
                _ => out.push((pos..end, top)),
            }
            pos = end;
        }
        out
    }
}

pub struct Limits {
    pub max_ranges: usize,
    /// Attributions kept per kind of field (so that rare ones are never crowded out).
    pub per_kind: usize,
    pub max_unattributed: usize,
}

/// Attributes `runs` (in the coordinates of `a.source`/`b.source`) to the structures of both
/// sides.
pub fn attribute(
    runs: &Runs,
    a: &LayoutTree,
    b: &LayoutTree,
    limits: &Limits,
    hctx: &HintCtx,
) -> io::Result<ByteReport> {
    // Sized exactly: on large tables these vectors are the biggest allocation of a run.
    let mut sa = Side::new(a, runs);
    let mut sb = Side::new(b, runs);
    let (trees_a, trees_b) = (std::mem::take(&mut sa.trees), std::mem::take(&mut sb.trees));
    let mut swa = Sweeper::new(sa.spans);
    let mut swb = Sweeper::new(sb.spans);
    let (src_a, src_b) = (&*a.source, &*b.source);
    let mut rep = ByteReport {
        size_a: runs.size_a,
        size_b: runs.size_b,
        differing: 0,
        attributed: 0,
        ranges: Vec::new(),
        ranges_omitted: 0,
        unattributed: Vec::new(),
        unattributed_omitted: 0,
        by_field: Vec::new(),
    };
    let mut kinds = Kinds::default();
    let mut group: Option<Group> = None;
    let mut names_a = Names::default();
    let mut names_b = Names::default();
    for run in &runs.runs {
        let pa = swa.segments(run.start..run.end);
        let pb = swb.segments(run.start..run.end);
        for (range, ia, ib) in merge(&pa, &pb) {
            let whole = range.start == run.start && range.end == run.end;
            let n = if whole {
                run.differing
            } else {
                count_diff(src_a, src_b, range.clone())?
            };
            if n == 0 {
                continue;
            }
            rep.differing += n;
            let has_a = range.start < runs.size_a;
            let has_b = range.start < runs.size_b;
            let mut ka = if has_a {
                ia.map(|i| key(&swa.spans[i]))
            } else {
                None
            };
            let mut kb = if has_b {
                ib.map(|i| key(&swb.spans[i]))
            } else {
                None
            };
            // Different structures on the two sides (data moved): report structures, not
            // fields, so that a shifted region reads as one line per structure pair.
            let moved = match (ka, kb) {
                (Some(x), Some(y)) => names_a.hash(&trees_a, x) != names_b.hash(&trees_b, y),
                (Some(_), None) | (None, Some(_)) => true,
                (None, None) => false,
            };
            if moved {
                ka = ka.map(|x| (x.0, x.1, u32::MAX));
                kb = kb.map(|y| (y.0, y.1, u32::MAX));
            }
            // The same structure at different places: the data moved.
            let shift = match (moved, ia, ib) {
                (false, Some(i), Some(j)) if ka.is_some() && kb.is_some() => {
                    let d = swb.spans[j].start as i64 - swa.spans[i].start as i64;
                    (d != 0).then_some(d)
                }
                _ => None,
            };
            let attributed = (!has_a || ka.is_some())
                && (!has_b || kb.is_some())
                && (ka.is_some() || kb.is_some());
            if attributed {
                rep.attributed += n;
            }
            match &mut group {
                Some(g)
                    if g.ka == ka
                        && g.kb == kb
                        && g.attributed == attributed
                        && g.shift == shift =>
                {
                    g.end = range.end;
                    g.differing += n;
                }
                _ => {
                    if let Some(g) = group.take() {
                        g.emit(
                            &mut rep, &trees_a, &trees_b, src_a, src_b, limits, hctx, &mut kinds,
                        );
                    }
                    group = Some(Group {
                        start: range.start,
                        end: range.end,
                        differing: n,
                        ka,
                        kb,
                        attributed,
                        shift,
                    });
                }
            }
        }
    }
    if let Some(g) = group.take() {
        g.emit(
            &mut rep, &trees_a, &trees_b, src_a, src_b, limits, hctx, &mut kinds,
        );
    }
    rep.by_field = kinds.finish();
    Ok(rep)
}

type Key = (u32, u32, u32);

/// Hashes of structure labels (chain and name), cached per side.
#[derive(Default)]
struct Names(std::collections::HashMap<(u32, u32), u64>);

impl Names {
    fn hash(&mut self, trees: &[(&LayoutTree, Vec<String>)], k: Key) -> u64 {
        use std::hash::{Hash, Hasher};
        *self.0.entry((k.0, k.1)).or_insert_with(|| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            if let Some((t, chain)) = trees.get(k.0 as usize) {
                chain.hash(&mut h);
                t.layout
                    .structures
                    .get(k.1 as usize)
                    .map(|s| &s.name)
                    .hash(&mut h);
            }
            h.finish()
        })
    }
}

fn key(f: &Flat) -> Key {
    (f.tree, f.structure, f.field)
}

/// Intersects two segmentations of the same range.
fn merge(
    a: &[(Range<u64>, Option<usize>)],
    b: &[(Range<u64>, Option<usize>)],
) -> Vec<(Range<u64>, Option<usize>, Option<usize>)> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let s = a[i].0.start.max(b[j].0.start);
        let e = a[i].0.end.min(b[j].0.end);
        if s < e {
            out.push((s..e, a[i].1, b[j].1));
        }
        if a[i].0.end <= b[j].0.end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

struct Group {
    start: u64,
    end: u64,
    differing: u64,
    ka: Option<Key>,
    kb: Option<Key>,
    attributed: bool,
    shift: Option<i64>,
}

impl Group {
    #[allow(clippy::too_many_arguments)]
    fn emit(
        self,
        rep: &mut ByteReport,
        ta: &[(&LayoutTree, Vec<String>)],
        tb: &[(&LayoutTree, Vec<String>)],
        src_a: &dyn ReadAt,
        src_b: &dyn ReadAt,
        limits: &Limits,
        hctx: &HintCtx,
        kinds: &mut Kinds,
    ) {
        if !self.attributed {
            if rep.unattributed.len() >= limits.max_unattributed {
                rep.unattributed_omitted += 1;
                return;
            }
            rep.unattributed.push(Unattributed {
                offset: self.start,
                len: self.end - self.start,
                differing: self.differing,
                hex_a: hex_window(src_a, self.start),
                hex_b: hex_window(src_b, self.start),
            });
            return;
        }
        let (pa, va) = place(ta, self.ka);
        let (pb, vb) = place(tb, self.kb);
        let seen = kinds.add(pa.as_ref(), pb.as_ref(), self.differing);
        if rep.ranges.len() >= limits.max_ranges || seen > limits.per_kind {
            rep.ranges_omitted += 1;
            return;
        }
        let mut hints = Vec::new();
        if let (Some(a), Some(b)) = (&pa, &pb) {
            if let (Some(fa), Some(fb), Some(va), Some(vb)) = (&a.field, &b.field, &va, &vb) {
                if fa == fb && a.structure == b.structure {
                    let role = self
                        .ka
                        .and_then(|k| field_role(ta, k))
                        .unwrap_or(Role::Data);
                    hints = hints::for_field(&a.label(), fa, role, va, vb, hctx);
                }
            }
        }
        if let Some(d) = self.shift {
            hints.push(hints::moved(d));
        }
        rep.ranges.push(Attribution {
            offset: self.start,
            len: self.end - self.start,
            differing: self.differing,
            moved_by: self.shift,
            a: pa,
            b: pb,
            hints,
        });
    }
}

/// Counts of attributions per kind of field.
#[derive(Default)]
struct Kinds {
    map: std::collections::HashMap<(String, Option<String>), usize>,
    list: Vec<crate::report::FieldCount>,
}

/// "directory record of /x" -> "directory record"; "data block 3 of /x" -> "data block".
fn structure_kind(name: &str) -> String {
    let cut = [" of ", " (", " at 0x", " #"]
        .iter()
        .filter_map(|p| name.find(p))
        .min()
        .unwrap_or(name.len());
    let k = name[..cut].trim_end_matches(|c: char| c.is_ascii_digit() || c == ' ');
    if k.is_empty() {
        name.to_string()
    } else {
        k.to_string()
    }
}

impl Kinds {
    /// Records one attribution; returns how many of its kind have been seen (including it).
    fn add(&mut self, a: Option<&Place>, b: Option<&Place>, differing: u64) -> usize {
        let kind = |p: Option<&Place>| {
            p.and_then(|p| p.structure.last())
                .map(|s| structure_kind(s))
        };
        let structure = match (kind(a), kind(b)) {
            (Some(x), Some(y)) if x == y => x,
            (Some(x), Some(y)) => format!("{x} / {y}"),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => String::new(),
        };
        let field = a.or(b).and_then(|p| p.field.clone());
        let key = (structure.clone(), field.clone());
        let i = *self.map.entry(key).or_insert_with(|| {
            let example = a.or(b).map(Place::label).unwrap_or_default();
            self.list.push(crate::report::FieldCount {
                structure,
                field,
                places: 0,
                differing: 0,
                example,
            });
            self.list.len() - 1
        });
        let e = &mut self.list[i];
        e.places += 1;
        e.differing += differing;
        e.places as usize
    }

    fn finish(mut self) -> Vec<crate::report::FieldCount> {
        self.list
            .sort_by(|x, y| y.places.cmp(&x.places).then(y.differing.cmp(&x.differing)));
        self.list
    }
}

fn field_role(trees: &[(&LayoutTree, Vec<String>)], k: Key) -> Option<Role> {
    let s = trees
        .get(k.0 as usize)?
        .0
        .layout
        .structures
        .get(k.1 as usize)?;
    Some(s.fields.get(k.2 as usize).map_or(s.role, |f| f.role))
}

fn place(trees: &[(&LayoutTree, Vec<String>)], k: Option<Key>) -> (Option<Place>, Option<Value>) {
    let Some((t, s, f)) = k else {
        return (None, None);
    };
    let Some((tree, chain)) = trees.get(t as usize) else {
        return (None, None);
    };
    let Some(st) = tree.layout.structures.get(s as usize) else {
        return (None, None);
    };
    let mut structure = chain.clone();
    structure.push(st.name.clone());
    let field = st.fields.get(f as usize);
    let value = field.map(|fd| {
        let (at, len) = st.span_of(fd);
        let mut buf = vec![0u8; len.min(4096) as usize];
        match read_exact_at(&*tree.source, at, &mut buf) {
            Ok(()) => fd.decode.decode(&buf),
            Err(_) => Value::Text("(unreadable)".into()),
        }
    });
    let role = field.map_or(st.role, |fd| fd.role);
    (
        Some(Place {
            structure,
            field: field.map(|fd| fd.name.to_string()),
            value: value.as_ref().map(|v| v.to_string()),
            role: format!("{role:?}").to_lowercase(),
        }),
        value,
    )
}

/// 16 bytes at `offset` as hex (fewer at the end, "" past it).
pub fn hex_window(src: &dyn ReadAt, offset: u64) -> String {
    let n = src.size().saturating_sub(offset).min(16) as usize;
    let mut b = vec![0u8; n];
    if read_exact_at(src, offset, &mut b).is_err() {
        return String::new();
    }
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoforge_formats::io::MemSource;
    use isoforge_formats::{Decode, Role};
    use std::sync::Arc;

    fn tree(bytes: Vec<u8>) -> LayoutTree {
        let mut l = Layout::new();
        l.structure("header", 0, 8)
            .field("magic", 0, 4, Decode::Ascii, Role::Data)
            .field("serial", 4, 4, Decode::Hex32Le, Role::Identifier);
        l.content("content of /f", 8, 8, Some(0));
        let mut inner = Layout::new();
        inner
            .structure("inner header", 0, 2)
            .field("version", 0, 2, Decode::U16Le, Role::Data);
        let src: Source = Arc::new(MemSource(bytes));
        let content = 8..16;
        LayoutTree {
            layout: l,
            source: src.clone(),
            nested: vec![Nested {
                extents: vec![content.clone()],
                label: "content of /f".into(),
                tree: LayoutTree {
                    layout: inner,
                    source: Arc::new(isoforge_formats::io::Window::new(src, &[content])),
                    nested: vec![],
                },
            }],
        }
    }

    #[test]
    fn innermost_field_wins_and_values_decode() {
        let a = b"MAGC\x01\x00\x00\x00\x07\x00zzzzQQ".to_vec();
        let b = b"MAGC\x02\x00\x00\x00\x08\x00zzzzRR".to_vec();
        let (ta, tb) = (tree(a), tree(b));
        let runs = crate::runs::compare(&*ta.source, &*tb.source).unwrap();
        let lim = Limits {
            max_ranges: 100,
            per_kind: 100,
            max_unattributed: 100,
        };
        let r = attribute(&runs, &ta, &tb, &lim, &HintCtx::default()).unwrap();
        assert_eq!(r.differing, 4);
        assert_eq!(r.attributed, 4, "{r:#?}");
        let serial = &r.ranges[0];
        assert_eq!(serial.a.as_ref().unwrap().field.as_deref(), Some("serial"));
        assert_eq!(
            serial.a.as_ref().unwrap().value.as_deref(),
            Some("0x00000001")
        );
        assert_eq!(
            serial.b.as_ref().unwrap().value.as_deref(),
            Some("0x00000002")
        );
        let nested = &r.ranges[1];
        assert_eq!(
            nested.a.as_ref().unwrap().structure,
            vec!["content of /f", "inner header"]
        );
        assert_eq!(nested.b.as_ref().unwrap().value.as_deref(), Some("8"));
        let tail = &r.ranges[2];
        assert_eq!(tail.a.as_ref().unwrap().structure, vec!["content of /f"]);
        assert_eq!(tail.differing, 2);
    }

    #[test]
    fn gaps_are_unattributed_with_hex() {
        let mut a = vec![0u8; 24];
        let mut b = vec![0u8; 24];
        a[20] = 1;
        b[20] = 2;
        let (ta, tb) = (tree(a), tree(b));
        let runs = crate::runs::compare(&*ta.source, &*tb.source).unwrap();
        let lim = Limits {
            max_ranges: 100,
            per_kind: 100,
            max_unattributed: 100,
        };
        let r = attribute(&runs, &ta, &tb, &lim, &HintCtx::default()).unwrap();
        assert_eq!((r.differing, r.attributed), (1, 0));
        assert_eq!(r.unattributed[0].offset, 20);
        assert_eq!(r.unattributed[0].hex_a, "01 00 00 00");
    }
}
