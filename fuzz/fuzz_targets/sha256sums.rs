//! Fuzzes the SHA256SUMS parser (GNU and --tag styles, escapes): an error or entries, never
//! a panic; the entries render to GNU form that parses back to the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(listed) = isoforge_checksums::sums::parse("SHA256SUMS", data) {
        let entries: Vec<_> = listed.iter().map(|l| l.entry.clone()).collect();
        let text = isoforge_checksums::render(&entries);
        let back = isoforge_checksums::sums::parse("rendered", text.as_bytes())
            .expect("rendered sums parse");
        let mut want = entries.clone();
        want.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        let got: Vec<_> = back.into_iter().map(|l| l.entry).collect();
        assert_eq!(got, want);
    }
});
