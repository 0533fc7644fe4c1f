//! Inputs that once crashed a config reader (found by `fuzz/run-all.sh`, target envfile):
//! each must now give a value or an error naming the file and line, never a panic.

use std::path::Path;

#[test]
fn fuzz_findings_are_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions/envfile");
    let mut seen = 0;
    for f in std::fs::read_dir(&dir).unwrap() {
        let path = f.unwrap().path();
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        let file = isoforge_inputs::envfile::parse(Path::new("fuzz.env"), &text).unwrap();
        let _ = isoforge_inputs::Profile::from_file(&file);
        let e = isoforge_inputs::SnapshotPin::from_file(&file).unwrap_err();
        assert!(
            e.to_string().starts_with("fuzz.env:"),
            "{}: {e}",
            path.display()
        );
        let _ = isoforge_inputs::BuilderConfig::from_file(&file);
        seen += 1;
    }
    assert!(seen > 0);
}
