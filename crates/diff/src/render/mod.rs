//! Report renderings: plain text (terminals, CI logs), Markdown (issues, CI summaries), JSON
//! (machines) and one self-contained HTML page (people, offline).

mod html;
mod markdown;
mod text;

use std::io::{self, Write};

use crate::report::{Attribution, Place, Report};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Markdown,
    Json,
    Html,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Self::Text),
            "markdown" | "md" => Ok(Self::Markdown),
            "json" => Ok(Self::Json),
            "html" => Ok(Self::Html),
            _ => Err(format!("unknown format {s:?} (text, markdown, json, html)")),
        }
    }
}

/// Writes `r` in format `f`: causes first, then (text) a pointer to the full detail.
pub fn render(r: &Report, f: OutputFormat, out: &mut dyn Write) -> io::Result<()> {
    render_with(r, f, false, out)
}

/// Writes `r` in format `f`; `full` adds the whole tree to the text rendering (the other
/// formats always carry it: JSON under `root`, HTML and Markdown below the causes).
pub fn render_with(r: &Report, f: OutputFormat, full: bool, out: &mut dyn Write) -> io::Result<()> {
    match f {
        OutputFormat::Text => text::render(r, full, out),
        OutputFormat::Markdown => markdown::render(r, out),
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, r).map_err(io::Error::other)?;
            writeln!(out)
        }
        OutputFormat::Html => html::render(r, out),
    }
}

/// One line explaining an attribution: the place on both sides and both values.
pub(crate) fn describe(a: &Attribution) -> String {
    let val = |p: &Place| p.value.clone().unwrap_or_default();
    let moved = a
        .moved_by
        .map(|d| format!(" (moved by {d:+} bytes in B)"))
        .unwrap_or_default();
    let text = match (&a.a, &a.b) {
        (Some(x), Some(y)) if x.structure == y.structure && x.field == y.field => {
            match (&x.value, &y.value) {
                (Some(_), Some(_)) => format!("{}: {} vs {}", x.label(), val(x), val(y)),
                _ => x.label(),
            }
        }
        (x, y) => {
            let side = |p: &Option<Place>| match p {
                Some(p) if p.value.is_some() => format!("{} = {}", p.label(), val(p)),
                Some(p) => p.label(),
                None => "(no bytes here)".into(),
            };
            format!("A: {}; B: {}", side(x), side(y))
        }
    };
    text + &moved
}

pub(crate) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "100%".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}
