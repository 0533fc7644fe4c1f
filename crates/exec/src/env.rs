//! The fixed environment every tool runs in.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

/// Fixed search path: the tools come from the system, never from the caller's `$PATH`.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Caller variables passed through because they change how files are fetched, not what is
/// built.
const PASS_THROUGH: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
];

#[derive(Debug, Clone)]
pub struct ToolEnv {
    vars: BTreeMap<String, OsString>,
    /// Set by [`ToolEnv::varied`]: override `vars` for the tools, never recorded.
    varied: BTreeMap<String, OsString>,
}

impl ToolEnv {
    /// `home` and `tmp` are directories inside the build's work tree: no rc file of the
    /// caller's (`~/.mtoolsrc`, `~/.xorrisorc`) is ever read.
    pub fn new(source_date_epoch: i64, home: &Path, tmp: &Path) -> Self {
        let mut env = Self::minimal();
        env.vars.insert(
            "SOURCE_DATE_EPOCH".into(),
            source_date_epoch.to_string().into(),
        );
        env.vars.insert("HOME".into(), home.as_os_str().into());
        env.vars.insert("TMPDIR".into(), tmp.as_os_str().into());
        env
    }

    /// The environment of a tool run outside a build (version probes, git, listings): the fixed
    /// search path, locale and time zone, the caller's `HOME` (git reads `safe.directory` from
    /// it) and the proxies.
    pub fn minimal() -> Self {
        let mut vars: BTreeMap<String, OsString> = BTreeMap::new();
        vars.insert("PATH".into(), PATH.into());
        vars.insert("LC_ALL".into(), "C.UTF-8".into());
        vars.insert("LANG".into(), "C.UTF-8".into());
        vars.insert("TZ".into(), "UTC".into());
        vars.insert(
            "HOME".into(),
            std::env::var_os("HOME").unwrap_or_else(|| "/".into()),
        );
        for name in PASS_THROUGH {
            if let Some(v) = std::env::var_os(name) {
                vars.insert((*name).into(), v);
            }
        }
        Self {
            vars,
            varied: BTreeMap::new(),
        }
    }

    /// Adds or replaces one variable (e.g. `MTOOLS_SKIP_CHECK` for mtools).
    pub fn with(mut self, name: &str, value: impl Into<OsString>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// One of `isoforge verify`'s variations of build B (a shifted clock, an extra `PATH`
    /// entry): the tools see it, BUILD_INFO does not record it ([`ToolEnv::recorded`]), since a
    /// reproducible build gives the same bytes with or without it.
    pub fn varied(mut self, name: &str, value: impl Into<OsString>) -> Self {
        self.varied.insert(name.into(), value.into());
        self
    }

    pub fn vars(&self) -> impl Iterator<Item = (&str, &OsString)> {
        self.vars
            .iter()
            .filter(|(k, _)| !self.varied.contains_key(k.as_str()))
            .chain(&self.varied)
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The variables that determine the output, for BUILD_INFO: paths and proxies are left
    /// out because they differ between machines without changing a byte of the image.
    pub fn recorded(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter(|(k, _)| {
                !matches!(k.as_str(), "HOME" | "TMPDIR") && !PASS_THROUGH.contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.to_string_lossy().into_owned()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varied_variables_reach_the_tools_but_not_the_record() {
        let env = ToolEnv::new(1, Path::new("/h"), Path::new("/t"))
            .varied("PATH", "/nonexistent:/usr/bin")
            .varied("FAKETIME", "+1d");
        let vars: BTreeMap<&str, &OsString> = env.vars().collect();
        assert_eq!(vars["PATH"], "/nonexistent:/usr/bin");
        assert_eq!(vars["FAKETIME"], "+1d");
        assert_eq!(env.vars().filter(|(k, _)| *k == "PATH").count(), 1);
        let recorded = env.recorded();
        assert!(
            recorded.contains(&("PATH".into(), PATH.into())),
            "{recorded:?}"
        );
        assert!(!recorded.iter().any(|(k, _)| k == "FAKETIME"));
    }
}
