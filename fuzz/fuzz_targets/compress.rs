//! Fuzzes compressed stream detection, header layouts and bounded decompression.
#![no_main]

use isoforge_formats::io::read_vec_at;
use isoforge_fuzz::{exercise, limits, source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = source(data);
    let Some(codec) = isoforge_formats::compress::detect(data) else { return };
    if let Ok(l) = isoforge_formats::compress::layout(&*src, codec) {
        exercise(&src, &[], &l);
    }
    if let Ok((out, _)) = isoforge_formats::compress::decompress(&src, codec, &limits()) {
        let _ = read_vec_at(&*out, 0, out.size().min(1 << 20), 1 << 20);
    }
});
