//! A throwaway git repository holding a copy of the default profile, a way to run the
//! real `isoforge` binary on it, and a signed apt repository served on loopback.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    /// A repository with the workspace's `config/` (flavors and all) committed.
    pub fn with_default_profile() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config"),
            &config,
        );
        std::fs::write(dir.path().join(".gitignore"), "/output\n").unwrap();
        let repo = Self { dir };
        repo.git(&["init", "-q"]);
        repo.commit("profile");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("config")
    }

    pub fn output(&self) -> PathBuf {
        self.path().join("output")
    }

    pub fn git(&self, args: &[&str]) {
        let st = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t.invalid"])
            .args(args)
            .current_dir(self.path())
            .status()
            .unwrap();
        assert!(st.success(), "git {args:?}");
    }

    pub fn commit(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
    }

    /// Replaces the line starting with `KEY=` in a config file (or appends it).
    pub fn set(&self, file: &str, key: &str, line: &str) {
        let path = self.config().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key}=")))
            .map(str::to_string)
            .collect();
        lines.push(line.to_string());
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }

    /// Drops libc6 from the default flavor's lock (its header still matching the profile):
    /// the build gets past every check and the output staging, then mmdebstrap fails
    /// quickly (apt cannot satisfy the essential set from the local repository).
    pub fn break_lock(&self) {
        let lock = self.config().join(DEFAULT_LOCK);
        let text = std::fs::read_to_string(&lock).unwrap();
        let without: String = text
            .lines()
            .filter(|l| !l.starts_with("package libc6 "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(without, text);
        std::fs::write(&lock, without).unwrap();
    }

    pub fn isoforge(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_isoforge"));
        cmd.current_dir(self.path()).env_remove("SOURCE_DATE_EPOCH");
        cmd
    }

    pub fn build(&self, extra: &[&str]) -> Output {
        self.isoforge().arg("build").args(extra).output().unwrap()
    }

    /// Names in the output directory.
    pub fn output_entries(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.output()) else {
            return Vec::new();
        };
        let mut v: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// The committed profile's default flavor and its lock.
pub const DEFAULT_FLAVOR: &str = "cli";
pub const DEFAULT_LOCK: &str = "packages-cli.lock";

/// Copies a directory of plain files and directories (the committed `config/`).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests run the real build (mmdebstrap root mode, namespaces): run them as root"
    );
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A static file server for `root` on loopback, for at most `limit` requests.
pub fn serve(root: PathBuf, limit: usize) -> String {
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

pub fn gpg(home: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.env("GNUPGHOME", home).args(["--batch", "--quiet"]);
    c
}

pub fn new_key(home: &Path, uid: &str) {
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

/// A signed repository (suite bookworm, component main) in `dir/repo` holding the package
/// built from the tree `pkg` (with its `DEBIAN/`) as `<name>_<version>_all.deb`; returns
/// the .deb's bytes.
pub fn signed_repository(
    dir: &Path,
    gnupg: &Path,
    pkg: &Path,
    name: &str,
    version: &str,
) -> Vec<u8> {
    let repo = dir.join("repo");
    let pool = repo.join(format!("pool/main/{}/{name}", &name[..1]));
    std::fs::create_dir_all(&pool).unwrap();
    let deb = pool.join(format!("{name}_{version}_all.deb"));
    run(Command::new("dpkg-deb")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["--root-owner-group", "--build"])
        .arg(pkg)
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

pub fn export_key(gnupg: &Path, to: &Path) {
    let key = run(gpg(gnupg).args(["--armor", "--export"]));
    std::fs::write(to, key).unwrap();
}
