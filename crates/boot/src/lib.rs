//! `isoforge boot`: proves that an ISO boots. It starts QEMU (BIOS via SeaBIOS, or UEFI via
//! Debian's OVMF) with the ISO as a read-only CD-ROM and the guest's serial console on a pipe,
//! saves the console to a log, and waits for the success marker that the image prints when it
//! reaches multi-user (`isoforge-boot-ok: <NAME> <VERSION_ID>`, see [`DEFAULT_MARKER`]). It
//! then stops QEMU. A boot fails on a timeout, a kernel panic, the initramfs shell, systemd's
//! emergency mode, QEMU exiting, or a marker line with the wrong text.
//!
//! QEMU never outlives the boot: it is stopped on every path out of [`boot`] (a guard kills it
//! on unwinding too), runs in its own process group so that a terminal's Ctrl-C reaches
//! isoforge rather than QEMU, and is killed by the kernel if isoforge dies (`PR_SET_PDEATHSIG`;
//! this ties it to the thread that calls [`boot`], which waits for it anyway).
//!
//! Acceleration: KVM where it works, TCG otherwise. That `/dev/kvm` opens is not proof that KVM
//! works: on the development machines (nested in a Firecracker VM, no vmx/svm flag visible) a
//! KVM guest under BIOS runs GRUB and hangs at the kernel's entry, spinning a host core; under
//! UEFI it prints nothing at all; with `-cpu host` QEMU aborts ("failed to set MSR 0x10a").
//! [`Accel::Auto`] therefore gives KVM [`Options::kvm_probe`] to show the kernel's first
//! messages, and otherwise stops it, keeps its console log, and boots again under TCG
//! (remembered for the rest of the process, so `--firmware both` pays the probe once).

pub mod console;
pub mod qemu;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

pub use console::{DEFAULT_MARKER, Marker, Sign, Stage};
pub use qemu::{Engine, Ovmf};

/// Which firmware boots the ISO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Firmware {
    /// SeaBIOS, El Torito BIOS boot image.
    Bios,
    /// OVMF, El Torito EFI boot image.
    Uefi,
}

impl Firmware {
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }
}

/// Which accelerator to ask QEMU for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// KVM only: an error if `/dev/kvm` cannot be opened; a hang is a timeout.
    Kvm,
    /// TCG (emulation) only: slow, works everywhere.
    Tcg,
    /// KVM if `/dev/kvm` opens and the kernel starts within [`Options::kvm_probe`], else TCG.
    Auto,
}

/// How to boot.
#[derive(Debug, Clone)]
pub struct Options {
    pub iso: PathBuf,
    pub firmware: Firmware,
    pub accel: Accel,
    /// From QEMU's start to the marker, per attempt.
    pub timeout: Duration,
    /// With [`Accel::Auto`]: how long KVM gets to show the kernel starting.
    pub kvm_probe: Duration,
    pub memory_mib: u32,
    pub marker: Marker,
    /// The text the marker line must carry after the marker (e.g. `SilverMetal Linux 1.1.0`).
    pub expect: Option<String>,
    /// Where the console log goes (written as `<log>.part`, renamed when QEMU has stopped).
    pub log: PathBuf,
    /// OVMF firmware for UEFI; `None` finds Debian's.
    pub ovmf: Option<Ovmf>,
    /// The QEMU program.
    pub qemu: PathBuf,
    /// Polled while QEMU runs: `true` stops the boot (the caller's Ctrl-C), QEMU with it.
    pub cancelled: fn() -> bool,
}

impl Options {
    /// Defaults: auto acceleration, 300 s timeout, 30 s KVM probe, 1024 MiB, the
    /// `isoforge-boot-ok:` marker.
    pub fn new(iso: impl Into<PathBuf>, firmware: Firmware, log: impl Into<PathBuf>) -> Self {
        Self {
            iso: iso.into(),
            firmware,
            accel: Accel::Auto,
            timeout: Duration::from_secs(300),
            kvm_probe: Duration::from_secs(30),
            memory_mib: 1024,
            marker: Marker::default(),
            expect: None,
            log: log.into(),
            ovmf: None,
            qemu: "qemu-system-x86_64".into(),
            cancelled: || false,
        }
    }
}

/// A boot that could not be attempted (exit status 2), as opposed to one that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Setup(String),
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error(transparent)]
    Fs(#[from] isoforge_fs::Error),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |error| Error::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Progress, for a spinner or log lines.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// QEMU started with this accelerator.
    Started { engine: Engine },
    /// The console shows a later stage than before.
    Stage { stage: Stage, after: Duration },
    /// KVM did not work; booting again under TCG.
    KvmFallback { reason: &'a str, log: &'a Path },
}

/// Why a boot failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No marker before the timeout; `stage` is the last one seen.
    Timeout {
        limit: Duration,
        stage: Option<Stage>,
    },
    /// A panic, the initramfs shell or emergency mode, with the line that showed it.
    Sign { sign: Sign, line: String },
    /// QEMU ended by itself (e.g. a reboot with `-no-reboot`, or a QEMU error).
    QemuExited { status: String, stderr: String },
    /// The marker appeared with other text than [`Options::expect`].
    WrongMarker { got: String, expected: String },
    /// [`Options::cancelled`] said to stop.
    Cancelled,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout { limit, stage } => write!(
                f,
                "timeout: no marker within {} s (last stage: {})",
                limit.as_secs(),
                stage.map_or("no console output", |s| s.describe())
            ),
            Failure::Sign { sign, line } => write!(f, "{}: {line}", sign.describe()),
            Failure::QemuExited { status, stderr } => {
                write!(f, "QEMU exited before the marker ({status})")?;
                match stderr.trim().lines().last() {
                    Some(last) => write!(f, ": {last}"),
                    None => Ok(()),
                }
            }
            Failure::WrongMarker { got, expected } => write!(
                f,
                "wrong marker text: the image printed {got:?}, expected {expected:?}"
            ),
            Failure::Cancelled => write!(f, "cancelled"),
        }
    }
}

/// The outcome of one [`boot`].
#[derive(Debug, Clone)]
pub struct Report {
    pub firmware: Firmware,
    /// The accelerator of the attempt reported here.
    pub engine: Engine,
    /// The marker line on success.
    pub result: Result<String, Failure>,
    /// From QEMU's start to the marker or the failure.
    pub elapsed: Duration,
    /// Each stage and when it was first seen.
    pub stages: Vec<(Stage, Duration)>,
    pub log: PathBuf,
    /// The last console lines (cleaned of terminal escapes).
    pub tail: Vec<String>,
    /// Why KVM was abandoned, and its console log.
    pub kvm_fallback: Option<(String, PathBuf)>,
    /// QEMU's command line, to reproduce by hand (the UEFI variable store was a temporary copy).
    pub command: String,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.result.is_ok()
    }
}

/// KVM failed once in this process: later [`Accel::Auto`] boots go straight to TCG.
static KVM_BROKEN: AtomicBool = AtomicBool::new(false);

/// How many console lines [`Report::tail`] keeps.
const TAIL_LINES: usize = 20;

/// After a failure sign, how long to keep reading so the log holds the panic's trace.
const SIGN_GRACE: Duration = Duration::from_secs(3);

/// Boots the ISO once (or twice, if [`Accel::Auto`] falls back from KVM to TCG).
pub fn boot(opts: &Options, on_event: &mut dyn FnMut(Event<'_>)) -> Result<Report, Error> {
    if !opts.iso.is_file() {
        return Err(Error::Setup(format!(
            "{}: no such ISO file",
            opts.iso.display()
        )));
    }
    check_bootable(&opts.iso)?;
    let ovmf = match (opts.firmware, &opts.ovmf) {
        (Firmware::Bios, _) => None,
        (Firmware::Uefi, Some(o)) => Some(o.clone()),
        (Firmware::Uefi, None) => Some(Ovmf::discover()?),
    };
    if let Some(o) = &ovmf {
        o.check()?;
    }
    let kvm = qemu::kvm_available();
    let try_kvm_first = match opts.accel {
        Accel::Tcg => false,
        Accel::Kvm => {
            kvm.map_err(|e| {
                Error::Setup(format!(
                    "{e}; KVM is not usable here: use --accel tcg or --accel auto"
                ))
            })?;
            true
        }
        Accel::Auto => kvm.is_ok() && !KVM_BROKEN.load(Ordering::Relaxed),
    };
    if try_kvm_first {
        let probe = (opts.accel == Accel::Auto).then_some(opts.kvm_probe);
        let kvm_log = if probe.is_some() {
            attempt_log(&opts.log)
        } else {
            opts.log.clone()
        };
        match attempt(opts, ovmf.as_ref(), Engine::Kvm, &kvm_log, probe, on_event)? {
            Attempt::Done(report) => return Ok(report),
            Attempt::KvmUnusable(reason) => {
                KVM_BROKEN.store(true, Ordering::Relaxed);
                on_event(Event::KvmFallback {
                    reason: &reason,
                    log: &kvm_log,
                });
                let mut report =
                    match attempt(opts, ovmf.as_ref(), Engine::Tcg, &opts.log, None, on_event)? {
                        Attempt::Done(r) => r,
                        Attempt::KvmUnusable(_) => unreachable!("TCG attempts are not probed"),
                    };
                report.kvm_fallback = Some((reason, kvm_log));
                return Ok(report);
            }
        }
    }
    match attempt(opts, ovmf.as_ref(), Engine::Tcg, &opts.log, None, on_event)? {
        Attempt::Done(r) => Ok(r),
        Attempt::KvmUnusable(_) => unreachable!("TCG attempts are not probed"),
    }
}

/// Refuses, before QEMU starts or any log is written, a file that is not an ISO 9660 image
/// with an El Torito boot record: firmware would only fall through to "no bootable device".
pub fn check_bootable(iso: &Path) -> Result<(), Error> {
    let src = isoforge_formats::io::FileSource::open(iso).map_err(io_err(iso))?;
    match isoforge_formats::iso9660::el_torito_catalog(&src) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Error::Setup(format!(
            "{}: not a bootable ISO (no El Torito boot record among its ISO 9660 volume \
             descriptors); pass an ISO made by isoforge build",
            iso.display()
        ))),
        Err(e) => Err(Error::Setup(format!(
            "{}: cannot read its volume descriptors: {e}",
            iso.display()
        ))),
    }
}

/// `boot-bios.log` -> `boot-bios.kvm-attempt.log`
fn attempt_log(log: &Path) -> PathBuf {
    let stem = log
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "boot".into());
    log.with_file_name(format!("{stem}.kvm-attempt.log"))
}

enum Attempt {
    Done(Report),
    /// Only when probing KVM: it did not show the kernel starting.
    KvmUnusable(String),
}

/// QEMU, stopped and reaped when dropped if it is still running.
struct Running {
    child: Child,
}

impl Running {
    /// Asks QEMU to quit (SIGTERM: it powers the guest off at once), then kills it.
    fn stop(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn spawn(program: &Path, args: &[std::ffi::OsString]) -> Result<Running, Error> {
    // Own process group, killed with isoforge, fixed environment; the console is read here.
    let mut cmd = isoforge_exec::tool(program);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| {
        Error::Setup(if e.kind() == io::ErrorKind::NotFound {
            format!(
                "{}: not found; install Debian's qemu-system-x86 package",
                program.display()
            )
        } else {
            format!("cannot start {}: {e}", program.display())
        })
    })?;
    Ok(Running { child })
}

/// What the console has shown so far in one attempt.
struct Watch<'a> {
    opts: &'a Options,
    start: Instant,
    stage: Option<Stage>,
    stages: Vec<(Stage, Duration)>,
    tail: VecDeque<String>,
    /// A failure sign and when it was seen (the attempt ends after [`SIGN_GRACE`]).
    sign: Option<(Sign, String, Instant)>,
    verdict: Option<Result<String, Failure>>,
}

impl Watch<'_> {
    fn line(&mut self, line: &str, complete: bool, on_event: &mut dyn FnMut(Event<'_>)) {
        if complete && !line.trim().is_empty() {
            if self.tail.len() == TAIL_LINES {
                self.tail.pop_front();
            }
            self.tail.push_back(line.to_string());
        }
        if self.verdict.is_some() {
            return;
        }
        // Stages only from whole lines: a chunk may end inside "Welcome to GRUB!".
        if let Some(stage) = console::stage_of(line).filter(|_| complete) {
            if self.stage.is_none_or(|s| stage > s) {
                self.advance(stage, on_event);
            }
        }
        // With --expect the whole line is needed; a prompt-like marker may never end its line.
        let found = (complete || self.opts.expect.is_none())
            .then(|| self.opts.marker.find(line))
            .flatten();
        if let Some(m) = found {
            self.verdict = Some(match &self.opts.expect {
                Some(want) if &m.rest != want => Err(Failure::WrongMarker {
                    got: m.rest,
                    expected: want.clone(),
                }),
                _ => Ok(m.line),
            });
            self.advance(Stage::Marker, on_event);
            return;
        }
        if self.sign.is_none() {
            if let Some(sign) = console::failure_sign(line) {
                self.sign = Some((sign, line.trim().to_string(), Instant::now()));
            }
        }
    }

    fn advance(&mut self, stage: Stage, on_event: &mut dyn FnMut(Event<'_>)) {
        let after = self.start.elapsed();
        self.stage = Some(stage);
        self.stages.push((stage, after));
        on_event(Event::Stage { stage, after });
    }
}

fn attempt(
    opts: &Options,
    ovmf: Option<&Ovmf>,
    engine: Engine,
    log: &Path,
    kvm_probe: Option<Duration>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Attempt, Error> {
    // The firmware writes its variable store: give it a private copy.
    let vars_dir = tempfile::Builder::new()
        .prefix("isoforge-ovmf-")
        .tempdir()
        .map_err(io_err(&std::env::temp_dir()))?;
    let vars_copy = vars_dir.path().join("OVMF_VARS.fd");
    if let Some(o) = ovmf {
        std::fs::copy(&o.vars, &vars_copy).map_err(io_err(&o.vars))?;
    }
    let machine = qemu::Machine {
        iso: &opts.iso,
        firmware: opts.firmware,
        engine,
        memory_mib: opts.memory_mib,
        ovmf: ovmf.map(|o| (o.code.as_path(), vars_copy.as_path())),
    };
    let args = qemu::args(&machine);
    let command = std::iter::once(opts.qemu.as_os_str())
        .chain(args.iter().map(|a| a.as_os_str()))
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");

    if let Some(dir) = log.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let part = log.with_file_name(format!(
        "{}.part",
        log.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut log_file = File::create(&part).map_err(io_err(&part))?;

    let mut qemu = match spawn(&opts.qemu, &args) {
        Ok(q) => q,
        Err(e) => {
            drop(log_file);
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    let start = Instant::now();
    on_event(Event::Started { engine });

    let mut stdout = qemu.child.stdout.take().expect("stdout is piped");
    let mut stderr = qemu.child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = thread::spawn(move || -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match stdout.read(&mut buf) {
                Ok(0) => return log_file.flush(),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            log_file.write_all(&buf[..n])?;
            if tx.send(buf[..n].to_vec()).is_err() {
                // The watcher is done; keep draining so QEMU never blocks on a full pipe.
                continue;
            }
        }
    });
    let errors = thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all);
        let text = String::from_utf8_lossy(&all).into_owned();
        // Keep the end: that is where QEMU says why it stopped.
        let cut = text.len().saturating_sub(4096);
        let cut = (cut..=text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[cut..].to_string()
    });

    let mut watch = Watch {
        opts,
        start,
        stage: None,
        stages: Vec::new(),
        tail: VecDeque::new(),
        sign: None,
        verdict: None,
    };
    let mut lines = console::Lines::default();
    let mut exited = false;
    let mut probe_failed = None;
    while watch.verdict.is_none() {
        let elapsed = start.elapsed();
        if (opts.cancelled)() {
            watch.verdict = Some(Err(Failure::Cancelled));
            break;
        }
        if elapsed >= opts.timeout {
            watch.verdict = Some(Err(Failure::Timeout {
                limit: opts.timeout,
                stage: watch.stage,
            }));
            break;
        }
        let kernel_late =
            kvm_probe.filter(|&p| elapsed >= p && watch.stage.is_none_or(|s| s < Stage::Kernel));
        if let Some(probe) = kernel_late {
            probe_failed = Some(format!(
                "the kernel did not start within {} s under KVM (last stage: {})",
                probe.as_secs(),
                watch.stage.map_or("no console output", |s| s.describe())
            ));
            break;
        }
        if let Some((sign, line, at)) = &watch.sign {
            if at.elapsed() >= SIGN_GRACE {
                watch.verdict = Some(Err(Failure::Sign {
                    sign: *sign,
                    line: line.clone(),
                }));
                break;
            }
        }
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(bytes) => {
                for line in lines.push(&bytes) {
                    watch.line(&line, true, on_event);
                }
                let partial = lines.partial();
                if !partial.is_empty() {
                    watch.line(&partial, false, on_event);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                exited = true;
                break;
            }
        }
    }
    let ended = start.elapsed();
    let status = qemu.stop().map_err(io_err(&opts.qemu))?;
    drop(rx);
    match reader.join() {
        Ok(result) => result.map_err(io_err(&part))?,
        Err(_) => return Err(Error::Setup("the console reader thread panicked".into())),
    }
    let stderr = errors.join().unwrap_or_default();
    let partial = lines.partial();
    if !partial.trim().is_empty() {
        watch.tail.push_back(partial);
    }
    isoforge_fs::persist(&part, log)?;

    if let Some(reason) = probe_failed {
        return Ok(Attempt::KvmUnusable(reason));
    }
    let result = match watch.verdict.take() {
        Some(v) => v,
        None if exited => {
            let failure = match watch.sign.take() {
                Some((sign, line, _)) => Failure::Sign { sign, line },
                None => Failure::QemuExited {
                    status: status.to_string(),
                    stderr,
                },
            };
            if kvm_probe.is_some() && watch.stage.is_none_or(|s| s < Stage::Kernel) {
                return Ok(Attempt::KvmUnusable(format!("under KVM, {failure}")));
            }
            Err(failure)
        }
        None => unreachable!("the watch loop ends with a verdict, a probe failure or an exit"),
    };
    let elapsed = match (&result, watch.stages.last()) {
        (Ok(_), Some(&(Stage::Marker, at))) => at,
        _ => ended,
    };
    Ok(Attempt::Done(Report {
        firmware: opts.firmware,
        engine,
        result,
        elapsed,
        stages: watch.stages,
        log: log.to_path_buf(),
        tail: watch.tail.into(),
        kvm_fallback: None,
        command,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(opts: &Options) -> Watch<'_> {
        Watch {
            opts,
            start: Instant::now(),
            stage: None,
            stages: Vec::new(),
            tail: VecDeque::new(),
            sign: None,
            verdict: None,
        }
    }

    #[test]
    fn expect_needs_the_whole_line() {
        let mut o = Options::new("x.iso", Firmware::Bios, "x.log");
        o.expect = Some("SilverMetal Linux 1.1.0".into());
        let mut w = watch(&o);
        let mut events = Vec::new();
        w.line("[    0.000000] Linux version 6.1.0", true, &mut |e| {
            events.push(format!("{e:?}"))
        });
        w.line("isoforge-boot-ok: Silver", false, &mut |_| {});
        assert_eq!(w.verdict, None);
        w.line(
            "isoforge-boot-ok: SilverMetal Linux 1.1.0",
            true,
            &mut |_| {},
        );
        assert_eq!(
            w.verdict,
            Some(Ok("isoforge-boot-ok: SilverMetal Linux 1.1.0".into()))
        );
        assert_eq!(
            w.stages.iter().map(|s| s.0).collect::<Vec<_>>(),
            [Stage::Kernel, Stage::Marker]
        );
        assert!(events[0].contains("Kernel"), "{events:?}");

        let mut w = watch(&o);
        w.line("isoforge-boot-ok: Debian GNU/Linux 12", true, &mut |_| {});
        assert_eq!(
            w.verdict,
            Some(Err(Failure::WrongMarker {
                got: "Debian GNU/Linux 12".into(),
                expected: "SilverMetal Linux 1.1.0".into()
            }))
        );
    }

    #[test]
    fn stages_need_whole_lines() {
        let o = Options::new("x.iso", Firmware::Uefi, "x.log");
        let mut w = watch(&o);
        w.line("Welcome to ", false, &mut |_| {});
        assert_eq!(w.stage, None);
        w.line("Welcome to GRUB!", true, &mut |_| {});
        assert_eq!(w.stage, Some(Stage::Bootloader));
    }

    #[test]
    fn prompt_marker_matches_an_unfinished_line() {
        let mut o = Options::new("x.iso", Firmware::Bios, "x.log");
        o.marker = Marker::new("login:").unwrap();
        let mut w = watch(&o);
        w.line("vm login: ", false, &mut |_| {});
        assert_eq!(w.verdict, Some(Ok("vm login: ".into())));
    }

    #[test]
    fn signs_wait_and_stages_do_not_go_back() {
        let o = Options::new("x.iso", Firmware::Bios, "x.log");
        let mut w = watch(&o);
        for line in [
            "Welcome to GRUB!",
            "[    1.000000] x",
            "GNU GRUB  version 2.06",
            "[   15.901658] Kernel panic - not syncing: Attempted to kill init!",
        ] {
            w.line(line, true, &mut |_| {});
        }
        assert_eq!(w.verdict, None);
        let (sign, line, _) = w.sign.clone().unwrap();
        assert_eq!(sign, Sign::KernelPanic);
        assert!(line.starts_with("[   15.901658] Kernel panic"));
        assert_eq!(
            w.stages.iter().map(|s| s.0).collect::<Vec<_>>(),
            [Stage::Bootloader, Stage::Kernel]
        );
        assert_eq!(w.tail.len(), 4);
    }

    #[test]
    fn kvm_attempt_log_name() {
        assert_eq!(
            attempt_log(Path::new("/o/boot-uefi.log")),
            Path::new("/o/boot-uefi.kvm-attempt.log")
        );
    }
}
