//! Fuzzes the whole engine on two inputs: the first byte picks a split point (as a fraction
//! of the input), so both sides usually share a prefix and differ in interesting ways.
#![no_main]

use isoforge_fuzz::{limits, source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else { return };
    let cut = rest.len() * usize::from(k) / 255;
    let (a, b) = rest.split_at(cut);
    // Side B is A's prefix followed by the rest, so formats line up.
    let mut bb = a[..a.len().min(b.len())].to_vec();
    bb.extend_from_slice(b);
    let opts = isoforge_diff::Options { limits: limits(), max_depth: 6, ..Default::default() };
    let r = isoforge_diff::diff_sources("a", "b", source(a), source(&bb), &opts);
    let mut out = Vec::new();
    for f in [isoforge_diff::OutputFormat::Text, isoforge_diff::OutputFormat::Html, isoforge_diff::OutputFormat::Json] {
        out.clear();
        r.render(f, &mut out).expect("render to memory");
    }
});
