//! The report: a tree of [`Node`]s (one per differing stream or member), each with its field
//! changes, byte attribution, content diff, notes and hints. Serialises to JSON as is; the
//! text, Markdown and HTML renderings live in [`crate::render`].

use serde::Serialize;

/// Separator between the parts of a [`Node::location`].
pub const LOCATION_SEP: &str = " › ";

/// The outcome of comparing two inputs.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub a: String,
    pub b: String,
    pub identical: bool,
    /// One line: identical, or how many bytes differ and where the first differences are.
    pub summary: String,
    /// Differing bytes of the outer inputs (0 for directories).
    pub differing_bytes: u64,
    /// How many of those lie in a named structure on each side.
    pub attributed_bytes: u64,
    pub source_date_epoch: Option<i64>,
    /// The root differences, grouped by cause: what to fix.
    pub causes: Vec<CauseGroup>,
    /// Differences that follow from others (moved data, offsets, sizes, counts, checksums),
    /// one group per kind.
    pub consequences: Vec<ConsequenceGroup>,
    /// The full detail: every differing stream and member.
    pub root: Option<Node>,
    /// Every distinct hint in the tree, with the number of places it applies to.
    pub hints: Vec<HintSummary>,
}

/// One compared pair: an input, a member, or a derived stream (decompressed data or table).
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    /// Path within the parent container, or the input name.
    pub name: String,
    /// Full location from the outer input, e.g. `a.iso › /live/filesystem.squashfs › /etc/x`.
    pub location: String,
    /// What the pair is: "ISO 9660 image", "squashfs image (xz, 1048576-byte blocks)", "file"...
    pub kind: String,
    pub change: Change,
    pub fields: Vec<FieldChange>,
    pub bytes: Option<ByteReport>,
    pub content: Option<ContentDiff>,
    pub notes: Vec<String>,
    pub hints: Vec<Hint>,
    /// The overlays or hooks the build recorded as writing this member
    /// ([`isoforge_offenders::writers`]), first writer first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub writers: Vec<String>,
    pub children: Vec<Node>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Modified,
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
}

/// A metadata item that differs between the two sides of a member.
#[derive(Clone, Debug, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub a: String,
    pub b: String,
    pub hints: Vec<Hint>,
}

/// Where the differing bytes of a stream are.
#[derive(Clone, Debug, Serialize)]
pub struct ByteReport {
    pub size_a: u64,
    pub size_b: u64,
    pub differing: u64,
    pub attributed: u64,
    /// How many places each kind of field differs in (all of them, including omitted ones).
    pub by_field: Vec<FieldCount>,
    /// A sample of the attributions: every kind of field, each up to a per-kind limit.
    pub ranges: Vec<Attribution>,
    /// Attribution groups left out of `ranges` (their bytes are still counted above).
    pub ranges_omitted: u64,
    pub unattributed: Vec<Unattributed>,
    pub unattributed_omitted: u64,
}

/// Differences of one kind of field (a structure kind such as "directory record" and a field
/// such as "recording date").
#[derive(Clone, Debug, Serialize)]
pub struct FieldCount {
    pub structure: String,
    pub field: Option<String>,
    pub places: u64,
    pub differing: u64,
    /// The first place, in full.
    pub example: String,
}

/// A range of differing bytes and the innermost structure holding it on each side.
#[derive(Clone, Debug, Serialize)]
pub struct Attribution {
    pub offset: u64,
    pub len: u64,
    pub differing: u64,
    /// Set when both sides hold the same structure at different offsets: B's minus A's.
    pub moved_by: Option<i64>,
    /// `None` where that side has no bytes (it is shorter) or no structure.
    pub a: Option<Place>,
    pub b: Option<Place>,
    pub hints: Vec<Hint>,
}

/// A structure (outermost first) and, when known, the field and its decoded value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Place {
    pub structure: Vec<String>,
    pub field: Option<String>,
    pub value: Option<String>,
    pub role: String,
}

impl Place {
    /// `content of /x › inode table block … › field`
    pub fn label(&self) -> String {
        let mut s = self.structure.join(" › ");
        if let Some(f) = &self.field {
            s.push_str(", ");
            s.push_str(f);
        }
        s
    }
}

/// Differing bytes that no structure explains, with both sides' bytes around them.
#[derive(Clone, Debug, Serialize)]
pub struct Unattributed {
    pub offset: u64,
    pub len: u64,
    pub differing: u64,
    pub hex_a: String,
    pub hex_b: String,
}

/// How the content of a leaf differs.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ContentDiff {
    /// A unified diff of text.
    Text { unified: String, truncated: bool },
    /// Hex windows around the first differences of binary data.
    Hex { windows: Vec<HexWindow>, more: u64 },
}

#[derive(Clone, Debug, Serialize)]
pub struct HexWindow {
    pub offset: u64,
    pub a: String,
    pub b: String,
}

/// A known cause of a difference and how to remove it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Hint {
    pub id: &'static str,
    pub cause: String,
    pub remedy: String,
}

/// Root differences with one cause (or none known), and the remedy.
#[derive(Clone, Debug, Serialize)]
pub struct CauseGroup {
    /// The hint's id, or `unknown` when no known cause matches.
    pub id: String,
    pub cause: String,
    pub remedy: String,
    /// How many root differences the group has (all of them).
    pub count: usize,
    /// The first few, in full.
    pub places: Vec<RootDifference>,
}

/// One root difference: the innermost location and field, and both values.
#[derive(Clone, Debug, Serialize)]
pub struct RootDifference {
    pub location: String,
    pub field: Option<String>,
    pub a: Option<String>,
    pub b: Option<String>,
    /// The overlays or hooks that wrote the member, as the build recorded them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub written_by: Vec<String>,
}

impl RootDifference {
    /// `location › field: a vs b`
    pub fn line(&self) -> String {
        let mut s = self.location.clone();
        if let Some(f) = &self.field {
            s.push_str(LOCATION_SEP);
            s.push_str(f);
        }
        match (&self.a, &self.b) {
            (Some(a), Some(b)) => s.push_str(&format!(": {a} vs {b}")),
            (Some(a), None) => s.push_str(&format!(": {a}")),
            (None, Some(b)) => s.push_str(&format!(": {b}")),
            (None, None) => {}
        }
        if !self.written_by.is_empty() {
            s.push_str(&format!(" (written by {})", written_by(&self.written_by)));
        }
        s
    }
}

/// `the hook hooks/10-x.hook.chroot, then the overlay includes.chroot`.
pub fn written_by(writers: &[String]) -> String {
    writers
        .iter()
        .map(|w| {
            if w.starts_with("hooks/") {
                format!("the hook {w}")
            } else {
                format!("the overlay {w}")
            }
        })
        .collect::<Vec<_>>()
        .join(", then ")
}

/// Differences that follow from the root ones, folded into one line.
#[derive(Clone, Debug, Serialize)]
pub struct ConsequenceGroup {
    pub id: String,
    pub what: String,
    /// Places (fields and attributed ranges) in the group.
    pub count: usize,
    /// Differing bytes in those ranges.
    pub bytes: u64,
    /// For moved data: the distinct shifts (B's offset minus A's), a few of them.
    pub shifts: Vec<i64>,
    pub example: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct HintSummary {
    pub id: &'static str,
    pub cause: String,
    pub remedy: String,
    pub occurrences: usize,
    /// A few locations it applies to.
    pub examples: Vec<String>,
}

impl Report {
    pub(crate) fn build(
        a: &str,
        b: &str,
        root: Option<Node>,
        differing: u64,
        attributed: u64,
        sde: Option<i64>,
    ) -> Self {
        let mut r = Report {
            a: a.to_string(),
            b: b.to_string(),
            identical: root.is_none(),
            summary: String::new(),
            differing_bytes: differing,
            attributed_bytes: attributed,
            source_date_epoch: sde,
            causes: Vec::new(),
            consequences: Vec::new(),
            root,
            hints: Vec::new(),
        };
        if let Some(root) = r.root.as_mut() {
            mark_checksum_lines(root);
        }
        r.hints = r.collect_hints();
        (r.causes, r.consequences) = crate::causes::group(&r);
        r.summary = r.make_summary();
        r
    }

    fn make_summary(&self) -> String {
        let Some(root) = &self.root else {
            return format!("identical: {} and {} are the same", self.a, self.b);
        };
        let nodes = self.nodes();
        let members: Vec<&&Node> = nodes
            .iter()
            .filter(|n| n.children.is_empty() && !std::ptr::eq(**n, root))
            .collect();
        let mut s = String::from("different: ");
        if self.differing_bytes > 0 {
            let pct = 100.0 * self.attributed_bytes as f64 / self.differing_bytes as f64;
            s.push_str(&format!(
                "{} bytes differ, {} attributed ({pct:.1}%)",
                self.differing_bytes, self.attributed_bytes
            ));
        } else {
            s.push_str("contents differ");
        }
        if !members.is_empty() {
            let names: Vec<&str> = members
                .iter()
                .take(3)
                .map(|n| n.location.as_str())
                .collect();
            s.push_str(&format!(
                "; {} differing item(s): {}",
                members.len(),
                names.join(", ")
            ));
            if members.len() > 3 {
                s.push_str(", …");
            }
        }
        s
    }

    fn collect_hints(&self) -> Vec<HintSummary> {
        let mut out: Vec<HintSummary> = Vec::new();
        // Moved data is one hint, whatever the shift (the shifts are listed in its cause).
        let mut shifts: Vec<i64> = Vec::new();
        let mut add = |h: &Hint, place: &str| match out
            .iter_mut()
            .find(|x| x.id == h.id && (x.cause == h.cause || h.id == "moved"))
        {
            Some(x) => {
                x.occurrences += 1;
                if x.examples.len() < 5 && !x.examples.iter().any(|e| e == place) {
                    x.examples.push(place.to_string());
                }
            }
            None => out.push(HintSummary {
                id: h.id,
                cause: h.cause.clone(),
                remedy: h.remedy.clone(),
                occurrences: 1,
                examples: vec![place.to_string()],
            }),
        };
        for n in self.nodes() {
            for h in &n.hints {
                add(h, &n.location);
            }
            for f in &n.fields {
                for h in &f.hints {
                    add(h, &format!("{}: {}", n.location, f.field));
                }
            }
            if let Some(b) = &n.bytes {
                for r in &b.ranges {
                    let place =
                        r.a.as_ref()
                            .or(r.b.as_ref())
                            .map(Place::label)
                            .unwrap_or_default();
                    for h in &r.hints {
                        add(h, &place);
                    }
                    if let Some(d) = r.moved_by.filter(|d| !shifts.contains(d)) {
                        shifts.push(d);
                    }
                }
            }
        }
        if let Some(m) = out.iter_mut().find(|h| h.id == "moved") {
            let mut listed: Vec<String> = shifts.iter().take(8).map(|d| format!("{d:+}")).collect();
            if shifts.len() > 8 {
                listed.push("…".into());
            }
            m.cause = format!(
                "the same structures are at other offsets in B (shifted by {} bytes): something before them grew or shrank",
                listed.join(", ")
            );
        }
        // Derived consequences last: they are not causes.
        out.sort_by_key(|h| {
            (
                matches!(h.id, "consequence" | "moved"),
                std::cmp::Reverse(h.occurrences),
            )
        });
        out
    }

    pub fn is_identical(&self) -> bool {
        self.identical
    }

    /// The one-line summary.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// Every node, depth first.
    pub fn nodes(&self) -> Vec<&Node> {
        let mut out = Vec::new();
        if let Some(r) = &self.root {
            r.walk(&mut out);
        }
        out
    }
}

impl Node {
    pub(crate) fn new(
        name: impl Into<String>,
        location: impl Into<String>,
        kind: impl Into<String>,
        change: Change,
    ) -> Self {
        Self {
            name: name.into(),
            location: location.into(),
            kind: kind.into(),
            change,
            fields: Vec::new(),
            bytes: None,
            content: None,
            notes: Vec::new(),
            hints: Vec::new(),
            writers: Vec::new(),
            children: Vec::new(),
        }
    }

    fn walk<'a>(&'a self, out: &mut Vec<&'a Node>) {
        out.push(self);
        for c in &self.children {
            c.walk(out);
        }
    }

    /// A child by name.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Marks the lines of checksum lists (SHA256SUMS, BUILD_INFO's Checksums-*) that name a file
/// which differs too: they are consequences, not causes.
fn mark_checksum_lines(root: &mut Node) {
    let mut differing = std::collections::HashSet::new();
    // Every node in the report differs.
    fn names(n: &Node, out: &mut std::collections::HashSet<String>) {
        out.insert(basename(&n.name).to_string());
        for c in &n.children {
            names(c, out);
        }
    }
    names(root, &mut differing);
    fn mark(n: &mut Node, differing: &std::collections::HashSet<String>) {
        let own = basename(&n.name).to_string();
        let kind = n.kind.clone();
        for f in &mut n.fields {
            let Some(file) = checksum_subject(&kind, &f.field) else {
                continue;
            };
            let file = basename(file);
            if file != own && differing.contains(file) && f.hints.is_empty() {
                f.hints.push(crate::hints::checksum_of(file));
            }
        }
        for c in &mut n.children {
            mark(c, differing);
        }
    }
    mark(root, &differing);
}

fn basename(p: &str) -> &str {
    p.trim_end_matches('/').rsplit('/').next().unwrap_or(p)
}

/// The file a checksum-list field names, if the field is one.
fn checksum_subject<'a>(kind: &str, field: &'a str) -> Option<&'a str> {
    use crate::textfmt::Kind;
    if kind == Kind::Sums.name() {
        return Some(field);
    }
    if kind == Kind::Deb822.name() {
        let rest = field
            .split_once(LOCATION_SEP)
            .filter(|(f, _)| f.to_ascii_lowercase().starts_with("checksums-"))?
            .1;
        return Some(
            rest.rsplit_once(LOCATION_SEP)
                .filter(|(_, f)| matches!(*f, "sha256" | "size"))
                .map_or(rest, |(n, _)| n),
        );
    }
    None
}
