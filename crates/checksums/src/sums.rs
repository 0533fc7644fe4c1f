//! Reading a sums file: GNU `sha256sum` lines and BSD tag lines (`sha256sum --tag`).
//!
//! The grammar follows GNU coreutils 9.1 (`sha256sum --strict -c`), so that isoforge accepts
//! exactly the lines `sha256sum` accepts, with two deliberate differences: lines that are
//! empty or hold only blanks are skipped (GNU's `--strict` rejects blank-only lines), and a file
//! name must be UTF-8 without NUL bytes (GNU would silently cut a name at a NUL). Every other
//! line is an error naming the line and what was expected; `sha256sum` without `--strict` would
//! merely warn and skip it, which lets a tampered line go unchecked.
//!
//! Accepted, after optional leading blanks and an optional `\` (the name is escaped: `\\`,
//! `\n`, `\r`):
//! - GNU: `<64 hex><blank><' ' or '*'><name>`; `*` means binary mode (no difference on POSIX).
//! - GNU "reversed" (`<64 hex><blank><name>`, as `md5 -r` writes), only if the first GNU-style
//!   line of the file is also of that form: GNU refuses to mix the two so that a name that
//!   begins with a space or `*` cannot be read two ways.
//! - BSD tag: `SHA256 (<name>) = <64 hex>` (also `SHA256(<name>)= <hex>` as OpenSSL writes it);
//!   the name runs to the last `)` on the line.
//! - Lines that begin with `#` are comments; a trailing `\r` is dropped (CRLF files).

use std::path::Path;

use crate::{Entry, Sha256Digest};

/// How a line was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `<hex>  <name>` (text) or `<hex> *<name>` (binary).
    Gnu { binary: bool },
    /// `<hex> <name>`.
    Reversed,
    /// `SHA256 (<name>) = <hex>`.
    Tag,
}

/// One file listed in a sums file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// 1-based line number in the sums file.
    pub line: usize,
    pub entry: Entry,
    pub style: Style,
}

/// A line that is not a SHA-256 sums line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct ParseError {
    /// The sums file as the user named it (a path or a URL).
    pub source_name: String,
    pub line: usize,
    pub message: String,
}

/// Error from [`read_sums`].
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: cannot read the sums file: {error}", path.display())]
    Io {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Reads and parses the sums file at `path`.
pub fn read_sums(path: &Path) -> Result<Vec<Listed>, ReadError> {
    let bytes = std::fs::read(path).map_err(|error| ReadError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(parse(&path.display().to_string(), &bytes)?)
}

const HEX_LEN: usize = 64;

const EXPECTED: &str = "expected \"<64 hex digits>  <file name>\" (sha256sum) or \
                        \"SHA256 (<file name>) = <64 hex digits>\" (sha256sum --tag)";

/// Parses a sums file. `source_name` names it in error messages. An empty result is not an
/// error here; [`crate::verify`] treats it as an anomaly.
pub fn parse(source_name: &str, text: &[u8]) -> Result<Vec<Listed>, ParseError> {
    let mut out = Vec::new();
    // GNU decides on the first GNU-style line whether the file is "reversed".
    let mut reversed: Option<bool> = None;
    let lines = text.split(|&b| b == b'\n');
    let n_lines = text.split(|&b| b == b'\n').count();
    for (i, raw) in lines.enumerate() {
        let number = i + 1;
        // The piece after the final newline is not a line.
        if number == n_lines && raw.is_empty() {
            break;
        }
        let err = |message: String| ParseError {
            source_name: source_name.to_string(),
            line: number,
            message,
        };
        if raw.first() == Some(&b'#') {
            continue;
        }
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(|&b| is_blank(b)) {
            continue;
        }
        let (name, digest, style) = parse_line(line, &mut reversed).map_err(err)?;
        let name = check_name(name).map_err(err)?;
        out.push(Listed {
            line: number,
            entry: Entry { name, digest },
            style,
        });
    }
    Ok(out)
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

type Parsed = (Vec<u8>, Sha256Digest, Style);

fn parse_line(line: &[u8], reversed: &mut Option<bool>) -> Result<Parsed, String> {
    let mut s = line;
    while let Some((&b, rest)) = s.split_first() {
        if !is_blank(b) {
            break;
        }
        s = rest;
    }
    let escaped = s.first() == Some(&b'\\');
    if escaped {
        s = &s[1..];
    }
    if let Some(rest) = s.strip_prefix(b"SHA256") {
        let rest = rest.strip_prefix(b" ").unwrap_or(rest);
        return match rest.strip_prefix(b"(") {
            Some(rest) => parse_tag(rest, escaped),
            None => Err(format!(
                "a tag line needs \"SHA256 (<file name>) = <hex>\"; {EXPECTED}"
            )),
        };
    }
    if let Some(algo) = other_tag(s) {
        return Err(format!(
            "this is a {algo} line; isoforge checks SHA-256 sums only (SHA256SUMS, written by \
             sha256sum)"
        ));
    }
    let hex_run = s.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let after = s.get(hex_run).copied();
    if hex_run != HEX_LEN || !after.is_some_and(is_blank) {
        return Err(digest_problem(s, hex_run, after));
    }
    let digest = decode_hex(&s[..HEX_LEN]);
    let rest = &s[HEX_LEN + 1..];
    if rest.is_empty() {
        return Err(format!("the file name is missing; {EXPECTED}"));
    }
    // GNU's test for the reversed form: one character left, or no type indicator.
    let looks_reversed = rest.len() == 1 || !matches!(rest.first(), Some(b' ' | b'*'));
    let (name, style) = match (looks_reversed, *reversed) {
        (true, Some(false)) => {
            return Err(
                "expected two spaces (text mode) or \" *\" (binary mode) between the \
                        digest and the file name; earlier lines use that form and GNU sha256sum \
                        refuses to mix it with \"<hex> <name>\""
                    .to_string(),
            );
        }
        (true, _) => {
            *reversed = Some(true);
            (rest, Style::Reversed)
        }
        (false, Some(true)) => (rest, Style::Reversed),
        (false, _) => {
            *reversed = Some(false);
            let binary = rest[0] == b'*';
            (&rest[1..], Style::Gnu { binary })
        }
    };
    let name = if escaped {
        unescape(name)?
    } else {
        name.to_vec()
    };
    Ok((name, digest, style))
}

fn parse_tag(s: &[u8], escaped: bool) -> Result<Parsed, String> {
    let close = s
        .iter()
        .rposition(|&b| b == b')')
        .ok_or_else(|| format!("the tag line has no \")\" after the file name; {EXPECTED}"))?;
    let name = if escaped {
        unescape(&s[..close])?
    } else {
        s[..close].to_vec()
    };
    let mut rest = &s[close + 1..];
    rest = trim_start_blanks(rest);
    let Some(rest) = rest.strip_prefix(b"=") else {
        return Err(format!(
            "expected \" = <hex>\" after the file name; {EXPECTED}"
        ));
    };
    let hex = trim_start_blanks(rest);
    let hex_run = hex.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if hex_run != HEX_LEN || hex.len() != HEX_LEN {
        return Err(digest_problem(hex, hex_run, hex.get(hex_run).copied()));
    }
    Ok((name, decode_hex(hex), Style::Tag))
}

fn trim_start_blanks(mut s: &[u8]) -> &[u8] {
    while s.first().copied().is_some_and(is_blank) {
        s = &s[1..];
    }
    s
}

/// Explains why `s` does not start with a 64-digit hex digest followed by what belongs there.
fn digest_problem(s: &[u8], hex_run: usize, after: Option<u8>) -> String {
    let other = match hex_run {
        32 => Some("MD5"),
        40 => Some("SHA-1"),
        56 => Some("SHA-224"),
        96 => Some("SHA-384"),
        128 => Some("SHA-512"),
        _ => None,
    };
    let end_of_digest = after.is_none_or(is_blank);
    match (other, end_of_digest) {
        (Some(algo), true) => format!(
            "the digest has {hex_run} hex digits, which is {algo}; isoforge checks SHA-256 \
             (64 hex digits) only"
        ),
        _ if hex_run == HEX_LEN && after.is_none() => {
            format!("the file name is missing after the digest; {EXPECTED}")
        }
        _ if hex_run == HEX_LEN => format!(
            "unexpected {} after the 64-digit digest; {EXPECTED}",
            describe(after.unwrap_or(0))
        ),
        _ if hex_run < HEX_LEN && !end_of_digest => format!(
            "{} at column {} is not a hex digit; a SHA-256 digest is 64 hex digits; {EXPECTED}",
            describe(s[hex_run]),
            hex_run + 1
        ),
        _ => format!("the digest has {hex_run} hex digits; a SHA-256 digest has 64; {EXPECTED}"),
    }
}

fn describe(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("\"{}\"", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

/// Other algorithms' tag lines, as GNU's `cksum`, `md5sum --tag`, `sha512sum --tag` write them.
fn other_tag(s: &[u8]) -> Option<&'static str> {
    const TAGS: &[(&str, &str)] = &[
        ("MD5", "MD5"),
        ("SHA1", "SHA-1"),
        ("SHA224", "SHA-224"),
        ("SHA384", "SHA-384"),
        ("SHA512", "SHA-512"),
        ("SHA3", "SHA-3"),
        ("BLAKE2", "BLAKE2"),
        ("SM3", "SM3"),
        ("CRC", "CRC"),
    ];
    TAGS.iter().find_map(|(tag, algo)| {
        let rest = s.strip_prefix(tag.as_bytes())?;
        // "SHA512 (" or "BLAKE2b-256 (" but not a hex digest such as "CRC0...": hex digests
        // never contain these letters in this position anyway; require a "(" soon after.
        let paren = rest.iter().position(|&b| b == b'(')?;
        (paren <= 6
            && rest[..paren]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b" -".contains(b)))
        .then_some(*algo)
    })
}

fn decode_hex(s: &[u8]) -> Sha256Digest {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).expect("caller checked 64 hex digits");
    Sha256Digest(out)
}

/// GNU's `filename_unescape`: only `\\`, `\n` and `\r` are escapes.
fn unescape(s: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(&other) => {
                return Err(format!(
                    "invalid escape \"\\{}\" in an escaped file name (the line starts with \
                     \"\\\"); only \\\\, \\n and \\r are allowed",
                    other as char
                ));
            }
            None => {
                return Err("the escaped file name ends with a lone \"\\\"".to_string());
            }
        }
    }
    Ok(out)
}

fn check_name(name: Vec<u8>) -> Result<String, String> {
    if name.is_empty() {
        return Err("the file name is empty".to_string());
    }
    if name.contains(&0) {
        return Err("the file name contains a NUL byte".to_string());
    }
    String::from_utf8(name).map_err(|e| {
        format!(
            "the file name is not valid UTF-8 (byte {} of the name); isoforge checks UTF-8 \
             names only",
            e.utf8_error().valid_up_to() + 1
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn one(line: &str) -> Listed {
        let mut v = parse("SUMS", line.as_bytes()).unwrap();
        assert_eq!(v.len(), 1, "{line:?}");
        v.remove(0)
    }

    fn err(text: &str) -> String {
        parse("SUMS", text.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn gnu_text_and_binary() {
        let l = one(&format!("{H}  a b.iso\n"));
        assert_eq!(l.entry.name, "a b.iso");
        assert_eq!(l.entry.digest.hex(), H);
        assert_eq!(l.style, Style::Gnu { binary: false });
        let l = one(&format!("{H} *x.iso"));
        assert_eq!(
            (l.entry.name.as_str(), l.style),
            ("x.iso", Style::Gnu { binary: true })
        );
        // Trailing blanks belong to the name, as in GNU.
        assert_eq!(one(&format!("{H}  x \n")).entry.name, "x ");
    }

    #[test]
    fn escaped_names() {
        let l = one(&format!("\\{H}  a\\\\b\\nc\\rd"));
        assert_eq!(l.entry.name, "a\\b\nc\rd");
        let l = one(&format!("\\SHA256 (x\\\\y) = {H}"));
        assert_eq!((l.entry.name.as_str(), l.style), ("x\\y", Style::Tag));
        // Without the leading backslash, backslashes are literal.
        assert_eq!(one(&format!("{H}  a\\nb")).entry.name, "a\\nb");
        assert!(err(&format!("\\{H}  a\\x")).contains("invalid escape \"\\x\""));
        assert!(err(&format!("\\{H}  a\\")).contains("lone"));
    }

    #[test]
    fn tags() {
        let l = one(&format!("SHA256 (f (1).iso) = {}", H.to_uppercase()));
        assert_eq!(l.entry.name, "f (1).iso");
        assert_eq!(l.entry.digest.hex(), H);
        assert_eq!(one(&format!("SHA256(o)= {H}")).entry.name, "o");
        assert!(err(&format!("SHA256 (a) = {H} ")).contains("SUMS:1: "));
        assert!(err(&format!("SHA256  (a) = {H}")).contains("SUMS:1: a tag line needs"));
        assert!(err("SHA256 (a) = abc").contains("has 3 hex digits"));
        let e = err(&format!("SHA512 (a) = {H}{H}"));
        assert!(
            e.contains("SHA-512 line; isoforge checks SHA-256 sums only"),
            "{e}"
        );
        assert!(err(&format!("MD5 (a) = {}", &H[..32])).contains("MD5 line"));
    }

    #[test]
    fn blank_comment_crlf() {
        let text = format!("# made by hand\n\n  \t\n{H}  a\r\n\n{H}  b\n");
        let v = parse("SUMS", text.as_bytes()).unwrap();
        let got: Vec<_> = v.iter().map(|l| (l.line, l.entry.name.as_str())).collect();
        assert_eq!(got, [(4, "a"), (6, "b")]);
        assert!(parse("SUMS", b"").unwrap().is_empty());
    }

    #[test]
    fn reversed_form_cannot_mix() {
        let v = parse("S", format!("{H} a\n{H}  b\n").as_bytes()).unwrap();
        assert_eq!(v[0].style, Style::Reversed);
        assert_eq!(v[1].entry.name, " b");
        let e = err(&format!("{H}  a\n{H} b\n"));
        assert!(e.starts_with("SUMS:2: expected two spaces"), "{e}");
    }

    #[test]
    fn bad_digests_are_explained() {
        let cases = [
            (format!("{}  a", &H[..40]), "40 hex digits, which is SHA-1"),
            (format!("{}  a", &H[..63]), "has 63 hex digits"),
            (
                format!("{}g{}  a", &H[..10], &H[11..]),
                "\"g\" at column 11",
            ),
            (format!("{H}0  a"), "has 65 hex digits"),
            (H.to_string(), "file name is missing"),
            (format!("{H}:a"), "unexpected \":\""),
            ("hello world".to_string(), "\"h\" at column 1"),
        ];
        for (line, want) in cases {
            let e = err(&format!("{H}  ok\n{line}\n"));
            assert!(e.starts_with("SUMS:2: "), "{e}");
            assert!(e.contains(want), "{line:?}: {e}");
        }
    }

    #[test]
    fn names_must_be_utf8_without_nul() {
        let mut line = format!("{H}  a").into_bytes();
        line.push(0xff);
        let e = parse("S", &line).unwrap_err().to_string();
        assert!(e.contains("not valid UTF-8 (byte 2"), "{e}");
        let e = err(&format!("{H}  a\0b"));
        assert!(e.contains("NUL"), "{e}");
        assert!(err(&format!("SHA256 () = {H}")).contains("file name is empty"));
    }
}
