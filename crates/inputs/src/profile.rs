//! `config/silvermetal-base.conf`: what to build (derivative selection) and how it presents
//! itself (branding); with a flavor, `config/flavors/<name>.conf` on top ([`crate::flavors`]).

use std::path::Path;

use crate::Error;
use crate::envfile::EnvFile;
use crate::flavors::{self, Flavor};
use crate::package_lists::{self, PackageList};
use crate::validate::{self, words};

/// The profile's file name under the configuration directory.
pub const FILE: &str = "silvermetal-base.conf";

/// The base profile's key naming the flavor built without `--flavor`.
pub const DEFAULT_FLAVOR: &str = "DEFAULT_FLAVOR";

const KEYS: &[&str] = &[
    DEFAULT_FLAVOR,
    "DISTRIBUTION",
    "SUITE",
    "ARCHITECTURE",
    "VARIANT",
    "COMPONENTS",
    "PACKAGES",
    "LIVE_BOOT_OPTIONS",
    "PRODUCT_NAME",
    "PRODUCT_ID",
    "PRODUCT_VERSION",
    "ISO_VOLUME_LABEL",
    "ISO_PUBLISHER",
    "HOSTNAME",
    "GRUB_MENU_TITLE",
    "OS_RELEASE_ID_LIKE",
    "OS_RELEASE_HOME_URL",
    "OS_RELEASE_SUPPORT_URL",
    "OS_RELEASE_BUG_REPORT_URL",
    "REPORT_CONTACT",
    "BOOT_MARKER",
    "MKSQUASHFS_OPTIONS",
];

/// The keys only the base profile may set: every flavor shares the snapshot pin and the
/// builder (distribution, suite, architecture, components), and the default flavor.
const BASE_ONLY: &[&str] = &[
    DEFAULT_FLAVOR,
    "DISTRIBUTION",
    "SUITE",
    "ARCHITECTURE",
    "COMPONENTS",
];

/// The keys a flavor may set (all but [`BASE_ONLY`]): `PACKAGES` adds to the base's, the
/// others replace it.
static FLAVOR_KEYS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    KEYS.iter()
        .copied()
        .filter(|k| !BASE_ONLY.contains(k))
        .collect()
});

/// mmdebstrap variants that produce a bootable system when given a kernel.
const VARIANTS: &[&str] = &[
    "minbase",
    "required",
    "important",
    "standard",
    "debootstrap",
];

/// mksquashfs options that fight SOURCE_DATE_EPOCH or break reproducibility.
const FORBIDDEN_MKSQUASHFS: &[(&str, &str)] = &[
    ("-all-time", "timestamps come from SOURCE_DATE_EPOCH"),
    (
        "-mkfs-time",
        "the creation time comes from SOURCE_DATE_EPOCH",
    ),
    ("-fstime", "the creation time comes from SOURCE_DATE_EPOCH"),
    ("-root-time", "timestamps come from SOURCE_DATE_EPOCH"),
    ("-not-reproducible", "the image must be reproducible"),
    ("-append", "isoforge always writes a fresh image"),
];

/// A validated profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The flavor this profile was read for (`None`: a profile without flavors).
    pub flavor: Option<String>,
    /// The base's `DEFAULT_FLAVOR`.
    pub default_flavor: Option<String>,
    pub distribution: String,
    pub suite: String,
    pub architecture: String,
    pub variant: String,
    pub components: Vec<String>,
    /// `PACKAGES` (the base's, then the flavor's) merged with every layer's package lists
    /// (see [`package_lists::merge`]).
    pub packages: Vec<String>,
    /// `package-lists/*.list.chroot` of each layer (base, then flavor), each in lexical
    /// order (their packages are in `packages`).
    pub package_lists: Vec<PackageList>,
    /// Kernel command line for the live system, without console settings.
    pub live_boot_options: Vec<String>,
    pub product_name: String,
    /// Lower-case identifier: os-release `ID` and the ISO file name's prefix.
    pub product_id: String,
    pub product_version: String,
    pub iso_volume_label: String,
    pub iso_publisher: Option<String>,
    pub hostname: String,
    pub grub_menu_title: String,
    pub os_release_id_like: Option<String>,
    pub os_release_home_url: Option<String>,
    pub os_release_support_url: Option<String>,
    pub os_release_bug_report_url: Option<String>,
    /// Where a user reports a checksum mismatch (a supply-chain anomaly).
    pub report_contact: Option<String>,
    /// Whether the image prints a boot marker on its console (used by `isoforge boot`).
    pub boot_marker: bool,
    pub mksquashfs_options: Vec<String>,
}

impl Profile {
    /// The profile of `flavor` (`None`: the base alone, for a profile without flavors):
    /// the base file, the flavor's file on top, and every layer's package lists.
    pub fn load(config_dir: &Path, flavor: Option<&Flavor>) -> Result<Self, Error> {
        let base = EnvFile::load(&config_dir.join(FILE))?;
        let mut profile = match flavor {
            None => Self::from_file(&base)?,
            Some(f) => {
                let over = EnvFile::load(&config_dir.join(f.conf_rel()))?;
                let fields = over.fields(&FLAVOR_KEYS)?;
                let extra = fields
                    .optional("PACKAGES", |v| words(v, validate::package_name))?
                    .unwrap_or_default();
                let mut p = Self::from_file(&base.layered(&over, &["PACKAGES"]))?;
                for pkg in extra {
                    if !p.packages.contains(&pkg) {
                        p.packages.push(pkg);
                    }
                }
                p.flavor = Some(f.name.clone());
                p
            }
        };
        for layer in flavors::layers(config_dir, flavor)? {
            for mut list in package_lists::load(&layer.dir)? {
                list.rel = layer.rel_path(&list.rel);
                profile.package_lists.push(list);
            }
        }
        profile.packages = package_lists::merge(&profile.packages, &profile.package_lists);
        Ok(profile)
    }

    /// The profile a command without `--flavor` uses: the base's `DEFAULT_FLAVOR`, or the
    /// base alone for a profile without flavors.
    pub fn load_default(config_dir: &Path) -> Result<Self, Error> {
        Self::load(config_dir, flavors::select(config_dir, None)?.as_ref())
    }

    /// The profile file alone (no package lists).
    pub fn from_file(file: &EnvFile) -> Result<Self, Error> {
        let f = file.fields(KEYS)?;
        let product_name = f.required("PRODUCT_NAME", "the product's display name", |v| {
            validate::line(v, 64)
        })?;
        let product_id = f.required(
            "PRODUCT_ID",
            "a lower-case identifier such as silvermetal",
            validate::os_release_id,
        )?;
        let product_version = f.required(
            "PRODUCT_VERSION",
            "a version such as 1.1.0",
            validate::version,
        )?;
        let distribution = f.required("DISTRIBUTION", "debian", |v| match v {
            "debian" => Ok(v.to_string()),
            _ => Err(format!(
                "{v:?} is not supported; expected debian (derivatives add their packages on top)"
            )),
        })?;
        let architecture = f.required("ARCHITECTURE", "amd64", |v| match v {
            "amd64" => Ok(v.to_string()),
            _ => Err(format!(
                "{v:?} is not supported; expected amd64 (the BIOS and UEFI boot files are x86-64)"
            )),
        })?;
        Ok(Self {
            flavor: None,
            default_flavor: f.optional(DEFAULT_FLAVOR, |v| {
                flavors::validate_name(v).map(|()| v.to_string())
            })?,
            distribution,
            suite: f.required("SUITE", "a Debian suite such as bookworm", validate::slug)?,
            architecture,
            variant: f
                .optional("VARIANT", |v| validate::one_of(v, VARIANTS))?
                .unwrap_or_else(|| "minbase".into()),
            components: f
                .optional("COMPONENTS", |v| words(v, validate::slug))?
                .unwrap_or_else(|| vec!["main".into()]),
            packages: f.required("PACKAGES", "space-separated Debian package names", |v| {
                words(v, validate::package_name)
            })?,
            package_lists: Vec::new(),
            live_boot_options: f
                .optional("LIVE_BOOT_OPTIONS", |v| words(v, validate::kernel_arg))?
                .unwrap_or_else(|| vec!["boot=live".into(), "components".into()]),
            iso_volume_label: f.required(
                "ISO_VOLUME_LABEL",
                "1-32 characters of A-Z, 0-9 and _",
                validate::volume_label,
            )?,
            iso_publisher: f.optional("ISO_PUBLISHER", |v| validate::line(v, 128))?,
            hostname: f
                .optional("HOSTNAME", validate::hostname)?
                .unwrap_or_else(|| product_id.clone()),
            grub_menu_title: f
                .optional("GRUB_MENU_TITLE", validate::grub_title)?
                .unwrap_or_else(|| format!("{product_name} {product_version} (live)")),
            os_release_id_like: f.optional("OS_RELEASE_ID_LIKE", |v| {
                words(v, validate::os_release_id).map(|w| w.join(" "))
            })?,
            os_release_home_url: f.optional("OS_RELEASE_HOME_URL", validate::url)?,
            os_release_support_url: f.optional("OS_RELEASE_SUPPORT_URL", validate::url)?,
            os_release_bug_report_url: f.optional("OS_RELEASE_BUG_REPORT_URL", validate::url)?,
            report_contact: f.optional("REPORT_CONTACT", |v| validate::line(v, 128))?,
            boot_marker: f.optional("BOOT_MARKER", validate::yes_no)?.unwrap_or(true),
            mksquashfs_options: f.required(
                "MKSQUASHFS_OPTIONS",
                "mksquashfs options such as \"-comp xz -b 1M\"",
                mksquashfs_options,
            )?,
            product_name,
            product_id,
            product_version,
        })
    }

    /// `<id>-<flavor>-<version>-<arch>.iso`, or `<id>-<version>-<arch>.iso` without flavors.
    pub fn iso_file_name(&self) -> String {
        let flavor = self
            .flavor
            .as_ref()
            .map(|f| format!("-{f}"))
            .unwrap_or_default();
        format!(
            "{}{flavor}-{}-{}.iso",
            self.product_id, self.product_version, self.architecture
        )
    }
}

fn mksquashfs_options(v: &str) -> Result<Vec<String>, String> {
    let opts: Vec<String> = v.split_whitespace().map(str::to_string).collect();
    if let Some(first) = opts.first().filter(|o| !o.starts_with('-')) {
        return Err(format!(
            "{first:?} is not an option; give only options (isoforge supplies source and destination)"
        ));
    }
    for o in &opts {
        if let Some((_, why)) = FORBIDDEN_MKSQUASHFS.iter().find(|(f, _)| f == o) {
            return Err(format!("{o} is not allowed: {why}"));
        }
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envfile::parse;

    const GOOD: &str = r#"
DISTRIBUTION=debian
SUITE=bookworm
ARCHITECTURE=amd64
PACKAGES="linux-image-amd64 live-boot systemd-sysv"
PRODUCT_NAME="SilverMetal Linux"
PRODUCT_ID=silvermetal
PRODUCT_VERSION=1.1.0
ISO_VOLUME_LABEL=SILVERMETAL_1_1_0
MKSQUASHFS_OPTIONS="-noappend -comp xz"
"#;

    fn load(text: &str) -> Result<Profile, Error> {
        Profile::from_file(&parse(Path::new("base.conf"), text).unwrap())
    }

    #[test]
    fn defaults_fill_in() {
        let p = load(GOOD).unwrap();
        assert_eq!(p.variant, "minbase");
        assert_eq!(p.hostname, "silvermetal");
        assert_eq!(p.grub_menu_title, "SilverMetal Linux 1.1.0 (live)");
        assert_eq!(p.iso_file_name(), "silvermetal-1.1.0-amd64.iso");
        assert!(p.boot_marker);
    }

    #[test]
    fn bad_values_name_line_and_key() {
        let cases = [
            (
                "ARCHITECTURE=arm64",
                "ARCHITECTURE: \"arm64\" is not supported",
            ),
            ("ISO_VOLUME_LABEL=lower", "ISO_VOLUME_LABEL:"),
            ("PACKAGES=\"ok Bad_Name\"", "PACKAGES: \"Bad_Name\""),
            (
                "MKSQUASHFS_OPTIONS=\"-all-time 0\"",
                "-all-time is not allowed",
            ),
            ("PRODUCT_VERSION=v1", "PRODUCT_VERSION:"),
            ("GRUB_MENU_TITLE=\"a'b\"", "GRUB_MENU_TITLE:"),
        ];
        for (line, want) in cases {
            let key = line.split('=').next().unwrap();
            let text: String = GOOD
                .lines()
                .filter(|l| !l.starts_with(&format!("{key}=")))
                .chain(std::iter::once(line))
                .collect::<Vec<_>>()
                .join("\n");
            let n = text.lines().count();
            let e = load(&text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("base.conf:{n}: ")), "{e}");
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn missing_required_key() {
        let text = GOOD.replace("SUITE=bookworm\n", "");
        let e = load(&text).unwrap_err().to_string();
        assert!(
            e.starts_with("base.conf: missing required key SUITE"),
            "{e}"
        );
    }
}
