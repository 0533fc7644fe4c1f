//! Fuzzes the KEY=VALUE config parser and the profile, snapshot pin and builder readers on
//! top of it, and the package-list parser: an error naming the file, or values that passed
//! their checks; never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let list = Path::new("fuzz.list.chroot");
    if let Ok(packages) = isoforge_inputs::package_lists::parse(list, text) {
        for p in &packages {
            assert!(isoforge_inputs::validate::package_name(p).is_ok());
        }
    }
    let Ok(file) = isoforge_inputs::envfile::parse(Path::new("fuzz.env"), text) else { return };
    for e in &file.entries {
        assert!(e.line >= 1);
        let _ = file.get(&e.key);
    }
    let _ = isoforge_inputs::Profile::from_file(&file);
    let _ = isoforge_inputs::SnapshotPin::from_file(&file);
    let _ = isoforge_inputs::BuilderConfig::from_file(&file);
});
