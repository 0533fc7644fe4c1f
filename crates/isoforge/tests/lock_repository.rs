//! `isoforge lock` with an extra signed apt repository (a derivative's, like Kicksecure's):
//! the test makes a GPG key, a small branding package and a signed repository, serves it on
//! 127.0.0.1, and locks a profile that installs the package. Locking twice gives the same
//! bytes; a repository signed with another key, or whose signed Release was altered, is
//! refused at lock time. Needs network access to deb.debian.org (Debian's part of the lock).

mod common;

use std::path::Path;

use common::{Repo, export_key, new_key, serve, signed_repository, stderr};
use sha2::{Digest, Sha256};

/// A signed repository with one branding package; returns the .deb's bytes.
fn make_repository(dir: &Path, gnupg: &Path) -> Vec<u8> {
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(pkg.join("usr/share/silvermetal")).unwrap();
    std::fs::write(
        pkg.join("DEBIAN/control"),
        "Package: silvermetal-branding\nVersion: 1.0\nArchitecture: all\n\
         Maintainer: SilverLABS <dev@silvermetal.invalid>\nPriority: optional\n\
         Description: SilverMetal branding (test)\n",
    )
    .unwrap();
    std::fs::write(pkg.join("usr/share/silvermetal/branding"), "SilverMetal\n").unwrap();
    signed_repository(dir, gnupg, &pkg, "silvermetal-branding", "1.0")
}

fn lock(repo: &Repo) -> std::process::Output {
    repo.isoforge()
        .args(["lock", "--config"])
        .arg(repo.config())
        .output()
        .unwrap()
}

#[test]
fn extra_signed_repository_is_locked_and_bad_signatures_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let key_a = t.path().join("gnupg-a");
    let key_b = t.path().join("gnupg-b");
    new_key(
        &key_a,
        "SilverMetal test archive <archive@silvermetal.invalid>",
    );
    new_key(&key_b, "Someone else <other@example.invalid>");
    let deb = make_repository(t.path(), &key_a);
    let url = serve(t.path().join("repo"), 200);

    let repo = Repo::with_default_profile();
    let repos = repo.config().join("repositories");
    std::fs::create_dir_all(&repos).unwrap();
    export_key(&key_a, &repos.join("silvermetal-test.asc"));
    std::fs::write(
        repos.join("silvermetal-test.env"),
        format!(
            "URL={url}\nSUITE=bookworm\nCOMPONENTS=main\nSIGNED_BY=repositories/silvermetal-test.asc\n"
        ),
    )
    .unwrap();
    repo.set(
        "silvermetal-base.conf",
        "PACKAGES",
        "PACKAGES=\"linux-image-amd64 live-boot systemd-sysv silvermetal-branding\"",
    );

    let out = lock(&repo);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lock_path = repo.config().join(common::DEFAULT_LOCK);
    let first = std::fs::read_to_string(&lock_path).unwrap();
    let line = first
        .lines()
        .find(|l| l.starts_with("package silvermetal-branding "))
        .unwrap_or_else(|| panic!("branding not locked:\n{first}"));
    assert_eq!(
        line,
        format!(
            "package silvermetal-branding 1.0 all optional {} {} silvermetal-test pool/main/s/silvermetal-branding/silvermetal-branding_1.0_all.deb",
            deb.len(),
            hex::encode(Sha256::digest(&deb))
        )
    );
    assert!(first.contains(&format!(
        "input repository silvermetal-test {url} bookworm main key-sha256:"
    )));
    assert!(
        first
            .lines()
            .any(|l| l.starts_with("package systemd-sysv "))
    );
    // Same inputs, same bytes.
    let out = lock(&repo);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), first);

    // Signed by another key than the one configured: refused.
    export_key(&key_b, &repos.join("silvermetal-test.asc"));
    let out = lock(&repo);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("apt-get update failed"), "{err}");
    assert!(err.contains("signature does not verify"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&lock_path).unwrap(),
        first,
        "a failed lock leaves the old one"
    );

    // The right key, but the signed Release was altered after signing: refused.
    export_key(&key_a, &repos.join("silvermetal-test.asc"));
    let inrelease = t.path().join("repo/dists/bookworm/InRelease");
    let text = std::fs::read_to_string(&inrelease).unwrap();
    std::fs::write(
        &inrelease,
        text.replace("Origin: SilverMetal test", "Origin: SilverMetal tezt"),
    )
    .unwrap();
    let out = lock(&repo);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("apt-get update failed"), "{err}");
}
