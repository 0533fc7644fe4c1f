//! The QEMU side: which accelerator can be used, where the OVMF firmware is, and the command
//! line that boots an ISO read-only with its serial console on QEMU's stdout.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use crate::{Error, Firmware};

/// The accelerator QEMU runs the guest with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Kvm,
    Tcg,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Kvm => "kvm",
            Engine::Tcg => "tcg",
        }
    }
}

/// Whether `/dev/kvm` can be opened read-write (what QEMU needs). It can still hang: see
/// [`crate::Accel::Auto`].
pub fn kvm_available() -> Result<(), String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
        .map_err(|e| format!("/dev/kvm: {e}"))
}

/// An OVMF firmware pair: the code (mapped read-only) and the variable store template (copied
/// per boot, because the firmware writes to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ovmf {
    pub code: PathBuf,
    pub vars: PathBuf,
}

/// Debian's `ovmf` package: the 4 MiB pair first (bookworm's default), then the 2 MiB pair.
/// Code and variables must come from the same pair: together they fill one flash chip.
const OVMF_PAIRS: &[(&str, &str)] = &[
    (
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
];

impl Ovmf {
    /// Finds an installed pair.
    pub fn discover() -> Result<Self, Error> {
        OVMF_PAIRS
            .iter()
            .map(|(c, v)| Ovmf {
                code: c.into(),
                vars: v.into(),
            })
            .find(|o| o.code.is_file() && o.vars.is_file())
            .ok_or_else(|| {
                Error::Setup(format!(
                    "no OVMF firmware in /usr/share/OVMF (looked for {}); install Debian's \
                     ovmf package, or pass --ovmf-code and --ovmf-vars",
                    OVMF_PAIRS
                        .iter()
                        .map(|(c, _)| c.rsplit('/').next().unwrap_or(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// Checks that both files exist and that they pair up: code + variables fill a 2 MiB or
    /// 4 MiB flash (mixing `OVMF_CODE.fd` with `OVMF_VARS_4M.fd` boots nothing).
    pub fn check(&self) -> Result<(), Error> {
        let size = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.len())
                .map_err(|e| Error::Setup(format!("{}: {e}", p.display())))
        };
        let (code, vars) = (size(&self.code)?, size(&self.vars)?);
        if code + vars == 2 << 20 || code + vars == 4 << 20 {
            Ok(())
        } else {
            Err(Error::Setup(format!(
                "{} ({code} bytes) and {} ({vars} bytes) are not a pair: together they must fill \
                 a 2 MiB or 4 MiB flash; use OVMF_CODE_4M.fd with OVMF_VARS_4M.fd, or \
                 OVMF_CODE.fd with OVMF_VARS.fd",
                self.code.display(),
                self.vars.display()
            )))
        }
    }
}

/// Everything that varies between boots.
pub struct Machine<'a> {
    pub iso: &'a Path,
    pub firmware: Firmware,
    pub engine: Engine,
    pub memory_mib: u32,
    /// For UEFI: the firmware code and a writable copy of the variable store.
    pub ovmf: Option<(&'a Path, &'a Path)>,
}

/// QEMU's arguments (without the program name). The serial console is QEMU's stdout; there is
/// no monitor, no network and no display; the ISO is a read-only CD-ROM.
pub fn args(m: &Machine<'_>) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |s: &str| a.push(s.into());
    push("-name");
    push(&format!("isoforge-boot-{}", m.firmware.name()));
    push("-accel");
    push(m.engine.name());
    push("-m");
    push(&m.memory_mib.to_string());
    push("-smp");
    push("1");
    push("-no-user-config");
    push("-display");
    push("none");
    push("-nic");
    push("none");
    push("-no-reboot");
    push("-chardev");
    push("stdio,id=console,signal=off");
    push("-serial");
    push("chardev:console");
    push("-monitor");
    push("none");
    if let (Firmware::Uefi, Some((code, vars))) = (m.firmware, m.ovmf) {
        push("-drive");
        push(&format!(
            "if=pflash,format=raw,unit=0,readonly=on,file={}",
            qemu_path(code)
        ));
        push("-drive");
        push(&format!(
            "if=pflash,format=raw,unit=1,file={}",
            qemu_path(vars)
        ));
    } else {
        // SeaBIOS would try the (absent) hard disk and floppy first.
        push("-boot");
        push("order=d");
    }
    push("-drive");
    push(&format!(
        "file={},media=cdrom,readonly=on,format=raw",
        qemu_path(m.iso)
    ));
    a
}

/// A path inside a QEMU option list, where a comma must be doubled.
fn qemu_path(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line() {
        let m = Machine {
            iso: Path::new("/x/a,b.iso"),
            firmware: Firmware::Uefi,
            engine: Engine::Tcg,
            memory_mib: 1024,
            ovmf: Some((Path::new("/c.fd"), Path::new("/tmp/v.fd"))),
        };
        let a: Vec<String> = args(&m)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let joined = a.join(" ");
        assert!(joined.contains("-accel tcg -m 1024"), "{joined}");
        assert!(
            joined.contains("file=/x/a,,b.iso,media=cdrom,readonly=on"),
            "{joined}"
        );
        assert!(joined.contains("unit=0,readonly=on,file=/c.fd"), "{joined}");
        assert!(!joined.contains("order=d"), "{joined}");
    }

    #[test]
    fn ovmf_pairs_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path().join("code.fd");
        let vars = dir.path().join("vars.fd");
        std::fs::write(&code, vec![0u8; 1_966_080]).unwrap();
        std::fs::write(&vars, vec![0u8; 540_672]).unwrap();
        let o = Ovmf {
            code: code.clone(),
            vars: vars.clone(),
        };
        let e = o.check().unwrap_err().to_string();
        assert!(e.contains("are not a pair"), "{e}");
        std::fs::write(&vars, vec![0u8; 131_072]).unwrap();
        o.check().unwrap();
    }
}
