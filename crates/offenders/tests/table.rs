//! The built-in table keeps the native build's cleanup exactly as it was before the table was
//! shared, and profile rules are parsed strictly.

use isoforge_offenders::{Action, Kind, Table, profile};

/// The cleanup rules as they were in `crates/rootfs/src/cleanup.rs` before this table.
const OLD_RULES: &[(&str, Action)] = &[
    ("etc/machine-id", Action::Truncate),
    ("var/lib/dbus/machine-id", Action::RemoveFile),
    ("var/lib/systemd/random-seed", Action::RemoveFile),
    ("var/lib/systemd/credential.secret", Action::RemoveFile),
    ("var/cache/ldconfig/aux-cache", Action::RemoveFile),
    ("etc/ssh/ssh_host_*", Action::RemoveFile),
    ("**/__pycache__", Action::RemoveTree),
    ("**/*.pyc", Action::RemoveFile),
    ("var/log/**", Action::Truncate),
    ("var/lib/apt/lists/*_*", Action::RemoveFile),
    ("var/cache/apt/*.bin", Action::RemoveFile),
    ("var/cache/apt/archives/*.deb", Action::RemoveFile),
    ("var/cache/debconf/*-old", Action::RemoveFile),
    ("etc/nvme/hostid", Action::RemoveFile),
    ("etc/nvme/hostnqn", Action::RemoveFile),
    ("var/lib/dkms/**/make.log", Action::RemoveFile),
    ("var/cache/man/**", Action::RemoveFile),
    ("var/cache/fontconfig/*", Action::RemoveFile),
    ("etc/resolv.conf", Action::RemoveFile),
    ("tmp/*", Action::RemoveTree),
    ("var/tmp/*", Action::RemoveTree),
];

fn old_match(rel: &str, kind: Kind) -> Option<(&'static str, Action)> {
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    OLD_RULES.iter().copied().find(|(p, a)| {
        glob::Pattern::new(p).unwrap().matches_with(rel, opts)
            && match a {
                Action::RemoveFile => kind != Kind::Dir,
                Action::RemoveTree => true,
                Action::Truncate => kind == Kind::File,
            }
    })
}

#[test]
fn cleanup_entries_are_the_old_rules() {
    let t = Table::builtin();
    let mut new: Vec<(String, Action)> = t
        .rules()
        .iter()
        .filter_map(|r| r.action.map(|a| (r.glob.clone(), a)))
        .collect();
    let mut old: Vec<(String, Action)> =
        OLD_RULES.iter().map(|(p, a)| (p.to_string(), *a)).collect();
    let key = |x: &(String, Action)| format!("{} {:?}", x.0, x.1);
    new.sort_by_key(key);
    old.sort_by_key(key);
    assert_eq!(new, old);
}

/// Where rules overlap, the same one still wins.
#[test]
fn cleanup_picks_the_same_rule_as_before() {
    let t = Table::builtin();
    let paths = [
        "etc/machine-id",
        "etc/machine-id.bak",
        "var/lib/dbus/machine-id",
        "var/log/x.pyc",
        "var/log/__pycache__",
        "var/log/apt/term.log",
        "var/log",
        "tmp/__pycache__",
        "tmp/a.pyc",
        "tmp/dir",
        "var/tmp/x",
        "var/cache/man/index.db",
        "var/cache/man/x.pyc",
        "var/cache/fontconfig/x.pyc",
        "var/cache/fontconfig/sub",
        "var/lib/dkms/zfs/2/k/x86_64/log/make.log",
        "var/lib/dkms/zfs/2/k/x86_64/log/other.log",
        "var/lib/apt/lists/deb.debian.org_debian_InRelease",
        "var/lib/apt/lists/lock",
        "var/lib/apt/lists/partial",
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/archives/a.deb",
        "var/cache/apt/archives/partial/a.deb",
        "var/cache/debconf/config.dat-old",
        "etc/ssh/ssh_host_rsa_key.pub",
        "etc/ssh/sshd_config",
        "etc/resolv.conf",
        "usr/lib/python3/m/__pycache__",
        "usr/lib/python3/m/__pycache__/m.pyc",
        "usr/lib/python3/m/m.py",
        "etc/nvme/hostnqn",
    ];
    for p in paths {
        for kind in [Kind::File, Kind::Dir, Kind::Other] {
            let new = t
                .cleanup(p, kind)
                .map(|r| (r.glob.as_str(), r.action.unwrap()));
            assert_eq!(new, old_match(p, kind), "{p} as {kind:?}");
        }
    }
}

#[test]
fn hints_fire_on_the_paths_they_did() {
    let t = Table::builtin();
    let id = |p: &str, c: bool| t.hint(p, c).map(|r| r.id);
    assert_eq!(id("/etc/machine-id", true), Some("machine-id"));
    assert_eq!(id("/etc/machine-id.bak", true), None);
    assert_eq!(id("/etc/machine-id", false), None);
    assert_eq!(id("/var/lib/apt/lists/partial", false), Some("apt-partial"));
    assert_eq!(id("/var/lib/apt/lists/partial", true), Some("apt-caches"));
    assert_eq!(id("/var/lib/dkms/x/1/log/make.log", true), Some("dkms-log"));
    assert_eq!(
        id("/var/lib/dkms/x/1/build/config.h", true),
        Some("dkms-log")
    );
    assert_eq!(id("/usr/lib/python3/x.pyc", true), Some("pyc"));
    assert_eq!(id("/usr/lib/python3/__pycache__/x.opt", true), Some("pyc"));
    assert_eq!(id("/var/log/dpkg.log", true), Some("logs"));
    assert_eq!(id("/var/log/x.pyc", true), Some("pyc"));
    assert_eq!(
        id("/var/cache/debconf/config.dat-old", true),
        Some("apt-caches")
    );
    assert_eq!(id("/etc/shadow-", true), Some("shadow-lastchange"));
    assert_eq!(id("/etc/passwd-", true), Some("backup-files"));
    assert_eq!(id("/boot.catalog", false), Some("boot-catalog"));
    assert_eq!(
        id("/usr/share/fonts/x/fonts.cache-2", true),
        Some("fontconfig-cache")
    );
    assert_eq!(id("/etc/nvme/hostid", true), Some("nvme-hostid"));
}

fn write(dir: &std::path::Path, text: &str) {
    std::fs::write(dir.join(profile::FILE), text).unwrap();
}

#[test]
fn a_profile_adds_rules_after_the_builtin_ones() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "# site rules\n\nremove opt/vendor/*.stamp  # the vendor installer writes the time\n\
         remove-tree var/cache/vendor   # rebuilt at boot\ntruncate etc/issue.d/*.issue # has the date\n\
         hint usr/share/vendor/build.txt  # the vendor's build id\n",
    );
    let t = Table::load(d.path()).unwrap();
    assert_eq!(t.rules().len(), Table::builtin().rules().len() + 4);
    let r = t.cleanup("opt/vendor/a.stamp", Kind::File).unwrap();
    assert_eq!((r.id, r.action), ("profile", Some(Action::RemoveFile)));
    assert!(
        r.cause.contains("the vendor installer writes the time"),
        "{}",
        r.cause
    );
    assert!(r.cause.contains("offenders.conf:3"), "{}", r.cause);
    assert_eq!(
        t.cleanup("var/cache/vendor", Kind::Dir).unwrap().action,
        Some(Action::RemoveTree)
    );
    assert!(
        t.cleanup("usr/share/vendor/build.txt", Kind::File)
            .is_none()
    );
    assert_eq!(
        t.hint("/usr/share/vendor/build.txt", true).unwrap().id,
        "profile"
    );
    // Built-in entries still win where both match.
    assert_eq!(
        t.cleanup("etc/machine-id", Kind::File).unwrap().id,
        "machine-id"
    );
    // No file: the built-in table.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        Table::load(empty.path()).unwrap().rules().len(),
        Table::builtin().rules().len()
    );
}

#[test]
fn bad_rules_give_one_line_with_file_and_line() {
    for (text, line, want) in [
        ("delete etc/x  # why\n", 1, "unknown action \"delete\""),
        ("# ok\nremove var/../../etc/shadow  # escape\n", 2, "`..`"),
        (
            "remove /etc/shadow  # escape\n",
            1,
            "relative to the image root (etc/shadow)",
        ),
        ("remove ../x  # escape\n", 1, "`..`"),
        ("remove etc/x\n", 1, "add the reason"),
        ("remove etc/x etc/y  # two\n", 1, "expected `ACTION GLOB"),
        ("truncate etc/[x  # bad\n", 1, "not a valid glob"),
        ("remove ./etc/x  # dot\n", 1, "`.`"),
    ] {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), text);
        let e = Table::load(d.path()).unwrap_err().to_string();
        let prefix = format!("{}:{line}: ", d.path().join(profile::FILE).display());
        assert!(e.starts_with(&prefix), "{text:?}: {e}");
        assert!(e.contains(want), "{text:?}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
    // A symlink to a host file is not followed, a FIFO is not read.
    let d = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/etc/passwd", d.path().join(profile::FILE)).unwrap();
    let e = Table::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("a symlink"), "{e}");
    let d = tempfile::tempdir().unwrap();
    let fifo = std::ffi::CString::new(d.path().join(profile::FILE).to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let e = Table::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("not a regular file"), "{e}");
    let d = tempfile::tempdir().unwrap();
    write(d.path(), &"#".repeat(profile::MAX_BYTES as usize + 1));
    let e = Table::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("larger than"), "{e}");
}
