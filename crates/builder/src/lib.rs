//! The builder: the tools a build runs with, pinned by content.
//!
//! - [`tarball`]: `isoforge builder build` installs the toolchain at the versions of
//!   `config/builder.lock` (mmdebstrap from the cache, like the image), removes the known
//!   non-deterministic files, clamps times, and writes a sorted, owner-numeric tar. Its
//!   sha256 is the builder's digest, the one `BUILDER_IMAGE` pins.
//! - [`runtime`]: where a build runs: `host` (this machine's tools; recorded, but not
//!   comparable across machines), `chroot` (the builder rootfs, checked against the digest,
//!   in new mount, PID, UTS and IPC namespaces), `docker` / `podman` (the same tarball
//!   imported as an image; only the command lines are built and tested here).

pub mod runtime;
pub mod tarball;
pub mod unpack;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Build(#[from] isoforge_build::Error),
    #[error(transparent)]
    Tool(#[from] isoforge_exec::Error),
    #[error(transparent)]
    Rootfs(#[from] isoforge_rootfs::Error),
    #[error(transparent)]
    Inputs(#[from] isoforge_inputs::Error),
    #[error(transparent)]
    Fs(#[from] isoforge_fs::Error),
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

/// Where builder tarballs are kept: `<cache>/builders/<digest>.tar`.
pub fn tarball_path(cache_root: &Path, digest: &str) -> PathBuf {
    cache_root.join("builders").join(format!("{digest}.tar"))
}
