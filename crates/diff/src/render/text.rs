//! Plain text: an indented tree, one line per difference.

use std::io::{self, Write};

use super::{describe, percent};
use crate::report::{ContentDiff, Node, Report};

pub fn render(r: &Report, full: bool, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "isoforge diff\n  A: {}\n  B: {}", r.a, r.b)?;
    writeln!(out, "{}", r.summary)?;
    if let Some(sde) = r.source_date_epoch {
        writeln!(out, "SOURCE_DATE_EPOCH: {sde}")?;
    }
    causes(r, out)?;
    if !full {
        if r.root.is_some() {
            writeln!(
                out,
                "\nFull detail (every stream, member, field and byte range): add --full"
            )?;
        }
        return Ok(());
    }
    if let Some(root) = &r.root {
        writeln!(out)?;
        node(root, 0, out)?;
    }
    if !r.hints.is_empty() {
        writeln!(out, "\nHints (known causes and remedies):")?;
        for h in &r.hints {
            writeln!(
                out,
                "  [{}] {} ({} place(s), e.g. {})",
                h.id,
                h.cause,
                h.occurrences,
                h.examples.first().map_or("", String::as_str)
            )?;
            writeln!(out, "      remedy: {}", h.remedy)?;
        }
    }
    Ok(())
}

/// Lines the default report may use: one screen.
const SCREEN: usize = 40;

/// How many places of each cause group fit on one screen: one each, then one more per group
/// in turn while lines are left.
fn places_shown(r: &Report) -> Vec<usize> {
    let n = r.causes.len();
    let header = 4 + usize::from(r.source_date_epoch.is_some()) + 2;
    let consequences = if r.consequences.is_empty() {
        0
    } else {
        r.consequences.len() + 2
    };
    // Each group takes two lines with its first place; more places while lines are left,
    // those of no known cause first (nothing else explains them), then in turn.
    let mut budget = SCREEN.saturating_sub(header + 2 * n + consequences + 2);
    let mut shown: Vec<usize> = r.causes.iter().map(|c| c.places.len().min(1)).collect();
    for (i, c) in r
        .causes
        .iter()
        .enumerate()
        .filter(|(_, c)| c.id == "unknown")
    {
        let add = c.places.len().saturating_sub(shown[i]).min(budget);
        shown[i] += add;
        budget -= add;
    }
    loop {
        let mut added = false;
        for (i, c) in r.causes.iter().enumerate() {
            if budget > 0 && shown[i] < c.places.len() {
                shown[i] += 1;
                budget -= 1;
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    shown
}

/// Root differences by cause, then consequences folded into one line each.
fn causes(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    if !r.causes.is_empty() {
        let total: usize = r.causes.iter().map(|c| c.count).sum();
        writeln!(out, "\nRoot differences ({total}, by cause):")?;
        let shown = places_shown(r);
        // The outer inputs' name starts every location: leave it out.
        let root = r
            .root
            .as_ref()
            .map(|n| format!("{}{}", n.location, crate::report::LOCATION_SEP));
        let short = |l: String| match &root {
            Some(p) if l.starts_with(p.as_str()) => l[p.len()..].to_string(),
            _ => l,
        };
        for (c, &per) in r.causes.iter().zip(&shown) {
            let more = c.count.saturating_sub(per.min(c.places.len()));
            let more = if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            };
            // Two lines a cause: the first place, then the cause and its remedy.
            let mut places = c.places.iter().take(per).map(|p| short(p.line()));
            let first = places.next().unwrap_or_default();
            writeln!(out, "  [{}] {first}{more}", c.id)?;
            for p in places {
                writeln!(out, "      {p}")?;
            }
            writeln!(out, "      {}; remedy: {}", c.cause, c.remedy)?;
        }
    }
    if !r.consequences.is_empty() {
        writeln!(out, "\nConsequences (they follow from the above):")?;
        for c in &r.consequences {
            let shifts = if c.shifts.is_empty() {
                String::new()
            } else {
                let s: Vec<String> = c.shifts.iter().map(|s| format!("{s:+}")).collect();
                format!(", shifted by {} bytes", s.join(", "))
            };
            let bytes = if c.bytes > 0 {
                format!(", {} byte(s)", c.bytes)
            } else {
                String::new()
            };
            writeln!(
                out,
                "  [{}] {} place(s){bytes}{shifts}: {} (e.g. {})",
                c.id, c.count, c.what, c.example
            )?;
        }
    }
    Ok(())
}

fn node(n: &Node, depth: usize, out: &mut dyn Write) -> io::Result<()> {
    let pad = "  ".repeat(depth);
    let change = match n.change {
        crate::Change::Modified => "differs",
        crate::Change::Added => "only in B",
        crate::Change::Removed => "only in A",
    };
    writeln!(out, "{pad}● {} [{}] {change}", n.name, n.kind)?;
    let pad = format!("{pad}  ");
    if !n.writers.is_empty() {
        writeln!(
            out,
            "{pad}written by {}",
            crate::report::written_by(&n.writers)
        )?;
    }
    for note in &n.notes {
        writeln!(out, "{pad}note: {note}")?;
    }
    for f in &n.fields {
        writeln!(
            out,
            "{pad}{}: {} vs {}{}",
            f.field,
            f.a,
            f.b,
            tags(&f.hints)
        )?;
    }
    if let Some(b) = &n.bytes {
        writeln!(
            out,
            "{pad}bytes: {} differ (sizes {} and {}), {} attributed ({})",
            b.differing,
            b.size_a,
            b.size_b,
            b.attributed,
            percent(b.attributed, b.differing)
        )?;
        if b.by_field.len() > 1 || b.ranges_omitted > 0 {
            writeln!(out, "{pad}  by kind of field:")?;
            for f in &b.by_field {
                let field = f
                    .field
                    .as_deref()
                    .map(|x| format!(", {x}"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{pad}    {} place(s), {} byte(s): {}{field} (e.g. {})",
                    f.places, f.differing, f.structure, f.example
                )?;
            }
        }
        for a in &b.ranges {
            writeln!(
                out,
                "{pad}  @{:#x} ({} byte(s) differ) {}{}",
                a.offset,
                a.differing,
                describe(a),
                tags(&a.hints)
            )?;
        }
        if b.ranges_omitted > 0 {
            writeln!(
                out,
                "{pad}  … {} more attributed range(s)",
                b.ranges_omitted
            )?;
        }
        for u in &b.unattributed {
            writeln!(
                out,
                "{pad}  UNATTRIBUTED @{:#x}+{} ({} byte(s) differ)\n{pad}    A: {}\n{pad}    B: {}",
                u.offset, u.len, u.differing, u.hex_a, u.hex_b
            )?;
        }
        if b.unattributed_omitted > 0 {
            writeln!(
                out,
                "{pad}  … {} more unattributed range(s)",
                b.unattributed_omitted
            )?;
        }
    }
    match &n.content {
        Some(ContentDiff::Text { unified, .. }) => {
            for line in unified.lines() {
                writeln!(out, "{pad}│ {line}")?;
            }
        }
        Some(ContentDiff::Hex { windows, more }) => {
            for w in windows {
                writeln!(
                    out,
                    "{pad}@{:#010x} A: {}\n{pad}            B: {}",
                    w.offset, w.a, w.b
                )?;
            }
            if *more > 0 {
                writeln!(out, "{pad}… {more} more differing range(s)")?;
            }
        }
        None => {}
    }
    if !n.hints.is_empty() {
        writeln!(out, "{pad}hints:{}", tags(&n.hints))?;
    }
    for c in &n.children {
        node(c, depth + 1, out)?;
    }
    Ok(())
}

fn tags(h: &[crate::report::Hint]) -> String {
    if h.is_empty() {
        String::new()
    } else {
        format!(
            "  [{}]",
            h.iter().map(|h| h.id).collect::<Vec<_>>().join(", ")
        )
    }
}
