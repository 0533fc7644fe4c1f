//! Fuzzes the fat parser: any input must give an error or a result, never a panic.
#![no_main]

use isoforge_fuzz::{exercise, limits, source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = source(data);
    if let Ok(p) = isoforge_formats::fat::parse(&*src, &limits()) {
        exercise(&src, &p.entries, &p.layout);
    }
});
