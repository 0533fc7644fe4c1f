//! Shared driver of the fuzz targets: parse the input as one format, then read every member's
//! content and decode every layout field, as the diff engine would.

use std::sync::Arc;

use isoforge_formats::io::{MemSource, ReadAt, Source, Window, read_exact_at, read_vec_at};
use isoforge_formats::{Content, Entry, Layout, Limits};

/// Small limits keep each run fast; the parsers must honour them.
pub fn limits() -> Limits {
    Limits { max_entries: 50_000, max_depth: 64, max_metadata: 16 << 20, max_decompressed: 16 << 20, max_structures: 200_000, max_name: 4096, spool_budget: Default::default() }
}

pub fn source(data: &[u8]) -> Source {
    Arc::new(MemSource(data.to_vec()))
}

fn read_some(s: &dyn ReadAt) {
    let _ = read_vec_at(s, 0, s.size().min(1 << 20), 1 << 20);
}

/// Reads windows of `entries` and decodes every field of `layout`.
pub fn exercise(src: &Source, entries: &[Entry], layout: &Layout) {
    for e in entries {
        if let Content::Extents(x) = &e.content {
            read_some(&Window::new(src.clone(), x));
        }
        for m in &e.meta {
            let _ = m.value.to_string();
        }
    }
    for s in layout.structures.iter().take(10_000) {
        for f in s.fields.iter() {
            let (at, len) = s.span_of(f);
            let mut b = vec![0u8; len.min(4096) as usize];
            if read_exact_at(&**src, at, &mut b).is_ok() {
                let _ = f.decode.decode(&b).to_string();
            }
        }
    }
}
