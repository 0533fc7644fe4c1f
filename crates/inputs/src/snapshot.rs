//! `config/snapshot-pin.env`: the pinned snapshot.debian.org timestamp and the mirror used
//! where the snapshot cannot be reached.

use std::path::Path;

use crate::envfile::EnvFile;
use crate::{Error, validate};

pub const FILE: &str = "snapshot-pin.env";

const KEYS: &[&str] = &["SNAPSHOT_TIMESTAMP", "SNAPSHOT_URL", "MIRROR"];

const DEFAULT_SNAPSHOT_URL: &str = "https://snapshot.debian.org/archive/debian";
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPin {
    /// `YYYYMMDDTHHMMSSZ`, as snapshot.debian.org spells it.
    pub timestamp: String,
    /// The snapshot archive's base URL, without the timestamp.
    pub snapshot_url: String,
    /// The live mirror, used where the snapshot is unreachable; also what the image's own
    /// `sources.list` names.
    pub mirror: String,
}

impl SnapshotPin {
    pub fn load(config_dir: &Path) -> Result<Self, Error> {
        Self::from_file(&EnvFile::load(&config_dir.join(FILE))?)
    }

    pub fn from_file(file: &EnvFile) -> Result<Self, Error> {
        let f = file.fields(KEYS)?;
        let trim = |v: String| v.trim_end_matches('/').to_string();
        Ok(Self {
            timestamp: f.required(
                "SNAPSHOT_TIMESTAMP",
                "a snapshot.debian.org timestamp such as 20261101T000000Z",
                timestamp,
            )?,
            snapshot_url: f
                .optional("SNAPSHOT_URL", validate::url)?
                .map(trim)
                .unwrap_or_else(|| DEFAULT_SNAPSHOT_URL.into()),
            mirror: f
                .optional("MIRROR", validate::url)?
                .map(trim)
                .unwrap_or_else(|| DEFAULT_MIRROR.into()),
        })
    }

    /// The snapshot archive URL for this pin.
    pub fn url(&self) -> String {
        format!("{}/{}/", self.snapshot_url, self.timestamp)
    }
}

/// Checks `YYYYMMDDTHHMMSSZ` and that it names a real UTC instant.
fn timestamp(v: &str) -> Result<String, String> {
    let bad = || format!("{v:?}; expected YYYYMMDDTHHMMSSZ, such as 20261101T000000Z");
    let b = v.as_bytes();
    // ASCII first: the slices below are byte ranges (fuzzing found a panic on "20261֤6T…").
    if !v.is_ascii() || b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(bad());
    }
    let digits = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let s = &v[r];
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, s) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    let month = u8::try_from(mo)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let date = time::Date::from_calendar_date(y as i32, month, d as u8).map_err(|_| bad())?;
    time::Time::from_hms(h as u8, mi as u8, s as u8).map_err(|_| bad())?;
    if date.year() < 2005 {
        return Err(format!(
            "{v:?} is before snapshot.debian.org's first snapshot (2005)"
        ));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envfile::parse;

    fn load(text: &str) -> Result<SnapshotPin, Error> {
        SnapshotPin::from_file(&parse(Path::new("pin.env"), text).unwrap())
    }

    #[test]
    fn good_pin() {
        let p = load("SNAPSHOT_TIMESTAMP=20261101T000000Z\nMIRROR=http://deb.debian.org/debian/\n")
            .unwrap();
        assert_eq!(p.mirror, "http://deb.debian.org/debian");
        assert_eq!(
            p.url(),
            "https://snapshot.debian.org/archive/debian/20261101T000000Z/"
        );
    }

    #[test]
    fn malformed_and_missing_pins() {
        for bad in [
            "20261101",
            "20261301T000000Z",
            "20260231T000000Z",
            "20261101T250000Z",
            "2026-11-01T00:00:00Z",
            "19991101T000000Z",
            // Found by fuzz/envfile: a two-byte character across a slice boundary.
            "20261\u{5a4}6T000000Z",
        ] {
            let e = load(&format!("SNAPSHOT_TIMESTAMP={bad}"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("pin.env:1: SNAPSHOT_TIMESTAMP: "), "{e}");
        }
        let e = load("MIRROR=http://x/").unwrap_err().to_string();
        assert!(e.contains("missing required key SNAPSHOT_TIMESTAMP"), "{e}");
        let e = load("SNAPSHOT_TIMESTAMP=20261101T000000Z\nMIRROR=ftp://x").unwrap_err();
        assert!(e.to_string().starts_with("pin.env:2: MIRROR:"), "{e}");
    }
}
