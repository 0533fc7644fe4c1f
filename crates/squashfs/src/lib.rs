//! The rootfs directory packed as `live/filesystem.squashfs` by mksquashfs.
//!
//! squashfs-tools 4.4+ orders entries deterministically, and with SOURCE_DATE_EPOCH in its
//! environment (the runner always sets it) clamps every file time and sets the creation
//! time to it. The profile's `MKSQUASHFS_OPTIONS` choose compression and block size; options
//! that fight SOURCE_DATE_EPOCH are refused when the profile is loaded.

use std::path::Path;

use isoforge_exec::{Error, Runner, Stage};

/// Packs `rootfs` into `image` (which must not exist) with the profile's `options`.
pub fn pack(
    runner: &Runner,
    stage: &Stage,
    rootfs: &Path,
    image: &Path,
    options: &[String],
) -> Result<(), Error> {
    let mut cmd = runner.command("mksquashfs");
    cmd.arg(rootfs).arg(image).arg("-noappend");
    cmd.args(options.iter().filter(|o| *o != "-noappend"));
    runner.run(stage, "mksquashfs", cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoforge_exec::{Progress, ToolEnv};

    fn pack_tree(dir: &Path, name: &str) -> Vec<u8> {
        let env = ToolEnv::new(1_700_000_000, dir, dir);
        let runner = Runner::new(env, &dir.join("logs"), Progress::plain(false)).unwrap();
        let stage = runner.progress().stage("squashfs");
        let image = dir.join(name);
        pack(
            &runner,
            &stage,
            &dir.join("tree"),
            &image,
            &["-comp".into(), "gzip".into(), "-no-progress".into()],
        )
        .expect("mksquashfs (apt package squashfs-tools) must be installed");
        std::fs::read(image).unwrap()
    }

    #[test]
    fn same_tree_same_bytes_and_times_clamped() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("etc")).unwrap();
        std::fs::write(tree.join("etc/a"), "a\n").unwrap();
        let first = pack_tree(dir.path(), "1.sqfs");
        // A later mtime on the same content must not matter: it is clamped to the epoch.
        let mut touch = isoforge_exec::tool("touch");
        touch.arg("-d").arg("@1800000000").arg(tree.join("etc/a"));
        isoforge_exec::capture(touch).unwrap();
        let second = pack_tree(dir.path(), "2.sqfs");
        assert_eq!(first, second);
        let mut cmd = isoforge_exec::tool("unsquashfs");
        cmd.args(["-lls", "-UTC"]).arg(dir.path().join("1.sqfs"));
        let listing = isoforge_exec::capture(cmd).unwrap();
        let listing = String::from_utf8_lossy(&listing);
        assert!(listing.contains("2023-11-14 22:13"), "{listing}");
    }
}
