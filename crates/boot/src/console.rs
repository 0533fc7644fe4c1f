//! Reading the guest's serial console: turning raw bytes (terminal escapes, `\r\n`) into
//! plain lines, and recognising boot stages, the success marker and signs of failure.

use regex::Regex;

/// Splits console bytes into cleaned lines; keeps the unfinished last line.
#[derive(Debug, Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Feeds bytes; returns the lines they complete, cleaned.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                out.push(clean(&self.partial));
                self.partial.clear();
            } else {
                self.partial.push(b);
            }
        }
        // A line that never ends (a firmware screen redrawn with cursor moves) must not grow
        // without bound.
        if self.partial.len() > 64 * 1024 {
            out.push(clean(&self.partial));
            self.partial.clear();
        }
        out
    }

    /// The unfinished line so far, cleaned (a prompt such as `login: ` has no newline).
    pub fn partial(&self) -> String {
        clean(&self.partial)
    }
}

/// Drops terminal escape sequences and control characters; keeps printable text and tabs.
pub fn clean(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                // CSI: parameters and intermediates, then one final byte in @..~
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ESC \
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                // Two-character escapes (ESC c, ESC 7, ESC ( B...): skip one more for charset.
                Some('(' | ')') => {
                    chars.next();
                }
                _ => {}
            },
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// How far the boot has come, as seen on the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// SeaBIOS or OVMF printed something.
    Firmware,
    /// GRUB's banner or menu.
    Bootloader,
    /// The Linux kernel's first messages.
    Kernel,
    /// systemd (or another init) started.
    Init,
    /// The success marker.
    Marker,
}

impl Stage {
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Firmware => "firmware started",
            Stage::Bootloader => "boot loader started",
            Stage::Kernel => "kernel started",
            Stage::Init => "init started",
            Stage::Marker => "marker seen",
        }
    }
}

/// A sign on the console that the boot has failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    KernelPanic,
    InitramfsShell,
    EmergencyMode,
}

impl Sign {
    pub fn describe(self) -> &'static str {
        match self {
            Sign::KernelPanic => "kernel panic",
            Sign::InitramfsShell => "dropped to the initramfs shell",
            Sign::EmergencyMode => "systemd emergency mode",
        }
    }
}

/// The stage a console line shows, if any.
pub fn stage_of(line: &str) -> Option<Stage> {
    if line.contains("SeaBIOS") || line.contains("BdsDxe") {
        Some(Stage::Firmware)
    } else if line.contains("GNU GRUB") || line.contains("Welcome to GRUB") {
        Some(Stage::Bootloader)
    } else if line.contains("systemd[1]:") || line.starts_with("Welcome to ") {
        Some(Stage::Init)
    } else if line.contains("Linux version ") || is_kernel_timestamp(line) {
        Some(Stage::Kernel)
    } else {
        None
    }
}

/// `[    1.234567] ...`: the kernel's printk prefix.
fn is_kernel_timestamp(line: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix('[') else {
        return false;
    };
    let Some((stamp, _)) = rest.split_once(']') else {
        return false;
    };
    let stamp = stamp.trim();
    let (secs, frac) = stamp.split_once('.').unwrap_or((stamp, ""));
    !secs.is_empty()
        && secs.bytes().all(|b| b.is_ascii_digit())
        && frac.len() == 6
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A failure sign in a complete line or the unfinished one (prompts end without a newline).
pub fn failure_sign(line: &str) -> Option<Sign> {
    if line.contains("Kernel panic - not syncing") {
        Some(Sign::KernelPanic)
    } else if line.trim_start().starts_with("(initramfs)") {
        Some(Sign::InitramfsShell)
    } else if line.contains("You are in emergency mode")
        || line.contains("Give root password for maintenance")
    {
        Some(Sign::EmergencyMode)
    } else {
        None
    }
}

/// What `isoforge boot` waits for.
#[derive(Debug, Clone)]
pub struct Marker {
    regex: Regex,
    pattern: String,
}

/// The line the image prints when it reached multi-user: `isoforge-boot-ok: <NAME> <VERSION_ID>`.
pub const DEFAULT_MARKER: &str = "isoforge-boot-ok:";

impl Default for Marker {
    fn default() -> Self {
        Self::new(&regex::escape(DEFAULT_MARKER)).expect("an escaped literal is a valid regex")
    }
}

/// A match of the marker: the text after it on the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub line: String,
    pub rest: String,
}

impl Marker {
    /// A marker from a regular expression; a plain string such as `login:` is one too.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            regex: Regex::new(pattern)?,
            pattern: pattern.to_string(),
        })
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Finds the marker anywhere in a cleaned line (a kernel message or a prompt may precede
    /// it on the same line).
    pub fn find(&self, line: &str) -> Option<Matched> {
        let m = self.regex.find(line)?;
        Some(Matched {
            line: line.to_string(),
            rest: line[m.end()..].trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_terminal_output() {
        let raw = b"\x1b[0;30;47mWelcome to GRUB!\x1b[01;01H\x1b[0m\x1b[2J\x1b[?25l\r";
        assert_eq!(clean(raw), "Welcome to GRUB!");
        assert_eq!(clean(b"\x1b]0;title\x07a\tb\x1b(Bc"), "a\tbc");
        assert_eq!(
            clean(b"[\x1b[0;32m  OK  \x1b[0m] Started x"),
            "[  OK  ] Started x"
        );
    }

    #[test]
    fn splits_lines_and_keeps_partial() {
        let mut l = Lines::default();
        assert_eq!(l.push(b"one\r\ntw"), ["one"]);
        assert_eq!(l.push(b"o\r\n\r\nvm login: "), ["two", ""]);
        assert_eq!(l.partial(), "vm login: ");
    }

    #[test]
    fn stages_and_signs() {
        assert_eq!(stage_of("SeaBIOS (version 1.16.2)"), Some(Stage::Firmware));
        assert_eq!(stage_of("GNU GRUB  version 2.06"), Some(Stage::Bootloader));
        assert_eq!(
            stage_of("[    0.000000] Linux version 6.1.0"),
            Some(Stage::Kernel)
        );
        assert_eq!(stage_of("[   12.345678] foo"), Some(Stage::Kernel));
        assert_eq!(stage_of("[  OK  ] Started foo"), None);
        assert_eq!(
            stage_of("[   59.297865] systemd[1]: Detected architecture x86-64."),
            Some(Stage::Init)
        );
        assert_eq!(
            stage_of("Welcome to Debian GNU/Linux 12 (bookworm)!"),
            Some(Stage::Init)
        );
        let panic = "[   15.9] Kernel panic - not syncing: Attempted to kill init!";
        assert_eq!(failure_sign(panic), Some(Sign::KernelPanic));
        assert_eq!(failure_sign("(initramfs) "), Some(Sign::InitramfsShell));
        assert_eq!(failure_sign("vm login: "), None);
    }

    #[test]
    fn marker_and_rest() {
        let m = Marker::default();
        let got = m
            .find("isoforge-boot-ok: SilverMetal Linux 1.1.0 ")
            .unwrap();
        assert_eq!(got.rest, "SilverMetal Linux 1.1.0");
        assert!(m.find("vm login: isoforge-boot-ok: X 1").is_some());
        assert!(m.find("isoforge-boot-okX").is_none());
        let login = Marker::new("login:").unwrap();
        assert_eq!(login.find("vm login: ").unwrap().rest, "");
        assert!(Marker::new("(").is_err());
    }
}
