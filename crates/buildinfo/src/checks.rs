//! What a BUILD_INFO field may hold. A BUILD_INFO often comes from elsewhere (a release) and
//! its fields become paths and URIs, so every field is checked where it is read: each check
//! says what it expected, and never echoes more than a short, escaped part of the value.

/// A BUILD_INFO larger than this is refused unread (the largest real ones are ~200 KiB).
pub const MAX_BYTES: u64 = 16 << 20;
/// The longest one-line field, or line of a multi-line field.
pub const MAX_LINE: usize = 4096;
/// The longest artefact name (one path component on Linux).
const MAX_NAME: usize = 255;

/// `v` for an error message: escaped, and cut short if long.
pub(crate) fn shown(v: &str) -> String {
    const KEEP: usize = 64;
    if v.chars().count() <= KEEP {
        format!("{v:?}")
    } else {
        let head: String = v.chars().take(KEEP).collect();
        format!("{head:?}… ({} bytes)", v.len())
    }
}

/// One line of text: bounded, with no control character.
pub(crate) fn line(v: &str) -> Result<(), String> {
    if v.len() > MAX_LINE {
        return Err(format!("{} bytes long; at most {MAX_LINE}", v.len()));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{} holds a control character", shown(v)));
    }
    Ok(())
}

fn lower_hex(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A git commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
pub fn commit(v: &str) -> Result<(), String> {
    if matches!(v.len(), 40 | 64) && lower_hex(v) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a commit id; expected 40 or 64 lowercase hex digits",
            shown(v)
        ))
    }
}

/// A SHA-256 digest: 64 lowercase hex digits.
pub fn sha256(v: &str) -> Result<(), String> {
    if v.len() == 64 && lower_hex(v) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a sha256; expected 64 lowercase hex digits",
            shown(v)
        ))
    }
}

/// A directory inside the repository: `.` or relative, with no `..`, `.` or empty component.
pub fn relative_dir(v: &str) -> Result<(), String> {
    line(v)?;
    if v == "." {
        return Ok(());
    }
    let bad = |why: &str| {
        Err(format!(
            "{} {why}; expected a path inside the repository",
            shown(v)
        ))
    };
    if v.is_empty() {
        return bad("is empty");
    }
    if v.starts_with('/') {
        return bad("is absolute");
    }
    if v.split('/').any(|c| matches!(c, "" | "." | "..")) {
        return bad("has an empty, `.` or `..` component");
    }
    Ok(())
}

/// A flavor name (`config/flavors/<name>.conf`): 1 to 32 of `a-z`, `0-9` and `-`, not
/// starting with `-`. It becomes part of the build id, a directory name.
pub fn flavor(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 32
        && !v.starts_with('-')
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a flavor name; expected 1-32 of a-z, 0-9 and '-'",
            shown(v)
        ))
    }
}

/// A file name: exactly one normal path component.
pub fn file_name(v: &str) -> Result<(), String> {
    line(v)?;
    let bad = |why: &str| Err(format!("{} {why}; expected a plain file name", shown(v)));
    if v.is_empty() || v == "." || v == ".." {
        return bad("is not a file name");
    }
    if v.contains('/') {
        return bad("contains '/'");
    }
    if v.len() > MAX_NAME {
        return bad("is longer than 255 bytes");
    }
    Ok(())
}

/// A Debian package name, version or architecture as written in `name (= version) arch`.
pub fn package(name: &str, version: &str, architecture: &str) -> Result<(), String> {
    let name_ok = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !name_ok {
        return Err(format!("{} is not a Debian package name", shown(name)));
    }
    let version_ok = version.starts_with(|c: char| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~-:".contains(c));
    if !version_ok {
        return Err(format!("{} is not a Debian version", shown(version)));
    }
    let arch_ok = !architecture.is_empty()
        && architecture
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !arch_ok {
        return Err(format!(
            "{} is not a Debian architecture",
            shown(architecture)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits() {
        assert!(commit(&"a".repeat(40)).is_ok());
        assert!(commit(&"0f".repeat(32)).is_ok());
        for bad in [
            "/etc",
            "../../x",
            "",
            "ABCDEF0123ABCDEF0123ABCDEF0123ABCDEF0123",
            "é",
        ] {
            assert!(commit(bad).is_err(), "{bad}");
        }
        assert!(commit(&"a".repeat(41)).is_err());
        assert!(commit(&format!("/tmp/{}", "a".repeat(35))).is_err());
    }

    #[test]
    fn directories_and_names() {
        for ok in [".", "config", "a/b-c/d"] {
            assert!(relative_dir(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc",
            "../../etc",
            "a/../b",
            "a//b",
            "a/",
            "./a",
            "a\0b",
            "a\nb",
        ] {
            assert!(relative_dir(bad).is_err(), "{bad:?}");
        }
        assert!(file_name("silvermetal-1.1.0-amd64.iso").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/x",
            "a\u{7}",
            &"x".repeat(256),
        ] {
            assert!(file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(10_000);
        let e = line(&long).unwrap_err();
        assert!(e.len() < 100, "{e}");
        let e = commit(&long).unwrap_err();
        assert!(e.len() < 200 && e.contains("10000 bytes"), "{e}");
    }
}
