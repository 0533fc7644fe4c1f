//! Fetching over real HTTP from a server on 127.0.0.1: retries with backoff on 503, no retry
//! on 404, wrong content never kept, a corrupt cache entry replaced, and an offline fetch of
//! an uncached package refused with what to do.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use isoforge_cache::{Cache, Item, Options, fetch};
use isoforge_exec::Progress;
use sha2::{Digest, Sha256};

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Serves `/good` (the body), `/flaky` (503 twice, then the body), `/wrong` (other bytes),
/// anything else 404. Records each request path. Handles at most `limit` connections.
fn server(body: &'static [u8], limit: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    let flaky = AtomicUsize::new(0);
    std::thread::spawn(move || {
        for stream in l.incoming().take(limit) {
            let Ok(mut s) = stream else { continue };
            let mut line = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            r.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() <= 2 {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(path.clone());
            let (status, payload): (&str, &[u8]) = match path.as_str() {
                "/good" => ("200 OK", body),
                "/flaky" if flaky.fetch_add(1, Ordering::SeqCst) < 2 => {
                    ("503 Service Unavailable", b"busy")
                }
                "/flaky" => ("200 OK", body),
                "/wrong" => ("200 OK", b"not the package"),
                _ => ("404 Not Found", b"no"),
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = s.write_all(payload);
        }
    });
    (base, log)
}

fn opts() -> Options {
    Options {
        workers: 2,
        retries: 3,
        backoff: Duration::from_millis(50),
        limits: isoforge_http::Limits {
            connect: Duration::from_secs(2),
            ..Default::default()
        },
    }
}

fn item(body: &[u8], urls: Vec<String>) -> Item {
    Item {
        label: "brand 1.0 all".into(),
        sha256: sha(body),
        size: body.len() as u64,
        urls,
    }
}

#[test]
fn retries_transient_failures_and_skips_404() {
    const BODY: &[u8] = b"a small .deb";
    let (base, log) = server(BODY, 20);
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let progress = Progress::plain(false);
    let stage = progress.stage("fetch");
    let it = item(
        BODY,
        vec![format!("{base}/missing"), format!("{base}/flaky")],
    );
    let r = fetch(&cache, std::slice::from_ref(&it), &opts(), &stage).unwrap();
    assert_eq!((r.fetched, r.retried, r.cached), (1, 2, 0));
    assert_eq!(
        *log.lock().unwrap(),
        vec!["/missing", "/flaky", "/flaky", "/flaky"],
        "404 is not retried, 503 is"
    );
    assert_eq!(std::fs::read(cache.path(&it.sha256)).unwrap(), BODY);
    // Second run: nothing to download.
    let r = fetch(&cache, std::slice::from_ref(&it), &opts(), &stage).unwrap();
    assert_eq!((r.fetched, r.cached), (0, 1));
    assert_eq!(log.lock().unwrap().len(), 4);
}

#[test]
fn wrong_content_is_never_kept_and_corruption_is_refetched() {
    const BODY: &[u8] = b"the real package";
    let (base, _) = server(BODY, 20);
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let progress = Progress::plain(false);
    let stage = progress.stage("fetch");
    let wrong = item(BODY, vec![format!("{base}/wrong")]);
    let e = fetch(&cache, std::slice::from_ref(&wrong), &opts(), &stage)
        .unwrap_err()
        .to_string();
    assert!(e.contains("wrong content: sha256"), "{e}");
    assert!(e.contains("run `isoforge lock`"), "{e}");
    assert!(!cache.path(&wrong.sha256).exists());
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );

    let good = item(BODY, vec![format!("{base}/wrong"), format!("{base}/good")]);
    fetch(&cache, std::slice::from_ref(&good), &opts(), &stage).unwrap();
    // Corrupt it on disk: the next fetch notices, deletes it and downloads it again.
    std::fs::write(cache.path(&good.sha256), b"flipped bits").unwrap();
    let r = fetch(&cache, std::slice::from_ref(&good), &opts(), &stage).unwrap();
    assert_eq!(r.corrupt, vec![(good.label.clone(), sha(b"flipped bits"))]);
    assert_eq!(r.fetched, 1);
    assert_eq!(std::fs::read(cache.path(&good.sha256)).unwrap(), BODY);
}

#[test]
fn offline_corruption_is_refused_with_both_hashes() {
    const BODY: &[u8] = b"cached once";
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let progress = Progress::plain(false);
    let stage = progress.stage("fetch");
    let src = dir.path().join("src.deb");
    std::fs::write(&src, BODY).unwrap();
    let it = item(BODY, vec![format!("file://{}", src.display())]);
    fetch(&cache, std::slice::from_ref(&it), &opts(), &stage).unwrap();
    std::fs::write(cache.path(&it.sha256), b"corrupted").unwrap();
    // Offline: nothing listens on port 9 of loopback.
    let offline = Item {
        urls: vec!["http://127.0.0.1:9/debian/pool/b/brand.deb".into()],
        ..it.clone()
    };
    let e = fetch(&cache, &[offline], &opts(), &stage)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "the cached copy was corrupt (sha256 {}, expected {})",
            sha(b"corrupted"),
            it.sha256
        )),
        "{e}"
    );
    assert!(e.contains("brand 1.0 all"), "{e}");
    assert!(!cache.path(&it.sha256).exists());
}

#[test]
fn an_unresolvable_host_is_skipped_without_retries() {
    const BODY: &[u8] = b"from the mirror";
    let (base, log) = server(BODY, 20);
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let progress = Progress::plain(false);
    let stage = progress.stage("fetch");
    let mut o = opts();
    o.backoff = Duration::from_secs(30);
    let started = std::time::Instant::now();
    let it = item(
        BODY,
        vec![
            "http://snapshot.invalid/x.deb".into(),
            format!("{base}/good"),
        ],
    );
    let r = fetch(&cache, &[it], &o, &stage).unwrap();
    assert_eq!((r.fetched, r.retried), (1, 0));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "no backoff on DNS failure"
    );
    assert_eq!(*log.lock().unwrap(), vec!["/good"]);
}

#[test]
fn an_endless_body_is_cut_just_past_the_locked_size_and_not_retried() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) <= 2 {
                        break;
                    }
                }
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                let chunk = vec![b'e'; 64 * 1024];
                while s.write_all(&chunk).is_ok() {}
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let progress = Progress::plain(false);
    let stage = progress.stage("fetch");
    let it = item(
        b"a 25-byte package payload",
        vec![format!("{base}/endless")],
    );
    let e = fetch(&cache, std::slice::from_ref(&it), &opts(), &stage)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("wrong content") && e.contains("(26 bytes)"),
        "{e}"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 1, "not retried");
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}
