//! SOURCE_DATE_EPOCH: the one timestamp every date in the image is pinned to.
//!
//! It comes from `config/source-date-epoch.env` when that sets it, else from the caller's
//! environment, else from the commit time of HEAD.

use std::fmt;
use std::path::Path;

use time::OffsetDateTime;

use crate::envfile::EnvFile;
use crate::Error;

pub const FILE: &str = "source-date-epoch.env";

/// 1980-01-01T00:00:00Z: FAT cannot record anything earlier.
const MIN: i64 = 315_532_800;
/// 2999-12-31T23:59:59Z: ISO 9660 dates end with year 2999... and so do we.
const MAX: i64 = 32_503_680_000 - 1;

/// Where the epoch came from, recorded in BUILD_INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Config,
    Environment,
    Commit,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Config => "config",
            Origin::Environment => "environment",
            Origin::Commit => "commit",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDateEpoch {
    seconds: i64,
    pub origin: Origin,
}

impl SourceDateEpoch {
    pub fn new(seconds: i64, origin: Origin) -> Result<Self, String> {
        if !(MIN..=MAX).contains(&seconds) {
            return Err(format!(
                "{seconds} is outside 315532800 (1980-01-01) ..= 32503679999 (2999-12-31)"
            ));
        }
        Ok(Self { seconds, origin })
    }

    /// Parses the decimal form the reproducible-builds.org spec requires.
    pub fn parse(v: &str, origin: Origin) -> Result<Self, String> {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{v:?}; expected a decimal number of seconds since 1970"));
        }
        let seconds = v
            .parse::<i64>()
            .map_err(|_| format!("{v:?} is too large"))?;
        Self::new(seconds, origin)
    }

    pub fn seconds(&self) -> i64 {
        self.seconds
    }

    pub fn datetime(&self) -> OffsetDateTime {
        // In range by construction.
        OffsetDateTime::from_unix_timestamp(self.seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The override from the config file, if it sets one.
    pub fn from_config(config_dir: &Path) -> Result<Option<Self>, Error> {
        let path = config_dir.join(FILE);
        if !path.exists() {
            return Ok(None);
        }
        let file = EnvFile::load(&path)?;
        file.fields(&["SOURCE_DATE_EPOCH"])?
            .optional("SOURCE_DATE_EPOCH", |v| Self::parse(v, Origin::Config))
    }

    /// The override from the caller's environment, if set.
    pub fn from_env() -> Result<Option<Self>, Error> {
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.is_empty() => Self::parse(&v, Origin::Environment)
                .map(Some)
                .map_err(|m| Error::Other(format!("environment variable SOURCE_DATE_EPOCH: {m}"))),
            _ => Ok(None),
        }
    }
}

impl fmt::Display for SourceDateEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds() {
        assert_eq!(
            SourceDateEpoch::parse("1764000000", Origin::Commit).unwrap().seconds(),
            1_764_000_000
        );
        for bad in ["", "-1", "1.5", " 1", "0x10", "100", "99999999999999999999"] {
            assert!(SourceDateEpoch::parse(bad, Origin::Config).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_file_override() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(SourceDateEpoch::from_config(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join(FILE), "# none\nSOURCE_DATE_EPOCH=\n").unwrap();
        assert_eq!(SourceDateEpoch::from_config(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join(FILE), "SOURCE_DATE_EPOCH=1700000000\n").unwrap();
        let e = SourceDateEpoch::from_config(dir.path()).unwrap().unwrap();
        assert_eq!((e.seconds(), e.origin), (1_700_000_000, Origin::Config));
        std::fs::write(dir.path().join(FILE), "\nSOURCE_DATE_EPOCH=yesterday\n").unwrap();
        let e = SourceDateEpoch::from_config(dir.path()).unwrap_err().to_string();
        assert!(e.contains("source-date-epoch.env:2: SOURCE_DATE_EPOCH: "), "{e}");
    }
}
