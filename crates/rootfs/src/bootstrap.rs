//! mmdebstrap: the profile's packages installed into a directory, reproducibly (with
//! SOURCE_DATE_EPOCH set, mmdebstrap clamps times and cleans its own traces).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use isoforge_exec::{Runner, Stage};
use isoforge_inputs::Profile;

use crate::source::PackageSource;
use crate::{Error, io_err};

/// Installs `profile`'s packages from `source` into `target` (which must not exist yet).
pub fn run(
    runner: &Runner,
    stage: &Stage,
    profile: &Profile,
    source: &PackageSource,
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
        .arg("--aptopt=Acquire::Retries \"3\"")
        .arg(&profile.suite)
        .arg(target)
        .arg(source.apt_line(&profile.suite, &profile.components));
    runner.run(stage, "mmdebstrap", cmd)?;
    // The root directory's mode becomes the live system's `/`.
    std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err(format!("cannot chmod {}", target.display())))?;
    Ok(())
}
