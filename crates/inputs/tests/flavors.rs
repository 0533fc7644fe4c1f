//! Flavors: a flavor's `.conf` on top of the base profile, its directory as a second layer
//! of package lists and overlays, its own identity; and every bad input as one line naming
//! the file (and line).

use std::fs;
use std::path::{Path, PathBuf};

use isoforge_inputs::flavors::{self, Flavor};
use isoforge_inputs::overlays::Content;
use isoforge_inputs::{Profile, load_overlays, profile_sha256};

const BASE: &str = r#"DEFAULT_FLAVOR=cli
DISTRIBUTION=debian
SUITE=bookworm
ARCHITECTURE=amd64
PACKAGES="linux-image-amd64 live-boot systemd-sysv"
PRODUCT_NAME="SilverMetal Linux"
PRODUCT_ID=silvermetal
PRODUCT_VERSION=1.1.0
ISO_VOLUME_LABEL=SILVERMETAL_1_1_0
MKSQUASHFS_OPTIONS="-comp zstd"
"#;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A profile with a `cli` flavor (no directory) and a `desktop` flavor with its own layer.
fn profile() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let c = d.path();
    write(&c.join("silvermetal-base.conf"), BASE);
    write(&c.join("package-lists/10-base.list.chroot"), "less\n");
    write(&c.join("includes.chroot/etc/motd"), "base\n");
    write(&c.join("flavors/cli.conf"), "# nothing to change\n");
    write(
        &c.join("flavors/desktop.conf"),
        "PACKAGES=\"lightdm systemd-sysv\"\nISO_VOLUME_LABEL=SILVERMETAL_DESKTOP\n",
    );
    write(
        &c.join("flavors/desktop/package-lists/20-desktop.list.chroot"),
        "xfwm4\n",
    );
    write(
        &c.join("flavors/desktop/includes.chroot/etc/lightdm/lightdm.conf.d/50-silvermetal.conf"),
        "[Seat:*]\n",
    );
    write(
        &c.join("flavors/desktop/includes.binary/desktop.txt"),
        "x\n",
    );
    d
}

fn flavor(name: &str) -> Flavor {
    Flavor { name: name.into() }
}

fn load(c: &Path, name: Option<&str>) -> Result<Profile, String> {
    Profile::load(c, name.map(flavor).as_ref()).map_err(|e| e.to_string())
}

#[test]
fn a_flavor_adds_packages_and_replaces_other_keys() {
    let d = profile();
    let c = d.path();
    assert_eq!(flavors::list(c).unwrap(), vec!["cli", "desktop"]);
    assert_eq!(flavors::select(c, None).unwrap(), Some(flavor("cli")));

    let cli = load(c, Some("cli")).unwrap();
    assert_eq!(cli.flavor.as_deref(), Some("cli"));
    assert_eq!(cli.default_flavor.as_deref(), Some("cli"));
    assert_eq!(
        cli.packages,
        vec!["less", "linux-image-amd64", "live-boot", "systemd-sysv"]
    );
    assert_eq!(cli.iso_volume_label, "SILVERMETAL_1_1_0");
    assert_eq!(cli.iso_file_name(), "silvermetal-cli-1.1.0-amd64.iso");

    let desktop = load(c, Some("desktop")).unwrap();
    // PACKAGES added (once), lists of both layers, sorted as merged lists are.
    assert_eq!(
        desktop.packages,
        vec![
            "less",
            "lightdm",
            "linux-image-amd64",
            "live-boot",
            "systemd-sysv",
            "xfwm4"
        ]
    );
    let rels: Vec<&str> = desktop
        .package_lists
        .iter()
        .map(|l| l.rel.as_str())
        .collect();
    assert_eq!(
        rels,
        vec![
            "package-lists/10-base.list.chroot",
            "flavors/desktop/package-lists/20-desktop.list.chroot"
        ]
    );
    assert_eq!(desktop.iso_volume_label, "SILVERMETAL_DESKTOP");
    assert_eq!(desktop.product_id, "silvermetal");
    assert_eq!(
        desktop.iso_file_name(),
        "silvermetal-desktop-1.1.0-amd64.iso"
    );

    // Without flavors the ISO keeps its old name.
    let base = load(c, None).unwrap();
    assert_eq!(base.iso_file_name(), "silvermetal-1.1.0-amd64.iso");
}

#[test]
fn overlays_of_both_layers_are_combined_base_first() {
    let d = profile();
    let c = d.path();
    let layers = flavors::layers(c, Some(&flavor("desktop"))).unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[1].rel, "flavors/desktop");
    let (combined, each) = load_overlays(&layers).unwrap();
    assert_eq!(each.len(), 2);
    let paths: Vec<PathBuf> = combined
        .chroot
        .entries
        .iter()
        .map(|e| e.rel.clone())
        .collect();
    // `etc` is in both layers: kept once, before everything below it.
    assert_eq!(
        paths,
        [
            "etc",
            "etc/motd",
            "etc/lightdm",
            "etc/lightdm/lightdm.conf.d",
            "etc/lightdm/lightdm.conf.d/50-silvermetal.conf"
        ]
        .map(PathBuf::from)
    );
    assert_eq!(combined.binary.entries.len(), 1);
    // cli has no directory: the base layer alone.
    assert_eq!(flavors::layers(c, Some(&flavor("cli"))).unwrap().len(), 1);
}

#[test]
fn a_flavor_cannot_replace_a_base_overlay_file() {
    let d = profile();
    let c = d.path();
    write(
        &c.join("flavors/desktop/includes.chroot/etc/motd"),
        "desktop\n",
    );
    let layers = flavors::layers(c, Some(&flavor("desktop"))).unwrap();
    let e = load_overlays(&layers).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}: is also in the base overlay ({})",
            c.join("flavors/desktop/includes.chroot/etc/motd").display(),
            c.join("includes.chroot/etc/motd").display()
        )),
        "{e}"
    );
    assert!(e.contains("move the entry into each flavor"), "{e}");
    assert!(!e.contains('\n'));

    // A directory with other permissions is refused too (the base's would be changed).
    fs::remove_file(c.join("flavors/desktop/includes.chroot/etc/motd")).unwrap();
    write(
        &c.join("flavors/desktop/includes.owners"),
        "includes.chroot/etc 0:0 0700\n",
    );
    let e = load_overlays(&layers).unwrap_err().to_string();
    assert!(e.contains("with another owner or mode"), "{e}");
    assert!(matches!(
        load_overlays(&flavors::layers(c, None).unwrap())
            .unwrap()
            .0
            .chroot
            .entries[1]
            .content,
        Content::File(_)
    ));
}

#[test]
fn bad_flavor_files_name_the_file_and_line() {
    let d = profile();
    let c = d.path();
    let conf = c.join("flavors/desktop.conf");
    let cases = [
        (
            "ISO_VOLUME_LABEL=X\nCOLOUR=blue\n",
            ":2: unknown key COLOUR; expected one of: VARIANT, PACKAGES",
        ),
        // The snapshot, suite and architecture are every flavor's: the base's.
        ("SUITE=trixie\n", ":1: unknown key SUITE"),
        ("DEFAULT_FLAVOR=cli\n", ":1: unknown key DEFAULT_FLAVOR"),
        ("\nPACKAGES=\"ok Bad_Name\"\n", ":2: PACKAGES: \"Bad_Name\""),
        ("ISO_VOLUME_LABEL=lower\n", ":1: ISO_VOLUME_LABEL: "),
        ("PACKAGES=$(reboot)\n", ":1: PACKAGES: shell expansion"),
    ];
    for (text, want) in cases {
        fs::write(&conf, text).unwrap();
        let e = load(c, Some("desktop")).unwrap_err();
        assert!(
            e.starts_with(&format!("{}:", conf.display())),
            "{text:?}: {e}"
        );
        assert!(e.contains(want), "{text:?}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
    // A bad value in the base is still named in the base, under a flavor.
    fs::write(&conf, "ISO_VOLUME_LABEL=X\n").unwrap();
    write(
        &c.join("silvermetal-base.conf"),
        &BASE.replace("PRODUCT_VERSION=1.1.0", "PRODUCT_VERSION=v1"),
    );
    let e = load(c, Some("desktop")).unwrap_err();
    assert!(
        e.starts_with(&format!(
            "{}:8: PRODUCT_VERSION",
            c.join("silvermetal-base.conf").display()
        )),
        "{e}"
    );
}

#[test]
fn a_missing_flavor_lists_the_flavors_and_names_are_checked() {
    let d = profile();
    let c = d.path();
    let e = flavors::select(c, Some("server")).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: no such flavor; the flavors are: cli, desktop",
            c.join("flavors/server.conf").display()
        )
    );
    for bad in ["../cli", "Desktop", "-x", "a_b"] {
        let e = flavors::select(c, Some(bad)).unwrap_err().to_string();
        assert!(e.starts_with("--flavor "), "{e}");
        assert!(e.contains("is not a flavor name"), "{e}");
    }
    write(&c.join("flavors/Bad.conf"), "");
    let e = flavors::list(c).unwrap_err().to_string();
    assert!(
        e.contains("flavors/Bad.conf: \"Bad\" is not a flavor name"),
        "{e}"
    );
}

#[test]
fn each_flavor_has_its_own_identity() {
    let d = profile();
    let c = d.path();
    let hash = |f: &str| profile_sha256(c, Some(&flavor(f))).unwrap();
    let (base, cli, desktop) = (
        profile_sha256(c, None).unwrap(),
        hash("cli"),
        hash("desktop"),
    );
    assert_ne!(base, cli);
    assert_ne!(cli, desktop);
    // A file in the desktop's overlay changes the desktop's hash, not cli's.
    write(
        &c.join("flavors/desktop/includes.chroot/etc/issue.net"),
        "x\n",
    );
    assert_ne!(hash("desktop"), desktop);
    assert_eq!(hash("cli"), cli);
    // So does its .conf and its package lists.
    let before = hash("desktop");
    write(
        &c.join("flavors/desktop/package-lists/20-desktop.list.chroot"),
        "xfwm4\nthunar\n",
    );
    assert_ne!(hash("desktop"), before);
    let before = hash("desktop");
    write(&c.join("flavors/desktop.conf"), "ISO_VOLUME_LABEL=X\n");
    assert_ne!(hash("desktop"), before);
    assert_eq!(hash("cli"), cli);
    // A base file is every flavor's.
    write(&c.join("includes.chroot/etc/motd"), "changed\n");
    assert_ne!(hash("cli"), cli);
}
