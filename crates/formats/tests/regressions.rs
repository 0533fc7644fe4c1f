//! Inputs that once crashed or exhausted a parser (found by the fuzz targets in `fuzz/`), kept
//! so that the fixes stay fixed. Each file under `regressions/<target>/` is parsed and all of
//! its members are read; none may panic.

mod common;

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut n = 0;
    for target in std::fs::read_dir(&dir).expect("tests/regressions exists") {
        let target = target.unwrap().path();
        if !target.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&target).unwrap() {
            let f = f.unwrap().path();
            common::exercise(std::fs::read(&f).unwrap());
            n += 1;
        }
    }
    assert!(n > 0, "no regression inputs found in {}", dir.display());
}
