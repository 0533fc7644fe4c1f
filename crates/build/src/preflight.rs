//! Before anything runs: are the tools there, and which versions made the image.

use std::path::Path;

use crate::Error;

/// `(what must exist, the Debian package that provides it)`.
const REQUIRED: &[(&str, &str)] = &[
    ("/usr/bin/mmdebstrap", "mmdebstrap"),
    ("/usr/bin/mksquashfs", "squashfs-tools"),
    ("/usr/bin/grub-mkimage", "grub-common"),
    ("/usr/lib/grub/i386-pc/moddep.lst", "grub-pc-bin"),
    ("/usr/lib/grub/i386-pc/boot_hybrid.img", "grub-pc-bin"),
    ("/usr/lib/grub/x86_64-efi/moddep.lst", "grub-efi-amd64-bin"),
    ("/usr/sbin/mkfs.fat", "dosfstools"),
    ("/usr/bin/mmd", "mtools"),
    ("/usr/bin/mcopy", "mtools"),
    ("/usr/bin/xorriso", "xorriso"),
    (
        "/usr/share/keyrings/debian-archive-keyring.gpg",
        "debian-archive-keyring",
    ),
];

/// Packages whose versions decide the image's bytes (the tools and the libraries that
/// compress and lay out data), recorded in BUILD_INFO.
pub const RECORDED_TOOLS: &[&str] = &[
    "mmdebstrap",
    "apt",
    "dpkg",
    "squashfs-tools",
    "liblzma5",
    "libzstd1",
    "zlib1g",
    "liblz4-1",
    "liblzo2-2",
    "grub-common",
    "grub-pc-bin",
    "grub-efi-amd64-bin",
    "dosfstools",
    "mtools",
    "xorriso",
    "libisoburn1",
    "libisofs6",
    "libburn4",
];

/// The apt packages `isoforge build` needs, for the install hint.
pub fn apt_packages() -> Vec<&'static str> {
    let mut v: Vec<&str> = REQUIRED.iter().map(|(_, p)| *p).collect();
    v.sort();
    v.dedup();
    v
}

/// Fails with the exact `apt-get install` line when a tool is missing.
pub fn check_tools() -> Result<(), Error> {
    let mut missing: Vec<&str> = REQUIRED
        .iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .map(|(_, pkg)| *pkg)
        .collect();
    missing.sort();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "missing build tools; install them with: apt-get install -y {}",
        missing.join(" ")
    )))
}

/// Installed versions of [`RECORDED_TOOLS`] on this machine (absent ones are left out).
pub fn tool_versions() -> Result<Vec<(String, String)>, Error> {
    Ok(isoforge_rootfs::packages::host_versions(RECORDED_TOOLS)
        .map_err(Error::Rootfs)?
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .collect())
}
