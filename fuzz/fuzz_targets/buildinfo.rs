//! Fuzzes the BUILD_INFO parser: any input is an error or a BuildInfo whose fields passed the
//! checks, never a panic; what parses renders back to something that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(info) = isoforge_buildinfo::BuildInfo::parse(text) {
        assert!(isoforge_buildinfo::checks::commit(&info.commit).is_ok());
        assert!(isoforge_buildinfo::checks::relative_dir(&info.config_dir).is_ok());
        for a in &info.artefacts {
            assert!(isoforge_buildinfo::checks::file_name(&a.name).is_ok());
        }
        let _ = info.build_id();
        let run = isoforge_buildinfo::provenance::Run { repository: "https://example.org/r".into(), lock: "config/packages.lock".into(), invocation_id: "x".into() };
        let _ = isoforge_buildinfo::provenance::statement(&info, &run);
        let again = isoforge_buildinfo::BuildInfo::parse(&info.render());
        assert_eq!(again.as_ref(), Ok(&info), "render then parse must give the same");
    }
});
