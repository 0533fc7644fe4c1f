//! The package lock: every package an image (or the builder) installs, pinned by name,
//! version, architecture, size and sha256, with where it lives in which repository.
//!
//! - [`format`]: `config/packages-<flavor>.lock` and `config/builder.lock`, plain sorted
//!   text that reads well in a diff; the same inputs always give the same bytes (no time, no
//!   path).
//!   Its header records the inputs it was resolved from and their hash, so a build can tell
//!   that the profile moved on and the lock must be resolved again.
//! - [`resolve`]: apt itself resolves the set, in a throwaway apt root with only the
//!   profile's sources and their `signed-by` keys (this is where Release signatures are
//!   verified), reproducing mmdebstrap's selection for the variant: first the essential set,
//!   then, with it marked installed, the priority set and the profile's packages.

pub mod format;
pub mod plan;
pub mod resolve;

use std::path::PathBuf;

pub use format::{Inputs, Lock, Locked};
pub use resolve::{AptRepo, Request};

/// The image's lock, under the configuration directory, for a profile without flavors.
pub const FILE: &str = "packages.lock";

/// The image's lock of `flavor`: `packages-<flavor>.lock` (each flavor installs its own
/// set), or [`FILE`] for a profile without flavors.
pub fn image_file(flavor: Option<&str>) -> String {
    match flavor {
        Some(f) => format!("packages-{f}.lock"),
        None => FILE.to_string(),
    }
}
/// The builder's lock, under the configuration directory.
pub const BUILDER_FILE: &str = "builder.lock";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}:{line}: {message}", file.display())]
    At {
        file: PathBuf,
        line: usize,
        message: String,
    },
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
