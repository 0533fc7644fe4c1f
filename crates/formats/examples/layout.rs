//! Prints what the parsers see in an image: `cargo run --example layout -- IMAGE [--fields]`.

use std::sync::Arc;

use isoforge_formats::io::{FileSource, ReadAt, Source, read_exact_at};
use isoforge_formats::{Format, Layout, Limits, detect};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.first().ok_or("usage: layout IMAGE [--fields]")?;
    let fields = args.iter().any(|a| a == "--fields");
    let src: Source = Arc::new(FileSource::open(path.as_ref())?);
    let limits = Limits::default();
    let format = detect(&*src);
    println!("{path}: {}", format.name());
    let (entries, layout, notes, tables) = match format {
        Format::Iso9660 => {
            let i = isoforge_formats::iso9660::parse(&*src, &limits)?;
            (i.entries, i.layout, i.notes, Vec::new())
        }
        Format::Squashfs => {
            let i = isoforge_formats::squashfs::parse(&*src, &limits)?;
            (i.entries, i.layout, i.notes, i.tables)
        }
        Format::Fat => {
            let i = isoforge_formats::fat::parse(&*src, &limits)?;
            (i.entries, i.layout, i.notes, Vec::new())
        }
        Format::Cpio => {
            let i = isoforge_formats::cpio::parse(&*src, &limits)?;
            (i.entries, i.layout, i.notes, Vec::new())
        }
        Format::Tar => {
            let i = isoforge_formats::tar::parse(&*src, &limits)?;
            (i.entries, i.layout, i.notes, Vec::new())
        }
        Format::Ar => {
            let i = isoforge_formats::ar::parse(&*src, &limits)?;
            (i.entries, i.layout, i.notes, Vec::new())
        }
        Format::Compressed(c) => (
            Vec::new(),
            isoforge_formats::compress::layout(&*src, c)?,
            Vec::new(),
            Vec::new(),
        ),
        Format::Unknown => return Ok(()),
    };
    for e in entries.iter().take(40) {
        let meta: Vec<String> = e
            .meta
            .iter()
            .map(|m| format!("{}={}", m.name, m.value))
            .collect();
        println!(
            "  {} [{}] {} bytes {}",
            e.path,
            e.kind.as_str(),
            e.size,
            meta.join(" ")
        );
    }
    println!("  ({} entries)", entries.len());
    print_layout(&*src, &layout, fields);
    for t in &tables {
        println!(
            "derived stream {}: {} bytes, {} structures",
            t.name,
            t.data.len(),
            t.layout.len()
        );
    }
    for n in notes {
        println!("note: {n}");
    }
    Ok(())
}

fn print_layout(src: &dyn ReadAt, l: &Layout, fields: bool) {
    let mut s: Vec<_> = l.structures.iter().collect();
    s.sort_by_key(|s| s.start);
    let covered: u64 = s.iter().map(|s| s.len).sum();
    println!(
        "layout: {} structures covering {covered} bytes (with overlaps) of {}",
        s.len(),
        src.size()
    );
    let mut end = 0u64;
    let mut gaps = Vec::new();
    for st in &s {
        if st.start > end {
            gaps.push((end, st.start));
        }
        end = end.max(st.end());
    }
    if end < src.size() {
        gaps.push((end, src.size()));
    }
    for (a, b) in gaps.iter().take(20) {
        println!("  gap {a:#x}..{b:#x} ({} bytes) not covered", b - a);
    }
    for st in s.iter().take(if fields { 400 } else { 60 }) {
        println!("  {:#010x}+{:<8} {}", st.start, st.len, st.name);
        if fields {
            for f in st.fields.iter() {
                let (at, len) = st.span_of(f);
                let mut b = vec![0u8; len.min(64) as usize];
                let _ = read_exact_at(src, at, &mut b);
                println!(
                    "      +{:<4} {:<40} {}",
                    f.offset,
                    f.name,
                    f.decode.decode(&b)
                );
            }
        }
    }
}
