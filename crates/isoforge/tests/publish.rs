//! `isoforge publish` against a fake Gitea on loopback, started in the test. No Gitea server
//! can run on these machines, so the fake answers the endpoints publish uses with the JSON
//! shapes of Gitea's API documentation (Release, Attachment, `{"message": ...}` errors):
//! `GET /api/v1/repos/{owner}/{repo}/releases/tags/{tag}`, `POST .../releases`,
//! `GET .../releases/{id}/assets`, `POST .../releases/{id}/assets?name=` (multipart field
//! `attachment`) and the assets' `browser_download_url`. It can be told to fail requests.
//!
//! The output directory is real: a small ISO made by xorriso, BUILD_INFO, the provenance,
//! and SHA256SUMS written by sha256sum. Every run's stdout and stderr are searched for the
//! token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "gta_0123456789abcdef-SECRET-TOKEN";
const OWNER: &str = "SilverLABS";
const REPO: &str = "isoforge";
const TAG: &str = "v1.1.0";

#[derive(Default)]
struct Gitea {
    base: String,
    releases: Vec<Release>,
    /// Every request line, in order.
    log: Vec<String>,
    /// `(method and path prefix, status, handled first)`: the next matching request gets
    /// this status (0: no answer at all), after being carried out when the flag is set (an
    /// answer lost on the way).
    faults: Vec<(String, u16, bool)>,
    next_id: u64,
}

struct Release {
    id: u64,
    tag: String,
    assets: Vec<(u64, String, Vec<u8>)>,
}

type Shared = Arc<Mutex<Gitea>>;

impl Gitea {
    fn release_json(&self, r: &Release) -> String {
        let assets: Vec<String> = r
            .assets
            .iter()
            .map(|(id, name, bytes)| self.asset_json(r, *id, name, bytes))
            .collect();
        format!(
            r#"{{"id":{id},"tag_name":"{tag}","target_commitish":"main","name":"{tag}","body":"","url":"{b}/api/v1/repos/{OWNER}/{REPO}/releases/{id}","html_url":"{b}/{OWNER}/{REPO}/releases/tag/{tag}","tarball_url":"{b}/{OWNER}/{REPO}/archive/{tag}.tar.gz","zipball_url":"{b}/{OWNER}/{REPO}/archive/{tag}.zip","upload_url":"{b}/api/v1/repos/{OWNER}/{REPO}/releases/{id}/assets","draft":false,"prerelease":false,"created_at":"2026-12-01T00:00:00Z","published_at":"2026-12-01T00:00:00Z","author":{{"id":1,"login":"ci"}},"assets":[{a}]}}"#,
            id = r.id,
            tag = r.tag,
            b = self.base,
            a = assets.join(",")
        )
    }

    fn asset_json(&self, r: &Release, id: u64, name: &str, bytes: &[u8]) -> String {
        format!(
            r#"{{"id":{id},"name":"{name}","size":{size},"download_count":0,"created_at":"2026-12-01T00:00:00Z","uuid":"00000000-0000-0000-0000-{id:012}","browser_download_url":"{b}/{OWNER}/{REPO}/releases/download/{tag}/{name}"}}"#,
            size = bytes.len(),
            b = self.base,
            tag = r.tag
        )
    }
}

fn start() -> Shared {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(Gitea {
        base,
        next_id: 1,
        ..Gitea::default()
    }));
    let shared = Arc::clone(&state);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let s = Arc::clone(&shared);
            std::thread::spawn(move || handle(stream, &s));
        }
    });
    state
}

fn handle(mut stream: TcpStream, state: &Shared) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let len: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let (status, extra, answer) = route(
        state,
        &method,
        &target,
        header("authorization"),
        header("content-type"),
        &body,
    );
    if status == 0 {
        // A server that took the request and went silent.
        std::thread::sleep(std::time::Duration::from_secs(30));
        return;
    }
    let reason = match status {
        200 => "OK",
        201 => "Created",
        404 => "Not Found",
        401 => "Unauthorized",
        503 => "Service Unavailable",
        _ => "Other",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        answer.len()
    );
    let _ = stream.write_all(&answer);
}

fn json(status: u16, text: String) -> (u16, String, Vec<u8>) {
    (
        status,
        "Content-Type: application/json\r\n".into(),
        text.into_bytes(),
    )
}

fn route(
    state: &Shared,
    method: &str,
    target: &str,
    auth: Option<String>,
    content_type: Option<String>,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut g = state.lock().unwrap();
    g.log.push(format!("{method} {target}"));
    let g = &mut *g;
    let key = format!("{method} {target}");
    if let Some(i) = g
        .faults
        .iter()
        .position(|(p, _, _)| key.starts_with(p.as_str()))
    {
        let (_, status, handled) = g.faults.remove(i);
        if handled {
            api(g, method, target, auth, content_type, body);
        }
        return (
            status,
            "Retry-After: 1\r\n".into(),
            br#"{"message":"busy"}"#.to_vec(),
        );
    }
    api(g, method, target, auth, content_type, body)
}

fn api(
    g: &mut Gitea,
    method: &str,
    target: &str,
    auth: Option<String>,
    content_type: Option<String>,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let download = format!("/{OWNER}/{REPO}/releases/download/");
    if method == "GET" && path.starts_with(&download) {
        let rest = &path[download.len()..];
        let (tag, name) = rest.split_once('/').unwrap();
        let found = g
            .releases
            .iter()
            .find(|r| r.tag == tag)
            .and_then(|r| r.assets.iter().find(|a| a.1 == name))
            .map(|a| a.2.clone());
        return match found {
            Some(bytes) => (200, String::new(), bytes),
            None => json(404, r#"{"message":"Not Found"}"#.into()),
        };
    }
    if auth.as_deref() != Some(&format!("token {TOKEN}")) {
        // A careless server echoes what it got: publish must not show it.
        let got = auth.unwrap_or_default();
        return json(401, format!(r#"{{"message":"invalid token: {got}"}}"#));
    }
    let prefix = format!("/api/v1/repos/{OWNER}/{REPO}/releases");
    let Some(rest) = path.strip_prefix(&prefix) else {
        return json(404, r#"{"message":"The target couldn't be found."}"#.into());
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method, segments.as_slice()) {
        ("GET", ["tags", tag]) => match g.releases.iter().find(|r| r.tag == *tag) {
            Some(r) => json(200, g.release_json(r)),
            None => json(404, r#"{"message":"Not Found"}"#.into()),
        },
        ("POST", []) => {
            let doc: serde_json::Value = serde_json::from_slice(body).unwrap();
            let tag = doc["tag_name"].as_str().unwrap().to_string();
            if g.releases.iter().any(|r| r.tag == tag) {
                return json(409, r#"{"message":"Release is already created"}"#.into());
            }
            let id = g.next_id;
            g.next_id += 1;
            g.releases.push(Release {
                id,
                tag,
                assets: Vec::new(),
            });
            let r = g.releases.last().unwrap();
            json(201, g.release_json(r))
        }
        ("GET", [id, "assets"]) => {
            let id: u64 = id.parse().unwrap();
            match g.releases.iter().find(|r| r.id == id) {
                Some(r) => {
                    let list: Vec<String> = r
                        .assets
                        .iter()
                        .map(|(aid, n, b)| g.asset_json(r, *aid, n, b))
                        .collect();
                    json(200, format!("[{}]", list.join(",")))
                }
                None => json(404, r#"{"message":"Not Found"}"#.into()),
            }
        }
        ("POST", [id, "assets"]) => {
            let id: u64 = id.parse().unwrap();
            let name = query.strip_prefix("name=").unwrap().to_string();
            let bytes = attachment(content_type.as_deref().unwrap(), body);
            let aid = g.next_id;
            g.next_id += 1;
            let Some(r) = g.releases.iter_mut().find(|r| r.id == id) else {
                return json(404, r#"{"message":"Not Found"}"#.into());
            };
            r.assets.push((aid, name.clone(), bytes.clone()));
            let r = g.releases.iter().find(|r| r.id == id).unwrap();
            json(201, g.asset_json(r, aid, &name, &bytes))
        }
        _ => json(404, r#"{"message":"Not Found"}"#.into()),
    }
}

/// The bytes of the multipart field `attachment`.
fn attachment(content_type: &str, body: &[u8]) -> Vec<u8> {
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("multipart boundary");
    let head_end = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("part headers")
        + 4;
    let head = String::from_utf8_lossy(&body[..head_end]);
    assert!(head.contains("name=\"attachment\""), "{head}");
    let tail = format!("\r\n--{boundary}--\r\n");
    assert!(body.ends_with(tail.as_bytes()));
    body[head_end..body.len() - tail.len()].to_vec()
}

/// A real output directory: a small ISO by xorriso, BUILD_INFO, the provenance, and
/// SHA256SUMS by sha256sum.
fn output_dir(dir: &Path) -> PathBuf {
    let out = dir.join("output");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("live")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(tree.join("live/filesystem.txt"), vec![b'x'; 300_000]).unwrap();
    let made = Command::new("xorriso")
        .args(["-no_rc", "-as", "mkisofs", "-R", "-J", "-V", "TEST", "-o"])
        .arg(out.join("silvermetal-1.1.0-amd64.iso"))
        .arg(&tree)
        .output()
        .expect("xorriso must be installed");
    assert!(made.status.success(), "{made:?}");
    std::fs::write(
        out.join("BUILD_INFO"),
        "Format: 1.0\nProduct: silvermetal\nVersion: 1.1.0\n",
    )
    .unwrap();
    std::fs::write(
        out.join("silvermetal-1.1.0-amd64.iso.intoto.json"),
        r#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}"#,
    )
    .unwrap();
    let sums = Command::new("sha256sum")
        // As a build writes it: the provenance (unique per build) is not listed.
        .args(["silvermetal-1.1.0-amd64.iso", "BUILD_INFO"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(sums.status.success());
    std::fs::write(out.join("SHA256SUMS"), &sums.stdout).unwrap();
    out
}

fn publish(gitea: &Shared, out: &Path, token: &str, repo: &str) -> (Output, String) {
    let base = gitea.lock().unwrap().base.clone();
    let o = Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .args(["publish"])
        .arg(out)
        .args(["--gitea", &base, "--repo", repo, "--tag", TAG])
        .args(["--config", "/nonexistent"])
        .env("GITEA_TOKEN", token)
        // A proxy in the environment is not used for loopback: the token stays here.
        .env("ALL_PROXY", "http://127.0.0.1:9")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if std::env::var_os("SHOW_PUBLISH_OUTPUT").is_some() {
        eprintln!("----- exit {:?}\n{all}", o.status.code());
    }
    assert!(!all.contains(token), "the token was printed:\n{all}");
    assert!(
        !all.contains("SECRET"),
        "part of the token was printed:\n{all}"
    );
    (o, all)
}

fn the_repo() -> String {
    format!("{OWNER}/{REPO}")
}

/// `(name, bytes)` of each asset on the tag's release, sorted by name.
fn published(gitea: &Shared) -> Vec<(String, Vec<u8>)> {
    let g = gitea.lock().unwrap();
    let r: Vec<&Release> = g.releases.iter().filter(|r| r.tag == TAG).collect();
    assert_eq!(r.len(), 1, "one release for the tag");
    let mut assets: Vec<(String, Vec<u8>)> = r[0]
        .assets
        .iter()
        .map(|(_, n, b)| (n.clone(), b.clone()))
        .collect();
    assets.sort();
    assets
}

fn local(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn error_lines(all: &str) -> Vec<&str> {
    all.lines().filter(|l| l.contains("error")).collect()
}

#[test]
fn publishing_twice_gives_one_release_with_each_asset_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = output_dir(tmp.path());
    let gitea = start();
    let (o, all) = publish(&gitea, &out, TOKEN, &the_repo());
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert!(all.contains("4 uploaded, 0 already there"), "{all}");
    assert_eq!(published(&gitea), local(&out));

    let (o, all) = publish(&gitea, &out, TOKEN, &the_repo());
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert!(all.contains("0 uploaded, 4 already there"), "{all}");
    assert_eq!(published(&gitea), local(&out));
    // The second run compared by downloading each asset.
    let g = gitea.lock().unwrap();
    let downloads = g
        .log
        .iter()
        .filter(|l| l.contains("/releases/download/"))
        .count();
    assert_eq!(downloads, 4, "{:?}", g.log);
    // SHA256SUMS goes last: a release that has it is complete.
    let uploads: Vec<&String> = g
        .log
        .iter()
        .filter(|l| l.contains("/assets?name="))
        .collect();
    assert!(uploads[3].ends_with("name=SHA256SUMS"), "{uploads:?}");
}

#[test]
fn a_half_finished_run_is_completed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = output_dir(tmp.path());
    let gitea = start();
    {
        // An earlier run created the release and uploaded two files, then died.
        let mut g = gitea.lock().unwrap();
        let iso = std::fs::read(out.join("silvermetal-1.1.0-amd64.iso")).unwrap();
        let info = std::fs::read(out.join("BUILD_INFO")).unwrap();
        g.releases.push(Release {
            id: 40,
            tag: TAG.into(),
            assets: vec![
                (41, "silvermetal-1.1.0-amd64.iso".into(), iso),
                (42, "BUILD_INFO".into(), info),
            ],
        });
        g.next_id = 50;
    }
    let (o, all) = publish(&gitea, &out, TOKEN, &the_repo());
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert!(
        all.contains("2 uploaded, 2 already there (release id 40)"),
        "{all}"
    );
    assert_eq!(published(&gitea), local(&out));
}

#[test]
fn a_tampered_iso_is_refused_before_any_request() {
    let tmp = tempfile::tempdir().unwrap();
    let out = output_dir(tmp.path());
    let iso = out.join("silvermetal-1.1.0-amd64.iso");
    let mut bytes = std::fs::read(&iso).unwrap();
    bytes[40_000] ^= 1;
    std::fs::write(&iso, bytes).unwrap();
    let gitea = start();
    let (o, all) = publish(&gitea, &out, TOKEN, &the_repo());
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("supply-chain anomaly"), "{all}");
    assert!(all.contains("nothing was uploaded"), "{all}");
    assert!(gitea.lock().unwrap().log.is_empty(), "no request at all");
}

#[test]
fn a_symlinked_asset_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = output_dir(tmp.path());
    // Same bytes, so the check passes; but publish never follows a link out of the directory.
    let elsewhere = tmp.path().join("host-file");
    std::fs::rename(out.join("BUILD_INFO"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("BUILD_INFO")).unwrap();
    let gitea = start();
    let (o, all) = publish(&gitea, &out, TOKEN, &the_repo());
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert_eq!(error_lines(&all).len(), 1, "{all}");
    assert!(
        all.contains("BUILD_INFO: cannot open (a symlink is refused)"),
        "{all}"
    );
    assert!(gitea.lock().unwrap().log.is_empty());
}

#[test]
fn a_missing_provenance_is_refused_before_any_request() {
    let tmp = tempfile::tempdir().unwrap();
    let out = output_dir(tmp.path());
    std::fs::remove_file(out.join("silvermetal-1.1.0-amd64.iso.intoto.json")).unwrap();
    let gitea = start();
    let (o, all) = publish(&gitea, &out, TOKEN, &the_repo());
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert_eq!(error_lines(&all).len(), 1, "{all}");
    assert!(all.contains("the ISO's provenance is missing"), "{all}");
    assert!(gitea.lock().unwrap().log.is_empty());
}

#[test]
fn an_existing_asset_with_other_bytes_is_an_error_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let out = output_dir(tmp.path());
    let gitea = start();
    let info = std::fs::read(out.join("BUILD_INFO")).unwrap();
    let mut other = info.clone();
    other[0] ^= 1; // same size, other bytes: only the download tells
    gitea.lock().unwrap().releases.push(Release {
        id: 7,
        tag: TAG.into(),
        assets: vec![(8, "BUILD_INFO".into(), other.clone())],
    });
    gitea.lock().unwrap().next_id = 9;
    let (o, all) = publish(&gitea, &out, TOKEN, &the_repo());
    assert_eq!(o.status.code(), Some(2), "{all}");
    let errors = error_lines(&all);
    assert_eq!(errors.len(), 1, "{all}");
    assert!(
        errors[0].contains(
            "BUILD_INFO: release v1.1.0 already has an asset of this name with other bytes (sha256"
        ) && errors[0].contains("never overwritten"),
        "{all}"
    );
    let g = gitea.lock().unwrap();
    let assets = &g.releases[0].assets;
    assert!(
        assets.iter().any(|a| a.1 == "BUILD_INFO" && a.2 == other),
        "kept as it was"
    );
    assert!(!assets.iter().any(|a| a.1 == "BUILD_INFO" && a.2 == info));
    assert_eq!(assets.len(), 1, "nothing uploaded after a conflict");
    assert!(!g.log.iter().any(|l| l.starts_with("POST")), "{:?}", g.log);
}

#[test]
fn unauthorized_and_not_found_are_one_line_each() {
    let tmp = tempfile::tempdir().unwrap();
    let out = output_dir(tmp.path());
    let gitea = start();
    let wrong = "gta_wrong-SECRET-value";
    let (o, all) = publish(&gitea, &out, wrong, &the_repo());
    assert_eq!(o.status.code(), Some(2), "{all}");
    let errors = error_lines(&all);
    assert_eq!(errors.len(), 1, "{all}");
    assert!(
        errors[0].contains("HTTP 401: the token in GITEA_TOKEN was refused"),
        "{all}"
    );
    // The server echoed the token back; it is shown redacted.
    assert!(errors[0].contains("<redacted>"), "{all}");

    let (o, all) = publish(&gitea, &out, TOKEN, "SilverLABS/elsewhere");
    assert_eq!(o.status.code(), Some(2), "{all}");
    let errors = error_lines(&all);
    assert_eq!(errors.len(), 1, "{all}");
    assert!(
        errors[0].contains("HTTP 404: no repository SilverLABS/elsewhere"),
        "{all}"
    );
    assert!(gitea.lock().unwrap().releases.is_empty());
}

#[test]
fn a_503_then_success_is_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let out = output_dir(tmp.path());
    let gitea = start();
    {
        let mut g = gitea.lock().unwrap();
        g.faults.push((
            format!("GET /api/v1/repos/{OWNER}/{REPO}/releases/tags/"),
            503,
            false,
        ));
        g.faults.push((
            format!("POST /api/v1/repos/{OWNER}/{REPO}/releases/1/assets?name=BUILD_INFO"),
            503,
            false,
        ));
        g.faults.push((
            format!("POST /api/v1/repos/{OWNER}/{REPO}/releases/1/assets?name=SHA256SUMS"),
            429,
            false,
        ));
    }
    let (o, all) = publish(&gitea, &out, TOKEN, &the_repo());
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert_eq!(
        all.matches("trying again in 1.0 s").count(),
        3,
        "Retry-After respected:\n{all}"
    );
    assert_eq!(published(&gitea), local(&out));
}

#[test]
fn the_token_is_refused_over_plain_http_and_required() {
    let tmp = tempfile::tempdir().unwrap();
    let out = output_dir(tmp.path());
    let o = Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .args(["publish"])
        .arg(&out)
        .args([
            "--gitea",
            "http://git.example.org",
            "--repo",
            "a/b",
            "--tag",
            TAG,
        ])
        .env("GITEA_TOKEN", TOKEN)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(
        all.contains("refusing to send the token over plain http"),
        "{all}"
    );
    assert!(!all.contains(TOKEN));

    let o = Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .args(["publish"])
        .arg(&out)
        .args([
            "--gitea",
            "https://git.example.org",
            "--repo",
            "a/b",
            "--tag",
            TAG,
        ])
        .env_remove("GITEA_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("GITEA_TOKEN is not set"));
}

#[test]
fn an_upload_whose_answer_was_lost_is_not_repeated() {
    let tmp = tempfile::tempdir().unwrap();
    let out = output_dir(tmp.path());
    let gitea = start();
    gitea.lock().unwrap().faults.push((
        format!(
            "POST /api/v1/repos/{OWNER}/{REPO}/releases/1/assets?name=silvermetal-1.1.0-amd64.iso"
        ),
        502,
        true,
    ));
    let (o, all) = publish(&gitea, &out, TOKEN, &the_repo());
    assert_eq!(o.status.code(), Some(0), "{all}");
    assert!(all.contains("the earlier try arrived whole"), "{all}");
    assert_eq!(published(&gitea), local(&out), "each asset once");
}

#[test]
fn forbidden_and_conflict_are_one_line_each() {
    let tmp = tempfile::tempdir().unwrap();
    let out = output_dir(tmp.path());
    for (fault, status, says) in [
        (
            format!("POST /api/v1/repos/{OWNER}/{REPO}/releases"),
            403,
            "HTTP 403: the token may not do this: it needs the write:repository scope",
        ),
        (
            format!("POST /api/v1/repos/{OWNER}/{REPO}/releases/1/assets"),
            409,
            "uploading silvermetal-1.1.0-amd64.iso: HTTP 409: conflict",
        ),
    ] {
        let gitea = start();
        gitea
            .lock()
            .unwrap()
            .faults
            .push((fault.clone(), status, false));
        let (o, all) = publish(&gitea, &out, TOKEN, &the_repo());
        assert_eq!(o.status.code(), Some(2), "{all}");
        let errors = error_lines(&all);
        assert_eq!(errors.len(), 1, "{all}");
        assert!(errors[0].contains(says), "{all}");
        // Not retried.
        let g = gitea.lock().unwrap();
        let tries = g
            .log
            .iter()
            .filter(|l| l.starts_with(fault.as_str()))
            .count();
        assert_eq!(tries, 1, "{:?}", g.log);
    }
}

#[test]
fn a_silent_server_ends_at_the_idle_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let out = output_dir(tmp.path());
    let gitea = start();
    let base = {
        let mut g = gitea.lock().unwrap();
        g.faults.push(("GET /api/v1/".into(), 0, false));
        g.base.clone()
    };
    let start = std::time::Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .args(["publish"])
        .arg(&out)
        .args(["--gitea", &base, "--repo", &the_repo(), "--tag", TAG])
        .args(["--retries", "0", "--idle-timeout", "2"])
        .env("GITEA_TOKEN", TOKEN)
        .output()
        .unwrap();
    let took = start.elapsed();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    let errors = error_lines(&all);
    assert_eq!(errors.len(), 1, "{all}");
    assert!(errors[0].contains("(idle timeout)"), "{all}");
    assert!(!all.contains(TOKEN));
}
