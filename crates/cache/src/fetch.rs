//! Downloading what the cache lacks: several workers, each item's URLs in order, retries
//! with exponential backoff for what may pass (timeouts, resets, 5xx, 429), none for what
//! will not (404, a host that does not resolve or refuses connections).

use std::collections::HashSet;
use std::fs::File;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use isoforge_exec::{Stage, cancel};
use isoforge_http::{Http, Limits};

use crate::{Cache, Error, Lookup};

/// One file to have in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// How messages name it, e.g. `libc6 2.36-9+deb12u14 amd64`.
    pub label: String,
    pub sha256: String,
    pub size: u64,
    /// Where it may be fetched from, in order of preference.
    pub urls: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Parallel downloads.
    pub workers: usize,
    /// Further tries after a transient failure.
    pub retries: u32,
    /// The first backoff; each further one doubles.
    pub backoff: Duration,
    /// Timeouts for each request (the size cap is each item's own size).
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: 4,
            retries: 4,
            backoff: Duration::from_secs(1),
            limits: Limits {
                connect: Duration::from_secs(15),
                idle: Duration::from_secs(60),
                total: Duration::from_secs(1800),
            },
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Items already in the cache with the right hash.
    pub cached: usize,
    /// Items downloaded now.
    pub fetched: usize,
    pub bytes_fetched: u64,
    /// `(label, actual sha256)` of cache entries found corrupt (deleted, then refetched).
    pub corrupt: Vec<(String, String)>,
    /// Transient failures that a retry overcame.
    pub retried: usize,
}

enum Failure {
    /// Worth another try after a pause.
    Transient(String),
    /// This URL will not serve it (404, wrong content).
    Permanent(String),
    /// The host cannot be reached at all: skip it for the rest of the run.
    Unreachable(String),
}

fn host_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or("")),
        None => url.to_string(),
    }
}

fn classify(e: isoforge_http::Error) -> Failure {
    // A name that does not resolve or a refused connection will not heal in seconds.
    if e.is_unreachable() {
        Failure::Unreachable(e.to_string())
    } else if e.is_transient() {
        Failure::Transient(e.to_string())
    } else {
        Failure::Permanent(e.to_string())
    }
}

/// One try of `url` into the cache.
fn attempt(cache: &Cache, http: &Http, item: &Item, url: &str) -> Result<u64, Failure> {
    let stored = if let Some(path) = url.strip_prefix("file://") {
        let f = File::open(path).map_err(|e| Failure::Permanent(format!("{path}: {e}")))?;
        cache.insert(&item.sha256, Some(item.size), f)
    } else {
        // One byte over the locked size is enough for the cache to see the content is wrong.
        let body = http
            .open(url, item.size.saturating_add(1))
            .map_err(classify)?;
        cache.insert(&item.sha256, Some(item.size), body)
    };
    match stored {
        Ok(Ok(_)) => Ok(item.size),
        Ok(Err(actual)) => Err(Failure::Permanent(format!(
            "wrong content: sha256 {actual}, expected {} ({} bytes); not kept",
            item.sha256, item.size
        ))),
        Err(Error::Interrupted(m)) => Err(Failure::Transient(m)),
        Err(e) => Err(Failure::Permanent(e.to_string())),
    }
}

/// Makes sure every item is in the cache with the right content.
pub fn fetch(
    cache: &Cache,
    items: &[Item],
    opts: &Options,
    stage: &Stage,
) -> Result<Report, Error> {
    let http = Http::new(opts.limits);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let down: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    let report = Mutex::new(Report::default());
    let failures: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    let fatal: Mutex<Option<Error>> = Mutex::new(None);
    let total = items.len();
    let total_mb = items.iter().map(|i| i.size).sum::<u64>() as f64 / 1e6;

    std::thread::scope(|s| {
        for _ in 0..opts.workers.max(1) {
            s.spawn(|| {
                loop {
                    if cancel::is_cancelled() || fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { return };
                    let mut corrupt = None;
                    match cache.lookup(&item.sha256) {
                        Ok(Lookup::Valid(_)) => {
                            if let Ok(mut r) = report.lock() {
                                r.cached += 1;
                            }
                            done.fetch_add(1, Ordering::SeqCst);
                            continue;
                        }
                        Ok(Lookup::Missing) => {}
                        Ok(Lookup::Corrupt { actual }) => corrupt = Some(actual),
                        Err(e) => {
                            if let Ok(mut f) = fatal.lock() {
                                *f = Some(e);
                            }
                            return;
                        }
                    }
                    let mut reasons: Vec<String> = Vec::new();
                    let mut got = false;
                    for url in &item.urls {
                        let host = host_of(url);
                        if down.lock().map(|d| d.contains(&host)).unwrap_or(false) {
                            reasons.push(format!("{host}: unreachable"));
                            continue;
                        }
                        let mut tries = 0;
                        let outcome = loop {
                            match attempt(cache, &http, item, url) {
                                Ok(n) => break Ok(n),
                                Err(Failure::Transient(m)) if tries < opts.retries => {
                                    if cancel::is_cancelled() {
                                        break Err(Failure::Permanent("cancelled".into()));
                                    }
                                    stage.message(&format!(
                                        "{}: {m}; retrying in {:?}",
                                        item.label,
                                        opts.backoff * 2u32.pow(tries)
                                    ));
                                    std::thread::sleep(opts.backoff * 2u32.pow(tries));
                                    tries += 1;
                                    if let Ok(mut r) = report.lock() {
                                        r.retried += 1;
                                    }
                                }
                                // Retries exhausted: give the host a rest for this run.
                                Err(Failure::Transient(m)) => {
                                    break Err(Failure::Unreachable(format!(
                                        "{m} (after {tries} retries)"
                                    )));
                                }
                                Err(f) => break Err(f),
                            }
                        };
                        match outcome {
                            Ok(n) => {
                                bytes.fetch_add(n, Ordering::SeqCst);
                                if let Ok(mut r) = report.lock() {
                                    r.fetched += 1;
                                    r.bytes_fetched += n;
                                }
                                got = true;
                                break;
                            }
                            Err(Failure::Unreachable(m)) => {
                                if let Ok(mut d) = down.lock() {
                                    d.insert(host.clone());
                                }
                                reasons.push(format!("{host}: {m}"));
                            }
                            Err(Failure::Transient(m) | Failure::Permanent(m)) => {
                                reasons.push(format!("{url}: {m}"));
                            }
                        }
                    }
                    if let Some(actual) = corrupt {
                        if let Ok(mut r) = report.lock() {
                            r.corrupt.push((item.label.clone(), actual.clone()));
                        }
                        if !got {
                            reasons.insert(
                                0,
                                format!(
                                    "the cached copy was corrupt (sha256 {actual}, expected {}) and was deleted",
                                    item.sha256
                                ),
                            );
                        }
                    }
                    if !got && let Ok(mut f) = failures.lock() {
                        f.push((i, format!("{}: {}", item.label, reasons.join("; "))));
                    }
                    let d = done.fetch_add(1, Ordering::SeqCst) + 1;
                    stage.message(&format!(
                        "{d}/{total} packages, {:.1} of {total_mb:.1} MB fetched: {}",
                        bytes.load(Ordering::SeqCst) as f64 / 1e6,
                        item.label
                    ));
                }
            });
        }
    });
    if let Some(e) = fatal.into_inner().ok().flatten() {
        return Err(e);
    }
    if cancel::is_cancelled() {
        return Err(Error::Cancelled);
    }
    let mut failures = failures.into_inner().unwrap_or_default();
    if !failures.is_empty() {
        failures.sort();
        let n = failures.len();
        let shown: Vec<String> = failures.iter().take(5).map(|(_, m)| m.clone()).collect();
        let more = if n > 5 {
            format!("; and {} more", n - 5)
        } else {
            String::new()
        };
        return Err(Error::Unavailable(format!(
            "{n} of {total} locked packages are not in the cache ({}) and could not be fetched: {}{more}. \
             A package that has left the mirror can only come from the snapshot or a cache that holds it: \
             run `isoforge lock` to re-pin to what the archive has now, or pass --cache-dir with a cache that has them",
            cache.root().display(),
            shown.join(" | ")
        )));
    }
    Ok(report.into_inner().unwrap_or_default())
}

/// Items that are neither cached (valid) nor answered by any of their URLs (HTTP HEAD, or an
/// existing file), with why: `(label, reasons)`. Nothing is downloaded.
pub fn available(
    cache: &Cache,
    items: &[Item],
    opts: &Options,
) -> Result<Vec<(String, String)>, Error> {
    let http = Http::new(opts.limits);
    let mut missing = Vec::new();
    let mut down: HashSet<String> = HashSet::new();
    for item in items {
        if let Lookup::Valid(_) = cache.lookup(&item.sha256)? {
            continue;
        }
        let mut reasons = Vec::new();
        let mut found = false;
        for url in &item.urls {
            let host = host_of(url);
            if down.contains(&host) {
                reasons.push(format!("{host}: unreachable"));
                continue;
            }
            if let Some(path) = url.strip_prefix("file://") {
                if std::path::Path::new(path).is_file() {
                    found = true;
                    break;
                }
                reasons.push(format!("{path}: no such file"));
                continue;
            }
            let answer = match http.head(url) {
                Ok(status) if (200..300).contains(&status) => Ok(()),
                Ok(status) => Err(isoforge_http::Error::Status {
                    url: url.clone(),
                    status,
                    retry_after: None,
                }),
                Err(e) => Err(e),
            };
            match answer {
                Ok(()) => {
                    found = true;
                    break;
                }
                Err(e) => match classify(e) {
                    Failure::Unreachable(m) => {
                        down.insert(host.clone());
                        reasons.push(format!("{host}: {m}"));
                    }
                    Failure::Transient(m) | Failure::Permanent(m) => {
                        reasons.push(format!("{url}: {m}"))
                    }
                },
            }
        }
        if !found {
            missing.push((item.label.clone(), reasons.join("; ")));
        }
    }
    Ok(missing)
}
