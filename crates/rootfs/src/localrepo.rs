//! The local apt repository every build installs from: the locked .debs, copied from the
//! content-addressed cache (each copy verified by sha256 as it is written), with a `Packages` index
//! made from their own control data and a `Release` naming the suite, so that mmdebstrap's
//! `?narrow(?archive(^suite$)…)` selection sees exactly the lock.
//!
//! Whether the packages were fetched a minute ago or a month ago, online or not, the build
//! runs the same code on the same bytes; the repository is `[trusted=yes]` because every
//! file in it was checked against the lock's sha256, which is stronger than a signature
//! over an index.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Error, io_err};

/// One package to put in the repository.
#[derive(Debug, Clone)]
pub struct Deb {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The archive's Priority (`-`: none), which decides mmdebstrap's priority selection.
    pub priority: String,
    pub sha256: String,
    pub size: u64,
    /// The verified file in the cache.
    pub file: PathBuf,
}

/// Creates one repository per configured repository under `dir` and returns the apt source
/// lines (`copy://`, so apt copies the files into the chroot as mmdebstrap expects).
pub fn create(
    dir: &Path,
    suite: &str,
    architecture: &str,
    repos: &[(String, Vec<Deb>)],
) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    for (name, debs) in repos {
        let root = dir.join(name);
        let pool = root.join("pool");
        let index_dir = root.join(format!("dists/{suite}/main/binary-{architecture}"));
        for d in [&pool, &index_dir] {
            std::fs::create_dir_all(d).map_err(io_err(format!("cannot create {}", d.display())))?;
        }
        let mut packages = String::new();
        let mut sorted: Vec<&Deb> = debs.iter().collect();
        sorted.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
        for deb in sorted {
            let rel = format!("pool/{}.deb", deb.sha256);
            let dest = root.join(&rel);
            copy_verified(deb, &dest)?;
            packages.push_str(&stanza(deb, &dest, &rel)?);
            packages.push('\n');
        }
        let index = index_dir.join("Packages");
        std::fs::write(&index, &packages)
            .map_err(io_err(format!("cannot write {}", index.display())))?;
        let mut release = format!(
            "Origin: isoforge\nLabel: {name} (locked)\nSuite: {suite}\nCodename: {suite}\n\
             Architectures: {architecture}\nComponents: main\nSHA256:\n"
        );
        let _ = writeln!(
            release,
            " {} {} main/binary-{architecture}/Packages",
            hex::encode(Sha256::digest(packages.as_bytes())),
            packages.len()
        );
        let path = root.join(format!("dists/{suite}/Release"));
        std::fs::write(&path, release)
            .map_err(io_err(format!("cannot write {}", path.display())))?;
        lines.push(format!(
            "deb [trusted=yes] copy://{} {suite} main",
            root.display()
        ));
    }
    Ok(lines)
}

/// The package's own control data, with the archive's Priority and where the file is.
/// Copies the cached .deb into the repository, hashing the bytes written: the cache may be
/// writable by others, so the file is opened without following a symlink, must be regular,
/// and what apt reads is checked against the lock (not a hard link someone can still
/// rewrite, nor a path swapped after the cache's own check).
fn copy_verified(deb: &Deb, dest: &Path) -> Result<(), Error> {
    use std::io::{Read as _, Write as _};
    use std::os::unix::fs::OpenOptionsExt as _;
    let (dir, name) = isoforge_fs::Dir::open_parent(&deb.file)?;
    let mut from = dir.open_regular(&name)?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(dest)
        .map_err(io_err(format!("cannot create {}", dest.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = from
            .read(&mut buf)
            .map_err(io_err(format!("cannot read {}", deb.file.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(io_err(format!("cannot write {}", dest.display())))?;
    }
    let actual = hex::encode(h.finalize());
    if actual != deb.sha256 {
        return Err(Error::Invalid(format!(
            "{} changed in the cache while the build read it (sha256 {actual}, locked {}): \
             is the cache writable by others? run `isoforge fetch` and build again",
            deb.file.display(),
            deb.sha256
        )));
    }
    Ok(())
}

fn stanza(deb: &Deb, file: &Path, rel: &str) -> Result<String, Error> {
    let mut cmd = isoforge_exec::tool("dpkg-deb");
    cmd.arg("--field").arg(file);
    // A control file is a few KiB; a bigger answer is not one.
    let out = isoforge_exec::capture_limited(cmd, 4 << 20).map_err(|e| {
        Error::Invalid(format!(
            "dpkg-deb cannot read {} {} ({}): {e}",
            deb.name,
            deb.version,
            file.display()
        ))
    })?;
    let control = String::from_utf8_lossy(&out);
    let paras = isoforge_deb822::parse(&control).map_err(|e| {
        Error::Invalid(format!(
            "{} {}: unreadable control data: {e}",
            deb.name, deb.version
        ))
    })?;
    let [p] = paras.as_slice() else {
        return Err(Error::Invalid(format!(
            "{} {}: expected one control paragraph",
            deb.name, deb.version
        )));
    };
    let (name, version, arch) = (
        p.get("Package").unwrap_or(""),
        p.get("Version").unwrap_or(""),
        p.get("Architecture").unwrap_or(""),
    );
    if (name, version, arch) != (&deb.name[..], &deb.version[..], &deb.architecture[..]) {
        return Err(Error::Invalid(format!(
            "the file locked as {} {} {} is {name} {version} {arch}",
            deb.name, deb.version, deb.architecture
        )));
    }
    let mut out = isoforge_deb822::Paragraph::new();
    for (k, v) in p.fields() {
        if !k.eq_ignore_ascii_case("Priority") {
            out.push(k, v);
        }
    }
    if deb.priority != "-" {
        out.push("Priority", &deb.priority);
    }
    out.push("Filename", rel);
    out.push("Size", deb.size.to_string());
    out.push("SHA256", &deb.sha256);
    Ok(isoforge_deb822::write(&[out]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deb(file: PathBuf, sha256: String) -> Deb {
        Deb {
            name: "hello".into(),
            version: "1".into(),
            architecture: "amd64".into(),
            priority: "-".into(),
            sha256,
            size: 5,
            file,
        }
    }

    /// The cache may be writable by others: a cached .deb swapped for a symlink (to a host
    /// file) or rewritten after the cache's check never reaches the repository apt reads.
    #[test]
    fn a_swapped_cache_file_is_refused() {
        let cache = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("secret"), "host").unwrap();
        let sha = hex::encode(Sha256::digest(b"hello"));
        let link = cache.path().join(&sha);
        std::os::unix::fs::symlink(host.path().join("secret"), &link).unwrap();
        let work = tempfile::tempdir().unwrap();
        let repos = [("debian".to_string(), vec![deb(link.clone(), sha.clone())])];
        let e = create(work.path(), "bookworm", "amd64", &repos).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");

        std::fs::remove_file(&link).unwrap();
        std::fs::write(&link, "HELLO").unwrap();
        let e = create(work.path(), "bookworm", "amd64", &repos).unwrap_err();
        assert!(e.to_string().contains("changed in the cache"), "{e}");
        assert!(e.to_string().contains(&sha), "{e}");
    }
}
