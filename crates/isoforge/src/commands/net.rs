//! The HTTP limits a command that talks to a server takes on its command line.

use std::time::Duration;

use isoforge_http::{Http, Limits};

/// Timeouts for every request; none can be switched off.
#[derive(clap::Args, Debug, Clone)]
pub struct HttpArgs {
    /// Seconds to resolve the host and connect (TLS included).
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub connect_timeout: u64,
    /// Seconds the server may stay silent (or not take data) before the request is given up.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Seconds one request may take from start to its last byte.
    #[arg(long, value_name = "SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub total_timeout: u64,
}

impl HttpArgs {
    pub fn agent(&self) -> Http {
        Http::new(Limits {
            connect: Duration::from_secs(self.connect_timeout),
            idle: Duration::from_secs(self.idle_timeout),
            total: Duration::from_secs(self.total_timeout),
        })
    }
}

/// A byte count with an optional K, M, G or T suffix (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("{s:?}: the suffix must be K, M, G or T")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?}: not a byte count (e.g. 8G, 512M, 1048576)"))?;
    n.checked_mul(1u64 << shift)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?}: must be between 1 byte and 16 EiB"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("").is_err());
    }
}
