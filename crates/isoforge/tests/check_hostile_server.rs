//! `isoforge check --release URL` against loopback servers that misbehave: one that sends
//! headers and then stalls mid-body, one that sends an endless body, one whose SHA256SUMS
//! never ends. Each run ends with a one-line error (exit 2) within its limits, and nothing of
//! the download is left on disk.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const DIGEST: &str = "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// A server whose SHA256SUMS lists `a.iso`, answered by `iso` (or by `sums` for SHA256SUMS).
fn serve(sums: fn(&mut TcpStream), iso: fn(&mut TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                reader.read_line(&mut line).unwrap();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                if line.contains("/SHA256SUMS ") {
                    sums(&mut stream);
                } else {
                    iso(&mut stream);
                }
            });
        }
    });
    format!("http://{addr}/release")
}

fn good_sums(s: &mut TcpStream) {
    let body = format!("{DIGEST}  a.iso\n");
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
}

fn check(url: &str, download_dir: &Path, extra: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .args(["check", "--release", url, "--download-dir"])
        .arg(download_dir)
        .args(extra)
        .output()
        .unwrap();
    (out, start.elapsed())
}

fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{stderr}");
    errors[0].to_string()
}

/// Files under `dir` and their total size.
fn disk_use(dir: &Path) -> (Vec<String>, u64) {
    let mut names = Vec::new();
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        total += e.metadata().unwrap().len();
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    (names, total)
}

#[test]
fn a_server_that_stalls_mid_body_is_given_up_at_the_idle_timeout() {
    let url = serve(good_sums, |s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n");
        let _ = s.write_all(&[0u8; 4096]);
        std::thread::sleep(Duration::from_secs(60));
    });
    let dir = tempfile::tempdir().unwrap();
    let (out, took) = check(&url, dir.path(), &["--idle-timeout", "2"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "{took:?}"
    );
    let line = error_line(&out);
    assert!(
        line.contains("a.iso")
            && line.contains("idle timeout")
            && line.contains("after 4096 bytes"),
        "{line}"
    );
    // SHA256SUMS was complete and stays; nothing of the ISO does.
    assert_eq!(disk_use(dir.path()).0, ["SHA256SUMS"]);
}

#[test]
fn an_endless_body_stops_at_the_size_cap_with_nothing_kept() {
    let url = serve(good_sums, |s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let chunk = vec![0u8; 64 * 1024];
        while s.write_all(&chunk).is_ok() {}
    });
    let dir = tempfile::tempdir().unwrap();
    let (out, took) = check(&url, dir.path(), &["--max-file-size", "8M"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    let line = error_line(&out);
    assert!(
        line.contains("a.iso")
            && line.contains("8388608 bytes")
            && line.contains("--max-file-size"),
        "{line}"
    );
    let (names, bytes) = disk_use(dir.path());
    assert_eq!(names, ["SHA256SUMS"]);
    assert!(bytes < 1000, "{bytes}");
}

#[test]
fn an_endless_sums_file_is_refused_at_4_mib() {
    let url = serve(
        |s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            let line = format!("{DIGEST}  a.iso\n").repeat(1000);
            while s.write_all(line.as_bytes()).is_ok() {}
        },
        |_| {},
    );
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = check(&url, dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let line = error_line(&out);
    assert!(
        line.contains("SHA256SUMS") && line.contains("4194304 bytes"),
        "{line}"
    );
    assert_eq!(disk_use(dir.path()), (Vec::new(), 0));
}

#[test]
fn without_a_download_dir_the_temporary_directory_goes_too() {
    let url = serve(good_sums, |s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let chunk = vec![0u8; 64 * 1024];
        while s.write_all(&chunk).is_ok() {}
    });
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .args(["check", "--release", &url, "--max-file-size", "1M"])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(disk_use(tmp.path()), (Vec::new(), 0));
}
