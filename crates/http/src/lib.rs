//! The one HTTP agent. Every download (`check --release`, the package fetch, the snapshot
//! probe) and every upload (`publish`) goes through it, so each has a connect timeout, an idle
//! (per-read) timeout, a total timeout, a response size cap counted as the bytes stream, and
//! the `isoforge/<version>` User-Agent.
//!
//! Nothing is retried here: callers decide what deserves another try ([`Error::is_transient`]);
//! a refused connection or an unknown host never does ([`Error::is_unreachable`]). A token
//! ([`Secret`]) is sent only over https or to loopback, and never appears in an error or in
//! debug output.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub const USER_AGENT: &str = concat!("isoforge/", env!("CARGO_PKG_VERSION"));

/// How long the agent waits. Every limit is always set: there is no "wait for ever".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Resolving the name and establishing the connection (TLS included).
    pub connect: Duration,
    /// The longest single wait for the server (a read, or a write while uploading): a server
    /// that stalls this long is given up on.
    pub idle: Duration,
    /// The whole exchange, from resolving the name to the last byte of the response.
    pub total: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            total: Duration::from_secs(3600),
        }
    }
}

/// Why a request failed. Display is one line that names the URL (never a token).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url}: {reason}")]
    Transport {
        url: String,
        reason: String,
        kind: Kind,
    },
    #[error("{url}: the server answered HTTP {status}")]
    Status {
        url: String,
        status: u16,
        /// The server's `Retry-After`, when it gave one in seconds.
        retry_after: Option<Duration>,
    },
    #[error("{url}: the response is larger than the limit of {limit} bytes; nothing was kept")]
    TooLarge { url: String, limit: u64 },
    #[error(
        "{url}: refusing to send a token over plain http to a host that is not loopback; use https"
    )]
    Insecure { url: String },
    #[error(transparent)]
    Fs(#[from] isoforge_fs::Error),
    #[error("{}: cannot {op}: {source}", path.display())]
    File {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
}

/// What kind of transport failure it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The name does not resolve or the connection is refused: will not heal in seconds.
    Unreachable,
    /// A connect, idle or total timeout.
    TimedOut,
    /// The connection broke (reset, closed early).
    Broken,
    /// The URL or the server's answer is not valid HTTP.
    Invalid,
}

impl Error {
    /// Worth another try after a pause: a timeout, a broken connection, HTTP 5xx, 429 or 408.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { kind, .. } => matches!(kind, Kind::TimedOut | Kind::Broken),
            Error::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }

    /// The host cannot be reached at all (no retry helps).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::Transport {
                kind: Kind::Unreachable,
                ..
            }
        )
    }

    /// The HTTP status, when the server answered with a failure.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A credential for the `Authorization` header. It is not Display, and Debug hides it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The raw value, for checks that it appears nowhere (tests).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Whether a URL's host is loopback (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(url: &str) -> bool {
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A finished download: its length and SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    pub bytes: u64,
    pub sha256: [u8; 32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// What a [`Request`] sends.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    None,
    /// A serialized JSON document.
    Json(&'a [u8]),
    /// A file as one `multipart/form-data` field, streamed from the open file (from its
    /// start), so what is sent is what the caller checked.
    Attachment {
        field: &'a str,
        file_name: &'a str,
        file: &'a File,
    },
}

/// An API call: the answer is returned whatever its status, so the caller decides.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: Method,
    pub url: &'a str,
    pub token: Option<&'a Secret>,
    pub payload: Payload<'a>,
    /// The largest answer body read into memory.
    pub max_reply: u64,
}

/// A server's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// The agent. Cheap to clone (connections are pooled and shared).
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
    limits: Limits,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("limits", &self.limits)
            .finish()
    }
}

impl Http {
    pub fn new(limits: Limits) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_resolve(Some(limits.connect))
            .timeout_connect(Some(limits.connect))
            .timeout_per_read(Some(limits.idle))
            .timeout_per_write(Some(limits.idle))
            .timeout_global(Some(limits.total))
            .user_agent(USER_AGENT)
            .max_redirects(5)
            .build()
            .into();
        Self { agent, limits }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// HEAD: the status the server answers.
    pub fn head(&self, url: &str) -> Result<u16, Error> {
        let response = direct(self.agent.head(url), url)
            .call()
            .map_err(|e| self.transport(url, e))?;
        Ok(response.status().as_u16())
    }

    /// GET with a successful status, as a reader that fails once more than `max_bytes` arrive.
    pub fn open(&self, url: &str, max_bytes: u64) -> Result<Body, Error> {
        self.open_with(url, None, max_bytes)
    }

    /// [`Http::open`] with a token (refused over plain http to a host that is not loopback).
    pub fn open_with(
        &self,
        url: &str,
        token: Option<&Secret>,
        max_bytes: u64,
    ) -> Result<Body, Error> {
        let mut request = direct(self.agent.get(url), url);
        if let Some(t) = token {
            refuse_insecure(url)?;
            request = request.header("Authorization", format!("token {}", t.0));
        }
        let response = request.call().map_err(|e| self.transport(url, e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(Error::Status {
                url: url.to_string(),
                status,
                retry_after: retry_after(response.headers()),
            });
        }
        if response
            .body()
            .content_length()
            .is_some_and(|n| n > max_bytes)
        {
            return Err(Error::TooLarge {
                url: url.to_string(),
                limit: max_bytes,
            });
        }
        let len = response.body().content_length();
        Ok(Body {
            inner: response.into_body().into_reader(),
            url: url.to_string(),
            limits: self.limits,
            limit: max_bytes,
            read: 0,
            len,
        })
    }

    /// GET `url` into `out`; returns the byte count. `progress` sees each chunk's length.
    pub fn get_to_writer(
        &self,
        url: &str,
        out: &mut dyn Write,
        max_bytes: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<u64, Error> {
        let mut body = self.open(url, max_bytes)?;
        progress(Progress::Start { len: body.len });
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = body.read_checked(&mut buf)?;
            if n == 0 {
                return Ok(body.read);
            }
            out.write_all(&buf[..n]).map_err(|e| Error::Transport {
                url: url.to_string(),
                reason: format!("cannot store the download after {} bytes: {e}", body.read),
                kind: Kind::Invalid,
            })?;
            progress(Progress::Bytes(n as u64));
        }
    }

    /// GET `url` into `dest`: streamed to a temporary file beside it, hashed on the way,
    /// synced, then renamed into place (and the directory synced). On any failure (the size cap included) nothing is
    /// left behind.
    pub fn download_to_file(
        &self,
        url: &str,
        dest: &Path,
        max_bytes: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Downloaded, Error> {
        let mut temp = isoforge_fs::AtomicFile::create(dest)?;
        let mut hashing = Hashing {
            inner: &mut temp,
            hasher: Sha256::new(),
        };
        let bytes = self.get_to_writer(url, &mut hashing, max_bytes, progress)?;
        let sha256 = hashing.hasher.finalize().into();
        temp.commit()?;
        Ok(Downloaded { bytes, sha256 })
    }

    /// Sends an API call and reads its answer (at most `max_reply` bytes), whatever the status.
    pub fn call(&self, req: Request<'_>) -> Result<Reply, Error> {
        let url = req.url;
        if req.token.is_some() {
            refuse_insecure(url)?;
        }
        let auth = req.token.map(|t| format!("token {}", t.0));
        let response = match req.method {
            Method::Get => {
                let mut r = direct(self.agent.get(url), url).header("Accept", "application/json");
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            Method::Post => {
                let mut r = direct(self.agent.post(url), url).header("Accept", "application/json");
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                match req.payload {
                    Payload::None => r.send_empty(),
                    Payload::Json(doc) => r.header("Content-Type", "application/json").send(doc),
                    Payload::Attachment {
                        field,
                        file_name,
                        file,
                    } => {
                        let (content_type, len, body) = multipart(field, file_name, file)?;
                        r.header("Content-Type", content_type)
                            .header("Content-Length", len.to_string())
                            .send(ureq::SendBody::from_owned_reader(body))
                    }
                }
            }
        }
        .map_err(|e| self.transport(url, e))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let mut body = Body {
            len: response.body().content_length(),
            inner: response.into_body().into_reader(),
            url: url.to_string(),
            limits: self.limits,
            limit: req.max_reply,
            read: 0,
        };
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = body.read_checked(&mut buf)?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        Ok(Reply {
            status,
            retry_after,
            body: out,
        })
    }

    fn transport(&self, url: &str, e: ureq::Error) -> Error {
        let (kind, reason) = describe(&e, &self.limits);
        Error::Transport {
            url: url.to_string(),
            reason,
            kind,
        }
    }
}

/// What [`Http::get_to_writer`] reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The response started; its announced length, if any.
    Start { len: Option<u64> },
    /// This many more bytes arrived.
    Bytes(u64),
}

/// A response body that counts what it reads and stops past its limit.
pub struct Body {
    inner: ureq::BodyReader<'static>,
    url: String,
    limits: Limits,
    limit: u64,
    read: u64,
    len: Option<u64>,
}

impl Body {
    /// The announced length (`Content-Length`), if any.
    pub fn content_length(&self) -> Option<u64> {
        self.len
    }

    fn read_checked(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Up to the limit, then a one-byte probe: anything more is over it (and never stored).
        let room = self.limit.saturating_sub(self.read);
        let want = if room == 0 {
            1
        } else {
            buf.len().min(usize::try_from(room).unwrap_or(usize::MAX))
        };
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) => {
                let (kind, reason) = describe_io(&e, &self.limits);
                return Err(Error::Transport {
                    url: self.url.clone(),
                    reason: format!("{reason} after {} bytes", self.read),
                    kind,
                });
            }
        };
        if room == 0 && n > 0 {
            return Err(Error::TooLarge {
                url: self.url.clone(),
                limit: self.limit,
            });
        }
        self.read += n as u64;
        Ok(n)
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_checked(buf).map_err(io::Error::other)
    }
}

/// Writes to a file and hashes what it writes, so a download is read once.
struct Hashing<'a> {
    inner: &'a mut isoforge_fs::AtomicFile,
    hasher: Sha256,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Loopback is reached directly, never through a proxy from the environment: a token sent
/// over plain http to loopback stays on this machine.
fn direct<B>(request: ureq::RequestBuilder<B>, url: &str) -> ureq::RequestBuilder<B> {
    if is_loopback(url) {
        request.config().proxy(None).build()
    } else {
        request
    }
}

/// A token goes only over https, or to loopback (tests, a local proxy).
fn refuse_insecure(url: &str) -> Result<(), Error> {
    if url.starts_with("https://") || (url.starts_with("http://") && is_loopback(url)) {
        Ok(())
    } else {
        Err(Error::Insecure {
            url: url.to_string(),
        })
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs and is ignored).
fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A multipart/form-data body of one file field: its content type, exact length, and a
/// reader over the framing and the file.
fn multipart(
    field: &str,
    file_name: &str,
    file: &File,
) -> Result<(String, u64, impl Read + 'static), Error> {
    let file_err = |op: &'static str| {
        let path = PathBuf::from(file_name);
        move |source| Error::File { path, op, source }
    };
    let mut file = file.try_clone().map_err(file_err("reopen"))?;
    file.seek(io::SeekFrom::Start(0))
        .map_err(file_err("rewind"))?;
    let meta = file.metadata().map_err(file_err("read the metadata of"))?;
    // Unique per upload; the file's bytes are not scanned for it, so it is long and
    // hashed from the process, the file and the clock.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!("{}:{}:{nanos}:{file_name}", std::process::id(), meta.len());
    let boundary = format!("isoforge-{}", hex32(&Sha256::digest(seed.as_bytes())[..16]));
    let quoted = |s: &str| s.replace(['"', '\r', '\n'], "_");
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n",
        quoted(field),
        quoted(file_name)
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let len = head.len() as u64 + meta.len() + tail.len() as u64;
    let body = io::Cursor::new(head.into_bytes())
        .chain(file.take(meta.len()))
        .chain(io::Cursor::new(tail.into_bytes()));
    Ok((
        format!("multipart/form-data; boundary={boundary}"),
        len,
        body,
    ))
}

fn hex32(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// One line for a ureq failure, naming the limit that ran out.
fn describe(e: &ureq::Error, limits: &Limits) -> (Kind, String) {
    use ureq::Timeout;
    match e {
        ureq::Error::Timeout(t) => {
            let what = match t {
                Timeout::Resolve | Timeout::Connect => {
                    format!(
                        "no connection within {} (connect timeout)",
                        secs(limits.connect)
                    )
                }
                Timeout::PerRead | Timeout::PerWrite => {
                    format!(
                        "the server stalled for {} (idle timeout)",
                        secs(limits.idle)
                    )
                }
                Timeout::Global => {
                    format!("not finished within {} (total timeout)", secs(limits.total))
                }
                other => format!("timed out ({other})"),
            };
            (Kind::TimedOut, what)
        }
        ureq::Error::HostNotFound => (Kind::Unreachable, "the host name does not resolve".into()),
        ureq::Error::ConnectionFailed => (Kind::Unreachable, "cannot connect".into()),
        ureq::Error::Io(io) => describe_io(io, limits),
        other => (Kind::Invalid, other.to_string()),
    }
}

fn describe_io(e: &io::Error, limits: &Limits) -> (Kind, String) {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
        return describe(inner, limits);
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => (Kind::Unreachable, "connection refused".into()),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => (
            Kind::TimedOut,
            format!(
                "the server stalled for {} (idle timeout)",
                secs(limits.idle)
            ),
        ),
        _ if e.to_string().contains("lookup address") => (Kind::Unreachable, e.to_string()),
        _ => (Kind::Broken, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("http://127.0.0.1:8000/x"));
        assert!(is_loopback("http://[::1]:80/x"));
        assert!(is_loopback("http://localhost/x"));
        assert!(is_loopback("http://user@127.0.0.2/x"));
        assert!(!is_loopback("http://example.org/x"));
        assert!(!is_loopback("http://127.0.0.1.example.org/x"));
        assert!(!is_loopback("http://localhost.example.org/x"));
    }

    #[test]
    fn secrets_do_not_show() {
        let s = Secret::new("hunter2-token");
        assert!(!format!("{s:?}").contains("hunter2"));
        let e = Http::new(Limits::default())
            .call(Request {
                method: Method::Get,
                url: "http://example.org/api",
                token: Some(&s),
                payload: Payload::None,
                max_reply: 10,
            })
            .unwrap_err();
        assert!(matches!(e, Error::Insecure { .. }), "{e}");
        assert!(!e.to_string().contains("hunter2"));
    }
}
