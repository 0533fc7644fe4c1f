//! Running a build's external tools (mmdebstrap, mksquashfs, grub-mkimage, mtools, xorriso).
//!
//! - [`ToolEnv`]: the only environment a tool sees: an allow-list, with `LC_ALL=C.UTF-8`,
//!   `TZ=UTC` and `SOURCE_DATE_EPOCH` fixed, so the caller's shell cannot leak into the image.
//! - [`process`]: the one way a process is started ([`command`], [`tool`]) and its output
//!   captured ([`capture`]): fixed environment, own process group, killed with isoforge,
//!   bounded output, cancellable.
//! - [`git`]: the git commands isoforge needs, on top of [`process`].
//! - [`Runner`]: runs one tool in its own process group, keeps its full output in a log file,
//!   shows its last line on the progress display, and kills it when the build is cancelled.
//! - [`Progress`]: a spinner per stage on a terminal, plain timestamped lines otherwise.
//! - [`cancel`]: SIGINT/SIGTERM/SIGHUP set a flag that every wait loop checks.

pub mod cancel;
mod env;
pub mod git;
pub mod process;
mod progress;
mod runner;

pub use env::{PATH as TOOL_PATH, ToolEnv};
pub use process::{Output, capture, capture_limited, command, tool};
pub use progress::{Progress, Stage};
pub use runner::{Error, Runner};
