//! Cancellation: a process-wide flag set by SIGINT, SIGTERM and SIGHUP.
//!
//! Long loops poll [`is_cancelled`]; the runner then kills the running tool's process group and
//! the build unwinds, removing its temporary directory, so no complete-looking artefact remains.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Installs the signal handlers. Safe to call more than once.
pub fn install() -> std::io::Result<()> {
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(flag()))?;
    }
    Ok(())
}

pub fn is_cancelled() -> bool {
    flag().load(Ordering::SeqCst)
}

/// Marks the build as cancelled (used by tests and by callers that abort on their own).
pub fn cancel() {
    flag().store(true, Ordering::SeqCst);
}
