//! Explaining a mismatch: `isoforge diff` of a differing artefact, with its text, HTML and
//! JSON reports saved as `<dir>/<artefact>.diff.{txt,html,json}`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use isoforge_diff::OutputFormat;
use isoforge_exec::Progress;

use crate::{Error, io_err};

/// The diff of one artefact.
#[derive(Debug, Clone)]
pub struct Explained {
    pub name: String,
    /// The report's summary line (differing and attributed bytes, first findings).
    pub summary: String,
    /// One line: how it differs ("differs only in Build-Tools (apt 2.6.1 vs 2.6.2)").
    pub brief: String,
    /// The text report: the one to read first.
    pub text: PathBuf,
    pub html: PathBuf,
    pub json: PathBuf,
}

/// Compares `a` and `b` (the two versions of artefact `name`) and writes the reports into
/// `dir`. `source_date_epoch` feeds the hints (times later than it are named);
/// `also_differing` names the other differing artefacts (checksum lines of them are
/// consequences); `offenders` is the profile's table of known offenders; `writers` is build
/// A's record of which overlay or hook wrote which path (`logs/writers`, see
/// [`writers_of`]), named next to the hints; `hint` (cause, remedy) is added to the
/// report's hints (`verify --bisect`'s finding).
#[allow(clippy::too_many_arguments)]
pub fn artefact(
    name: &str,
    a: &Path,
    b: &Path,
    source_date_epoch: Option<i64>,
    offenders: &std::sync::Arc<isoforge_offenders::Table>,
    writers: &std::sync::Arc<isoforge_diff::Writers>,
    also_differing: &[&str],
    hint: Option<(String, String)>,
    dir: &Path,
    progress: &Progress,
) -> Result<Explained, Error> {
    let stage = progress.stage(format!("diff: {name}"));
    let opts = isoforge_diff::Options {
        source_date_epoch,
        offenders: offenders.clone(),
        writers: writers.clone(),
        ..Default::default()
    };
    let mut report = isoforge_diff::diff(a, b, &opts)
        .map_err(|e| Error::Failed(format!("cannot compare {name}: {e}")))?;
    let preface = hint
        .as_ref()
        .map(|(cause, remedy)| format!("{cause}\n  remedy: {remedy}\n\n"));
    if let Some((cause, remedy)) = hint {
        report.hints.insert(
            0,
            isoforge_diff::report::HintSummary {
                id: "verify-bisect",
                cause,
                remedy,
                occurrences: 1,
                examples: vec![name.to_string()],
            },
        );
    }
    std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    let path = |ext: &str| dir.join(format!("{name}.diff.{ext}"));
    let (text, html, json) = (path("txt"), path("html"), path("json"));
    for (format, file) in [
        (OutputFormat::Text, &text),
        (OutputFormat::Html, &html),
        (OutputFormat::Json, &json),
    ] {
        // The text report's first screen has no hints section: the finding goes on top.
        let preface = match format {
            OutputFormat::Text => preface.as_deref(),
            _ => None,
        };
        write_report(&report, format, preface, file)?;
    }
    stage.done(report.summary());
    Ok(Explained {
        name: name.to_string(),
        summary: report.summary().to_string(),
        brief: report.brief(also_differing),
        text,
        html,
        json,
    })
}

/// The record of who wrote what in the output directory `dir` (`logs/writers`); a build
/// without overlays and hooks has none, and an unreadable record is a note, not a failure
/// (the comparison stands without it).
pub fn writers_of(dir: &Path, progress: &Progress) -> std::sync::Arc<isoforge_diff::Writers> {
    match isoforge_diff::Writers::load(dir) {
        Ok(w) => std::sync::Arc::new(w),
        Err(e) => {
            progress.note(format!("{e}; the reports will not name hooks and overlays"));
            Default::default()
        }
    }
}

/// Writes under a temporary name and renames, so a report is never seen half-written.
fn write_report(
    report: &isoforge_diff::Report,
    format: OutputFormat,
    preface: Option<&str>,
    file: &Path,
) -> Result<(), Error> {
    let err = || format!("cannot write {}", file.display());
    let fs_err = |e: isoforge_fs::Error| Error::Failed(e.to_string());
    let mut tmp = isoforge_fs::AtomicFile::create(file).map_err(fs_err)?;
    let mut out = std::io::BufWriter::new(&mut tmp);
    out.write_all(preface.unwrap_or_default().as_bytes())
        .and_then(|()| isoforge_diff::render::render(report, format, &mut out))
        .and_then(|()| out.flush())
        .map_err(io_err(err()))?;
    drop(out);
    tmp.commit().map_err(fs_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_three_reports_naming_the_difference() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "hostname: build-a\nsame\n").unwrap();
        std::fs::write(&b, "hostname: build-b\nsame\n").unwrap();
        let out = dir.path().join("reports");
        let e = artefact(
            "BUILD_INFO",
            &a,
            &b,
            None,
            &Default::default(),
            &Default::default(),
            &[],
            Some((
                "the difference follows `home`".into(),
                "do not write $HOME".into(),
            )),
            &out,
            &Progress::new(false),
        )
        .unwrap();
        assert!(e.summary.starts_with("different"), "{}", e.summary);
        let text = std::fs::read_to_string(&e.text).unwrap();
        assert!(text.contains("build-b"), "{text}");
        assert!(text.starts_with("the difference follows `home`"), "{text}");
        let html = std::fs::read_to_string(&e.html).unwrap();
        assert!(html.contains("the difference follows `home`"));
        assert_eq!(
            e.brief,
            "differs only in content (hostname: build-a vs hostname: build-b)"
        );
        assert!(std::fs::read_to_string(&e.html).unwrap().contains("<html"));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&e.json).unwrap()).unwrap();
        assert!(json.is_object());
        assert_eq!(e.text, out.join("BUILD_INFO.diff.txt"));
        // Nothing half-written is left beside them.
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
    }
}
