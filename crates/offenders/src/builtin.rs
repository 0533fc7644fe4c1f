//! The built-in entries. Order matters: the first matching rule wins, both for cleanup
//! (so `**/*.pyc` comes before `var/log/**`) and for hints.

use crate::{Action, Offender};

const fn row(
    id: &'static str,
    globs: &'static [&'static str],
    action: Option<Action>,
    cause: &'static str,
    remedy: &'static str,
) -> Offender {
    Offender {
        id,
        globs,
        action,
        cause,
        remedy,
        metadata: false,
    }
}

use Action::{RemoveFile, RemoveTree, Truncate};

pub const BUILTIN: &[Offender] = &[
    row(
        "machine-id",
        &["etc/machine-id"],
        Some(Truncate),
        "machine ID generated randomly when systemd/dbus was installed; empty, each boot makes its own",
        "truncate it before squashing (`: > /etc/machine-id`, remove /var/lib/dbus/machine-id); systemd creates one at first boot",
    ),
    row(
        "machine-id",
        &["var/lib/dbus/machine-id"],
        Some(RemoveFile),
        "a copy of the random machine ID",
        "truncate /etc/machine-id and remove /var/lib/dbus/machine-id before squashing",
    ),
    row(
        "nvme-hostid",
        &["etc/nvme/hostid", "etc/nvme/hostnqn"],
        Some(RemoveFile),
        "nvme-cli's postinst writes a random host UUID/NQN",
        "remove /etc/nvme/hostid and /etc/nvme/hostnqn before squashing (they are generated at boot)",
    ),
    row(
        "dkms-log",
        &["var/lib/dkms/**/make.log"],
        Some(RemoveFile),
        "DKMS build logs record the wall-clock build time",
        "delete /var/lib/dkms/*/*/*/log before squashing",
    ),
    row(
        "dkms-log",
        &["var/lib/dkms/**"],
        None,
        "DKMS build logs record the wall-clock build time",
        "delete /var/lib/dkms/*/*/*/log before squashing",
    ),
    row(
        "ldconfig-aux-cache",
        &["var/cache/ldconfig/aux-cache"],
        Some(RemoveFile),
        "ldconfig's aux-cache stores inode numbers and times of the build host",
        "delete /var/cache/ldconfig/aux-cache before squashing",
    ),
    row(
        "pyc",
        &["**/__pycache__"],
        Some(RemoveTree),
        "Python bytecode caches record source mtimes",
        "remove __pycache__/*.pyc before squashing, or compile with SOURCE_DATE_EPOCH set (checked-hash pycs)",
    ),
    row(
        "pyc",
        &["**/*.pyc"],
        Some(RemoveFile),
        "Python bytecode records source mtimes",
        "remove __pycache__/*.pyc before squashing, or compile with SOURCE_DATE_EPOCH set (checked-hash pycs)",
    ),
    row(
        "pyc",
        &["**/__pycache__/**"],
        None,
        "Python bytecode embeds source mtimes or is written in nondeterministic order",
        "remove __pycache__/*.pyc before squashing, or compile with SOURCE_DATE_EPOCH set (checked-hash pycs)",
    ),
    row(
        "logs",
        &["var/log/**"],
        Some(Truncate),
        "log files written during the build (dpkg.log, apt/history.log, alternatives.log...) record the wall-clock time",
        "truncate or remove /var/log/* before squashing",
    ),
    row(
        "man-db-cache",
        &["var/cache/man/**"],
        Some(RemoveFile),
        "man-db's index cache is built with the build host's time and order",
        "remove /var/cache/man/* before squashing",
    ),
    row(
        "ssh-host-keys",
        &["etc/ssh/ssh_host_*"],
        Some(RemoveFile),
        "SSH host keys are random and must be unique to each machine",
        "remove /etc/ssh/ssh_host_* before squashing; regenerate at first boot",
    ),
    row(
        "apt-caches",
        &["var/lib/apt/lists/*_*"],
        Some(RemoveFile),
        "apt's package lists depend on when the mirror was read",
        "apt-get clean and remove /var/lib/apt/lists/* and *-old caches before squashing",
    ),
    row(
        "apt-caches",
        &["var/cache/apt/*.bin"],
        Some(RemoveFile),
        "apt's binary caches are rebuilt on demand",
        "apt-get clean and remove /var/lib/apt/lists/* and *-old caches before squashing",
    ),
    row(
        "apt-caches",
        &["var/cache/apt/archives/*.deb"],
        Some(RemoveFile),
        "downloaded packages",
        "apt-get clean before squashing",
    ),
    row(
        "apt-caches",
        &["var/cache/debconf/*-old"],
        Some(RemoveFile),
        "debconf's backup copies",
        "remove /var/cache/debconf/*-old before squashing",
    ),
    row(
        "apt-caches",
        &[
            "var/lib/apt/lists/**",
            "var/cache/apt/**",
            "var/cache/debconf/**/*-old",
        ],
        None,
        "apt and debconf caches depend on download time and order",
        "apt-get clean and remove /var/lib/apt/lists/* and *-old caches before squashing",
    ),
    row(
        "random-seed",
        &[
            "var/lib/systemd/random-seed",
            "var/lib/systemd/credential.secret",
        ],
        Some(RemoveFile),
        "random by design, saved during the build",
        "remove it before squashing",
    ),
    row(
        "random-seed",
        &["var/lib/urandom/random-seed"],
        None,
        "a random seed saved during the build",
        "remove it before squashing",
    ),
    row(
        "shadow-lastchange",
        &["etc/shadow", "etc/shadow-", "etc/gshadow", "etc/gshadow-"],
        None,
        "the 'last password change' field counts days up to the build date",
        "create users with SOURCE_DATE_EPOCH set (shadow honours it) or rewrite field 3 to the epoch day",
    ),
    row(
        "hostname-files",
        &["etc/hostname", "etc/hosts", "etc/mailname"],
        None,
        "the build host's name was written into the image",
        "write fixed contents to /etc/hostname, /etc/hosts and /etc/mailname in the build",
    ),
    row(
        "backup-files",
        &["etc/**/*-", "var/lib/dpkg/**/*-old"],
        None,
        "backup copies whose content depends on the order of earlier steps",
        "remove *-old and passwd-/group-/shadow- backups before squashing",
    ),
    row(
        "initramfs",
        &["boot/initrd.img*", "live/initrd.img*", "initrd.img*"],
        None,
        "the initramfs was regenerated: cpio member times and order depend on the build",
        "build it with SOURCE_DATE_EPOCH set (initramfs-tools clamps times) and compare the members listed below",
    ),
    row(
        "fontconfig-cache",
        &["var/cache/fontconfig/*"],
        Some(RemoveFile),
        "fontconfig caches record directory mtimes",
        "remove /var/cache/fontconfig/* before squashing",
    ),
    row(
        "fontconfig-cache",
        &["var/cache/fontconfig/**", "**/fonts.cache-*"],
        None,
        "fontconfig caches embed times and directory order",
        "remove /var/cache/fontconfig/* before squashing",
    ),
    row(
        "systemd-catalog",
        &[
            "var/lib/systemd/catalog/database",
            "etc/udev/hwdb.bin",
            "usr/lib/udev/hwdb.bin",
        ],
        None,
        "generated databases (journal catalog, hwdb) written at install time",
        "regenerate them in a fixed environment or remove the catalog database (rebuilt at boot)",
    ),
    Offender {
        metadata: true,
        ..row(
            "apt-partial",
            &[
                "var/cache/apt/archives/partial",
                "var/lib/apt/lists/partial",
            ],
            None,
            "apt gives its partial directories to its sandbox user _apt only when _apt can reach the build directory (not under a 0700 parent such as a mktemp -d)",
            "give both to the image's _apt, mode 0700, before squashing (isoforge's cleanup does), or build under a directory others can traverse",
        )
    },
    Offender {
        metadata: true,
        ..row(
            "boot-catalog",
            &["boot.catalog", "boot/grub/boot.cat", "isolinux/boot.cat"],
            None,
            "the El Torito boot catalog file gets the wall-clock date from grub-mkrescue",
            "set file dates with xorriso -volume_date all_file_dates =$SOURCE_DATE_EPOCH (grub-mkrescue passes extra xorriso options after --)",
        )
    },
    row(
        "resolv-conf",
        &["etc/resolv.conf"],
        Some(RemoveFile),
        "mmdebstrap copies the build host's resolver configuration",
        "remove /etc/resolv.conf before squashing",
    ),
    row(
        "tmp-leftovers",
        &["tmp/*", "var/tmp/*"],
        Some(RemoveTree),
        "leftovers of package scripts",
        "empty /tmp and /var/tmp before squashing",
    ),
    row(
        "tmp-leftovers",
        &["tmp/**", "var/tmp/**"],
        None,
        "leftovers of package scripts",
        "empty /tmp and /var/tmp before squashing",
    ),
];
