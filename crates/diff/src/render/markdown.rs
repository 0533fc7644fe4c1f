//! Markdown: nested lists with code blocks, for issues and CI job summaries.

use std::io::{self, Write};

use super::{describe, percent};
use crate::report::{ContentDiff, Node, Report};

pub fn render(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "# isoforge diff\n\n- A: `{}`\n- B: `{}`\n\n**{}**\n",
        r.a,
        r.b,
        esc(&r.summary)
    )?;
    if !r.causes.is_empty() {
        writeln!(out, "## Root differences\n")?;
        writeln!(out, "| cause | where: A vs B | remedy |\n|---|---|---|")?;
        for c in &r.causes {
            let mut places: Vec<String> = c
                .places
                .iter()
                .map(|p| format!("`{}`", esc(&p.line())))
                .collect();
            let more = c.count.saturating_sub(c.places.len());
            if more > 0 {
                places.push(format!("… and {more} more"));
            }
            writeln!(
                out,
                "| `{}` {} | {} | {} |",
                c.id,
                esc(&c.cause),
                places.join("<br>"),
                esc(&c.remedy)
            )?;
        }
    }
    if !r.consequences.is_empty() {
        writeln!(out, "\n## Consequences\n")?;
        for c in &r.consequences {
            writeln!(
                out,
                "- `{}` {} place(s), {} byte(s): {} (e.g. `{}`)",
                c.id,
                c.count,
                c.bytes,
                esc(&c.what),
                c.example
            )?;
        }
    }
    if let Some(root) = &r.root {
        writeln!(out, "\n<details><summary>Full detail</summary>\n")?;
        node(root, 0, out)?;
        writeln!(out, "\n</details>")?;
    }
    if !r.hints.is_empty() {
        writeln!(out, "\n## Hints\n")?;
        writeln!(out, "| hint | cause | places | remedy |\n|---|---|---|---|")?;
        for h in &r.hints {
            writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                h.id,
                esc(&h.cause),
                h.occurrences,
                esc(&h.remedy)
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
    writeln!(out, "{pad}- **`{}`** ({}) — {change}", n.name, esc(&n.kind))?;
    let pad = format!("{pad}  ");
    for note in &n.notes {
        writeln!(out, "{pad}- _{}_", esc(note))?;
    }
    for f in &n.fields {
        writeln!(
            out,
            "{pad}- {}: `{}` vs `{}`{}",
            esc(&f.field),
            f.a,
            f.b,
            tags(&f.hints)
        )?;
    }
    if let Some(b) = &n.bytes {
        writeln!(
            out,
            "{pad}- bytes: {} differ, {} attributed ({})",
            b.differing,
            b.attributed,
            percent(b.attributed, b.differing)
        )?;
        for f in b
            .by_field
            .iter()
            .filter(|_| b.by_field.len() > 1 || b.ranges_omitted > 0)
        {
            let field = f
                .field
                .as_deref()
                .map(|x| format!(", {x}"))
                .unwrap_or_default();
            writeln!(
                out,
                "{pad}  - {} place(s), {} B: {}{}",
                f.places,
                f.differing,
                esc(&f.structure),
                esc(&field)
            )?;
        }
        for a in &b.ranges {
            writeln!(
                out,
                "{pad}  - `@{:#x}` ({} B) {}{}",
                a.offset,
                a.differing,
                esc(&describe(a)),
                tags(&a.hints)
            )?;
        }
        if b.ranges_omitted > 0 {
            writeln!(out, "{pad}  - … {} more", b.ranges_omitted)?;
        }
        for u in &b.unattributed {
            writeln!(
                out,
                "{pad}  - **unattributed** `@{:#x}+{}`: A `{}` B `{}`",
                u.offset, u.len, u.hex_a, u.hex_b
            )?;
        }
    }
    match &n.content {
        Some(ContentDiff::Text { unified, .. }) => {
            writeln!(out, "\n{pad}```diff")?;
            for l in unified.lines() {
                writeln!(out, "{pad}{}", l.replace("```", "`\u{200b}``"))?;
            }
            writeln!(out, "{pad}```\n")?;
        }
        Some(ContentDiff::Hex { windows, more }) => {
            writeln!(out, "\n{pad}```")?;
            for w in windows {
                writeln!(
                    out,
                    "{pad}{:#010x} A: {}\n{pad}           B: {}",
                    w.offset, w.a, w.b
                )?;
            }
            if *more > 0 {
                writeln!(out, "{pad}… {more} more")?;
            }
            writeln!(out, "{pad}```\n")?;
        }
        None => {}
    }
    for c in &n.children {
        node(c, depth + 1, out)?;
    }
    Ok(())
}

fn tags(h: &[crate::report::Hint]) -> String {
    h.iter().map(|h| format!(" `{}`", h.id)).collect()
}

fn esc(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('*', "\\*")
        .replace('_', "\\_")
        .replace('<', "&lt;")
}
