//! `isoforge lock` with an extra signed apt repository (a derivative's, like Kicksecure's):
//! the test makes a GPG key, a small branding package and a signed repository, serves it on
//! 127.0.0.1, and locks a profile that installs the package. Locking twice gives the same
//! bytes; a repository signed with another key, or whose signed Release was altered, is
//! refused at lock time. Needs network access to deb.debian.org (Debian's part of the lock).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Repo, stderr};
use sha2::{Digest, Sha256};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A static file server for `root` on loopback, for at most `limit` requests.
fn serve(root: PathBuf, limit: usize) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming().take(limit) {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) <= 2 {
                    break;
                }
            }
            let mut parts = line.split(' ');
            let method = parts.next().unwrap_or("");
            let path = parts.next().unwrap_or("/").trim_start_matches('/');
            let file = root.join(path);
            let body = if path.contains("..") {
                None
            } else {
                std::fs::File::open(&file).ok().and_then(|mut f| {
                    let mut v = Vec::new();
                    f.read_to_end(&mut v).ok().map(|_| v)
                })
            };
            let _ = match body {
                Some(b) => {
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        b.len()
                    );
                    if method == "GET" {
                        s.write_all(&b)
                    } else {
                        Ok(())
                    }
                }
                None => write!(
                    s,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            };
        }
    });
    base
}

fn gpg(home: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.env("GNUPGHOME", home).args(["--batch", "--quiet"]);
    c
}

fn new_key(home: &Path, uid: &str) {
    std::fs::create_dir_all(home).unwrap();
    std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    run(gpg(home).args([
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--quick-gen-key",
        uid,
        "default",
        "default",
        "never",
    ]));
}

/// A signed repository with one package; returns the .deb's bytes.
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
    let repo = dir.join("repo");
    let pool = repo.join("pool/main/s/silvermetal-branding");
    std::fs::create_dir_all(&pool).unwrap();
    let deb = pool.join("silvermetal-branding_1.0_all.deb");
    run(Command::new("dpkg-deb")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["--root-owner-group", "--build"])
        .arg(&pkg)
        .arg(&deb));
    let index = repo.join("dists/bookworm/main/binary-amd64");
    std::fs::create_dir_all(&index).unwrap();
    let packages = run(Command::new("dpkg-scanpackages")
        .args(["--multiversion", "pool"])
        .current_dir(&repo));
    std::fs::write(index.join("Packages"), &packages).unwrap();
    let release = format!(
        "Origin: SilverMetal test\nSuite: bookworm\nCodename: bookworm\nArchitectures: amd64 all\n\
         Components: main\nDate: Thu, 26 Nov 2026 00:00:00 UTC\nSHA256:\n {} {} main/binary-amd64/Packages\n",
        hex::encode(Sha256::digest(packages.as_bytes())),
        packages.len()
    );
    let rel = repo.join("dists/bookworm/Release");
    std::fs::write(&rel, release).unwrap();
    run(gpg(gnupg)
        .args(["--yes", "--clearsign", "--output"])
        .arg(repo.join("dists/bookworm/InRelease"))
        .arg(&rel));
    std::fs::read(&deb).unwrap()
}

fn export_key(gnupg: &Path, to: &Path) {
    let key = run(gpg(gnupg).args(["--armor", "--export"]));
    std::fs::write(to, key).unwrap();
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
    let lock_path = repo.config().join("packages.lock");
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
