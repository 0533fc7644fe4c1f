//! What a profile asks to be locked: the inputs recorded in a lock's header, and the apt
//! repositories it is resolved against.

use std::path::PathBuf;

use isoforge_inputs::{BuilderConfig, Profile, Repository, SnapshotPin};

use crate::format::Inputs;
use crate::resolve::{AptRepo, Request};

/// Debian's archive key, from debian-archive-keyring.
pub const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Where Debian's packages are read from when locking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianSource {
    pub url: String,
    /// `snapshot` or `mirror`.
    pub how: String,
}

fn common(p: &Profile, pin: &SnapshotPin, variant: &str, packages: &[String]) -> Inputs {
    let mut pkgs = packages.to_vec();
    pkgs.sort();
    pkgs.dedup();
    let mut i = Inputs::default();
    i.push("distribution", &p.distribution);
    i.push("suite", &p.suite);
    i.push("architecture", &p.architecture);
    i.push("variant", variant);
    i.push("components", p.components.join(" "));
    i.push("packages", pkgs.join(" "));
    i.push("snapshot", &pin.timestamp);
    i
}

/// The inputs of the image's lock.
pub fn image_inputs(p: &Profile, pin: &SnapshotPin, repos: &[Repository]) -> Inputs {
    let mut i = common(p, pin, &p.variant, &p.packages);
    i.push(
        "repository",
        format!("debian {} {}", p.suite, p.components.join(" ")),
    );
    for r in repos {
        i.push(
            "repository",
            format!(
                "{} {} {} {} key-sha256:{}",
                r.name,
                r.url,
                r.suite,
                r.components.join(" "),
                r.key_sha256
            ),
        );
    }
    i
}

/// The inputs of the builder's lock: Debian only, minbase plus the toolchain.
pub fn builder_inputs(p: &Profile, pin: &SnapshotPin, b: &BuilderConfig) -> Inputs {
    let mut i = common(p, pin, "minbase", &b.packages);
    i.push(
        "repository",
        format!("debian {} {}", p.suite, p.components.join(" ")),
    );
    i
}

fn debian_repo(p: &Profile, debian: &DebianSource) -> AptRepo {
    AptRepo {
        name: "debian".into(),
        url: debian.url.trim_end_matches('/').to_string(),
        how: debian.how.clone(),
        suite: p.suite.clone(),
        components: p.components.clone(),
        keyring: PathBuf::from(DEBIAN_KEYRING),
        ignore_valid_until: debian.how == "snapshot",
    }
}

/// The request for the image's lock.
pub fn image_request(
    p: &Profile,
    pin: &SnapshotPin,
    repos: &[Repository],
    debian: &DebianSource,
) -> Request {
    let mut repositories = vec![debian_repo(p, debian)];
    repositories.extend(repos.iter().map(|r| AptRepo {
        name: r.name.clone(),
        url: r.url.clone(),
        how: "repository".into(),
        suite: r.suite.clone(),
        components: r.components.clone(),
        keyring: r.signed_by.clone(),
        ignore_valid_until: false,
    }));
    Request {
        inputs: image_inputs(p, pin, repos),
        suite: p.suite.clone(),
        architecture: p.architecture.clone(),
        variant: p.variant.clone(),
        packages: p.packages.clone(),
        repositories,
    }
}

/// The request for the builder's lock.
pub fn builder_request(
    p: &Profile,
    pin: &SnapshotPin,
    b: &BuilderConfig,
    debian: &DebianSource,
) -> Request {
    Request {
        inputs: builder_inputs(p, pin, b),
        suite: p.suite.clone(),
        architecture: p.architecture.clone(),
        variant: "minbase".into(),
        packages: b.packages.clone(),
        repositories: vec![debian_repo(p, debian)],
    }
}
