//! The Gitea side of `isoforge publish`: find the release for a tag or create it, list its
//! assets, upload only the missing ones, and refuse (never overwrite) an asset of the same
//! name whose bytes differ. Re-running after a failure completes the release.
//!
//! Every request goes through the bounded agent ([`isoforge_http`]). HTTP 5xx, 429 and
//! transient network failures are retried a bounded number of times with backoff (a
//! `Retry-After` in seconds is respected, up to a cap); 401, 403, 404 and 409 end with one
//! line saying what to do. The token travels only in the `Authorization` header, and is
//! scrubbed from anything the server says back before it is shown.
//!
//! The endpoints (Gitea API v1): `GET /repos/{owner}/{repo}/releases/tags/{tag}`,
//! `POST /repos/{owner}/{repo}/releases` (`tag_name`), `GET .../releases/{id}/assets`, and
//! `POST .../releases/{id}/assets?name=` (multipart field `attachment`).

use std::fs::File;
use std::io::Read;
use std::time::Duration;

use isoforge_http::{Http, Method, Payload, Reply, Request, Secret};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Answers from the API (JSON) larger than this are not believed.
const MAX_REPLY: u64 = 8 << 20;

/// Where to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The Gitea base URL, without a trailing slash.
    pub gitea: String,
    pub owner: String,
    pub repo: String,
    pub tag: String,
}

impl Target {
    /// Checks the parts: an http(s) base URL, `OWNER/NAME` as Gitea spells names, a tag with
    /// no whitespace or control characters.
    pub fn new(gitea: &str, repo: &str, tag: &str) -> Result<Self, Error> {
        let gitea = gitea.trim_end_matches('/');
        let rest = gitea
            .strip_prefix("https://")
            .or_else(|| gitea.strip_prefix("http://"))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "--gitea {gitea}: give the server's http(s) URL, e.g. https://git.example.org"
                ))
            })?;
        if rest.is_empty()
            || rest.contains(['?', '#', '@'])
            || rest.chars().any(char::is_whitespace)
        {
            return Err(Error::Invalid(format!(
                "--gitea {gitea}: give the server's base URL (no query, fragment or user)"
            )));
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 100
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let (owner, name) = repo
            .split_once('/')
            .filter(|(o, n)| name_ok(o) && name_ok(n))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "--repo {repo:?}: give OWNER/NAME (letters, digits, '-', '_', '.')"
                ))
            })?;
        if tag.is_empty()
            || tag.len() > 255
            || tag.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::Invalid(format!(
                "--tag {tag:?}: a tag is one word with no whitespace or control characters"
            )));
        }
        Ok(Self {
            gitea: gitea.to_string(),
            owner: owner.to_string(),
            repo: name.to_string(),
            tag: tag.to_string(),
        })
    }

    fn api(&self) -> String {
        format!(
            "{}/api/v1/repos/{}/{}",
            self.gitea,
            enc(&self.owner),
            enc(&self.repo)
        )
    }
}

/// One file to attach, already open and checked: what is uploaded is read from this file.
#[derive(Debug)]
pub struct Asset {
    pub name: String,
    pub file: File,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// How hard to try on 5xx, 429 and transient network failures.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Further tries after the first.
    pub retries: u32,
    /// The first pause; each further one doubles.
    pub backoff: Duration,
    /// No pause (a server's Retry-After included) is longer than this.
    pub max_wait: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            retries: 4,
            backoff: Duration::from_secs(2),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub release_id: u64,
    /// The release was created by this run (not found).
    pub created: bool,
    pub uploaded: Vec<String>,
    /// Already attached with the same bytes.
    pub present: Vec<String>,
    /// Requests that were tried again.
    pub retried: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Api(String),
    #[error(
        "{name}: release {tag} already has an asset of this name with other bytes ({why}); it is never overwritten: delete that asset in Gitea, or publish under a new tag"
    )]
    Differs {
        name: String,
        tag: String,
        why: String,
    },
    #[error(transparent)]
    Http(#[from] isoforge_http::Error),
}

#[derive(Debug, Deserialize)]
struct Release {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct Attachment {
    name: String,
    size: u64,
    browser_download_url: String,
}

/// Publishes `assets` on `target`'s release. `log` receives one line per step.
pub fn publish(
    http: &Http,
    token: &Secret,
    target: &Target,
    assets: &[Asset],
    retry: &Retry,
    log: &mut dyn FnMut(&str),
) -> Result<Report, Error> {
    let mut client = Client {
        http,
        token,
        target,
        retry,
        retried: 0,
        log,
    };
    let (release_id, created) = client.release()?;
    let tag = &target.tag;
    (client.log)(&format!(
        "release {tag}: {} (id {release_id})",
        if created { "created" } else { "found" }
    ));
    let mut report = Report {
        release_id,
        created,
        ..Report::default()
    };
    let mut listed = client.assets(release_id)?;
    // Every attached asset is compared before anything is uploaded, so a conflict leaves the
    // release as it was.
    let mut missing = Vec::new();
    for asset in assets {
        if client.attached(&listed, asset)? {
            (client.log)(&format!("{}: already attached, same bytes", asset.name));
            report.present.push(asset.name.clone());
        } else {
            missing.push(asset);
        }
    }
    for asset in missing {
        client.upload(release_id, asset, &mut listed)?;
        report.uploaded.push(asset.name.clone());
    }
    report.retried = client.retried;
    Ok(report)
}

struct Client<'a> {
    http: &'a Http,
    token: &'a Secret,
    target: &'a Target,
    retry: &'a Retry,
    retried: u32,
    log: &'a mut dyn FnMut(&str),
}

impl Client<'_> {
    /// The release for the tag: found, or else created. `(id, created)`.
    fn release(&mut self) -> Result<(u64, bool), Error> {
        let api = self.target.api();
        let by_tag = format!("{api}/releases/tags/{}", enc(&self.target.tag));
        let what = format!("release {}", self.target.tag);
        let found = self.call(&what, Method::Get, &by_tag, Payload::None)?;
        match found.status {
            200 => return Ok((self.json::<Release>(&what, &found)?.id, false)),
            404 => {}
            _ => return Err(self.fail(&what, &found)),
        }
        let doc = serde_json::json!({
            "tag_name": self.target.tag,
            "name": self.target.tag,
            "draft": false,
            "prerelease": false,
        })
        .to_string();
        let what = format!("creating release {}", self.target.tag);
        let made = self.call(
            &what,
            Method::Post,
            &format!("{api}/releases"),
            Payload::Json(doc.as_bytes()),
        )?;
        match made.status {
            200 | 201 => Ok((self.json::<Release>(&what, &made)?.id, true)),
            // Created meanwhile (another run): take that one.
            409 => {
                let again = self.call(&what, Method::Get, &by_tag, Payload::None)?;
                if again.status == 200 {
                    Ok((self.json::<Release>(&what, &again)?.id, false))
                } else {
                    Err(self.fail(&what, &made))
                }
            }
            _ => Err(self.fail(&what, &made)),
        }
    }

    fn assets(&mut self, id: u64) -> Result<Vec<Attachment>, Error> {
        let url = format!("{}/releases/{id}/assets", self.target.api());
        let what = format!("listing the assets of release {}", self.target.tag);
        let reply = self.call(&what, Method::Get, &url, Payload::None)?;
        if reply.status != 200 {
            return Err(self.fail(&what, &reply));
        }
        self.json(&what, &reply)
    }

    /// Whether an attached asset of this name has exactly these bytes (downloaded and
    /// hashed); an error when one of this name differs.
    fn attached(&mut self, listed: &[Attachment], asset: &Asset) -> Result<bool, Error> {
        let same_name: Vec<&Attachment> = listed.iter().filter(|a| a.name == asset.name).collect();
        for a in &same_name {
            let differs = |why: String| Error::Differs {
                name: asset.name.clone(),
                tag: self.target.tag.clone(),
                why,
            };
            if a.size != asset.size {
                return Err(differs(format!(
                    "{} bytes there, {} here",
                    a.size, asset.size
                )));
            }
            let digest = self.download_digest(&a.browser_download_url, a.size)?;
            if digest != asset.sha256 {
                return Err(differs(format!(
                    "sha256 {} there, {} here",
                    hex::encode(digest),
                    hex::encode(asset.sha256)
                )));
            }
        }
        Ok(!same_name.is_empty())
    }

    /// The SHA-256 of an attached asset, downloaded (never more than its listed size).
    fn download_digest(&mut self, url: &str, size: u64) -> Result<[u8; 32], Error> {
        // The token goes only to the Gitea server itself, not wherever a URL points.
        let same_origin = url
            .strip_prefix(&self.target.gitea)
            .is_some_and(|rest| rest.starts_with('/'));
        let token = same_origin.then_some(self.token);
        let mut tries = 0;
        loop {
            let result = self.http.open_with(url, token, size).and_then(|mut body| {
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = body.read(&mut buf).map_err(|e| {
                        e.into_inner()
                            .and_then(|i| i.downcast::<isoforge_http::Error>().ok())
                            .map(|b| *b)
                            .unwrap_or_else(|| isoforge_http::Error::Transport {
                                url: url.to_string(),
                                reason: "the download broke off".into(),
                                kind: isoforge_http::Kind::Broken,
                            })
                    })?;
                    if n == 0 {
                        return Ok(hasher.finalize().into());
                    }
                    hasher.update(&buf[..n]);
                }
            });
            match result {
                Ok(d) => return Ok(d),
                Err(e) if e.is_transient() && tries < self.retry.retries => {
                    let wait = match &e {
                        isoforge_http::Error::Status { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    self.pause(tries, wait, &e.to_string());
                    tries += 1;
                }
                Err(isoforge_http::Error::TooLarge { .. }) => {
                    return Err(Error::Differs {
                        name: url.rsplit('/').next().unwrap_or(url).to_string(),
                        tag: self.target.tag.clone(),
                        why: format!("more than its listed {size} bytes there"),
                    });
                }
                Err(e) => {
                    return Err(Error::Api(self.scrub(&format!(
                        "downloading the attached asset to compare it: {e}"
                    ))));
                }
            }
        }
    }

    /// Uploads one asset. After a failed try the list is read again first: a try that did
    /// reach the server is not repeated.
    fn upload(
        &mut self,
        id: u64,
        asset: &Asset,
        listed: &mut Vec<Attachment>,
    ) -> Result<(), Error> {
        let url = format!(
            "{}/releases/{id}/assets?name={}",
            self.target.api(),
            enc(&asset.name)
        );
        let what = format!("uploading {}", asset.name);
        (self.log)(&format!("{what} ({} bytes)", asset.size));
        let mut tries = 0;
        loop {
            let result = self.http.call(Request {
                method: Method::Post,
                url: &url,
                token: Some(self.token),
                payload: Payload::Attachment {
                    field: "attachment",
                    file_name: &asset.name,
                    file: &asset.file,
                },
                max_reply: MAX_REPLY,
            });
            let (why, wait) = match result {
                Ok(r) if r.status == 201 || r.status == 200 => {
                    (self.log)(&format!("{}: uploaded", asset.name));
                    return Ok(());
                }
                Ok(r) if (r.status >= 500 || r.status == 429) && tries < self.retry.retries => {
                    (format!("HTTP {}", r.status), r.retry_after)
                }
                Ok(r) => return Err(self.fail(&what, &r)),
                Err(e) if e.is_transient() && tries < self.retry.retries => (e.to_string(), None),
                Err(e) => return Err(e.into()),
            };
            self.pause(tries, wait, &format!("{what}: {why}"));
            tries += 1;
            *listed = self.assets(id)?;
            if self.attached(listed, asset)? {
                (self.log)(&format!("{}: the earlier try arrived whole", asset.name));
                return Ok(());
            }
        }
    }

    /// One API call, tried again on 5xx, 429 and transient network failures.
    fn call(
        &mut self,
        what: &str,
        method: Method,
        url: &str,
        payload: Payload<'_>,
    ) -> Result<Reply, Error> {
        let mut tries = 0;
        loop {
            let result = self.http.call(Request {
                method,
                url,
                token: Some(self.token),
                payload,
                max_reply: MAX_REPLY,
            });
            let (why, wait) = match result {
                Ok(r) if (r.status >= 500 || r.status == 429) && tries < self.retry.retries => {
                    (format!("HTTP {}", r.status), r.retry_after)
                }
                Ok(r) => return Ok(r),
                Err(e) if e.is_transient() && tries < self.retry.retries => (e.to_string(), None),
                Err(e) => return Err(e.into()),
            };
            self.pause(tries, wait, &format!("{what}: {why}"));
            tries += 1;
        }
    }

    fn pause(&mut self, tries: u32, server_wait: Option<Duration>, why: &str) {
        let backoff = self
            .retry
            .backoff
            .saturating_mul(2u32.saturating_pow(tries));
        let wait = server_wait.unwrap_or(backoff).min(self.retry.max_wait);
        let line = self.scrub(&format!(
            "{why}; trying again in {:.1} s",
            wait.as_secs_f64()
        ));
        (self.log)(&line);
        self.retried += 1;
        std::thread::sleep(wait);
    }

    fn json<T: serde::de::DeserializeOwned>(&self, what: &str, reply: &Reply) -> Result<T, Error> {
        serde_json::from_slice(&reply.body).map_err(|e| {
            Error::Api(format!(
                "{what}: the server's answer is not the JSON Gitea sends ({e}); is --gitea a Gitea server?"
            ))
        })
    }

    /// One line for a failed call: what, the status, what to do, and the server's message.
    fn fail(&self, what: &str, reply: &Reply) -> Error {
        let t = &self.target;
        let hint = match reply.status {
            401 => "the token in GITEA_TOKEN was refused (wrong, expired or revoked)".to_string(),
            403 => format!(
                "the token may not do this: it needs the write:repository scope and write access to {}/{}",
                t.owner, t.repo
            ),
            404 => format!(
                "no repository {}/{} on {} (or the token cannot see it); check --gitea and --repo",
                t.owner, t.repo, t.gitea
            ),
            409 => format!(
                "conflict with the release's current state (does the tag {} exist?)",
                t.tag
            ),
            s if s >= 500 || s == 429 => format!(
                "the server kept failing after {} tries; try again later (a re-run completes the release)",
                self.retry.retries + 1
            ),
            _ => "unexpected answer".to_string(),
        };
        let message = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
            .filter(|m| !m.trim().is_empty())
            .map(|m| {
                let one_line: String = m
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(200)
                    .collect();
                format!(" (the server says: {})", one_line.trim())
            })
            .unwrap_or_default();
        Error::Api(self.scrub(&format!("{what}: HTTP {}: {hint}{message}", reply.status)))
    }

    /// Removes the token from text that may have come from the server.
    fn scrub(&self, text: &str) -> String {
        let secret = self.token.expose();
        if secret.is_empty() {
            text.to_string()
        } else {
            text.replace(secret, "<redacted>")
        }
    }
}

/// Percent-encodes one path segment or query value.
fn enc(s: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::new("https://git.example.org/", "SilverLABS/isoforge", "v1.1.0").unwrap();
        assert_eq!(
            t.api(),
            "https://git.example.org/api/v1/repos/SilverLABS/isoforge"
        );
        for (g, r, tag) in [
            ("git.example.org", "a/b", "v1"),
            ("https://git.example.org?x", "a/b", "v1"),
            ("https://u@git.example.org", "a/b", "v1"),
            ("https://git.example.org", "a", "v1"),
            ("https://git.example.org", "a/b/c", "v1"),
            ("https://git.example.org", "../b", "v1"),
            ("https://git.example.org", "a/b", "v 1"),
            ("https://git.example.org", "a/b", ""),
        ] {
            assert!(Target::new(g, r, tag).is_err(), "{g} {r} {tag}");
        }
        assert_eq!(enc("v1.0+rc/1"), "v1.0%2Brc%2F1");
    }
}
