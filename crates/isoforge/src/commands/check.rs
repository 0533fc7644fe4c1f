//! `isoforge check`: verifies artefacts against published SHA-256 sums, from a local sums
//! file, a release directory, or a release URL (downloaded with the digest computed while the
//! bytes stream to disk). Any mismatch, missing file, or empty listing is reported as a
//! supply-chain anomaly with the profile's report contact. Parsing and verdicts come from
//! [`isoforge_checksums`], which agrees with `sha256sum --strict -c`.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use isoforge_checksums::check::{self, Checked, Progress, Status, Target};
use isoforge_checksums::{Listed, Report, Sha256Digest};

use crate::commands::net;
use crate::exit;

/// The sums file a release publishes.
const SUMS_NAME: &str = "SHA256SUMS";

/// A sums file larger than this is not a sums file (and is not read into memory).
const SUMS_LIMIT: u64 = 4 << 20;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Exit status: 0 every file checked out, 1 supply-chain anomaly \
(mismatch, missing file, nothing listed), 2 error (unreadable or malformed sums file, \
download failure or timeout)."
)]
pub struct Args {
    /// The sums file: sha256sum output (text or binary mode, escaped names) or BSD tags
    /// (sha256sum --tag). Names are relative to its directory.
    #[arg(
        value_name = "SHA256SUMS",
        required_unless_present = "release",
        conflicts_with = "release"
    )]
    pub sums: Option<PathBuf>,

    /// Check only these files; each must be listed in the sums file under its path or its
    /// file name [default: every listed file].
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Check a published release: a directory, or an http(s) URL, that holds SHA256SUMS and
    /// the files it lists. Names that are absolute or contain ".." are refused.
    #[arg(long, value_name = "DIR|URL")]
    pub release: Option<String>,

    /// Skip listed files that are not present, as sha256sum --ignore-missing (for a URL: that
    /// the server does not have); checking nothing at all is still an anomaly.
    #[arg(long)]
    pub ignore_missing: bool,

    /// With --release URL: keep SHA256SUMS and the downloads in DIR [default: a temporary
    /// directory, removed afterwards].
    #[arg(long, value_name = "DIR", requires = "release")]
    pub download_dir: Option<PathBuf>,

    /// With --release URL: the largest file accepted (K, M, G, T suffixes); a larger one is
    /// an error and nothing of it is kept. SHA256SUMS itself is capped at 4 MiB.
    #[arg(long, value_name = "BYTES", default_value = "16G", value_parser = net::parse_size, requires = "release")]
    pub max_file_size: u64,

    #[command(flatten)]
    pub http: net::HttpArgs,

    /// Configuration directory; its profile's REPORT_CONTACT is where anomalies are reported.
    #[arg(long, value_name = "DIR", default_value = "config")]
    pub config: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let (report, unlisted) = match (&args.release, &args.sums) {
        (Some(release), _) if is_url(release) => (check_url(release, &args)?, Vec::new()),
        (Some(release), _) => (
            check_dir(Path::new(release), args.ignore_missing)?,
            Vec::new(),
        ),
        (None, Some(sums)) => check_sums(sums, &args.files, args.ignore_missing)?,
        (None, None) => bail!("give a sums file or --release DIR|URL"),
    };
    let mut anomalies = report.anomalies();
    anomalies.extend(unlisted);
    if anomalies.is_empty() {
        return Ok(exit::OK);
    }
    for a in &anomalies {
        eprintln!("{a}");
    }
    eprintln!("report it to {}", report_contact(&args.config));
    Ok(exit::DIFFERENT)
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Where anomalies go: the profile's REPORT_CONTACT, or "the publisher" with the reason.
pub(crate) fn report_contact(config: &Path) -> String {
    match isoforge_inputs::Profile::load_default(config) {
        Ok(p) => p.report_contact.unwrap_or_else(|| {
            format!(
                "the publisher (the profile in {} sets no REPORT_CONTACT)",
                config.display()
            )
        }),
        Err(e) => format!("the publisher (no report contact: cannot load the profile: {e})"),
    }
}

/// `isoforge check SHA256SUMS [FILE...]`
/// The report, and anomalies about FILE arguments the sums file does not list.
fn check_sums(
    sums: &Path,
    files: &[PathBuf],
    ignore_missing: bool,
) -> anyhow::Result<(Report, Vec<String>)> {
    let entries = isoforge_checksums::read_sums(sums)?;
    let sums_name = sums.display().to_string();
    let base = sums.parent().unwrap_or(Path::new(""));
    if files.is_empty() {
        let targets = check::targets(&sums_name, &entries, base, false)?;
        let report = check_local(&sums_name, entries.len(), targets, ignore_missing);
        return Ok((report, Vec::new()));
    }
    let mut targets = Vec::new();
    let mut unlisted = Vec::new();
    for file in files {
        let matching = listed_as(&entries, file);
        if matching.is_empty() {
            unlisted.push(file);
        }
        targets.extend(matching.into_iter().map(|listed| Target {
            listed: listed.clone(),
            path: file.clone(),
        }));
    }
    let report = check_local(&sums_name, entries.len(), targets, ignore_missing);
    let mut extra = Vec::new();
    for file in unlisted {
        // Not published under this name: an anomaly, with its digest for the report.
        let got = isoforge_checksums::sha256_file(file)
            .map(|d| format!("got {d}"))
            .unwrap_or_else(|e| format!("cannot read it: {e}"));
        println!("{}: FAILED (not listed)", file.display());
        extra.push(format!(
            "supply-chain anomaly: {}: not listed in {sums_name}, {got}",
            file.display()
        ));
    }
    Ok((report, extra))
}

/// The entries a FILE argument stands for: listed under the path as given, or else under its
/// file name.
fn listed_as<'a>(entries: &'a [Listed], file: &Path) -> Vec<&'a Listed> {
    let as_given = file.to_string_lossy();
    let as_given = as_given.strip_prefix("./").unwrap_or(&as_given);
    let by_path: Vec<&Listed> = entries
        .iter()
        .filter(|l| l.entry.name.strip_prefix("./").unwrap_or(&l.entry.name) == as_given)
        .collect();
    if !by_path.is_empty() {
        return by_path;
    }
    let Some(file_name) = file.file_name().map(|n| n.to_string_lossy()) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|l| {
            Path::new(&l.entry.name)
                .file_name()
                .map(|n| n.to_string_lossy())
                == Some(file_name.clone())
        })
        .collect()
}

/// `isoforge check --release DIR`
pub(crate) fn check_dir(dir: &Path, ignore_missing: bool) -> anyhow::Result<Report> {
    let sums = dir.join(SUMS_NAME);
    if !dir.is_dir() {
        bail!("{}: no such release directory", dir.display());
    }
    let entries = isoforge_checksums::read_sums(&sums)?;
    let sums_name = sums.display().to_string();
    let targets = check::targets(&sums_name, &entries, dir, true)?;
    Ok(check_local(
        &sums_name,
        entries.len(),
        targets,
        ignore_missing,
    ))
}

/// Hashes local files one by one, printing sha256sum's verdict line as each finishes.
fn check_local(
    sums_name: &str,
    listed: usize,
    targets: Vec<Target>,
    ignore_missing: bool,
) -> Report {
    let mut report = Report {
        sums_name: sums_name.to_string(),
        listed,
        checked: Vec::new(),
        ignored_missing: 0,
    };
    let tty = io::stderr().is_terminal();
    for target in targets {
        let mut bar: Option<ProgressBar> = None;
        let one =
            check::check_targets(
                sums_name,
                listed,
                vec![target],
                ignore_missing,
                &mut |p| match p {
                    Progress::Start { name, len } if tty => {
                        bar = Some(bytes_bar(len, &format!("hashing {name}")));
                    }
                    Progress::Bytes(n) => {
                        if let Some(b) = &bar {
                            b.inc(n);
                        }
                    }
                    Progress::Done => {
                        if let Some(b) = bar.take() {
                            b.finish_and_clear();
                        }
                    }
                    // Without a terminal, say so before a long hash (a 1 GB ISO).
                    Progress::Start {
                        name,
                        len: Some(len),
                    } if len >= 256 << 20 => {
                        eprintln!("hashing {name} ({} MiB)", len >> 20);
                    }
                    Progress::Start { .. } => {}
                },
            );
        report.ignored_missing += one.ignored_missing;
        for c in one.checked {
            println!("{}", c.status_line());
            report.checked.push(c);
        }
    }
    report
}

fn bytes_bar(len: Option<u64>, message: &str) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                .expect("the template is valid"),
        ),
    };
    bar.set_message(message.to_string());
    bar
}

/// `isoforge check --release URL`
fn check_url(url: &str, args: &Args) -> anyhow::Result<Report> {
    let base = release_base(url);
    if base.starts_with("http://") && !isoforge_http::is_loopback(base) {
        eprintln!(
            "note: {base} is plain http: anyone on the path can replace SHA256SUMS and the files \
             together; prefer https"
        );
    }
    let temp;
    let dir = match &args.download_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| {
                format!("{}: cannot create the download directory", d.display())
            })?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("isoforge-release-")
                .tempdir()
                .context("cannot create a temporary download directory")?;
            temp.path().to_path_buf()
        }
    };
    let http = args.http.agent();

    let sums_url = format!("{base}/{SUMS_NAME}");
    let sums_path = dir.join(SUMS_NAME);
    let (_, fetched) = download(&http, &sums_url, &sums_path, Cap::Sums)?;
    if fetched == Fetched::NotFound {
        bail!("{sums_url}: not found (HTTP 404); is {base} a release?");
    }
    let text = std::fs::read(&sums_path)
        .with_context(|| format!("{}: cannot read", sums_path.display()))?;
    let entries = isoforge_checksums::parse(&sums_url, &text)?;
    let targets = check::targets(&sums_url, &entries, &dir, true)?;
    let mut report = Report {
        sums_name: sums_url.clone(),
        listed: entries.len(),
        checked: Vec::new(),
        ignored_missing: 0,
    };
    for target in targets {
        let rel = check::confined(&target.listed.entry.name).map_err(anyhow::Error::msg)?;
        let file_url = format!("{base}/{}", url_path(&rel));
        if let Some(parent) = target.path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("{}: cannot create", parent.display()))?;
        }
        let (digest, fetched) = download(
            &http,
            &file_url,
            &target.path,
            Cap::File(args.max_file_size),
        )?;
        let status = match fetched {
            Fetched::NotFound if args.ignore_missing => {
                report.ignored_missing += 1;
                continue;
            }
            Fetched::NotFound => Status::Missing,
            Fetched::Complete => check::status_for(target.listed.entry.digest, digest),
        };
        let checked = Checked { target, status };
        println!("{}", checked.status_line());
        report.checked.push(checked);
    }
    if let Some(d) = &args.download_dir {
        eprintln!("downloads kept in {}", d.display());
    }
    Ok(report)
}

/// The release's base URL: without a trailing slash, and without a final `/SHA256SUMS`.
fn release_base(url: &str) -> &str {
    let url = url.trim_end_matches('/');
    url.strip_suffix(&format!("/{SUMS_NAME}")).unwrap_or(url)
}

/// Percent-encodes each component of a relative path for a URL.
fn url_path(rel: &Path) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    rel.components()
        .map(|c| {
            percent_encoding::utf8_percent_encode(&c.as_os_str().to_string_lossy(), SEGMENT)
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[derive(Debug, PartialEq, Eq)]
enum Fetched {
    Complete,
    NotFound,
}

/// Streams `url` into `dest` through the bounded agent (a temporary file beside it, renamed
/// when complete), hashing the bytes on the way. HTTP 404 and 410 are "not found"; any other
/// failure is an error, because a network problem is not evidence of tampering.
/// The size cap of one download, and what to say when it is hit.
#[derive(Debug, Clone, Copy)]
enum Cap {
    Sums,
    File(u64),
}

fn download(
    http: &isoforge_http::Http,
    url: &str,
    dest: &Path,
    cap: Cap,
) -> anyhow::Result<(Sha256Digest, Fetched)> {
    let limit = match cap {
        Cap::Sums => SUMS_LIMIT,
        Cap::File(n) => n,
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tty = io::stderr().is_terminal();
    if !tty {
        eprintln!("downloading {url}");
    }
    let start = Instant::now();
    let mut bar: Option<ProgressBar> = None;
    let got = http.download_to_file(url, dest, limit, &mut |p| match p {
        isoforge_http::Progress::Start { len } if tty => {
            bar = Some(bytes_bar(len, &format!("downloading {name}")));
        }
        isoforge_http::Progress::Bytes(n) => {
            if let Some(b) = &bar {
                b.inc(n);
            }
        }
        isoforge_http::Progress::Start { .. } => {}
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let got = match got {
        Ok(got) => got,
        Err(e) if matches!(e.status(), Some(404 | 410)) => {
            return Ok((Sha256Digest([0; 32]), Fetched::NotFound));
        }
        Err(e @ isoforge_http::Error::Status { .. }) => bail!(
            "{e}; try again later, or download the files and run isoforge check --release DIR"
        ),
        Err(e @ isoforge_http::Error::TooLarge { .. }) if matches!(cap, Cap::Sums) => {
            bail!("{e}; a sums file is not that large: is this a release?")
        }
        Err(e @ isoforge_http::Error::TooLarge { .. }) => {
            bail!("{e}; if the release really is larger, raise --max-file-size")
        }
        Err(e) => bail!("download failed: {e}"),
    };
    if !tty {
        eprintln!(
            "downloaded {name}: {} bytes in {:.1} s",
            got.bytes,
            start.elapsed().as_secs_f64()
        );
    }
    Ok((Sha256Digest(got.sha256), Fetched::Complete))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_urls() {
        assert_eq!(release_base("https://h/r/v1/"), "https://h/r/v1");
        assert_eq!(release_base("https://h/r/v1/SHA256SUMS"), "https://h/r/v1");
        assert_eq!(url_path(Path::new("sub/a b#1.iso")), "sub/a%20b%231.iso");
    }

    #[test]
    fn files_match_by_path_then_name() {
        let text = format!("{0}  x.iso\n{0}  sub/x.iso\n{0}  y.iso\n", "0".repeat(64));
        let entries = isoforge_checksums::parse("S", text.as_bytes()).unwrap();
        let names = |f: &str| -> Vec<usize> {
            listed_as(&entries, Path::new(f))
                .iter()
                .map(|l| l.line)
                .collect()
        };
        assert_eq!(names("./sub/x.iso"), [2]);
        assert_eq!(names("/downloads/y.iso"), [3]);
        assert_eq!(names("/downloads/x.iso"), [1, 2]);
        assert!(names("z.iso").is_empty());
    }
}
