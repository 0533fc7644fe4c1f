//! Opening the builder tarball as root: one descriptor is checked, hashed, listed and then
//! extracted (tar reads it as stdin), so the file cannot be swapped between the digest check
//! and the extraction; a tarball that a user other than root could change is refused, and so
//! is a member that would land outside the tree or make a device or set-id file.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use isoforge_inputs::ImageRef;
use sha2::{Digest, Sha256};

use crate::{Error, io_err};

/// Set-id files in the builder as Debian installs them (shadow's passwd tools, util-linux's
/// mount and su, PAM's unix_chkpwd; `isoforge builder build` keeps them). The build runs as
/// root and needs none of their bits, but the digest covers them. Any other set-id file is
/// refused; set-group-ID directories (`/var/mail`, `/var/local`) only pass on their group.
const SETID_ALLOWED: &[&str] = &[
    "usr/bin/chage",
    "usr/bin/chfn",
    "usr/bin/chsh",
    "usr/bin/expiry",
    "usr/bin/gpasswd",
    "usr/bin/mount",
    "usr/bin/newgrp",
    "usr/bin/passwd",
    "usr/bin/su",
    "usr/bin/umount",
    "usr/sbin/unix_chkpwd",
];

/// A builder tarball whose digest matched its pin, held open.
pub struct Verified {
    file: File,
    path: PathBuf,
    /// Device nodes under `dev/`, as stored: not extracted (the chroot runtime mounts the
    /// host's `/dev`).
    devices: Vec<Vec<u8>>,
}

/// Opens `tarball`, refuses it unless root alone can change it, and hashes and lists it
/// through the same descriptor: its sha256 must be `image`'s digest, and every member must
/// stay inside the tree.
pub fn open(tarball: &Path, image: &ImageRef) -> Result<Verified, Error> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(tarball)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::Invalid(format!(
                "the builder {image} is not in the cache ({}); run `isoforge builder build` (it prints the digest to pin)",
                tarball.display()
            )));
        }
        Err(e) => return Err(io_err(format!("cannot open {}", tarball.display()))(e)),
    };
    let meta = file
        .metadata()
        .map_err(io_err(format!("cannot read {}", tarball.display())))?;
    if !meta.is_file() {
        return Err(Error::Invalid(format!(
            "{} is not a regular file; refusing to use it as the builder",
            tarball.display()
        )));
    }
    only_root_can_change(tarball, &meta)?;
    let dir = tarball.parent().unwrap_or(Path::new("."));
    let dir = dir
        .canonicalize()
        .map_err(io_err(format!("cannot resolve {}", dir.display())))?;
    for d in dir.ancestors() {
        let m = std::fs::metadata(d).map_err(io_err(format!("cannot read {}", d.display())))?;
        only_root_can_change(d, &m)?;
    }

    let mut reader = Hashing {
        inner: &file,
        hash: Sha256::new(),
    };
    let devices = list(&mut reader, tarball)?;
    io::copy(&mut reader, &mut io::sink())
        .map_err(io_err(format!("cannot read {}", tarball.display())))?;
    let actual = hex::encode(reader.hash.finalize());
    if actual != image.digest {
        return Err(Error::Invalid(format!(
            "{} has sha256 {actual}, but BUILDER_IMAGE pins {}; refusing to use it: run `isoforge builder build` again",
            tarball.display(),
            image.digest
        )));
    }
    Ok(Verified {
        file,
        path: tarball.to_path_buf(),
        devices,
    })
}

/// Refuses a file or directory that a user other than root owns or that group or others may
/// write (a sticky directory owned by root is fine: others cannot replace root's entries).
fn only_root_can_change(path: &Path, meta: &std::fs::Metadata) -> Result<(), Error> {
    let sticky = meta.is_dir() && meta.mode() & 0o1000 != 0;
    if meta.uid() != 0 || (meta.mode() & 0o022 != 0 && !sticky) {
        return Err(Error::Invalid(format!(
            "{} is owned by uid {} with mode {:04o}: a user other than root could change the builder; \
             make it root's and not group- or world-writable (or use a cache only root can write)",
            path.display(),
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Every member's name, type and mode; returns the device nodes under `dev/`.
fn list(src: &mut impl Read, tarball: &Path) -> Result<Vec<Vec<u8>>, Error> {
    let refuse = |name: &str, why: &str| {
        Error::Invalid(format!(
            "{}: member {name:?} {why}; refusing to extract it as root",
            tarball.display()
        ))
    };
    let mut archive = tar::Archive::new(src);
    let entries = archive
        .entries()
        .map_err(io_err(format!("cannot read {}", tarball.display())))?;
    let mut symlinks: HashSet<Vec<u8>> = HashSet::new();
    let mut devices = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(format!("cannot read {}", tarball.display())))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let rel = relative(&raw).ok_or_else(|| refuse(&name, "is absolute or contains `..`"))?;
        // A member below an earlier symlink would be written wherever the link points.
        let mut prefix = Vec::new();
        for c in rel.iter().take(rel.len().saturating_sub(1)) {
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(c);
            if symlinks.contains(&prefix) {
                return Err(refuse(&name, "lies below a symlink member"));
            }
        }
        let joined = rel.join(&b'/');
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header
            .mode()
            .map_err(io_err(format!("cannot read {}", tarball.display())))?;
        match kind {
            tar::EntryType::Symlink => {
                symlinks.insert(joined.clone());
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if relative(&target).is_none() {
                    return Err(refuse(&name, "is a hard link to an absolute path or `..`"));
                }
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                if rel.len() == 2 && rel[0] == b"dev" {
                    devices.push(raw.clone());
                } else {
                    return Err(refuse(&name, "is a device node outside /dev"));
                }
            }
            tar::EntryType::Regular | tar::EntryType::Directory | tar::EntryType::Continuous => {}
            // A pax header of its own (the tar crate applies per-member ones itself).
            tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => continue,
            // pax and GNU headers are read by the tar crate itself; nothing else is expected.
            _ => return Err(refuse(&name, "has a member type isoforge does not extract")),
        }
        let setgid_dir = kind == tar::EntryType::Directory && mode & 0o6000 == 0o2000;
        if mode & 0o6000 != 0 && !setgid_dir {
            let path = String::from_utf8_lossy(&joined);
            if !SETID_ALLOWED.contains(&path.as_ref()) {
                return Err(refuse(&name, "is set-user-ID or set-group-ID"));
            }
        }
    }
    Ok(devices)
}

/// The components of a relative member name (`./` and `.` dropped), or `None` when it is
/// absolute or has a `..`.
fn relative(raw: &[u8]) -> Option<Vec<&[u8]>> {
    if raw.starts_with(b"/") {
        return None;
    }
    let parts: Vec<&[u8]> = raw
        .split(|&c| c == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .collect();
    if parts.iter().any(|p| *p == b"..") {
        return None;
    }
    Some(parts)
}

struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

impl Verified {
    /// The open tarball, rewound (for `docker import -`).
    pub fn reader(&self) -> Result<File, Error> {
        let mut f = self
            .file
            .try_clone()
            .map_err(io_err(format!("cannot reopen {}", self.path.display())))?;
        f.rewind()
            .map_err(io_err(format!("cannot rewind {}", self.path.display())))?;
        Ok(f)
    }

    /// Extracts the verified tarball into `dest` (created), tar reading the same descriptor
    /// that was hashed.
    pub fn extract(&self, dest: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dest)
            .map_err(io_err(format!("cannot create {}", dest.display())))?;
        let mut cmd = isoforge_exec::tool("tar");
        cmd.args([
            "--extract",
            "--numeric-owner",
            "--same-permissions",
            "--no-overwrite-dir",
            "--file",
            "-",
            "--directory",
        ])
        .arg(dest);
        // The names were listed above; excluded literally, not as patterns.
        cmd.args(["--anchored", "--no-wildcards"]);
        for d in &self.devices {
            cmd.arg(std::ffi::OsStr::from_bytes(
                &[b"--exclude=", &d[..]].concat(),
            ));
        }
        cmd.stdin(Stdio::from(self.reader()?));
        isoforge_exec::capture_limited(cmd, 1 << 20)
            .map_err(|e| Error::Invalid(format!("cannot extract {}: {e}", self.path.display())))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_relative_without_dotdot() {
        assert_eq!(relative(b"./etc/passwd").unwrap().len(), 2);
        assert_eq!(relative(b"./").unwrap().len(), 0);
        assert!(relative(b"/etc/passwd").is_none());
        assert!(relative(b"a/../../etc").is_none());
        assert!(relative(b"..").is_none());
    }
}
