//! The variations of `isoforge verify` that must reach the build's tools themselves, not only
//! isoforge: the tools run in a fixed environment ([`ToolEnv`]), so verify hands them over in
//! two variables of its own, and the build adds them to that environment without recording
//! them in BUILD_INFO (a reproducible build gives the same bytes with or without them).
//!
//! - [`EXEC_PATH`]: a directory put first in the tools' `PATH`.
//! - [`FAKETIME`]: a clock offset (`+SECONDS`) for libfaketime, which verify has copied to
//!   [`FAKETIME_LIB`] under the output directory. It is preloaded as
//!   `/usr/../proc/<this pid>/root/<that path>`: the same file from the host, from a builder root and
//!   from inside the image's chroot (where mmdebstrap runs the maintainer scripts and mounts
//!   this PID namespace's `/proc`), so the image needs no copy of it.

use std::path::Path;

use isoforge_exec::ToolEnv;

use crate::Error;

/// An absolute directory, put first in the tools' `PATH`.
pub const EXEC_PATH: &str = "ISOFORGE_VERIFY_EXEC_PATH";
/// A libfaketime offset, `+SECONDS` or `-SECONDS`.
pub const FAKETIME: &str = "ISOFORGE_VERIFY_FAKETIME";
/// Where verify puts libfaketime, relative to the output directory.
pub const FAKETIME_LIB: &str = ".isoforge-verify/libfaketime.so.1";

/// Adds the variations found in this process's environment to `env`.
pub fn apply(env: ToolEnv, output_root: &Path) -> Result<ToolEnv, Error> {
    apply_from(env, output_root, |k| std::env::var_os(k))
}

fn apply_from(
    mut env: ToolEnv,
    output_root: &Path,
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<ToolEnv, Error> {
    if let Some(dir) = var(EXEC_PATH) {
        let dir = dir.to_string_lossy().into_owned();
        if !dir.starts_with('/') || dir.contains(':') {
            return Err(Error::Invalid(format!(
                "{EXEC_PATH}={dir}: must be an absolute directory without ':' (it is set by isoforge verify; unset it)"
            )));
        }
        env = env.varied("PATH", format!("{dir}:{}", isoforge_exec::TOOL_PATH));
    }
    if let Some(offset) = var(FAKETIME) {
        let offset = offset.to_string_lossy().into_owned();
        let digits = offset.strip_prefix(['+', '-']).unwrap_or("");
        if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Invalid(format!(
                "{FAKETIME}={offset}: must be +SECONDS or -SECONDS (it is set by isoforge verify; unset it)"
            )));
        }
        let lib = std::path::absolute(output_root.join(FAKETIME_LIB)).map_err(Error::io(
            format!("cannot resolve {}", output_root.display()),
        ))?;
        let regular = lib
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_file());
        if !regular {
            return Err(Error::Invalid(format!(
                "{FAKETIME} is set but {} is not a regular file: isoforge verify puts libfaketime there",
                lib.display()
            )));
        }
        // `/usr/..` is `/` everywhere; usrmerge's convert-usrmerge moves every library
        // `ldd /bin/cp` lists into /usr unless its path starts with /usr/ (a bare
        // `/proc/…` made it fail: "cp: cannot create regular file '/usr/proc/…'").
        let preload = format!("/usr/../proc/{}/root{}", std::process::id(), lib.display());
        env = env
            .varied("LD_PRELOAD", preload)
            .varied("FAKETIME", offset)
            // Only the clock: timeouts keep real time, file times stay what is on disk.
            .varied("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            // No POSIX semaphore in /dev/shm (the image's chroot has none at first).
            .varied("FAKETIME_DISABLE_SHM", "1")
            .varied("NO_FAKE_STAT", "1");
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::ffi::OsString;

    fn run(vars: &[(&str, &str)], root: &Path) -> Result<BTreeMap<String, OsString>, String> {
        let vars: BTreeMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        let env = ToolEnv::new(1, Path::new("/h"), Path::new("/t"));
        apply_from(env, root, |k| vars.get(k).cloned())
            .map(|e| e.vars().map(|(k, v)| (k.to_string(), v.clone())).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn verify_variations_reach_the_tool_environment_or_are_refused_in_one_line() {
        let d = tempfile::tempdir().unwrap();
        let plain = run(&[], d.path()).unwrap();
        assert!(!plain.contains_key("LD_PRELOAD"));
        let got = run(&[(EXEC_PATH, "/nonexistent/x")], d.path()).unwrap();
        assert_eq!(
            got["PATH"],
            OsString::from(format!("/nonexistent/x:{}", isoforge_exec::TOOL_PATH))
        );
        for bad in ["relative", "/a:/b"] {
            let e = run(&[(EXEC_PATH, bad)], d.path()).unwrap_err();
            assert!(e.starts_with("ISOFORGE_VERIFY_EXEC_PATH="), "{e}");
        }
        // No library where verify puts it: refused, not silently unshifted.
        let e = run(&[(FAKETIME, "+100")], d.path()).unwrap_err();
        assert!(e.contains("is not a regular file"), "{e}");
        let lib = d.path().join(FAKETIME_LIB);
        std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
        std::fs::write(&lib, "").unwrap();
        for bad in ["100", "+1d", "+", "-12345678901234"] {
            let e = run(&[(FAKETIME, bad)], d.path()).unwrap_err();
            assert!(e.contains("must be +SECONDS or -SECONDS"), "{bad}: {e}");
        }
        let got = run(&[(FAKETIME, "+34413180")], d.path()).unwrap();
        assert_eq!(got["FAKETIME"], "+34413180");
        assert_eq!(
            got["LD_PRELOAD"],
            OsString::from(format!(
                "/usr/../proc/{}/root{}",
                std::process::id(),
                lib.display()
            ))
        );
        assert_eq!(got["NO_FAKE_STAT"], "1");
    }
}
