//! The agent against loopback servers started here: one that stalls mid-body, one that never
//! stops sending, one that announces too much, one that is not there, and one that reads a
//! multipart upload back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use isoforge_http::{Error, Http, Kind, Limits, Method, Payload, Progress, Request};
use sha2::{Digest, Sha256};

fn limits(idle: u64, total: u64) -> Limits {
    Limits {
        connect: Duration::from_secs(5),
        idle: Duration::from_secs(idle),
        total: Duration::from_secs(total),
    }
}

/// Serves each connection with `answer(request head, body, stream)` on its own thread.
fn serve(answer: fn(String, Vec<u8>, &mut TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let (head, body) = read_request(&mut stream);
                answer(head, body, &mut stream);
            });
        }
    });
    format!("http://{addr}")
}

fn read_request(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (head, body)
}

fn no_progress() -> impl FnMut(Progress) {
    |_| {}
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_stall_mid_body_ends_at_the_idle_timeout_and_leaves_nothing() {
    let url = serve(|_, _, s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
        let _ = s.write_all(&[b'x'; 1000]);
        std::thread::sleep(Duration::from_secs(30));
    });
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let e = Http::new(limits(2, 60))
        .download_to_file(
            &format!("{url}/a.iso"),
            &dir.path().join("a.iso"),
            1 << 30,
            &mut no_progress(),
        )
        .unwrap_err();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert!(
        matches!(
            e,
            Error::Transport {
                kind: Kind::TimedOut,
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("idle timeout") && msg.contains("after 1000 bytes"),
        "{msg}"
    );
    assert!(e.is_transient());
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

#[test]
fn an_endless_body_stops_at_the_size_cap_and_leaves_nothing() {
    let url = serve(|_, _, s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let chunk = vec![b'y'; 64 * 1024];
        while s.write_all(&chunk).is_ok() {}
    });
    let dir = tempfile::tempdir().unwrap();
    let e = Http::new(limits(5, 60))
        .download_to_file(
            &format!("{url}/endless"),
            &dir.path().join("endless"),
            3 << 20,
            &mut no_progress(),
        )
        .unwrap_err();
    assert!(
        matches!(e, Error::TooLarge { limit, .. } if limit == 3 << 20),
        "{e:?}"
    );
    assert!(e.to_string().contains("nothing was kept"), "{e}");
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

#[test]
fn an_endless_slow_body_ends_at_the_total_timeout() {
    let url = serve(|_, _, s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        while s.write_all(b"z").is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let start = Instant::now();
    let e = Http::new(limits(2, 3))
        .get_to_writer(
            &format!("{url}/slow"),
            &mut Vec::new(),
            1 << 20,
            &mut no_progress(),
        )
        .unwrap_err();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert!(e.to_string().contains("total timeout"), "{e}");
}

#[test]
fn an_announced_length_over_the_cap_is_refused_before_reading() {
    let url = serve(|_, _, s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000000\r\n\r\n");
        std::thread::sleep(Duration::from_secs(5));
    });
    let start = Instant::now();
    let e = Http::new(limits(10, 60))
        .get_to_writer(
            &format!("{url}/big"),
            &mut Vec::new(),
            1000,
            &mut no_progress(),
        )
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(matches!(e, Error::TooLarge { limit: 1000, .. }), "{e:?}");
}

#[test]
fn exactly_the_cap_is_accepted_and_hashed_with_the_user_agent_sent() {
    let url = serve(|head, _, s| {
        // Echo the User-Agent back as the body, padded to 100 bytes.
        let ua = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("user-agent: ")
                    .or(l.strip_prefix("User-Agent: "))
            })
            .unwrap_or("none")
            .to_string();
        let body = format!("{ua:<100}");
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{body}");
    });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("ua");
    let got = Http::new(limits(5, 60))
        .download_to_file(&format!("{url}/ua"), &dest, 100, &mut no_progress())
        .unwrap();
    let bytes = std::fs::read(&dest).unwrap();
    assert_eq!(got.bytes, 100);
    assert_eq!(got.sha256, <[u8; 32]>::from(Sha256::digest(&bytes)));
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(
        text.trim_end(),
        format!("isoforge/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(leftovers(dir.path()), vec!["ua".to_string()]);
}

#[test]
fn a_refused_connection_is_unreachable_and_not_transient() {
    // Bind then drop: the port is free and nothing listens.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = Instant::now();
    let e = Http::new(limits(5, 60))
        .head(&format!("http://127.0.0.1:{port}/x"))
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(e.is_unreachable() && !e.is_transient(), "{e:?}");
}

#[test]
fn failure_statuses_carry_retry_after() {
    let url = serve(|_, _, s| {
        let _ = s.write_all(b"HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n");
    });
    let e = Http::new(limits(5, 60))
        .open(&format!("{url}/x"), 10)
        .err()
        .unwrap();
    assert!(
        matches!(e, Error::Status { status: 503, retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{e:?}"
    );
    assert!(e.is_transient());
}

#[test]
fn a_multipart_upload_arrives_whole() {
    let url = serve(|head, body, s| {
        // Answer with the request's content type, then the raw body.
        let ct = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(": ")?;
                k.eq_ignore_ascii_case("content-type")
                    .then(|| v.to_string())
            })
            .unwrap_or_default();
        let mut answer = format!("{ct}\n").into_bytes();
        answer.extend_from_slice(&body);
        let _ = write!(
            s,
            "HTTP/1.1 201 Created\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        let _ = s.write_all(&answer);
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.iso");
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &content).unwrap();
    let reply = Http::new(limits(5, 60))
        .call(Request {
            method: Method::Post,
            url: &format!("{url}/upload?name=a.iso"),
            token: None,
            payload: Payload::Attachment {
                field: "attachment",
                file_name: "a.iso",
                file: &std::fs::File::open(&file).unwrap(),
            },
            max_reply: 1 << 20,
        })
        .unwrap();
    assert_eq!(reply.status, 201);
    let nl = reply.body.iter().position(|&b| b == b'\n').unwrap();
    let ct = String::from_utf8(reply.body[..nl].to_vec()).unwrap();
    let boundary = ct
        .strip_prefix("multipart/form-data; boundary=")
        .expect(&ct);
    let body = &reply.body[nl + 1..];
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"a.iso\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    assert!(body.starts_with(head.as_bytes()));
    assert!(body.ends_with(tail.as_bytes()));
    assert_eq!(&body[head.len()..body.len() - tail.len()], &content[..]);
}
