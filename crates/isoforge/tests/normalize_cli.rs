//! `isoforge normalize` as a program: exit 0 and the report files for a real grub-mkrescue
//! ISO, exit 2 with one line for bad input (in its own namespace, as root), nothing left.

use std::path::Path;
use std::process::Command;

fn isoforge(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_isoforge"))
        .arg("normalize")
        .args(args)
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

fn refused(o: &std::process::Output, want: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("isoforge: error: ") && last.contains(want),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

fn only(dir: &Path, names: &[&str]) {
    let mut have: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    have.sort();
    assert_eq!(have, names);
}

#[test]
fn exit_codes_and_reports() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (normalize runs in its own namespaces); run the suite as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("junk.iso"), vec![0u8; 70_000]).unwrap();
    refused(
        &isoforge(
            d,
            &["junk.iso", "out.iso", "--source-date-epoch", "1700000000"],
        ),
        "junk.iso: not an ISO 9660 image",
    );
    refused(
        &isoforge(d, &["junk.iso", "out.iso"]),
        "no SOURCE_DATE_EPOCH: pass --source-date-epoch",
    );
    refused(
        &isoforge(
            d,
            &["junk.iso", "out.iso", "--source-date-epoch", "yesterday"],
        ),
        "--source-date-epoch: \"yesterday\"",
    );
    only(d, &["junk.iso"]);

    // A real one: written, both report forms.
    let t = d.join("tree");
    std::fs::create_dir_all(t.join("live")).unwrap();
    std::fs::create_dir_all(t.join("r/etc/nvme")).unwrap();
    std::fs::write(t.join("r/etc/nvme/hostid"), "random").unwrap();
    let ok = Command::new("sh")
        .args([
            "-ec",
            "mksquashfs tree/r tree/live/filesystem.squashfs -quiet -no-progress >/dev/null && \
             rm -r tree/r && grub-mkrescue -o in.iso tree 2>/dev/null",
        ])
        .current_dir(d)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let o = isoforge(
        d,
        &[
            "in.iso",
            "out.iso",
            "--source-date-epoch",
            "1700000000",
            "--report",
            "report.json",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("removed /etc/nvme/hostid: rule nvme-hostid etc/nvme/hostid"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["rootfs"]["changes"][0]["path"], "/etc/nvme/hostid");
    assert_eq!(json["efi_images"][0]["serial_to"], "6553f100");
    // An existing output is not replaced without --force.
    refused(
        &isoforge(
            d,
            &["in.iso", "out.iso", "--source-date-epoch", "1700000000"],
        ),
        "out.iso exists; pass --force",
    );
    only(d, &["in.iso", "junk.iso", "out.iso", "report.json", "tree"]);
}
