//! One self-contained HTML page: inline CSS and script, no external resources. The tree is
//! nested `<details>` elements (usable without script); the script adds expand/collapse-all,
//! a filter box and marks the tree ready.

use std::io::{self, Write};

use super::{describe, percent};
use crate::report::{ContentDiff, Hint, Node, Report};

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#1b1b1b;background:#fff}
h1{font-size:1.3em;margin:0 0 .3em}
.summary{font-weight:600;margin:.5em 0 1em}
code,pre,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
details{margin:.15em 0 .15em 1.1em;border-left:2px solid #e3e3e3;padding-left:.6em}
summary{cursor:pointer}
summary .kind{color:#666}
.modified>summary .tag{color:#a15c00}.added>summary .tag{color:#0a7d28}.removed>summary .tag{color:#b3261e}
ul{margin:.2em 0;padding-left:1.2em}
.unattr{color:#b3261e}
.hint{display:inline-block;background:#eef3ff;border:1px solid #c9d7ff;border-radius:3px;padding:0 .3em;margin-left:.3em;font-size:11px}
pre{background:#f6f8fa;padding:.5em;overflow:auto;max-height:30em}
.del{color:#b3261e}.ins{color:#0a7d28}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.25em .5em;vertical-align:top}
#controls{margin:.5em 0}#controls input{margin-left:1em}
.hidden{display:none}
"#;

const SCRIPT: &str = r#"
(function(){
  var tree=document.getElementById('diff-tree');
  function all(open){tree.querySelectorAll('details').forEach(function(d){d.open=open;});}
  document.getElementById('expand').onclick=function(){all(true);};
  document.getElementById('collapse').onclick=function(){all(false);};
  document.getElementById('filter').oninput=function(e){
    var q=e.target.value.toLowerCase();
    tree.querySelectorAll('details').forEach(function(d){
      var hit=!q||d.textContent.toLowerCase().indexOf(q)>=0;
      d.classList.toggle('hidden',!hit); if(q&&hit){d.open=true;}
    });
  };
  tree.setAttribute('data-ready','1');
})();
"#;

pub fn render(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    )?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width\"><title>isoforge diff: {}</title>",
        esc(&r.summary)
    )?;
    writeln!(out, "<style>{STYLE}</style></head><body>")?;
    writeln!(
        out,
        "<h1>isoforge diff</h1><div>A: <code>{}</code><br>B: <code>{}</code></div>",
        esc(&r.a),
        esc(&r.b)
    )?;
    writeln!(
        out,
        "<div class=\"summary\" id=\"summary\">{}</div>",
        esc(&r.summary)
    )?;
    causes(r, out)?;
    // The full detail stays one expand away.
    writeln!(
        out,
        "<details id=\"full\"><summary><strong>Full detail</strong>: hints, every stream, member, field and byte range</summary>"
    )?;
    if !r.hints.is_empty() {
        writeln!(
            out,
            "<h2>Hints</h2><table id=\"hints\"><tr><th>hint</th><th>cause</th><th>places</th><th>remedy</th></tr>"
        )?;
        for h in &r.hints {
            writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td title=\"{}\">{}</td><td>{}</td></tr>",
                h.id,
                esc(&h.cause),
                esc(&h.examples.join("\n")),
                h.occurrences,
                esc(&h.remedy)
            )?;
        }
        writeln!(out, "</table>")?;
    }
    writeln!(
        out,
        "<h2>Differences</h2><div id=\"controls\"><button id=\"expand\">expand all</button> <button id=\"collapse\">collapse all</button><input id=\"filter\" placeholder=\"filter\"></div>"
    )?;
    writeln!(out, "<div id=\"diff-tree\" data-ready=\"0\">")?;
    match &r.root {
        Some(root) => node(root, 0, out)?,
        None => writeln!(out, "<p>No differences.</p>")?,
    }
    writeln!(
        out,
        "</div></details><script>{SCRIPT}</script></body></html>"
    )
}

/// Root differences by cause, then the consequences, one row per group.
fn causes(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    if !r.causes.is_empty() {
        writeln!(
            out,
            "<h2>Root differences</h2><table id=\"causes\"><tr><th>cause</th><th>where: A vs B</th><th>remedy</th></tr>"
        )?;
        for c in &r.causes {
            let places: Vec<String> = c
                .places
                .iter()
                .map(|p| format!("<code>{}</code>", esc(&p.line())))
                .collect();
            let more = c.count.saturating_sub(c.places.len());
            let more = if more > 0 {
                format!("<br>… and {more} more")
            } else {
                String::new()
            };
            writeln!(
                out,
                "<tr><td><span class=\"hint\">{}</span> {}</td><td>{}{more}</td><td>{}</td></tr>",
                esc(&c.id),
                esc(&c.cause),
                places.join("<br>"),
                esc(&c.remedy)
            )?;
        }
        writeln!(out, "</table>")?;
    }
    if !r.consequences.is_empty() {
        writeln!(
            out,
            "<h2>Consequences</h2><table id=\"consequences\"><tr><th>kind</th><th>places</th><th>bytes</th><th>example</th></tr>"
        )?;
        for c in &r.consequences {
            let shifts: Vec<String> = c.shifts.iter().map(|s| format!("{s:+}")).collect();
            let shifts = if shifts.is_empty() {
                String::new()
            } else {
                format!(" (shifted by {} bytes)", shifts.join(", "))
            };
            writeln!(
                out,
                "<tr><td><span class=\"hint\">{}</span> {}{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&c.id),
                esc(&c.what),
                esc(&shifts),
                c.count,
                c.bytes,
                esc(&c.example)
            )?;
        }
        writeln!(out, "</table>")?;
    }
    Ok(())
}

fn node(n: &Node, depth: usize, out: &mut dyn Write) -> io::Result<()> {
    let (class, tag) = match n.change {
        crate::Change::Modified => ("modified", "differs"),
        crate::Change::Added => ("added", "only in B"),
        crate::Change::Removed => ("removed", "only in A"),
    };
    let open = if depth < 3 { " open" } else { "" };
    writeln!(
        out,
        "<details class=\"node {class}\"{open} data-location=\"{}\"><summary><code>{}</code> <span class=\"kind\">[{}]</span> <span class=\"tag\">{tag}</span>{}</summary>",
        esc(&n.location),
        esc(&n.name),
        esc(&n.kind),
        hint_tags(&n.hints)
    )?;
    let mut items = Vec::new();
    for note in &n.notes {
        items.push(format!("<li><em>{}</em></li>", esc(note)));
    }
    for f in &n.fields {
        items.push(format!(
            "<li class=\"field\">{}: <code>{}</code> vs <code>{}</code>{}</li>",
            esc(&f.field),
            esc(&f.a),
            esc(&f.b),
            hint_tags(&f.hints)
        ));
    }
    if !items.is_empty() {
        writeln!(out, "<ul>{}</ul>", items.join(""))?;
    }
    if let Some(b) = &n.bytes {
        writeln!(
            out,
            "<details class=\"bytes\" open><summary>bytes: {} differ, {} attributed ({})</summary><ul class=\"mono\">",
            b.differing,
            b.attributed,
            percent(b.attributed, b.differing)
        )?;
        if b.by_field.len() > 1 || b.ranges_omitted > 0 {
            writeln!(
                out,
                "<li><details><summary>by kind of field ({} kinds)</summary><ul>",
                b.by_field.len()
            )?;
            for f in &b.by_field {
                let field = f
                    .field
                    .as_deref()
                    .map(|x| format!(", {x}"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "<li>{} place(s), {} B: {}{} <small>(e.g. {})</small></li>",
                    f.places,
                    f.differing,
                    esc(&f.structure),
                    esc(&field),
                    esc(&f.example)
                )?;
            }
            writeln!(out, "</ul></details></li>")?;
        }
        for a in &b.ranges {
            writeln!(
                out,
                "<li class=\"attr\">@{:#x} ({} B) {}{}</li>",
                a.offset,
                a.differing,
                esc(&describe(a)),
                hint_tags(&a.hints)
            )?;
        }
        if b.ranges_omitted > 0 {
            writeln!(out, "<li>… {} more</li>", b.ranges_omitted)?;
        }
        for u in &b.unattributed {
            writeln!(
                out,
                "<li class=\"unattr\">unattributed @{:#x}+{}: A {} / B {}</li>",
                u.offset,
                u.len,
                esc(&u.hex_a),
                esc(&u.hex_b)
            )?;
        }
        writeln!(out, "</ul></details>")?;
    }
    match &n.content {
        Some(ContentDiff::Text { unified, .. }) => {
            write!(out, "<pre class=\"diff\">")?;
            for l in unified.lines() {
                let class = if l.starts_with('+') && !l.starts_with("+++") {
                    "ins"
                } else if l.starts_with('-') && !l.starts_with("---") {
                    "del"
                } else {
                    ""
                };
                writeln!(out, "<span class=\"{class}\">{}</span>", esc(l))?;
            }
            writeln!(out, "</pre>")?;
        }
        Some(ContentDiff::Hex { windows, more }) => {
            write!(out, "<pre class=\"hex\">")?;
            for w in windows {
                writeln!(
                    out,
                    "{:#010x} A: {}\n           B: {}",
                    w.offset,
                    esc(&w.a),
                    esc(&w.b)
                )?;
            }
            if *more > 0 {
                writeln!(out, "… {more} more")?;
            }
            writeln!(out, "</pre>")?;
        }
        None => {}
    }
    for c in &n.children {
        node(c, depth + 1, out)?;
    }
    writeln!(out, "</details>")
}

fn hint_tags(h: &[Hint]) -> String {
    h.iter()
        .map(|h| {
            format!(
                "<span class=\"hint\" title=\"{}: {}\">{}</span>",
                esc(&h.cause),
                esc(&h.remedy),
                h.id
            )
        })
        .collect()
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}
