//! Causes first: splits a report's differences into root differences, grouped by their
//! cause (hint), and consequences (moved data, offsets, sizes, counts, checksums), folded into
//! one group per kind, so the reader meets what to fix before what follows from it.

use std::collections::BTreeSet;

use crate::report::{
    Attribution, CauseGroup, Change, ConsequenceGroup, ContentDiff, Hint, LOCATION_SEP, Node,
    Place, Report, RootDifference,
};
use crate::textfmt::Kind;

/// Root differences kept per group (all are counted).
const PLACES: usize = 8;
/// Shifts listed for moved data.
const SHIFTS: usize = 6;

fn is_consequence(h: &Hint) -> bool {
    matches!(h.id, "consequence" | "moved" | "inode-numbers")
}

/// The first hint naming a cause, or `None` when every hint is a consequence (or none).
fn cause_of(hints: &[Hint]) -> Option<&Hint> {
    hints.iter().find(|h| !is_consequence(h))
}

#[derive(Default)]
struct Groups {
    causes: Vec<CauseGroup>,
    /// The rank of each shown place, per group.
    ranks: Vec<Vec<u8>>,
    consequences: Vec<ConsequenceGroup>,
}

impl Groups {
    /// Adds a root difference; `rank` orders the places shown (lower first).
    fn root(&mut self, hint: Option<&Hint>, d: RootDifference) {
        self.ranked(hint, d, 0)
    }

    fn ranked(&mut self, hint: Option<&Hint>, d: RootDifference, rank: u8) {
        let (id, cause, remedy) = match hint {
            Some(h) => (h.id.to_string(), h.cause.clone(), h.remedy.clone()),
            None => (
                "unknown".to_string(),
                "no known cause".to_string(),
                "look at the values below; the full report (--full) has the context".to_string(),
            ),
        };
        let i = match self
            .causes
            .iter()
            .position(|g| g.id == id && g.cause == cause)
        {
            Some(i) => i,
            None => {
                self.causes.push(CauseGroup {
                    id,
                    cause,
                    remedy,
                    count: 0,
                    places: Vec::new(),
                });
                self.ranks.push(Vec::new());
                self.causes.len() - 1
            }
        };
        let (g, ranks) = (&mut self.causes[i], &mut self.ranks[i]);
        g.count += 1;
        // Show different things first: one place per member or structure, the most telling
        // first (a member's own field before the same fact seen in raw bytes; change and
        // access times last: they follow from handling).
        let f = d.field.as_deref().unwrap_or("").to_lowercase();
        let rank = rank + 2 * u8::from(f.contains("change time") || f.contains("access time"));
        let subject = |d: &RootDifference, rank: u8| {
            let f = d.field.as_deref().unwrap_or("");
            if f.contains(LOCATION_SEP) {
                // A record of a text format (`Build-Tools › apt`): each is its own place.
                format!("{} {f}", d.location)
            } else if rank % 2 == 0 {
                d.location.clone()
            } else {
                format!("{} {}", d.location, f.split(", ").next().unwrap_or(f))
            }
        };
        if g.places
            .iter()
            .zip(ranks.iter())
            .any(|(p, &r)| subject(p, r) == subject(&d, rank))
        {
            return;
        }
        let at = ranks.iter().position(|&r| r > rank).unwrap_or(ranks.len());
        if at < PLACES {
            g.places.insert(at, d);
            ranks.insert(at, rank);
            g.places.truncate(PLACES);
            ranks.truncate(PLACES);
        }
    }

    fn consequence(&mut self, h: &Hint, example: String, bytes: u64, shift: Option<i64>) {
        let g = match self.consequences.iter_mut().position(|g| g.id == h.id) {
            Some(i) => &mut self.consequences[i],
            None => {
                let what = match h.id {
                    "moved" => "data that only moved: something before it grew or shrank".into(),
                    "compressed" => {
                        "compressed bytes whose decompressed content is compared on its own".into()
                    }
                    "consequence" => {
                        "locations, sizes, counts and checksums that follow from other differences"
                            .into()
                    }
                    _ => h.cause.clone(),
                };
                self.consequences.push(ConsequenceGroup {
                    id: h.id.to_string(),
                    what,
                    count: 0,
                    bytes: 0,
                    shifts: Vec::new(),
                    example,
                });
                self.consequences.last_mut().expect("just pushed")
            }
        };
        g.count += 1;
        g.bytes += bytes;
        if let Some(s) = shift.filter(|s| !g.shifts.contains(s)) {
            if g.shifts.len() < SHIFTS {
                g.shifts.push(s);
            }
        }
    }
}

fn is_text_format(kind: &str) -> bool {
    [
        Kind::Deb822,
        Kind::Sums,
        Kind::Json,
        Kind::Lock,
        Kind::KeyValue,
        Kind::Passwd,
        Kind::Group,
    ]
    .iter()
    .any(|k| k.name() == kind)
}

fn place_value(p: &Option<Place>) -> Option<String> {
    match p {
        Some(p) => p.value.clone(),
        None => Some("(no bytes here)".into()),
    }
}

fn range_root(n: &Node, r: &Attribution) -> RootDifference {
    let p = r.a.as_ref().or(r.b.as_ref());
    RootDifference {
        location: n.location.clone(),
        field: p.map(Place::label),
        a: place_value(&r.a),
        b: place_value(&r.b),
        written_by: n.writers.clone(),
    }
}

/// A consequence hint for a range whose structure only reflects other data.
fn derived_role(p: &Option<Place>) -> Option<Hint> {
    let role = p.as_ref()?.role.as_str();
    match role {
        "compressed" => Some(Hint {
            id: "compressed",
            cause: "compressed bytes: they differ because what they hold differs".into(),
            remedy: "fix the differences of the decompressed content (listed on its own)".into(),
        }),
        "size" | "pointer" | "count" | "checksum" | "padding" => Some(Hint {
            id: "consequence",
            cause: "a location, size, count or checksum".into(),
            remedy: "fix the other differences; this one follows from them".into(),
        }),
        _ => None,
    }
}

/// The first removed and added lines of a text diff, to show next to "content".
fn first_lines(n: &Node) -> Option<(String, String)> {
    let Some(ContentDiff::Text { unified, .. }) = &n.content else {
        return None;
    };
    let first = |sign: char, header: &str| {
        unified
            .lines()
            .find(|l| l.starts_with(sign) && !l.starts_with(header))
            .map(|l| clip(&l[1..]))
    };
    let (a, b) = (first('-', "---"), first('+', "+++"));
    (a.is_some() || b.is_some()).then(|| {
        let none = || "(no line)".to_string();
        (a.unwrap_or_else(none), b.unwrap_or_else(none))
    })
}

fn clip(s: &str) -> String {
    const MAX: usize = 100;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Groups the differences of `r` (hints already collected).
pub fn group(r: &Report) -> (Vec<CauseGroup>, Vec<ConsequenceGroup>) {
    let mut g = Groups::default();
    let nodes = r.nodes();
    // Members described by a node of their own: the parent's ranges inside them repeat it.
    let members: BTreeSet<String> = nodes
        .iter()
        .map(|n| format!("content of {}", n.name))
        .collect();
    let names: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    // A structure named after a differing member ("inode of /etc/x", "tar header of /etc/x")
    // holds that member's fields in raw form: its node already lists them.
    let of_member = |p: &Option<Place>| {
        p.as_ref().is_some_and(|p| {
            p.structure.iter().any(|s| {
                s.rsplit_once(" of ")
                    .is_some_and(|(_, m)| names.contains(m))
            })
        })
    };
    for n in &nodes {
        let at = |field: Option<String>, a: Option<String>, b: Option<String>| RootDifference {
            location: n.location.clone(),
            field,
            a,
            b,
            written_by: n.writers.clone(),
        };
        if n.change != Change::Modified {
            let side = if n.change == Change::Added { "B" } else { "A" };
            let note = n.notes.first().cloned();
            let what = note.unwrap_or_else(|| format!("only in {side}"));
            g.root(cause_of(&n.hints), at(None, Some(what), None));
            continue;
        }
        // A node's own hints (known offender paths, changed text lines, entry order).
        let own = cause_of(&n.hints);
        let size_follows = Hint {
            id: "consequence",
            cause: "a size that follows from the content".into(),
            remedy: String::new(),
        };
        for f in &n.fields {
            let d = at(Some(f.field.clone()), Some(f.a.clone()), Some(f.b.clone()));
            match (cause_of(&f.hints), f.hints.first()) {
                (Some(h), _) => g.root(Some(h), d),
                (None, Some(h)) => g.consequence(h, d.line(), 0, None),
                // The size of a member whose content differs follows from it.
                (None, None) if f.field == "size" && n.content.is_some() => {
                    g.consequence(&size_follows, d.line(), 0, None)
                }
                // Fields of a known offender (a log's records) belong to its cause.
                (None, None) => g.root(own, d),
            }
        }
        if let Some(h) = own {
            let order = n.notes.iter().find(|x| x.contains("order")).cloned();
            let d = match (order, first_lines(n)) {
                (Some(o), _) => at(None, Some(o), None),
                (None, Some((a, b))) => at(Some("content".into()), Some(a), Some(b)),
                (None, None) => at(
                    None,
                    n.content.is_some().then(|| "content differs".to_string()),
                    None,
                ),
            };
            g.root(Some(h), d);
        } else if n.content.is_some() && (!is_text_format(&n.kind) || n.fields.is_empty()) {
            let d = match first_lines(n) {
                Some((a, b)) => at(Some("content".into()), Some(a), Some(b)),
                None => at(None, Some("content differs".into()), None),
            };
            g.root(None, d);
        }
        let Some(b) = &n.bytes else { continue };
        if !is_text_format(&n.kind) {
            for x in &b.ranges {
                let inner = |p: &Option<Place>| {
                    p.as_ref()
                        .and_then(|p| p.structure.first())
                        .is_some_and(|s| members.contains(s))
                };
                match (cause_of(&x.hints), x.hints.first()) {
                    (Some(h), _) => g.ranked(Some(h), range_root(n, x), 1),
                    (None, Some(h)) => {
                        let ex =
                            format!("{}{LOCATION_SEP}{}", n.location, super::render::describe(x));
                        g.consequence(h, ex, x.differing, x.moved_by)
                    }
                    // Already reported by the member's own node.
                    (None, None)
                        if inner(&x.a) || inner(&x.b) || of_member(&x.a) || of_member(&x.b) => {}
                    // Compressed bytes, sizes and pointers follow from what they hold.
                    (None, None) if derived_role(&x.a).or(derived_role(&x.b)).is_some() => {
                        let h = derived_role(&x.a).or(derived_role(&x.b)).expect("checked");
                        let ex =
                            format!("{}{LOCATION_SEP}{}", n.location, super::render::describe(x));
                        g.consequence(&h, ex, x.differing, x.moved_by)
                    }
                    (None, None) => g.ranked(None, range_root(n, x), 1),
                }
            }
        }
        let unexplained = b.unattributed.len() as u64 + b.unattributed_omitted;
        // A text diff explains its own bytes.
        let text = matches!(n.content, Some(ContentDiff::Text { .. }));
        if unexplained > 0 && !text {
            let bytes: u64 = b.unattributed.iter().map(|u| u.differing).sum();
            g.root(
                None,
                at(
                    Some("bytes no structure explains".into()),
                    Some(format!(
                        "{unexplained} range(s), {bytes}+ byte(s) (hex windows in --full)"
                    )),
                    None,
                ),
            );
        }
    }
    // Unknown causes last; the rest by how many places they explain.
    g.causes
        .sort_by_key(|c| (c.id == "unknown", std::cmp::Reverse(c.count)));
    (g.causes, g.consequences)
}

impl Report {
    /// One line saying how this pair differs, for a list of artefacts: "identical",
    /// "differs only in Build-Tools (apt 2.6.1 vs 2.6.2)", "differs only as a consequence
    /// (the checksums of BUILD_INFO)" or "differs in 12 places (causes: fat-serial, ...)".
    /// `also_differing` names files that differ elsewhere: a checksum list's lines for them
    /// are consequences.
    pub fn brief(&self, also_differing: &[&str]) -> String {
        if self.identical {
            return "identical".into();
        }
        let basename = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
        let sums = self
            .root
            .as_ref()
            .is_some_and(|n| n.kind == Kind::Sums.name());
        let mut heads: Vec<(String, Vec<String>)> = Vec::new();
        let mut consequences = Vec::new();
        let mut folded = 0usize;
        let total: usize = self.causes.iter().map(|c| c.count).sum();
        for p in self.causes.iter().flat_map(|c| &c.places) {
            let field = p.field.clone().unwrap_or_default();
            // The file a checksum line names: a sums line, or BUILD_INFO's Checksums-* entry.
            let named = if sums {
                Some(field.as_str())
            } else {
                field
                    .split(LOCATION_SEP)
                    .nth(1)
                    .filter(|_| field.to_ascii_lowercase().starts_with("checksums-"))
            };
            if let Some(f) =
                named.filter(|f| also_differing.iter().any(|d| basename(d) == basename(f)))
            {
                let f = basename(f);
                folded += 1;
                if !consequences.contains(&f) {
                    consequences.push(f);
                }
                continue;
            }
            let vals = match (&p.a, &p.b) {
                (Some(a), Some(b)) => format!("{a} vs {b}"),
                (a, b) => a.clone().or(b.clone()).unwrap_or_default(),
            };
            let (head, item) = match field.split_once(LOCATION_SEP) {
                Some((h, rest)) => (h.to_string(), format!("{rest} {vals}")),
                None if field.is_empty() => (basename(&p.location), vals),
                None => (field.clone(), vals),
            };
            match heads.iter_mut().find(|(h, _)| *h == head) {
                Some((_, items)) => items.push(item),
                None => heads.push((head, vec![item])),
            }
        }
        let shown: usize = heads.iter().map(|h| h.1.len()).sum::<usize>() + folded;
        if total == 0 || shown < total {
            if total == 0 {
                return "differs only as a consequence of other differences".into();
            }
            let ids: Vec<&str> = self.causes.iter().map(|c| c.id.as_str()).collect();
            return format!("differs in {total} places (causes: {})", ids.join(", "));
        }
        if heads.is_empty() {
            return format!(
                "differs only as a consequence (the checksums of {})",
                consequences.join(", ")
            );
        }
        let parts: Vec<String> = heads
            .iter()
            .map(|(h, items)| format!("{h} ({})", items.join(", ")))
            .collect();
        format!("differs only in {}", parts.join("; "))
    }
}
