//! Root-cause hints: known causes of irreproducibility, each with its remedy, matched against
//! member paths (the shared offenders table, `isoforge-offenders`), field names and roles,
//! decoded values and changed text lines.

use isoforge_formats::{Role, Value};
use isoforge_offenders::Table;

use crate::report::Hint;

/// What hints may compare values against.
#[derive(Clone, Debug, Default)]
pub struct HintCtx {
    pub source_date_epoch: Option<i64>,
    /// Approximate build times (the inputs' modification times).
    pub build_times: Vec<i64>,
    /// The local host name and user: if they show up in changed text, they probably leaked.
    pub hostname: Option<String>,
    pub user: Option<String>,
}

/// Known fields: `(id, lowercase substrings of "structure, field", role it applies to (any if
/// `None`), cause, remedy)`. The first match wins.
type FieldRule = (
    &'static str,
    &'static [&'static str],
    Option<Role>,
    &'static str,
    &'static str,
);
const FIELDS: &[FieldRule] = &[
    (
        "iso-volume-dates",
        &[
            "volume creation date",
            "volume modification date",
            "volume expiration date",
            "volume effective date",
        ],
        None,
        "ISO 9660 volume descriptor dates default to the wall clock",
        "pin them: xorriso -volume_date uuid/c/m/x/f, or export SOURCE_DATE_EPOCH (xorriso uses it for the defaults)",
    ),
    (
        "iso-file-dates",
        &["recording date", "rock ridge tf"],
        None,
        "file dates in the ISO (directory records, Rock Ridge TF) come from the staging tree or the wall clock",
        "xorriso -volume_date all_file_dates =$SOURCE_DATE_EPOCH, and touch -h -d @$SOURCE_DATE_EPOCH the staging tree",
    ),
    (
        "hfsplus-dates",
        &["hfs+"],
        Some(Role::Time),
        "dates in the HFS+ side of the hybrid ISO (added by grub-mkrescue for Macs) come from the staging tree or the wall clock",
        "touch -h -d @$SOURCE_DATE_EPOCH the staging tree and pass -volume_date all_file_dates =$SOURCE_DATE_EPOCH, or build without HFS+ (xorriso without -hfsplus)",
    ),
    (
        "gpt-guid",
        &["disk guid", "unique partition guid"],
        None,
        "GPT GUIDs are random or derived from the volume UUID date",
        "pin xorriso -volume_date uuid YYYYMMDDhhmmsscc (GUIDs derive from it)",
    ),
    (
        "mbr-signature",
        &["disk signature"],
        None,
        "the MBR disk signature is random in some tools",
        "pin it (xorriso derives it from the image; isohybrid -id N)",
    ),
    (
        "fat-serial",
        &["volume serial"],
        None,
        "the FAT volume serial is random (mkfs.fat/mformat, as called by grub-mkrescue)",
        "make the EFI image yourself: mkfs.fat -i $(printf %08x $SOURCE_DATE_EPOCH), then mmd/mcopy",
    ),
    (
        "fat-dates",
        &[
            "fat12",
            "fat16",
            "fat32",
            "directory entry of",
            "directory entry '",
        ],
        Some(Role::Time),
        "FAT directory entry times come from mtools' clock or the source files",
        "export SOURCE_DATE_EPOCH before mmd/mcopy (mtools honours it) and touch the source files to the epoch",
    ),
    (
        "squashfs-mkfs-time",
        &["mkfs time"],
        None,
        "mksquashfs records when the image was made",
        "export SOURCE_DATE_EPOCH when running mksquashfs (4.4+ uses it for the mkfs time and clamps file times)",
    ),
    (
        "gzip-header",
        &["(mtime)", "(fname)"],
        None,
        "gzip stores the input's modification time and name in its header",
        "gzip -n (--no-name); tools that call gzip usually honour SOURCE_DATE_EPOCH",
    ),
    (
        "pax-times",
        &["pax record atime", "pax record ctime"],
        None,
        "GNU tar's pax format records access and change times",
        "tar --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    ),
    (
        "tar-header",
        &["tar header", "tar archive"],
        None,
        "tar stores each member's mtime, owner and mode from the build tree",
        "tar --sort=name --mtime=@$SOURCE_DATE_EPOCH --clamp-mtime --owner=0 --group=0 --numeric-owner",
    ),
    (
        "cpio-header",
        &["cpio header", "cpio archive", "initramfs"],
        None,
        "cpio stores each member's inode number, mtime and owner from the build tree",
        "GNU cpio --reproducible (renumbers inodes), touch files to SOURCE_DATE_EPOCH, sort the file list",
    ),
    (
        "ar-header",
        &["ar header", "ar archive"],
        None,
        "ar stores member mtimes, uid and gid",
        "use deterministic mode (ar D, the default on Debian) or dpkg-deb with SOURCE_DATE_EPOCH",
    ),
];

fn hint(id: &'static str, cause: impl Into<String>, remedy: impl Into<String>) -> Hint {
    Hint {
        id,
        cause: cause.into(),
        remedy: remedy.into(),
    }
}

/// Hints for a member path from the offenders table (the first matching entry). Most entries
/// are about content; when only the member's metadata differs, only the metadata ones apply.
pub fn for_path(table: &Table, path: &str, content_differs: bool) -> Vec<Hint> {
    table
        .hint(path, content_differs)
        .map(|r| hint(r.id, r.cause.clone(), r.remedy.clone()))
        .into_iter()
        .collect()
}

fn time_of(v: &Value) -> Option<i64> {
    match v {
        Value::Time(t) => Some(t.unix),
        _ => None,
    }
}

/// Hints for a differing field: `label` is "structure, field" or a member field name.
pub fn for_field(
    label: &str,
    field: &str,
    role: Role,
    a: &Value,
    b: &Value,
    ctx: &HintCtx,
) -> Vec<Hint> {
    let mut out = Vec::new();
    let l = format!("{label} {field}").to_lowercase();
    if let Some((id, _, _, c, r)) = FIELDS.iter().find(|(_, subs, want, _, _)| {
        want.is_none_or(|w| w == role) && subs.iter().any(|s| l.contains(s))
    }) {
        out.push(hint(id, *c, *r));
    }
    match role {
        Role::Time => {
            let (ta, tb) = (time_of(a), time_of(b));
            if let Some(sde) = ctx.source_date_epoch {
                let later: Vec<String> = [("A", ta), ("B", tb)]
                    .iter()
                    .filter_map(|(s, t)| t.filter(|&t| t > sde).map(|_| s.to_string()))
                    .collect();
                if !later.is_empty() {
                    out.push(hint(
                        "time-after-sde",
                        format!("the time on side {} is later than SOURCE_DATE_EPOCH ({sde})", later.join(" and ")),
                        "clamp it to SOURCE_DATE_EPOCH: export SOURCE_DATE_EPOCH for the tool that wrote it, or touch -h -d @$SOURCE_DATE_EPOCH",
                    ));
                } else if (ta == Some(sde)) != (tb == Some(sde)) && ta.is_some() && tb.is_some() {
                    out.push(hint(
                        "time-unclamped",
                        "one side is clamped to SOURCE_DATE_EPOCH and the other is not",
                        "clamp every timestamp to SOURCE_DATE_EPOCH in the step that wrote this field",
                    ));
                }
            }
            let near = |t: Option<i64>| t.is_some_and(|t| ctx.build_times.iter().any(|&bt| (t - bt).abs() < 2 * 86_400));
            if near(ta) || near(tb) {
                out.push(hint(
                    "wall-clock-time",
                    "a time within two days of when the inputs were built: the wall clock leaked into the output",
                    "set SOURCE_DATE_EPOCH for the tool that wrote it (or pass the tool's explicit date option)",
                ));
            }
        }
        Role::Identifier if !l.contains("inode number") => out.push(hint(
            "random-id",
            "a random identifier (UUID, GUID or serial) generated per build",
            "derive it from SOURCE_DATE_EPOCH or pin a fixed value in the tool's options",
        )),
        Role::Identifier => out.push(hint(
            "inode-numbers",
            "inode numbers follow the order in which files were created or added",
            "sort inputs and renumber (cpio --reproducible); otherwise this follows from other differences",
        )),
        Role::Mode => {
            if let (Value::Mode(x), Value::Mode(y)) = (a, b) {
                let d = (x ^ y) & 0o7777;
                if d != 0 && d & !0o077 == 0 {
                    out.push(hint(
                        "umask",
                        format!("group/other permission bits differ ({:04o} vs {:04o}): a different umask", x & 0o7777, y & 0o7777),
                        "set `umask 022` at the start of the build and in every script that creates files",
                    ));
                } else if d != 0 {
                    out.push(hint("permissions", "file permissions differ", "set modes explicitly (chmod) in the build; normalise when archiving"));
                }
            }
        }
        Role::Owner => out.push(hint(
            "owner",
            "owner differs: files were created by different users",
            "build as root in a user namespace, or normalise: mksquashfs -all-root, tar --owner=0 --group=0 --numeric-owner, cpio -R 0:0",
        )),
        Role::Pointer | Role::Size | Role::Count | Role::Checksum => out.push(hint(
            "consequence",
            "a location, size, count or checksum: it changes because other data changed or moved",
            "fix the other differences; this one follows from them",
        )),
        _ => {}
    }
    out
}

/// Hints for changed text lines of a member.
pub fn for_text(removed: &[&str], added: &[&str], ctx: &HintCtx) -> Vec<Hint> {
    let mut out = Vec::new();
    let both: Vec<&str> = removed.iter().chain(added.iter()).copied().collect();
    let any = |f: &dyn Fn(&str) -> bool| both.iter().any(|l| f(l));
    let build_dirs = ["/tmp/", "/build/", "/home/", "/var/tmp/", "/root/", "/srv/"];
    let dirs_of = |lines: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = lines
            .iter()
            .flat_map(|l| {
                build_dirs.iter().filter_map(move |d| {
                    l.find(d).map(|i| {
                        l[i..]
                            .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                            .next()
                            .unwrap_or("")
                            .to_string()
                    })
                })
            })
            .collect();
        v.sort();
        v.dedup();
        v
    };
    if !removed.is_empty()
        && !added.is_empty()
        && dirs_of(removed) != dirs_of(added)
        && !dirs_of(&both).is_empty()
    {
        out.push(hint(
            "build-path",
            "a build directory path appears in the changed lines",
            "build in a fixed directory, or map it away (-ffile-prefix-map=$PWD=., tar --transform, sed in a post-process)",
        ));
    }
    if let Some(h) = ctx.hostname.as_deref().filter(|h| h.len() >= 3) {
        if any(&|l| l.contains(h)) {
            out.push(hint(
                "hostname",
                format!("the build host name {h:?} appears in the content"),
                "set a fixed hostname in the build namespace (unshare --uts, hostname build)",
            ));
        }
    }
    if let Some(u) = ctx.user.as_deref().filter(|u| u.len() >= 3 && *u != "root") {
        if any(&|l| l.contains(u)) {
            out.push(hint(
                "build-user",
                format!("the build user {u:?} appears in the content"),
                "build as a fixed user (root in a namespace) and avoid recording $USER",
            ));
        }
    }
    let near = |t: i64| {
        ctx.build_times
            .iter()
            .any(|&bt| (t - bt).abs() < 2 * 86_400)
    };
    if both.iter().any(|l| times_in(l).into_iter().any(near)) {
        out.push(hint(
            "time-near-build",
            "a time near the build (within two days of when it ran) is written into the file: the wall clock leaked into the content (`date` in a hook or script)",
            "write SOURCE_DATE_EPOCH's time instead of the clock's: date -u -d \"@$SOURCE_DATE_EPOCH\" (or leave the date out)",
        ));
    } else if any(&looks_like_date) {
        out.push(hint(
            "time-in-content",
            "a date or time is written into the file's content",
            "have the generator use SOURCE_DATE_EPOCH, or strip the timestamp in a post-processing step",
        ));
    }
    if any(&looks_like_uuid) {
        out.push(hint(
            "random-id",
            "a UUID in the content differs",
            "derive it from SOURCE_DATE_EPOCH or generate it at first boot instead",
        ));
    }
    out
}

/// Hints for a differing record of a known text format (see [`crate::textfmt`]).
pub fn for_record(kind: crate::textfmt::Kind, name: &str, c: &crate::textfmt::Change) -> Vec<Hint> {
    use crate::textfmt::Kind;
    let rec = c.record.to_lowercase();
    let field = c.field.to_lowercase();
    let _ = name;
    let mut out = Vec::new();
    let tool = kind == Kind::Deb822 && rec.starts_with("build-tools");
    let package = match kind {
        Kind::Deb822 => {
            rec.starts_with("installed-packages")
                || (rec.starts_with("package ")
                    && ["version", "sha256", "size", "filename", "md5sum"]
                        .iter()
                        .any(|f| rec.ends_with(&format!(" {f}"))))
        }
        Kind::Lock => {
            rec.starts_with("package ")
                && matches!(field.as_str(), "version" | "sha256" | "size" | "path")
        }
        _ => false,
    };
    // Provenance: `pkg:deb/debian/<name>@<version>`, with `?arch=` for the image's packages
    // and without for the build tools.
    let purl = |v: &Option<String>| {
        let v = v.as_deref()?.trim_matches('"');
        let rest = v.strip_prefix("pkg:deb/")?;
        let (name, version) = rest.split_once('@')?;
        Some((name.to_string(), version.contains("?arch=")))
    };
    let (tool, package) = match (kind, purl(&c.a), purl(&c.b)) {
        (Kind::Json, Some((na, pa)), Some((nb, pb))) if na == nb && pa == pb => (!pa, pa),
        _ => (tool, package),
    };
    if tool {
        out.push(hint(
            "tool-versions",
            "a build tool's version differs between the two builds: the host changed during the build (an upgrade between build A and build B), or they ran on different hosts",
            "build with `--runtime chroot` (the pinned builder) so the tools are the same; with the host runtime, do not upgrade the host between the builds",
        ));
    } else if package {
        out.push(hint(
            "package-version",
            "a package's version or sha256 differs: the two builds installed different packages",
            "re-lock (`isoforge lock --flavor NAME`) and commit config/packages-NAME.lock, or fetch the locked .debs again (both builds must use the same lock and snapshot)",
        ));
    }
    out
}

/// Hint for a checksum line of a file that differs too.
pub fn checksum_of(file: &str) -> Hint {
    hint(
        "consequence",
        format!("the checksum of {file}, which differs too"),
        "fix the differences of that file; this line follows from them",
    )
}

/// Hint for a structure found at different offsets on the two sides.
pub fn moved(by: i64) -> Hint {
    hint(
        "moved",
        format!(
            "the same structure is {} bytes {} in B: something before it grew or shrank",
            by.unsigned_abs(),
            if by > 0 { "later" } else { "earlier" }
        ),
        "fix the differences before it; these bytes differ only because they moved",
    )
}

/// Hint for members present on both sides in a different order.
pub fn for_order() -> Hint {
    hint(
        "entry-order",
        "the same members are stored in a different order",
        "sort inputs before archiving: tar --sort=name, find . | LC_ALL=C sort | cpio -o, mcopy files in sorted order (check with disorderfs)",
    )
}

/// Hint for a member present on one side only.
pub fn for_presence(table: &Table, path: &str) -> Vec<Hint> {
    let mut v = for_path(table, path, true);
    if v.is_empty() {
        v.push(hint(
            "file-set",
            "a file exists in one build only",
            "find the step that creates it (a maintainer script, a cache) and remove it before squashing or make it unconditional",
        ));
    }
    v
}

fn looks_like_date(l: &str) -> bool {
    let b = l.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    // 2025-11-24 or 2025/11/24
    let iso = b.windows(10).any(|w| {
        digits(&w[0..4])
            && (w[4] == b'-' || w[4] == b'/')
            && digits(&w[5..7])
            && w[7] == w[4]
            && digits(&w[8..10])
    });
    // 16:00:00
    let clock = b.windows(8).any(|w| {
        digits(&w[0..2]) && w[2] == b':' && digits(&w[3..5]) && w[5] == b':' && digits(&w[6..8])
    });
    let month = [
        "Jan ", "Feb ", "Mar ", "Apr ", "May ", "Jun ", "Jul ", "Aug ", "Sep ", "Oct ", "Nov ",
        "Dec ",
    ]
    .iter()
    .any(|m| l.contains(m));
    iso || clock || (month && b.iter().any(u8::is_ascii_digit))
}

/// The times (Unix seconds, UTC) a text line spells out: ISO 8601 (`2026-12-02 13:01:02`,
/// `2026-12-02T13:01:02`), `date`'s default (`Wed Dec  2 13:01:02 UTC 2026`), RFC 2822
/// (`Wed, 02 Dec 2026 13:01:02 +0000`) and a 10-digit `date +%s`. Zones other than UTC are
/// read as UTC: "near the build" allows two days.
fn times_in(l: &str) -> Vec<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let num = |t: &str| t.parse::<i64>().ok();
    let clock = |t: &str| -> Option<i64> {
        let p: Vec<&str> = t.split(':').collect();
        match p.as_slice() {
            [h, m, s] if h.len() == 2 && m.len() == 2 && s.len() >= 2 => {
                Some(num(h)? * 3600 + num(m)? * 60 + num(&s[..2])?)
            }
            _ => None,
        }
    };
    let at = |y: i64, mo: i64, d: i64, secs: i64| {
        ((1..=12).contains(&mo) && (1..=31).contains(&d) && (1970..=9999).contains(&y))
            .then(|| days_from_civil(y, mo, d) * 86_400 + secs)
    };
    let mut out = Vec::new();
    let words: Vec<&str> = l
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    for (i, w) in words.iter().enumerate() {
        // ISO 8601: a date, then a time in the same word (T) or the next one.
        let b = w.as_bytes();
        if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit) {
            if let (Some(y), Some(mo), Some(d)) = (num(&w[..4]), num(&w[5..7]), num(&w[8..10])) {
                let t = w
                    .get(11..)
                    .and_then(clock)
                    .or_else(|| words.get(i + 1).and_then(|n| clock(n)))
                    .unwrap_or(0);
                out.extend(at(y, mo, d, t));
            }
        }
        if let Some(mo) = MONTHS.iter().position(|m| w == m) {
            let mo = mo as i64 + 1;
            let next = |k: usize| words.get(i + k).copied().unwrap_or("");
            // `Dec 2 13:01:02 UTC 2026` (or without the zone).
            if let (Some(d), Some(t)) = (num(next(1)), clock(next(2))) {
                let year = [next(3), next(4)]
                    .into_iter()
                    .find_map(|y| num(y).filter(|_| y.len() == 4));
                if let Some(y) = year {
                    out.extend(at(y, mo, d, t));
                }
            }
            // `02 Dec 2026 13:01:02`
            if i > 0 {
                if let (Some(d), Some(y), Some(t)) =
                    (num(words[i - 1]), num(next(1)), clock(next(2)))
                {
                    out.extend(at(y, mo, d, t));
                }
            }
        }
        if w.len() == 10 && w.bytes().all(|c| c.is_ascii_digit()) {
            out.extend(num(w));
        }
    }
    out
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn looks_like_uuid(l: &str) -> bool {
    let b = l.as_bytes();
    let hex = |s: &[u8]| s.iter().all(u8::is_ascii_hexdigit);
    b.windows(36).any(|w| {
        hex(&w[0..8])
            && w[8] == b'-'
            && hex(&w[9..13])
            && w[13] == b'-'
            && hex(&w[14..18])
            && w[18] == b'-'
            && hex(&w[19..23])
            && w[23] == b'-'
            && hex(&w[24..36])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoforge_formats::Timestamp;

    #[test]
    fn paths() {
        let t = Table::builtin();
        assert_eq!(
            for_path(&t, "/var/lib/dkms/foo/1.0/build/make.log", true)[0].id,
            "dkms-log"
        );
        assert_eq!(for_path(&t, "/usr/lib/python3/x.pyc", true)[0].id, "pyc");
        assert!(for_path(&t, "/etc/machine-id.bak", true).is_empty());
        assert_eq!(for_path(&t, "/etc/machine-id", true)[0].id, "machine-id");
        assert_eq!(
            for_path(&t, "/var/lib/apt/lists/partial", false)[0].id,
            "apt-partial"
        );
        assert!(for_path(&t, "/etc/machine-id", false).is_empty());
        assert_eq!(
            for_path(&t, "/var/lib/dkms/x/1/log/make.log", true)[0].id,
            "dkms-log"
        );
        assert_eq!(for_presence(&t, "/usr/share/x").len(), 1);
        assert_eq!(for_presence(&t, "/usr/share/x")[0].id, "file-set");
    }

    #[test]
    fn time_later_than_epoch_and_wall_clock() {
        let ctx = HintCtx {
            source_date_epoch: Some(1_764_000_000),
            build_times: vec![1_800_000_000],
            ..Default::default()
        };
        let a = Value::Time(Timestamp::secs(1_764_000_000));
        let b = Value::Time(Timestamp::secs(1_800_000_100));
        let h = for_field(
            "primary volume descriptor",
            "volume creation date",
            Role::Time,
            &a,
            &b,
            &ctx,
        );
        let ids: Vec<_> = h.iter().map(|h| h.id).collect();
        assert_eq!(
            ids,
            ["iso-volume-dates", "time-after-sde", "wall-clock-time"]
        );
    }

    #[test]
    fn umask_and_serial() {
        let ctx = HintCtx::default();
        let h = for_field(
            "inode of /x",
            "permissions",
            Role::Mode,
            &Value::Mode(0o100644),
            &Value::Mode(0o100664),
            &ctx,
        );
        assert_eq!(h[0].id, "umask");
        let h = for_field(
            "FAT boot sector",
            "volume serial",
            Role::Identifier,
            &Value::Hex(1, 8),
            &Value::Hex(2, 8),
            &ctx,
        );
        assert_eq!(
            h.iter().map(|h| h.id).collect::<Vec<_>>(),
            ["fat-serial", "random-id"]
        );
    }

    #[test]
    fn text_hints() {
        let ctx = HintCtx {
            hostname: Some("buildbox7".into()),
            ..Default::default()
        };
        let h = for_text(
            &["built on buildbox7 in /tmp/abc/src"],
            &["built on buildbox7 in /tmp/xyz/src"],
            &ctx,
        );
        let ids: Vec<_> = h.iter().map(|h| h.id).collect();
        assert_eq!(ids, ["build-path", "hostname"]);
        assert!(looks_like_date("Generated 2025-11-24"));
    }

    /// `date`'s output near the build time names the wall clock, with its remedy; a date far
    /// from it is only a date in the content.
    #[test]
    fn a_date_near_the_build_is_the_wall_clock() {
        // Wed Dec  2 13:01:02 UTC 2026
        let t = 1_796_216_462;
        assert_eq!(times_in("Wed Dec  2 13:01:02 UTC 2026"), [t]);
        assert_eq!(times_in("built 2026-12-02T13:01:02Z"), [t]);
        assert_eq!(times_in("built 2026-12-02 13:01:02"), [t]);
        assert_eq!(times_in("Wed, 02 Dec 2026 13:01:02 +0000"), [t]);
        assert_eq!(times_in("stamp 1796216462"), [t]);
        let ctx = HintCtx {
            build_times: vec![t + 600],
            ..Default::default()
        };
        let h = for_text(
            &["Wed Dec  2 13:01:02 UTC 2026"],
            &["Wed Dec  2 13:05:40 UTC 2026"],
            &ctx,
        );
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h[0].id, "time-near-build");
        assert!(
            h[0].cause.starts_with("a time near the build"),
            "{}",
            h[0].cause
        );
        assert!(h[0].remedy.contains("SOURCE_DATE_EPOCH"), "{}", h[0].remedy);
        let far = HintCtx {
            build_times: vec![t + 30 * 86_400],
            ..Default::default()
        };
        let h = for_text(&["Wed Dec  2 13:01:02 UTC 2026"], &["x"], &far);
        assert_eq!(h[0].id, "time-in-content");
        assert!(looks_like_uuid(
            "UUID=0fe31a17-aaaa-bbbb-cccc-0123456789ab /"
        ));
    }
}
