//! mmdebstrap: the profile's packages installed into a directory, reproducibly (with
//! SOURCE_DATE_EPOCH set, mmdebstrap clamps times and cleans its own traces).
//!
//! dpkg runs with `force-unsafe-io` (no fsync per unpacked file): a failed build throws its
//! rootfs away anyway. It is set by a hook for the build only (`--dpkgopt` would stay in the
//! image as `/etc/dpkg/dpkg.cfg.d/99mmdebstrap`), and its directory gets its time back, so
//! the image does not change (same ISO sha256 with and without it).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use isoforge_exec::{Runner, Stage};
use isoforge_inputs::Profile;

use crate::packages::Installed;
use crate::{Error, io_err};

/// dpkg's configuration file that turns off fsync while the image is built, removed at the end.
const UNSAFE_IO: &str = "etc/dpkg/dpkg.cfg.d/isoforge-unsafe-io";

/// Installs `profile`'s packages from the apt source lines `sources` (the local repository of
/// the lock) into `target` (which must not exist yet).
pub fn run(
    runner: &Runner,
    stage: &Stage,
    profile: &Profile,
    sources: &[String],
    target: &Path,
) -> Result<(), Error> {
    let mut cmd = runner.command("mmdebstrap");
    cmd.arg("--mode=root")
        .arg("--format=directory")
        .arg("--verbose")
        .arg(format!("--variant={}", profile.variant))
        .arg(format!("--architectures={}", profile.architecture))
        .arg(format!("--components={}", profile.components.join(",")))
        .arg(format!("--include={}", profile.packages.join(",")))
        .arg(format!(
            "--setup-hook=mkdir -p \"$1/etc/dpkg/dpkg.cfg.d\" && echo force-unsafe-io > \"$1/{UNSAFE_IO}\""
        ))
        // The directory keeps the time dpkg gave it (the package's), as if the file never was.
        .arg(format!(
            "--customize-hook=d=\"$1/{UNSAFE_IO}\"; t=$(stat -c %Y \"${{d%/*}}\"); rm -f \"$d\"; touch -m -d \"@$t\" \"${{d%/*}}\""
        ))
        .arg(&profile.suite)
        .arg(target)
        .args(sources);
    // isoforge verify's shifted clock (libfaketime) stops at mmdebstrap: libfaketime shares
    // its clock through a POSIX semaphore in /dev/shm that the image's chroot cannot open, and
    // then exits, so no maintainer script could run under it.
    cmd.env_remove("LD_PRELOAD");
    runner.run(stage, "mmdebstrap", cmd)?;
    // The root directory's mode becomes the live system's `/`.
    std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err(format!("cannot chmod {}", target.display())))?;
    Ok(())
}

/// Compares what dpkg installed with what was locked: `(name, version, arch)` each.
/// Any difference is an error naming the packages.
pub fn check_installed(installed: &[Installed], locked: &[Installed]) -> Result<(), Error> {
    let extra: Vec<String> = installed
        .iter()
        .filter(|p| !locked.contains(p))
        .map(|p| format!("{} {} {}", p.name, p.version, p.architecture))
        .collect();
    let missing: Vec<String> = locked
        .iter()
        .filter(|p| !installed.contains(p))
        .map(|p| format!("{} {} {}", p.name, p.version, p.architecture))
        .collect();
    if extra.is_empty() && missing.is_empty() {
        return Ok(());
    }
    let mut msg = String::from("the installed packages differ from the lock:");
    if !extra.is_empty() {
        msg.push_str(&format!(" installed but not locked: {};", extra.join(", ")));
    }
    if !missing.is_empty() {
        msg.push_str(&format!(
            " locked but not installed: {};",
            missing.join(", ")
        ));
    }
    msg.push_str(" the lock does not describe what mmdebstrap selects; run `isoforge lock`");
    Err(Error::Invalid(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: &str, v: &str) -> Installed {
        Installed {
            name: n.into(),
            version: v.into(),
            architecture: "amd64".into(),
        }
    }

    #[test]
    fn names_the_differences() {
        assert!(check_installed(&[p("a", "1")], &[p("a", "1")]).is_ok());
        let e = check_installed(&[p("a", "2"), p("b", "1")], &[p("a", "1")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("installed but not locked: a 2 amd64, b 1 amd64;"),
            "{e}"
        );
        assert!(e.contains("locked but not installed: a 1 amd64;"), "{e}");
    }
}
