//! Leaf content: a unified diff for text, hex windows around the first differences otherwise.

use std::io;

use isoforge_formats::io::{ReadAt, read_exact_at, read_vec_at};

use crate::hints::{self, HintCtx};
use crate::report::{ContentDiff, HexWindow, Hint};
use crate::runs::Runs;
use crate::textfmt::{self, Structured};

/// Largest side diffed as text; bigger files get hex windows.
const TEXT_MAX: u64 = 4 << 20;
const HEX_WINDOWS: usize = 8;
const WINDOW: u64 = 32;

/// How two leaves differ: the content diff, hints drawn from changed text lines, and the
/// records and fields that differ when the text has a known format.
pub struct Described {
    pub content: ContentDiff,
    pub hints: Vec<Hint>,
    pub structured: Option<Structured>,
}

/// Describes how two leaves named `name` differ.
pub fn describe(
    name: &str,
    a: &dyn ReadAt,
    b: &dyn ReadAt,
    runs: &Runs,
    max_lines: usize,
    ctx: &HintCtx,
) -> io::Result<Described> {
    if a.size() <= TEXT_MAX && b.size() <= TEXT_MAX {
        let ta = read_vec_at(a, 0, a.size(), TEXT_MAX)?;
        let tb = read_vec_at(b, 0, b.size(), TEXT_MAX)?;
        if let (Some(sa), Some(sb)) = (as_text(&ta), as_text(&tb)) {
            let (content, hints) = text(sa, sb, max_lines, ctx);
            return Ok(Described {
                content,
                hints,
                structured: textfmt::compare(name, sa, sb),
            });
        }
    }
    Ok(Described {
        content: hex(a, b, runs)?,
        hints: Vec::new(),
        structured: None,
    })
}

fn as_text(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    let control = s
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\x0c'))
        .count();
    (control * 100 <= s.len().max(1)).then_some(s)
}

fn text(a: &str, b: &str, max_lines: usize, ctx: &HintCtx) -> (ContentDiff, Vec<Hint>) {
    let diff = similar::TextDiff::configure()
        .timeout(std::time::Duration::from_secs(5))
        .diff_lines(a, b);
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for op in diff.iter_all_changes() {
        match op.tag() {
            similar::ChangeTag::Delete if removed.len() < 200 => {
                removed.push(op.value().trim_end())
            }
            similar::ChangeTag::Insert if added.len() < 200 => added.push(op.value().trim_end()),
            _ => {}
        }
    }
    let unified = diff
        .unified_diff()
        .context_radius(3)
        .header("a", "b")
        .to_string();
    let mut lines: Vec<String> = unified.lines().take(max_lines + 1).map(clip).collect();
    let truncated = lines.len() > max_lines;
    lines.truncate(max_lines);
    let mut out = lines.join("\n");
    if truncated {
        out.push_str("\n…");
    }
    let h = hints::for_text(&removed, &added, ctx);
    (
        ContentDiff::Text {
            unified: out,
            truncated,
        },
        h,
    )
}

/// Very long lines (minified files, one-line blobs) are cut, keeping the report readable.
fn clip(line: &str) -> String {
    const MAX: usize = 400;
    if line.len() <= MAX {
        return line.to_string();
    }
    let mut end = MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &line[..end], line.len() - end)
}

fn hex(a: &dyn ReadAt, b: &dyn ReadAt, runs: &Runs) -> io::Result<ContentDiff> {
    let mut windows = Vec::new();
    for r in runs.runs.iter().take(HEX_WINDOWS) {
        let start = r.start & !15;
        windows.push(HexWindow {
            offset: start,
            a: hex_at(a, start)?,
            b: hex_at(b, start)?,
        });
    }
    Ok(ContentDiff::Hex {
        windows,
        more: runs.runs.len().saturating_sub(HEX_WINDOWS) as u64,
    })
}

fn hex_at(src: &dyn ReadAt, start: u64) -> io::Result<String> {
    let n = src.size().saturating_sub(start).min(WINDOW) as usize;
    let mut buf = vec![0u8; n];
    read_exact_at(src, start, &mut buf)?;
    Ok(buf
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" "))
}
