//! The live system's root file system, as a directory:
//!
//! 1. [`bootstrap`]: mmdebstrap installs the profile's packages from a local repository of
//!    exactly the locked packages ([`localrepo`]), then the installed set is checked against
//!    the lock. ([`source`] chooses the snapshot or the mirror for `isoforge lock` and
//!    `isoforge fetch`.)
//! 2. [`cleanup`]: removes or empties the files known to differ between identical builds
//!    (machine-id, ldconfig aux-cache, logs, apt lists, nvme hostid, dkms logs, …) and clamps
//!    every timestamp to SOURCE_DATE_EPOCH.
//! 3. [`branding`]: os-release, issue, hostname, the image's apt sources and the boot marker.
//!
//! Everything here writes inside the rootfs without following its symlinks ([`tree`]): an
//! absolute link in the image must never lead a write onto the build host.

pub mod bootstrap;
pub mod branding;
pub mod cleanup;
pub mod localrepo;
pub mod packages;
pub mod source;
pub mod tree;

use std::path::{Path, PathBuf};

/// The kernel and initramfs the live system boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootImages {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// The kernel release, e.g. `6.1.0-50-amd64`.
    pub release: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tool(#[from] isoforge_exec::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Finds the single installed kernel and its initramfs, and checks live-boot is there.
pub fn boot_images(rootfs: &Path) -> Result<BootImages, Error> {
    let boot = rootfs.join("boot");
    let mut kernels: Vec<String> = std::fs::read_dir(&boot)
        .map_err(io_err(format!("cannot read {}", boot.display())))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_prefix("vmlinuz-").map(str::to_string))
        .collect();
    kernels.sort();
    let release = match kernels.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(Error::Invalid(
                "the rootfs has no kernel (/boot/vmlinuz-*): add linux-image-amd64 to PACKAGES"
                    .into(),
            ));
        }
        many => {
            return Err(Error::Invalid(format!(
                "the rootfs has {} kernels ({}): the live image boots one; install one kernel",
                many.len(),
                many.join(", ")
            )));
        }
    };
    let kernel = boot.join(format!("vmlinuz-{release}"));
    let initrd = boot.join(format!("initrd.img-{release}"));
    if !initrd.is_file() {
        return Err(Error::Invalid(format!(
            "the rootfs has no initramfs for kernel {release} (/boot/initrd.img-{release}): \
             add initramfs-tools (live-boot pulls it in) to PACKAGES"
        )));
    }
    if !rootfs.join("usr/lib/live/boot").is_dir() && !rootfs.join("lib/live/boot").is_dir() {
        return Err(Error::Invalid(
            "live-boot is not installed in the rootfs: add live-boot to PACKAGES".into(),
        ));
    }
    Ok(BootImages {
        kernel,
        initrd,
        release,
    })
}
