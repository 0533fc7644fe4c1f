//! Value checks shared by the configuration files. Each returns what it expected on failure.

pub fn words<T>(v: &str, each: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    let out = v.split_whitespace().map(each).collect::<Result<Vec<_>, _>>()?;
    if out.is_empty() {
        return Err("expected at least one word".into());
    }
    Ok(out)
}

fn all(v: &str, ok: impl Fn(char) -> bool) -> bool {
    !v.is_empty() && v.chars().all(ok)
}

pub fn one_of(v: &str, allowed: &[&str]) -> Result<String, String> {
    if allowed.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(format!("{v:?}; expected one of: {}", allowed.join(", ")))
    }
}

pub fn slug(v: &str) -> Result<String, String> {
    if all(v, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c))
        && !v.starts_with(['-', '.'])
    {
        Ok(v.to_string())
    } else {
        Err(format!("{v:?}; expected lower-case letters, digits, '-', '.', '_'"))
    }
}

pub fn package_name(v: &str) -> Result<String, String> {
    if v.len() >= 2
        && v.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && all(v, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
    {
        Ok(v.to_string())
    } else {
        Err(format!("{v:?} is not a Debian package name"))
    }
}

pub fn os_release_id(v: &str) -> Result<String, String> {
    if all(v, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c)) {
        Ok(v.to_string())
    } else {
        Err(format!("{v:?}; expected lower-case letters, digits, '-', '.', '_'"))
    }
}

pub fn version(v: &str) -> Result<String, String> {
    if v.starts_with(|c: char| c.is_ascii_digit())
        && all(v, |c| c.is_ascii_alphanumeric() || ".+~-".contains(c))
    {
        Ok(v.to_string())
    } else {
        Err(format!("{v:?}; expected a version starting with a digit, such as 1.1.0"))
    }
}

pub fn volume_label(v: &str) -> Result<String, String> {
    if v.len() <= 32 && all(v, |c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        Ok(v.to_string())
    } else {
        Err(format!("{v:?}; expected 1-32 characters of A-Z, 0-9 and _"))
    }
}

pub fn hostname(v: &str) -> Result<String, String> {
    let label_ok = |l: &str| {
        l.len() <= 63
            && all(l, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if v.len() <= 253 && v.split('.').all(label_ok) {
        Ok(v.to_string())
    } else {
        Err(format!("{v:?} is not a valid host name"))
    }
}

/// A single line of printable text without characters that need quoting anywhere we write it.
pub fn line(v: &str, max: usize) -> Result<String, String> {
    if v.chars().count() <= max && !v.chars().any(|c| c.is_control() || "\"'\\$`".contains(c)) {
        Ok(v.to_string())
    } else {
        Err(format!(
            "{v:?}; expected one line of at most {max} characters without quotes, \\, $ or `"
        ))
    }
}

pub fn grub_title(v: &str) -> Result<String, String> {
    line(v, 80)
}

/// One kernel command-line word: printable, and nothing GRUB's parser would interpret.
pub fn kernel_arg(v: &str) -> Result<String, String> {
    if all(v, |c| c.is_ascii_graphic() && !"\"'\\$`;{}#".contains(c)) {
        Ok(v.to_string())
    } else {
        Err(format!("{v:?} is not a plain kernel command-line word"))
    }
}

pub fn url(v: &str) -> Result<String, String> {
    let scheme_ok = ["http://", "https://", "file://"]
        .iter()
        .any(|s| v.starts_with(s) && v.len() > s.len());
    if scheme_ok && all(v, |c| c.is_ascii_graphic() && !"\"'\\$`".contains(c)) {
        Ok(v.to_string())
    } else {
        Err(format!("{v:?}; expected an http://, https:// or file:// URL"))
    }
}

pub fn yes_no(v: &str) -> Result<bool, String> {
    match v {
        "yes" | "true" | "1" => Ok(true),
        "no" | "false" | "0" => Ok(false),
        _ => Err(format!("{v:?}; expected yes or no")),
    }
}
