//! Fuzzes the squashfs parser and file reader: metadata tables, block lists, fragments.
#![no_main]

use isoforge_formats::Content;
use isoforge_formats::io::read_vec_at;
use isoforge_fuzz::{exercise, limits, source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = source(data);
    if let Ok(img) = isoforge_formats::squashfs::parse(&*src, &limits()) {
        exercise(&src, &img.entries, &img.layout);
        for t in &img.tables {
            exercise(&(std::sync::Arc::new(t.data.clone()) as isoforge_formats::io::Source), &[], &t.layout);
        }
        let r = img.data_reader(src.clone());
        for e in img.entries.iter().take(1000) {
            if let Content::Squashfs(d) = &e.content {
                if let Ok(s) = r.open(d) {
                    let _ = read_vec_at(&*s, 0, s.size().min(1 << 20), 1 << 20);
                }
                let _ = r.tail(d);
            }
        }
    }
});
