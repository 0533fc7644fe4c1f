//! The recursive comparison: streams are compared byte for byte first; only a differing
//! stream is parsed; members are matched by path and only differing members are opened.

use std::collections::HashMap;
use std::sync::Arc;

use isoforge_formats::io::{MemSource, Source};
use isoforge_formats::{Content, Entry, Format, Layout, detect};
use rayon::prelude::*;

use crate::Options;
use crate::attribute::{self, LayoutTree, Nested};
use crate::containers::{self, Derived, Opener, Parsed};
use crate::content;
use crate::hints::{self, HintCtx};
use crate::report::{Change, FieldChange, Node};
use crate::runs::{self, Runs};

pub struct Engine<'a> {
    pub opts: &'a Options,
    pub hctx: HintCtx,
}

/// What comparing a stream yields: the node (if different) and, for the parent's byte
/// attribution, both sides' layouts.
pub struct Outcome {
    pub node: Option<Node>,
    pub trees: Option<(LayoutTree, LayoutTree)>,
}

impl Outcome {
    fn same() -> Self {
        Self {
            node: None,
            trees: None,
        }
    }
}

/// How a stream's bytes relate to the bytes of its parent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Coords {
    /// Its own coordinate system: its node gets a byte report.
    Own,
    /// Same place in the parent on both sides: the parent's byte report covers it.
    InParent,
}

/// One parsed container pair, shared by the comparisons of its members.
struct Container<'p> {
    parent: &'p str,
    pa: &'p Parsed,
    pb: &'p Parsed,
    a: &'p Source,
    b: &'p Source,
    runs: &'p Runs,
    /// Squashfs files found equal (or not) from their stored bytes, by index in A.
    same: HashMap<usize, bool>,
    depth: usize,
}

/// A compared member: its node (if it differs) and its layouts for the parent's attribution.
type Member = (Option<Node>, Option<(Nested, Nested)>);

type Extents = Vec<std::ops::Range<u64>>;

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}{}{name}", crate::report::LOCATION_SEP)
    }
}

impl Engine<'_> {
    fn progress(&self, what: &str) {
        if let Some(p) = &self.opts.progress {
            p(what);
        }
    }

    /// Compares two streams and everything inside them.
    #[allow(clippy::too_many_arguments)]
    pub fn stream(
        &self,
        name: &str,
        location: &str,
        a: Source,
        b: Source,
        known: Option<Runs>,
        coords: Coords,
        depth: usize,
        fixed: Option<(Layout, Layout)>,
    ) -> Outcome {
        let runs = match known {
            Some(r) => r,
            None => match runs::compare(&*a, &*b) {
                Ok(r) => r,
                Err(e) => {
                    let mut n = Node::new(name, location, "unreadable data", Change::Modified);
                    n.notes.push(format!("could not read: {e}"));
                    return Outcome {
                        node: Some(n),
                        trees: None,
                    };
                }
            },
        };
        if runs.is_empty() {
            return Outcome::same();
        }
        self.progress(location);
        let mut node = Node::new(name, location, "", Change::Modified);
        let mut trees;
        if let Some((la, lb)) = fixed {
            node.kind = "metadata table".into();
            trees = Some((
                LayoutTree {
                    layout: la,
                    source: a.clone(),
                    nested: vec![],
                },
                LayoutTree {
                    layout: lb,
                    source: b.clone(),
                    nested: vec![],
                },
            ));
        } else {
            let (fa, fb) = (detect(&*a), detect(&*b));
            if fa == fb && containers::is_container(fa) && depth < self.opts.max_depth {
                trees = self.container(&mut node, fa, &a, &b, &runs, depth);
            } else {
                if fa != fb {
                    node.notes
                        .push(format!("A is {} but B is {}", fa.name(), fb.name()));
                } else if containers::is_container(fa) {
                    node.notes.push(format!(
                        "not descending into this {}: --max-depth {} reached",
                        fa.name(),
                        self.opts.max_depth
                    ));
                }
                trees = self.leaf(&mut node, &a, &b, &runs, fa);
            }
        }
        if coords == Coords::Own && (trees.is_some() || depth == 0) {
            let empty = |s: &Source| LayoutTree {
                layout: Layout::new(),
                source: s.clone(),
                nested: vec![],
            };
            let (ta, tb) = trees.get_or_insert_with(|| (empty(&a), empty(&b)));
            let lim = attribute::Limits {
                max_ranges: self.opts.max_attributions,
                per_kind: self.opts.max_per_field,
                max_unattributed: self.opts.max_unattributed,
            };
            match attribute::attribute(&runs, ta, tb, &lim, &self.hctx) {
                Ok(r) => node.bytes = Some(r),
                Err(e) => node.notes.push(format!("byte attribution stopped: {e}")),
            }
        }
        Outcome {
            node: Some(node),
            trees,
        }
    }

    /// Describes a leaf; a text of a known format also gets its records' layouts.
    fn leaf(
        &self,
        node: &mut Node,
        a: &Source,
        b: &Source,
        runs: &Runs,
        f: Format,
    ) -> Option<(LayoutTree, LayoutTree)> {
        let mut trees = None;
        let name = node.name.clone();
        match content::describe(
            &name,
            &**a,
            &**b,
            runs,
            self.opts.max_text_lines,
            &self.hctx,
        ) {
            Ok(d) => {
                node.kind = match (&d.content, f) {
                    (crate::report::ContentDiff::Text { .. }, _) => "text".into(),
                    (_, Format::Unknown) => "binary data".into(),
                    (_, f) => f.name().into(),
                };
                node.content = Some(d.content);
                node.hints.extend(d.hints);
                if let Some(s) = d.structured {
                    node.kind = s.kind.name().into();
                    for c in &s.changes {
                        let show = |v: &Option<String>| {
                            v.clone().unwrap_or_else(|| "(absent)".to_string())
                        };
                        node.fields.push(FieldChange {
                            field: c.key.clone(),
                            a: show(&c.a),
                            b: show(&c.b),
                            hints: hints::for_record(s.kind, &name, c),
                        });
                    }
                    if s.omitted > 0 {
                        node.notes
                            .push(format!("{} more differing field(s) not listed", s.omitted));
                    }
                    trees = s.layouts.map(|(la, lb)| {
                        let tree = |layout: Layout, s: &Source| LayoutTree {
                            layout,
                            source: s.clone(),
                            nested: vec![],
                        };
                        (tree(la, a), tree(lb, b))
                    });
                }
            }
            Err(e) => node.notes.push(format!("could not read content: {e}")),
        }
        node.notes.insert(
            0,
            format!(
                "{} of {} bytes differ (sizes {} and {})",
                runs.total(),
                runs.size_a.max(runs.size_b),
                runs.size_a,
                runs.size_b
            ),
        );
        trees
    }

    /// Parses both sides and compares members and derived streams; returns the layouts.
    fn container(
        &self,
        node: &mut Node,
        f: Format,
        a: &Source,
        b: &Source,
        runs: &Runs,
        depth: usize,
    ) -> Option<(LayoutTree, LayoutTree)> {
        let limits = &self.opts.limits;
        let (pa, pb) = rayon::join(
            || containers::parse(f, a, limits),
            || containers::parse(f, b, limits),
        );
        let (pa, pb) = match (pa, pb) {
            (Ok(pa), Ok(pb)) => (pa, pb),
            (ra, rb) => {
                for (side, r) in [("A", &ra), ("B", &rb)] {
                    if let Err(e) = r {
                        node.notes
                            .push(format!("{side}: cannot parse as {}: {e}", f.name()));
                    }
                }
                self.leaf(node, a, b, runs, Format::Unknown);
                node.kind = f.name().into();
                return None;
            }
        };
        node.kind = if pa.kind == pb.kind {
            pa.kind.clone()
        } else {
            format!("{} / {}", pa.kind, pb.kind)
        };
        for (side, p) in [("A", &pa), ("B", &pb)] {
            for n in &p.notes {
                node.notes.push(format!("{side}: {n}"));
            }
        }
        let (na, nb) = self.members(node, &pa, &pb, a, b, runs, depth);
        // Members (and their metadata) are done with: let them go before the tables. (Fields
        // left behind by a destructuring `..` would live until the end of this function.)
        let Parsed {
            layout: la,
            derived: da,
            entries,
            ..
        } = pa;
        drop(entries);
        let Parsed {
            layout: lb,
            derived: db,
            entries,
            ..
        } = pb;
        drop(entries);
        self.derived(node, da, db, depth);
        Some((
            LayoutTree {
                layout: la,
                source: a.clone(),
                nested: na,
            },
            LayoutTree {
                layout: lb,
                source: b.clone(),
                nested: nb,
            },
        ))
    }

    /// Matches members by path and compares each pair; returns nested layouts for windows.
    #[allow(clippy::too_many_arguments)]
    fn members(
        &self,
        node: &mut Node,
        pa: &Parsed,
        pb: &Parsed,
        a: &Source,
        b: &Source,
        runs: &Runs,
        depth: usize,
    ) -> (Vec<Nested>, Vec<Nested>) {
        let index_b: HashMap<&str, usize> = pb
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.path.as_str(), i))
            .collect();
        let index_a: HashMap<&str, usize> = pa
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.path.as_str(), i))
            .collect();
        let mut pairs: Vec<(Option<usize>, Option<usize>)> = pa
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (Some(i), index_b.get(e.path.as_str()).copied()))
            .collect();
        pairs.extend(
            pb.entries
                .iter()
                .enumerate()
                .filter(|(_, e)| !index_a.contains_key(e.path.as_str()))
                .map(|(j, _)| (None, Some(j))),
        );

        if pa.ordered && pb.ordered {
            let order: Vec<usize> = pairs.iter().filter_map(|p| p.0.and(p.1)).collect();
            if let Some(k) = order.windows(2).position(|w| w[0] > w[1]) {
                let first = &pb.entries[order[k + 1]].path;
                node.notes.push(format!(
                    "members are in a different order (first out of order in B: {first})"
                ));
                node.hints.push(hints::for_order());
            }
        }

        let same = match (&pa.opener, &pb.opener) {
            (Opener::Squashfs(ra), Opener::Squashfs(rb)) => {
                let matched: Vec<(usize, usize)> =
                    pairs.iter().filter_map(|p| Some((p.0?, p.1?))).collect();
                crate::squash::verdicts(&matched, &pa.entries, &pb.entries, ra, rb, runs).same
            }
            _ => HashMap::new(),
        };
        let ctx = Container {
            parent: &node.location,
            pa,
            pb,
            a,
            b,
            runs,
            same,
            depth,
        };
        let results: Vec<Member> = pairs
            .par_iter()
            .map(|&(ia, ib)| match (ia, ib) {
                (Some(i), Some(j)) => self.member(&ctx, i, j),
                (Some(i), None) => (
                    Some({
                        let mut n = presence(
                            &self.opts.offenders,
                            &node.location,
                            &pa.entries[i],
                            Change::Removed,
                        );
                        n.writers = writers_of(&self.opts.writers, &pa.kind, &pa.entries[i].path);
                        n
                    }),
                    None,
                ),
                (None, Some(j)) => (
                    Some({
                        let mut n = presence(
                            &self.opts.offenders,
                            &node.location,
                            &pb.entries[j],
                            Change::Added,
                        );
                        n.writers = writers_of(&self.opts.writers, &pb.kind, &pb.entries[j].path);
                        n
                    }),
                    None,
                ),
                (None, None) => (None, None),
            })
            // Most members are equal: keep only the others (a `Member` is large).
            .filter(|m| m.0.is_some() || m.1.is_some())
            .collect();
        let (mut na, mut nb) = (Vec::new(), Vec::new());
        for (n, nested) in results {
            if let Some(n) = n {
                node.children.push(n);
            }
            if let Some((x, y)) = nested {
                na.push(x);
                nb.push(y);
            }
        }
        (na, nb)
    }

    fn member(&self, ctx: &Container<'_>, i: usize, j: usize) -> Member {
        let Container {
            parent,
            pa,
            pb,
            a,
            b,
            runs,
            ref same,
            depth,
        } = *ctx;
        let (ea, eb) = (&pa.entries[i], &pb.entries[j]);
        let location = join(parent, &ea.path);
        let mut fields = meta_diff(&pa.kind, ea, eb, &self.hctx);
        let mut notes = Vec::new();
        let mut outcome = Outcome::same();
        // Extents of a windowed member on both sides, for nesting its layouts.
        let mut windowed: Option<(Extents, Extents)> = None;
        match (&ea.content, &eb.content) {
            (Content::Extents(xa), Content::Extents(xb))
                if xa == xb && !xa.iter().any(|r| runs.intersects(r)) => {}
            (Content::Extents(xa), Content::Extents(xb)) => {
                let (wa, wb) = (window(a, xa), window(b, xb));
                let (known, coords) = if xa == xb {
                    (
                        runs.window(xa, &**a, &**b, wa.size(), wb.size()).ok(),
                        Coords::InParent,
                    )
                } else {
                    (None, Coords::Own)
                };
                outcome = self.stream(&ea.path, &location, wa, wb, known, coords, depth + 1, None);
                windowed = Some((xa.clone(), xb.clone()));
            }
            (Content::Squashfs(da), Content::Squashfs(db)) => {
                let readers = match (&pa.opener, &pb.opener) {
                    (Opener::Squashfs(ra), Opener::Squashfs(rb)) => Some((ra, rb)),
                    _ => None,
                };
                // Stored bytes were compared first (see `squash`); open only what differs.
                if let Some((ra, rb)) = readers.filter(|_| !same.get(&i).copied().unwrap_or(false))
                {
                    match (ra.open(da), rb.open(db)) {
                        (Ok(sa), Ok(sb)) => {
                            outcome = self.stream(
                                &ea.path,
                                &location,
                                sa,
                                sb,
                                None,
                                Coords::Own,
                                depth + 1,
                                None,
                            )
                        }
                        (ra, rb) => notes.extend(open_errors(ra, rb)),
                    }
                }
            }
            _ => match (
                containers::open(&pa.opener, a, &pa.entries, i),
                containers::open(&pb.opener, b, &pb.entries, j),
            ) {
                (Ok(None), Ok(None)) => {}
                (Ok(sa), Ok(sb)) => {
                    // Content on one side only (a file that became a symlink) compares
                    // against nothing.
                    let empty = || Arc::new(MemSource(Vec::new())) as Source;
                    let (sa, sb) = (sa.unwrap_or_else(empty), sb.unwrap_or_else(empty));
                    outcome = self.stream(
                        &ea.path,
                        &location,
                        sa,
                        sb,
                        None,
                        Coords::Own,
                        depth + 1,
                        None,
                    );
                }
                (ra, rb) => notes.extend(open_errors(ra, rb)),
            },
        }
        if fields.is_empty() && outcome.node.is_none() && notes.is_empty() {
            return (None, None);
        }
        let content_differs = outcome.node.is_some();
        let mut n = outcome
            .node
            .take()
            .unwrap_or_else(|| Node::new(&ea.path, &location, ea.kind.as_str(), Change::Modified));
        n.name = ea.path.clone();
        n.fields.append(&mut fields);
        n.notes.extend(notes);
        // Known offenders are about content; a member whose record dates alone differ is not
        // one of them.
        let mut h = hints::for_path(&self.opts.offenders, &ea.path, content_differs);
        h.append(&mut n.hints);
        n.hints = h;
        n.writers = writers_of(&self.opts.writers, &pa.kind, &ea.path);
        let nested = match (windowed, outcome.trees) {
            (Some((xa, xb)), Some((ta, tb))) => {
                let label = format!("content of {}", ea.path);
                Some((
                    Nested {
                        extents: xa,
                        label: label.clone(),
                        tree: ta,
                    },
                    Nested {
                        extents: xb,
                        label,
                        tree: tb,
                    },
                ))
            }
            _ => None,
        };
        (Some(n), nested)
    }

    fn derived(&self, node: &mut Node, da: Vec<Derived>, db: Vec<Derived>, depth: usize) {
        let mut db: Vec<Option<Derived>> = db.into_iter().map(Some).collect();
        let mut pairs = Vec::new();
        for x in da {
            let k = db
                .iter()
                .position(|y| y.as_ref().is_some_and(|y| y.name() == x.name()));
            match k.and_then(|k| db[k].take()) {
                Some(y) => pairs.push((x, y)),
                None => node.notes.push(format!("{} exists in A only", x.name())),
            }
        }
        for y in db.into_iter().flatten() {
            node.notes.push(format!("{} exists in B only", y.name()));
        }
        let out: Vec<Outcome> = pairs
            .into_par_iter()
            .map(|(x, y)| {
                let name = x.name().to_string();
                let loc = join(&node.location, &name);
                match (x, y) {
                    (
                        Derived::Table {
                            data: a,
                            layout: la,
                            ..
                        },
                        Derived::Table {
                            data: b,
                            layout: lb,
                            ..
                        },
                    ) => self.stream(
                        &name,
                        &loc,
                        a,
                        b,
                        None,
                        Coords::Own,
                        depth + 1,
                        Some((la, lb)),
                    ),
                    (Derived::Stream { data: a, .. }, Derived::Stream { data: b, .. }) => {
                        self.stream(&name, &loc, a, b, None, Coords::Own, depth + 1, None)
                    }
                    _ => Outcome::same(),
                }
            })
            .collect();
        node.children.extend(out.into_iter().filter_map(|o| o.node));
    }
}

fn window(src: &Source, x: &[std::ops::Range<u64>]) -> Source {
    Arc::new(isoforge_formats::io::Window::new(src.clone(), x))
}

/// Who the build recorded as writing `path` of a container of kind `kind`: the image is the
/// squashfs (or a directory, e.g. an unpacked rootfs), the ISO tree the ISO 9660 image.
/// Members of anything else (an initramfs, a tar) are not the build's paths.
fn writers_of(
    writers: &isoforge_offenders::writers::Writers,
    kind: &str,
    path: &str,
) -> Vec<String> {
    use isoforge_offenders::writers::Tree;
    let tree = if kind.starts_with("squashfs image") || kind == "directory" {
        Tree::Image
    } else if kind == "ISO 9660 image" {
        Tree::Iso
    } else {
        return Vec::new();
    };
    writers.of(tree, path).to_vec()
}

/// A member present on one side only.
fn presence(table: &isoforge_offenders::Table, parent: &str, e: &Entry, change: Change) -> Node {
    let mut n = Node::new(&e.path, join(parent, &e.path), e.kind.as_str(), change);
    let side = if change == Change::Added { "B" } else { "A" };
    let mut desc = format!("only in {side}: {}", e.kind.as_str());
    if e.kind == isoforge_formats::EntryKind::File {
        desc.push_str(&format!(", {} bytes", e.size));
    }
    for m in &e.meta {
        if matches!(
            m.name.as_ref(),
            "mode" | "mtime" | "symlink target" | "uid" | "gid"
        ) {
            desc.push_str(&format!(", {} {}", m.name, m.value));
        }
    }
    n.notes.push(desc);
    n.hints = hints::for_presence(table, &e.path);
    n
}

/// Metadata differences between two entries, with hints.
fn meta_diff(container: &str, a: &Entry, b: &Entry, ctx: &HintCtx) -> Vec<FieldChange> {
    let mut out = Vec::new();
    if a.kind != b.kind {
        out.push(FieldChange {
            field: "type".into(),
            a: a.kind.as_str().into(),
            b: b.kind.as_str().into(),
            hints: Vec::new(),
        });
    }
    if a.size != b.size
        && a.kind == isoforge_formats::EntryKind::File
        && !a.meta.iter().any(|m| m.name == "size")
    {
        out.push(FieldChange {
            field: "size".into(),
            a: a.size.to_string(),
            b: b.size.to_string(),
            hints: Vec::new(),
        });
    }
    let mut names: Vec<&str> = a.meta.iter().map(|m| m.name.as_ref()).collect();
    for m in &b.meta {
        if !names.contains(&m.name.as_ref()) {
            names.push(m.name.as_ref());
        }
    }
    for name in names {
        let ma = a.meta.iter().find(|m| m.name == name);
        let mb = b.meta.iter().find(|m| m.name == name);
        let (va, vb) = (ma.map(|m| &m.value), mb.map(|m| &m.value));
        if va == vb {
            continue;
        }
        let role = ma.or(mb).map_or(isoforge_formats::Role::Data, |m| m.role);
        let hints = match (va, vb) {
            (Some(x), Some(y)) => hints::for_field(
                &format!("{container} member {}", a.path),
                name,
                role,
                x,
                y,
                ctx,
            ),
            _ => Vec::new(),
        };
        let show = |v: Option<&isoforge_formats::Value>| {
            v.map_or_else(|| "(absent)".to_string(), |v| v.to_string())
        };
        out.push(FieldChange {
            field: name.to_string(),
            a: show(va),
            b: show(vb),
            hints,
        });
    }
    out
}

impl Engine<'_> {
    /// Compares two directory trees (no bytes of their own: members only).
    pub fn directories(&self, name: &str, pa: Parsed, pb: Parsed) -> Option<Node> {
        let mut node = Node::new(name, name, "directory", Change::Modified);
        let none: Source = Arc::new(MemSource(Vec::new()));
        let runs = Runs::default();
        self.members(&mut node, &pa, &pb, &none, &none, &runs, 0);
        (!node.children.is_empty() || !node.notes.is_empty()).then_some(node)
    }
}

/// The messages of whichever side could not be opened, as notes.
fn open_errors<A, B>(
    a: Result<A, isoforge_formats::Error>,
    b: Result<B, isoforge_formats::Error>,
) -> impl Iterator<Item = String> {
    [a.err(), b.err()].into_iter().flatten().map(|e| e.message)
}
