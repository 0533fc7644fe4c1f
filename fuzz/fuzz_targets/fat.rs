//! Fuzzes the fat parser and its geometry: any input must give an error or a result, never a panic.
#![no_main]

use isoforge_fuzz::{exercise, limits, source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = source(data);
    if let Ok(p) = isoforge_formats::fat::parse(&*src, &limits()) {
        exercise(&src, &p.entries, &p.layout);
    }
    // The in-place view normalize uses: any boot sector and chain must be bounded too.
    if let Ok(g) = isoforge_formats::fat::geometry(data) {
        let _ = (g.kind(), g.serial_offset(), g.backup_boot_sector());
        for r in g.root(data) {
            assert!(r.start <= r.end && r.end <= data.len() as u64);
        }
        for first in [0, 2, 3, u32::MAX] {
            for r in g.chain(data, first) {
                assert!(r.end <= data.len() as u64);
            }
        }
    }
});
