//! Docker volume specs as act_runner sees them: the bind or named volume in `-v`/`--volume`/
//! `--mount` options and `volumes:` lists, what each source exposes (a credential, the Docker
//! socket), and `container.valid_volumes` matching.
//!
//! act_runner matches the mount's *source* only (`:ro` plays no part) against each glob, with
//! `/` as separator: `*` stays within one path segment, `**` crosses segments. An empty list
//! drops every bind and named volume; anonymous volumes (no source) always pass.

use globset::{GlobBuilder, GlobMatcher};

/// Directories that hold credentials; one file inside serves where a mount is needed.
pub const CREDENTIAL_DIRS: &[&str] = &[".docker", ".ssh", ".aws", ".kube", ".gnupg"];

/// A mount request with a source (anonymous volumes are left out: nothing to allow or drop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The text as written (`/a:/b:ro`, `type=bind,source=/a,...`), to point at in the file.
    pub spec: String,
    pub source: String,
    pub read_only: bool,
}

impl Volume {
    /// `SRC:DST[:MODE]`; `None` for an anonymous volume (`/dst` alone).
    pub fn parse_bind(spec: &str) -> Option<Volume> {
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.len() < 2 || parts[0].is_empty() {
            return None;
        }
        let read_only = parts.len() > 2
            && parts[parts.len() - 1]
                .split(',')
                .any(|o| o == "ro" || o == "readonly");
        Some(Volume {
            spec: spec.to_string(),
            source: parts[0].to_string(),
            read_only,
        })
    }

    /// `--mount type=bind,source=/a,target=/b,readonly`.
    pub fn parse_mount(spec: &str) -> Option<Volume> {
        let mut source = None;
        let mut read_only = false;
        for field in spec.split(',') {
            let (key, value) = field.split_once('=').unwrap_or((field, ""));
            match key {
                "source" | "src" => source = Some(value.to_string()),
                "readonly" | "ro" => read_only = matches!(value, "" | "true" | "1"),
                _ => {}
            }
        }
        source.filter(|s| !s.is_empty()).map(|source| Volume {
            spec: spec.to_string(),
            source,
            read_only,
        })
    }

    /// A bind from the host file system (a named volume's source is a bare name).
    pub fn is_bind(&self) -> bool {
        self.source.starts_with('/') || self.source.starts_with('~') || self.source.starts_with('.')
    }

    /// The Docker (or another container engine's) socket, or the directory that holds it.
    pub fn is_engine_socket(&self) -> bool {
        let s = self.source.trim_end_matches('/');
        ["docker.sock", "podman.sock", "containerd.sock"]
            .iter()
            .any(|sock| s.ends_with(sock))
            || matches!(s, "/var/run" | "/run" | "/var/run/docker" | "/run/docker")
    }

    /// A whole credential directory, or a directory that contains some (`/`, a home).
    pub fn is_credential_dir(&self) -> bool {
        if !self.is_bind() {
            return false;
        }
        let s = self.source.trim_end_matches('/');
        let last = s.rsplit('/').next().unwrap_or(s);
        CREDENTIAL_DIRS.contains(&last)
            || matches!(s, "" | "/root" | "/home" | "~" | "$HOME" | "${HOME}")
            || (s.starts_with("/home/") && s.matches('/').count() == 2)
    }

    /// Anything at or under a credential directory.
    pub fn is_credential(&self) -> bool {
        self.is_credential_dir()
            || (self.is_bind()
                && self
                    .source
                    .split('/')
                    .any(|segment| CREDENTIAL_DIRS.contains(&segment)))
    }
}

/// The volumes an options string asks for (`-v`, `--volume`, `--mount`, joined or not).
pub fn from_options(options: &str) -> Vec<Volume> {
    let words = shlex::split(options)
        .unwrap_or_else(|| options.split_whitespace().map(String::from).collect());
    let mut volumes = Vec::new();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (word.as_str(), None),
        };
        let (kind, value) = match flag {
            "-v" | "--volume" => ("bind", inline.or_else(|| words.next().cloned())),
            "--mount" => ("mount", inline.or_else(|| words.next().cloned())),
            w if w.starts_with("-v") && w.len() > 2 => ("bind", Some(w[2..].to_string())),
            _ => continue,
        };
        let parsed = value.and_then(|v| match kind {
            "bind" => Volume::parse_bind(&v),
            _ => Volume::parse_mount(&v),
        });
        volumes.extend(parsed);
    }
    volumes
}

/// Options that only take effect on a privileged runner (act_runner strips them otherwise).
pub fn wants_privilege(options: &str) -> bool {
    let words = shlex::split(options)
        .unwrap_or_else(|| options.split_whitespace().map(String::from).collect());
    words.iter().any(|w| {
        w == "--privileged"
            || w == "--privileged=true"
            || w.starts_with("--cap-add")
            || w.starts_with("--device")
    })
}

/// `container.valid_volumes` as act_runner applies it.
pub struct AllowList {
    globs: Vec<(String, Option<GlobMatcher>)>,
}

impl AllowList {
    pub fn new(patterns: &[String]) -> AllowList {
        let globs = patterns
            .iter()
            .map(|p| {
                let matcher = GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .ok()
                    .map(|g| g.compile_matcher());
                (p.clone(), matcher)
            })
            .collect();
        AllowList { globs }
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// Whether a mount with this source survives; anonymous volumes are not asked.
    pub fn allows(&self, source: &str) -> bool {
        self.globs.iter().any(|(pattern, m)| match m {
            Some(m) => m.is_match(source),
            None => pattern == source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(patterns: &[&str], source: &str) -> bool {
        AllowList::new(&patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).allows(source)
    }

    #[test]
    fn source_only_globs_within_and_across_segments() {
        assert!(allow(
            &["/root/.docker/config.json"],
            "/root/.docker/config.json"
        ));
        assert!(!allow(&["/root/.docker/config.json"], "/root/.docker"));
        assert!(allow(&["/data/*"], "/data/a"));
        assert!(!allow(&["/data/*"], "/data/a/b"));
        assert!(allow(&["/data/**"], "/data/a/b"));
        assert!(allow(&["isoforge-cache"], "isoforge-cache"));
        assert!(!allow(&[], "/anything"));
    }

    #[test]
    fn options_volumes() {
        let v = from_options(
            "--privileged -v /a:/b:ro --volume=/c:/d -v/e:/f --mount type=bind,source=/g,target=/h,readonly -v /anon",
        );
        let got: Vec<(&str, bool)> = v.iter().map(|v| (v.source.as_str(), v.read_only)).collect();
        assert_eq!(
            got,
            [("/a", true), ("/c", false), ("/e", false), ("/g", true)]
        );
        assert!(wants_privilege("--cap-add SYS_ADMIN"));
        assert!(!wants_privilege("-v /a:/b"));
    }

    #[test]
    fn credentials_and_sockets() {
        let v = |s: &str| Volume::parse_bind(s).unwrap();
        assert!(v("/root/.docker:/root/.docker:ro").is_credential_dir());
        assert!(!v("/root/.docker/config.json:/root/.docker/config.json:ro").is_credential_dir());
        assert!(v("/root/.docker/config.json:/x").is_credential());
        assert!(v("/home/ci/.ssh/:/root/.ssh").is_credential_dir());
        assert!(v("/home/ci:/h").is_credential_dir());
        assert!(!v("isoforge-cache:/var/cache/isoforge").is_credential());
        assert!(v("/var/run/docker.sock:/var/run/docker.sock").is_engine_socket());
    }
}
