//! Differential test: isoforge's sums parser and checker against GNU `sha256sum --strict -c`
//! on the same files, both ways: every line sha256sum accepts we accept with the same per-file
//! verdicts and overall result, and every line it rejects we reject. Needs coreutils.

use std::path::Path;
use std::process::Command;

use isoforge_checksums::{Options, parse, sha256_file, verify};

/// File names that exercise escaping and binary mode; created in the test directory.
const NAMES: &[&str] = &[
    "a",
    "b c.iso",
    "back\\slash",
    "new\nline",
    "car\rret",
    "(p).iso",
];

struct Theirs {
    accepted: bool,
    ok: bool,
    stdout: String,
}

fn sha256sum_check(dir: &Path, text: &[u8], extra: &[&str]) -> Theirs {
    std::fs::write(dir.join("SUMS"), text).unwrap();
    let out = Command::new("sha256sum")
        .args(["--strict", "-c"])
        .args(extra)
        .arg("SUMS")
        .current_dir(dir)
        .env("LC_ALL", "C")
        .output()
        .expect("sha256sum (coreutils) must be installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    Theirs {
        accepted: !stderr.contains("improperly formatted")
            && !stderr.contains("no properly formatted"),
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// Compares one sums text; returns a description of the disagreement, if any.
fn compare(dir: &Path, text: &[u8], ignore_missing: bool) -> Option<String> {
    let extra: &[&str] = if ignore_missing {
        &["--ignore-missing"]
    } else {
        &[]
    };
    let theirs = sha256sum_check(dir, text, extra);
    let shown = String::from_utf8_lossy(text);
    let opts = Options {
        ignore_missing,
        confine: false,
    };
    match parse("SUMS", text) {
        Err(e) if theirs.accepted => Some(format!(
            "{shown:?}: sha256sum accepts it (stdout {:?}), we reject it: {e}",
            theirs.stdout
        )),
        Err(_) => None,
        // sha256sum: "no properly formatted checksum lines found"; we: "lists no files".
        Ok(entries) if entries.is_empty() => {
            let report = verify("SUMS", &entries, dir, opts).unwrap();
            (report.is_ok() || theirs.ok)
                .then(|| format!("{shown:?}: lists nothing, yet a check passed"))
        }
        Ok(_) if !theirs.accepted => Some(format!("{shown:?}: sha256sum rejects it, we accept it")),
        Ok(entries) => {
            let report = verify("SUMS", &entries, dir, opts).unwrap();
            let ours: String = report
                .checked
                .iter()
                .map(|c| c.status_line() + "\n")
                .collect();
            if ours != theirs.stdout || report.is_ok() != theirs.ok {
                Some(format!(
                    "{shown:?}: sha256sum says {:?} (ok={}), we say {ours:?} (ok={})",
                    theirs.stdout,
                    theirs.ok,
                    report.is_ok()
                ))
            } else {
                None
            }
        }
    }
}

fn setup() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let path = dir.path().join(name);
        std::fs::write(&path, vec![b'x'; i * 100 + 1]).unwrap();
        let hex = sha256_file(&path).unwrap().hex();
        for args in [&[][..], &["-b"][..], &["--tag"][..]] {
            let out = Command::new("sha256sum")
                .args(args)
                .arg(name)
                .current_dir(dir.path())
                .output()
                .expect("sha256sum (coreutils) must be installed");
            let line = String::from_utf8(out.stdout).unwrap();
            assert!(line.contains(&hex), "{line}");
            lines.push(line.trim_end_matches('\n').to_string());
        }
    }
    (dir, lines)
}

#[test]
fn same_verdicts_as_sha256sum_on_written_lines() {
    let (dir, lines) = setup();
    let d = dir.path();
    let h = sha256_file(&d.join("a")).unwrap().hex();
    let wrong = "0".repeat(64);
    let mut cases: Vec<String> = vec![
        lines.join("\n") + "\n",
        format!("{h}  a\n{wrong}  a\n"),
        format!("{wrong} *b c.iso\n"),
        format!("SHA256 (a) = {wrong}\n"),
        format!("{h}  missing\n{h}  a\n"),
        format!("{h}  missing\n"),
        format!("{h} a\n{h}  a\n"),
        format!("{h}\t*a\n"),
        format!("{h}\t\ta\n"),
        format!("SHA256(a)= {h}\n"),
        format!("SHA256 (a) ={h}\n"),
        format!("SHA256 (a) = {}\n", h.to_uppercase()),
        format!("  \\{h}  a\n"),
        format!("# comment\n{h}  a\r\n"),
        format!("{h}  ./a\n"),
        format!("{h}  .\n"),
        format!("{h} *a"),
        String::new(),
        "\n".to_string(),
    ];
    cases.extend(lines.iter().map(|l| format!("{l}\n")));
    let mut failures = Vec::new();
    for case in &cases {
        for ignore_missing in [false, true] {
            failures.extend(compare(d, case.as_bytes(), ignore_missing));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Lines sha256sum rejects, each with a good line before it; we must reject them too.
#[test]
fn rejects_what_sha256sum_rejects() {
    let (dir, _) = setup();
    let d = dir.path();
    let h = sha256_file(&d.join("a")).unwrap().hex();
    let bad = [
        h.to_string(),
        format!("{h} "),
        format!("{}  a", &h[..63]),
        format!("{h}0  a"),
        format!("{}  a", &h[..40]),
        format!("SHA256  (a) = {h}"),
        format!("SHA256 (a) = {h} "),
        format!("SHA256 (a) {h}"),
        format!("SHA512 (a) = {h}{h}"),
        format!("\\{h}  a\\x"),
        format!("\\{h}  a\\"),
        format!("{h}:a"),
        "not a sums line".to_string(),
        format!("{h} b"),
    ];
    let mut failures = Vec::new();
    for line in bad {
        let text = format!("{h}  a\n{line}\n");
        let theirs = sha256sum_check(d, text.as_bytes(), &[]);
        assert!(
            !theirs.accepted,
            "test case is wrong: sha256sum accepts {line:?}"
        );
        match parse("SUMS", text.as_bytes()) {
            Ok(_) => failures.push(format!("{line:?}: accepted")),
            Err(e) => assert_eq!(e.line, 2, "{e}"),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Random single-byte edits of lines sha256sum writes: both tools must agree on every one.
#[test]
fn same_verdicts_as_sha256sum_on_mutated_lines() {
    let (dir, lines) = setup();
    let alphabet = b" \t*\\()=#Sn0aAg\r.\x41";
    // xorshift64: deterministic, so a failure reproduces.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut failures = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..800 {
        let mut line = lines[next(lines.len())].clone().into_bytes();
        for _ in 0..1 + next(2) {
            let at = next(line.len() + 1);
            let byte = alphabet[next(alphabet.len())];
            match next(3) {
                0 if at < line.len() => line[at] = byte,
                1 if at < line.len() => {
                    line.remove(at);
                }
                _ => line.insert(at, byte),
            }
        }
        // Documented difference: lines of blanks only are skipped, not errors.
        if line
            .iter()
            .all(|b| *b == b' ' || *b == b'\t' || *b == b'\r')
        {
            continue;
        }
        line.push(b'\n');
        match parse("SUMS", &line) {
            Ok(_) => accepted += 1,
            Err(_) => rejected += 1,
        }
        failures.extend(compare(dir.path(), &line, false));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The edits must exercise both sides, or this test proves little.
    assert!(
        accepted > 50 && rejected > 50,
        "{accepted} accepted, {rejected} rejected"
    );
}
