//! What makes the Debian system present itself as the product: os-release, issue, host name,
//! its own apt sources, and the boot marker `isoforge boot` waits for.

use std::path::Path;

use isoforge_inputs::Profile;

use crate::Error;
use crate::tree::{symlink, write_file};

/// The line prefix the boot marker prints on the console once the system is up.
pub const BOOT_MARKER_PREFIX: &str = "isoforge-boot-ok:";

const MARKER_UNIT: &str = "isoforge-boot-marker.service";

/// Inputs to branding besides the profile.
pub struct Branding<'a> {
    pub profile: &'a Profile,
    /// Recorded as os-release `BUILD_ID` (the short commit, `-dirty` when it was).
    pub build_id: &'a str,
    /// The mirror the installed system's apt uses.
    pub mirror: &'a str,
    pub epoch: i64,
}

/// Writes the branding files; returns their paths for the log.
pub fn apply(root: &Path, b: &Branding<'_>) -> Result<Vec<String>, Error> {
    let p = b.profile;
    let mut written = Vec::new();
    let mut file = |rel: &str, body: String| -> Result<(), Error> {
        write_file(root, rel, body.as_bytes(), 0o644, b.epoch)?;
        written.push(format!("/{rel}"));
        Ok(())
    };
    file("usr/lib/os-release", os_release(b))?;
    file(
        "etc/issue",
        format!("{} {} \\n \\l\n\n", p.product_name, p.product_version),
    )?;
    file(
        "etc/issue.net",
        format!("{} {}\n", p.product_name, p.product_version),
    )?;
    file("etc/hostname", format!("{}\n", p.hostname))?;
    file("etc/hosts", hosts(&p.hostname))?;
    file(
        "etc/apt/sources.list",
        format!(
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {} {} {}\n",
            b.mirror,
            p.suite,
            p.components.join(" ")
        ),
    )?;
    if p.boot_marker {
        file(&format!("etc/systemd/system/{MARKER_UNIT}"), marker_unit())?;
    }
    symlink(root, "etc/os-release", "../usr/lib/os-release", b.epoch)?;
    written.push("/etc/os-release".into());
    if p.boot_marker {
        let link = format!("etc/systemd/system/multi-user.target.wants/{MARKER_UNIT}");
        symlink(
            root,
            &link,
            &format!("/etc/systemd/system/{MARKER_UNIT}"),
            b.epoch,
        )?;
        written.push(format!("/{link}"));
    }
    Ok(written)
}

fn os_release(b: &Branding<'_>) -> String {
    let p = b.profile;
    let mut s = format!(
        "PRETTY_NAME=\"{name} {version}\"\nNAME=\"{name}\"\nVERSION_ID=\"{version}\"\n\
         VERSION=\"{version} ({suite})\"\nVERSION_CODENAME={suite}\nID={id}\n",
        name = p.product_name,
        version = p.product_version,
        suite = p.suite,
        id = p.product_id,
    );
    let like = p.os_release_id_like.as_deref().unwrap_or("debian");
    s.push_str(&format!("ID_LIKE=\"{like}\"\n"));
    for (key, value) in [
        ("HOME_URL", &p.os_release_home_url),
        ("SUPPORT_URL", &p.os_release_support_url),
        ("BUG_REPORT_URL", &p.os_release_bug_report_url),
    ] {
        if let Some(v) = value {
            s.push_str(&format!("{key}=\"{v}\"\n"));
        }
    }
    s.push_str(&format!("BUILD_ID={}\n", b.build_id));
    s
}

fn hosts(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    )
}

/// Prints `isoforge-boot-ok: <NAME> <VERSION_ID>` on the console when multi-user is reached.
fn marker_unit() -> String {
    format!(
        "[Unit]\n\
         Description=Report a successful boot on the console (isoforge boot)\n\
         After=multi-user.target getty.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart=/bin/sh -c '. /etc/os-release && echo \"{BOOT_MARKER_PREFIX} $NAME $VERSION_ID\" > /dev/console'\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoforge_inputs::envfile::parse;

    fn profile() -> Profile {
        let text = "DISTRIBUTION=debian\nSUITE=bookworm\nARCHITECTURE=amd64\nPACKAGES=linux-image-amd64\n\
            PRODUCT_NAME='SilverMetal Linux'\nPRODUCT_ID=silvermetal\nPRODUCT_VERSION=1.1.0\n\
            ISO_VOLUME_LABEL=SM\nMKSQUASHFS_OPTIONS=-noappend\nOS_RELEASE_HOME_URL=https://example.org/\n";
        Profile::from_file(&parse(Path::new("p.conf"), text).unwrap()).unwrap()
    }

    #[test]
    fn writes_branding_through_no_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        // Debian ships /etc/os-release as a relative link; a host-absolute one must be replaced.
        std::os::unix::fs::symlink("/etc/os-release", root.join("etc/os-release")).unwrap();
        let p = profile();
        let b = Branding {
            profile: &p,
            build_id: "0123456789ab",
            mirror: "http://deb.debian.org/debian",
            epoch: 1_700_000_000,
        };
        apply(root, &b).unwrap();
        let os = std::fs::read_to_string(root.join("usr/lib/os-release")).unwrap();
        assert!(
            os.contains("PRETTY_NAME=\"SilverMetal Linux 1.1.0\"\n"),
            "{os}"
        );
        assert!(os.contains("HOME_URL=\"https://example.org/\"\n"));
        assert!(os.contains("BUILD_ID=0123456789ab\n"));
        assert_eq!(
            std::fs::read_link(root.join("etc/os-release")).unwrap(),
            Path::new("../usr/lib/os-release")
        );
        assert_eq!(
            std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
            "silvermetal\n"
        );
        let unit =
            std::fs::read_to_string(root.join("etc/systemd/system/isoforge-boot-marker.service"))
                .unwrap();
        assert!(unit.contains("echo \"isoforge-boot-ok: $NAME $VERSION_ID\" > /dev/console"));
        assert!(
            std::fs::symlink_metadata(
                root.join(
                    "etc/systemd/system/multi-user.target.wants/isoforge-boot-marker.service"
                )
            )
            .unwrap()
            .file_type()
            .is_symlink()
        );
    }
}
