//! Where the packages come from: the pinned snapshot when it answers, the configured mirror
//! otherwise (snapshot.debian.org is unreachable from some networks, including ours).
//!
//! The choice is recorded in BUILD_INFO. It does not change the image's own
//! `sources.list`, which always names the profile's mirror.

use std::time::Duration;

use isoforge_inputs::SnapshotPin;

const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageSource {
    Snapshot { url: String },
    Mirror { url: String, reason: String },
}

impl PackageSource {
    pub fn url(&self) -> &str {
        match self {
            PackageSource::Snapshot { url } | PackageSource::Mirror { url, .. } => url,
        }
    }

    /// For BUILD_INFO and the progress display.
    pub fn describe(&self) -> String {
        match self {
            PackageSource::Snapshot { url } => format!("snapshot {url}"),
            PackageSource::Mirror { url, reason } => format!("mirror {url} ({reason})"),
        }
    }

    /// The one-line apt source mmdebstrap installs from.
    pub fn apt_line(&self, suite: &str, components: &[String]) -> String {
        // Snapshot Release files expire; the pin is deliberate, so validity is not checked.
        let extra = match self {
            PackageSource::Snapshot { .. } => " check-valid-until=no",
            PackageSource::Mirror { .. } => "",
        };
        format!(
            "deb [signed-by={KEYRING}{extra}] {} {suite} {}",
            self.url(),
            components.join(" ")
        )
    }
}

/// Probes the snapshot for `suite`'s InRelease and falls back to the mirror.
pub fn choose(pin: &SnapshotPin, suite: &str, timeout: Duration) -> PackageSource {
    let snapshot = pin.url();
    let probe = format!("{snapshot}dists/{suite}/InRelease");
    match reachable(&probe, timeout) {
        Ok(()) => PackageSource::Snapshot { url: snapshot },
        Err(why) => PackageSource::Mirror {
            url: pin.mirror.clone(),
            reason: format!("snapshot unreachable: {why}"),
        },
    }
}

fn reachable(url: &str, timeout: Duration) -> Result<(), String> {
    if let Some(path) = url.strip_prefix("file://") {
        return if std::path::Path::new(path).is_file() {
            Ok(())
        } else {
            Err(format!("{path} does not exist"))
        };
    }
    let http = isoforge_http::Http::new(isoforge_http::Limits {
        connect: timeout,
        idle: timeout,
        total: timeout,
    });
    match http.head(url) {
        Ok(status) if (200..300).contains(&status) => Ok(()),
        Ok(status) => Err(format!("HTTP {status}")),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(snapshot_url: &str) -> SnapshotPin {
        SnapshotPin {
            timestamp: "20261101T000000Z".into(),
            snapshot_url: snapshot_url.into(),
            mirror: "http://deb.debian.org/debian".into(),
        }
    }

    #[test]
    fn falls_back_when_the_snapshot_does_not_answer() {
        // Nothing listens on port 9 of loopback: refused at once.
        let s = choose(
            &pin("http://127.0.0.1:9/archive/debian"),
            "bookworm",
            Duration::from_secs(5),
        );
        match &s {
            PackageSource::Mirror { url, reason } => {
                assert_eq!(url, "http://deb.debian.org/debian");
                assert!(reason.starts_with("snapshot unreachable"), "{reason}");
            }
            other => panic!("expected the mirror, got {other:?}"),
        }
        assert_eq!(
            s.apt_line("bookworm", &["main".into()]),
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main"
        );
    }

    #[test]
    fn uses_a_snapshot_that_answers() {
        let dir = tempfile::tempdir().unwrap();
        let ts = dir.path().join("20261101T000000Z/dists/bookworm");
        std::fs::create_dir_all(&ts).unwrap();
        std::fs::write(ts.join("InRelease"), "x").unwrap();
        let s = choose(
            &pin(&format!("file://{}", dir.path().display())),
            "bookworm",
            Duration::from_secs(1),
        );
        assert!(matches!(s, PackageSource::Snapshot { .. }), "{s:?}");
        assert!(
            s.apt_line("bookworm", &["main".into()])
                .contains("check-valid-until=no")
        );
    }
}
