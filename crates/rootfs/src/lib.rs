//! The live system's root file system, as a directory:
//!
//! 1. [`bootstrap`]: mmdebstrap installs the profile's packages from a local repository of
//!    exactly the locked packages ([`localrepo`]), then the installed set is checked against
//!    the lock. ([`source`] chooses the snapshot or the mirror for `isoforge lock` and
//!    `isoforge fetch`.)
//! 2. [`overlay`]: `config/includes.chroot/` (and `includes.binary/` into the ISO tree),
//!    copied before cleanup, so what it brings is cleaned and clamped like the rest.
//! 3. [`cleanup`]: removes or empties the files known to differ between identical builds
//!    (machine-id, ldconfig aux-cache, logs, apt lists, nvme hostid, dkms logs, …) and clamps
//!    every timestamp to SOURCE_DATE_EPOCH.
//! 4. [`branding`]: os-release, issue, hostname, the image's apt sources and the boot marker.
//!
//! Everything here writes inside the rootfs without following its symlinks ([`tree`]): an
//! absolute link in the image must never lead a write onto the build host.

pub mod bootstrap;
pub mod branding;
pub mod cleanup;
pub mod hooks;
pub mod localrepo;
pub mod overlay;
pub mod packages;
pub mod source;
pub mod tree;

use std::path::{Path, PathBuf};

/// The kernel and initramfs the live system boots, as paths inside the image (`boot/...`):
/// copy them with [`isoforge_fs::Dir::copy_regular`] on [`isoforge_fs::Dir::open_image`], so
/// a symlink in the image can never pick a host file.
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
    #[error(transparent)]
    Fs(#[from] isoforge_fs::Error),
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
    let kernel = PathBuf::from(format!("boot/vmlinuz-{release}"));
    let initrd = PathBuf::from(format!("boot/initrd.img-{release}"));
    let image = isoforge_fs::Dir::open_image(rootfs)?;
    if image.resolved_kind(&initrd)? != Some(isoforge_fs::Kind::File) {
        // A maintainer script can leave a link to a host file (`ln -sf /root/.ssh/… /boot/…`):
        // say so, rather than suggest a missing package.
        if image.kind(&initrd)? == Some(isoforge_fs::Kind::Symlink) {
            return Err(Error::Invalid(format!(
                "the rootfs's initramfs /boot/initrd.img-{release} is a symlink that does not \
                 lead to a regular file inside the image: refusing to copy it (a package's \
                 maintainer script or initramfs hook replaced it; remove that package)"
            )));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A maintainer script's `ln -sf /root/.ssh/id_ed25519 /boot/initrd.img-X`: the host's file
    /// is never taken for the image's initramfs, in the absolute and the `../..` form.
    #[test]
    fn an_initrd_linking_to_a_host_file_is_not_the_images() {
        let host = tempfile::tempdir().unwrap();
        let secret = host.path().join("id_ed25519");
        std::fs::write(&secret, "host key").unwrap();
        let up = format!("../../../../../../..{}", secret.display());
        for target in [secret.display().to_string(), up] {
            let img = tempfile::tempdir().unwrap();
            let r = img.path();
            std::fs::create_dir_all(r.join("boot")).unwrap();
            std::fs::create_dir_all(r.join("usr/lib/live/boot")).unwrap();
            std::fs::write(r.join("boot/vmlinuz-6.1"), "kernel").unwrap();
            std::os::unix::fs::symlink(&target, r.join("boot/initrd.img-6.1")).unwrap();
            let e = boot_images(r).unwrap_err().to_string();
            assert!(
                e.contains("initrd.img-6.1 is a symlink") && e.contains("refusing to copy it"),
                "{target}: {e}"
            );

            // The image's own file at that path is the one found and copied.
            let own = r.join(secret.strip_prefix("/").unwrap());
            std::fs::create_dir_all(own.parent().unwrap()).unwrap();
            std::fs::write(&own, "image initrd").unwrap();
            let b = boot_images(r).unwrap();
            let out = tempfile::tempdir().unwrap();
            let to = out.path().join("initrd.img");
            isoforge_fs::Dir::open_image(r)
                .unwrap()
                .copy_regular(&b.initrd, &to)
                .unwrap();
            assert_eq!(std::fs::read_to_string(&to).unwrap(), "image initrd");
        }
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host key");
    }
}
