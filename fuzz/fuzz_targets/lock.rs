//! Fuzzes the lock parser. The input lines' hash is recomputed so that inputs get past the
//! `inputs-sha256` check and reach the package and resolved lines.
#![no_main]

use std::path::Path;

use isoforge_lock::format::{Inputs, Lock};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut inputs = Inputs::default();
    let mut body = String::new();
    for l in text.lines() {
        if l.starts_with("inputs-sha256") {
            continue;
        }
        if let Some(rest) = l.trim_end().strip_prefix("input ") {
            let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
            inputs.push(k, v);
        }
        body.push_str(l);
        body.push('\n');
    }
    body.push_str(&format!("inputs-sha256 {}\n", inputs.sha256()));
    if let Ok(lock) = Lock::parse(Path::new("fuzz.lock"), &body) {
        for p in &lock.packages {
            assert!(!p.path.starts_with('/') && !p.path.split('/').any(|c| c == ".."));
            assert!(!p.repository.contains('/'));
        }
        let again = Lock::parse(Path::new("fuzz.lock"), &lock.render()).expect("renders parse");
        assert_eq!(again.render(), lock.render());
    }
});
