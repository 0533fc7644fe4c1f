//! Hybrid ISO pairs made with xorriso (as the isoforge pipeline does) and with grub-mkrescue,
//! with planted differences in volume descriptor dates, the boot catalog date, Rock Ridge TF
//! and directory record dates, GPT GUIDs, and the EFI FAT image's serial and dates.

mod common;

use common::*;
use isoforge_diff::report::ContentDiff;

fn tools() {
    require("xorriso", "xorriso");
    require("grub-mkimage", "grub-common");
    require("mkfs.fat", "dosfstools");
    require("mcopy", "mtools");
    require("mksquashfs", "squashfs-tools");
    assert!(
        std::path::Path::new("/usr/lib/grub/i386-pc/boot_hybrid.img").exists(),
        "missing /usr/lib/grub/i386-pc: apt-get install grub-pc-bin"
    );
}

/// Builds `a.iso` and `b.iso`; `$N` is 1 or 2 inside the per-side part of the script.
fn build(dir: &std::path::Path, per_side: &str, xorriso_extra: [&str; 2]) {
    tools();
    sh(
        dir,
        "grub-mkimage -O i386-pc-eltorito -p /boot/grub -o bios.img biosdisk iso9660
         mkdir -p t/etc && echo 'hello' > t/etc/motd",
    );
    for (i, extra) in xorriso_extra.iter().enumerate() {
        let n = i + 1;
        sh(
            dir,
            &format!(
                "N={n}; S=st$N; mkdir -p $S/live $S/boot/grub $S/.disk
                 echo 'isoforge test' > $S/.disk/info
                 cp bios.img $S/boot/grub/bios.img
                 echo 'set timeout=1' > $S/boot/grub/grub.cfg
                 SOURCE_DATE_EPOCH={SDE} mksquashfs t $S/live/filesystem.squashfs -noappend -no-progress >/dev/null
                 find $S -exec touch -h -d @{SDE} {{}} +
                 {per_side}
                 xorriso -no_rc -iso_nowtime ={SDE} {extra} -as mkisofs -iso-level 3 -R -J -joliet-long -V TEST \
                   -o $N.iso -b boot/grub/bios.img -no-emul-boot -boot-load-size 4 -boot-info-table --grub2-boot-info \
                   --grub2-mbr /usr/lib/grub/i386-pc/boot_hybrid.img --efi-boot boot/grub/efi.img -efi-boot-part \
                   --efi-boot-image --protective-msdos-label $S 2>/dev/null"
            ),
        );
    }
}

const EFI: &str = "rm -f efi.img; mkfs.fat --invariant -C -i $SERIAL efi.img 2048 >/dev/null
    echo 'fake loader' > loader.efi
    SOURCE_DATE_EPOCH=$EFIDATE mmd -i efi.img ::/EFI ::/EFI/BOOT
    SOURCE_DATE_EPOCH=$EFIDATE mcopy -i efi.img loader.efi ::/EFI/BOOT/BOOTX64.EFI
    cp efi.img $S/boot/grub/efi.img";

#[test]
fn metadata_differences_are_attributed_to_their_fields() {
    let d = tmp();
    let per_side = format!(
        "if [ $N = 1 ]; then SERIAL=0fe31a17; EFIDATE={SDE}; else SERIAL=18d4f947; EFIDATE={}; fi
         {EFI}
         if [ $N = 2 ]; then touch -d @{} $S/boot/grub/grub.cfg; fi",
        SDE + 7200,
        SDE + 960
    );
    build(
        d.path(),
        &per_side,
        [
            "-volume_date uuid 2025112416000000",
            "-volume_date uuid 2026050800243000 -volume_date x 2030010100000000 -volume_date f 2026010100000000",
        ],
    );
    let r = report(&d.path().join("1.iso"), &d.path().join("2.iso"));

    // Volume descriptors, field by field.
    assert_attributed(
        &r,
        "primary volume descriptor",
        "volume creation date",
        "2025-11-24 16:00:00",
        "2026-05-08 00:24:30",
    );
    assert_attributed(
        &r,
        "primary volume descriptor",
        "volume modification date",
        "2025-11-24 16:00:00",
        "2026-05-08 00:24:30",
    );
    assert_attributed(
        &r,
        "primary volume descriptor",
        "volume expiration date",
        "(not set)",
        "2030-01-01 00:00:00",
    );
    assert_attributed(
        &r,
        "primary volume descriptor",
        "volume effective date",
        "(not set)",
        "2026-01-01 00:00:00",
    );
    assert_attributed(
        &r,
        "Joliet supplementary volume descriptor",
        "volume creation date",
        "2025-11-24",
        "2026-05-08",
    );
    // The boot catalog's date (grub-mkrescue and xorriso write it from the volume time).
    assert_attributed(
        &r,
        "directory record of /boot.catalog",
        "recording date",
        "2025-11-24 16:00:00",
        "2026-05-08 00:24:30",
    );
    assert_attributed(
        &r,
        "directory record of /boot.catalog",
        "Rock Ridge TF modification time",
        "2025-11-24 16:00:00",
        "2026-05-08 00:24:30",
    );
    // Rock Ridge TF and directory record date of a file whose mtime differs.
    assert_attributed(
        &r,
        "directory record of /boot/grub/grub.cfg",
        "Rock Ridge TF modification time",
        "2025-11-24 16:00:00",
        "2025-11-24 16:16:00",
    );
    assert_attributed(
        &r,
        "directory record of /boot/grub/grub.cfg",
        "recording date",
        "2025-11-24 16:00:00",
        "2025-11-24 16:16:00",
    );
    assert_field(
        &r,
        &["/boot/grub/grub.cfg"],
        "Rock Ridge TF modification time",
        "16:00:00",
        "16:16:00",
    );
    // GPT GUIDs follow the volume uuid.
    assert_attributed(&r, "GPT primary header", "disk GUID", "-", "-");
    // Inside the EFI FAT image: the serial and the mtools dates.
    assert_attributed(
        &r,
        "FAT boot sector",
        "volume serial",
        "0x0fe31a17",
        "0x18d4f947",
    );
    assert_attributed(
        &r,
        "directory entry of /EFI/BOOT/BOOTX64.EFI",
        "modification time",
        "16:00:00",
        "18:00:00",
    );
    assert_field(
        &r,
        &["/boot/grub/efi.img", "/EFI/BOOT/BOOTX64.EFI"],
        "modification time",
        "2025-11-24 16:00:00",
        "2025-11-24 18:00:00",
    );
    for h in [
        "iso-volume-dates",
        "iso-file-dates",
        "gpt-guid",
        "fat-serial",
        "fat-dates",
        "time-after-sde",
        "boot-catalog",
    ] {
        assert!(has_hint(&r, h), "missing hint {h}");
    }
    assert_fully_attributed(&r);
    // The report names the innermost structure with the outer one as context.
    let t = text(&r);
    assert!(t.contains("content of /boot/grub/efi.img › FAT boot sector, volume serial: 0x0fe31a17 vs 0x18d4f947"), "{t}");
    // The default report opens with every planted cause, a place and its remedy.
    assert_causes_first(
        &r,
        &[
            "iso-volume-dates",
            "iso-file-dates",
            "gpt-guid",
            "fat-serial",
            "fat-dates",
            "boot-catalog",
        ],
        &[
            "volume serial: 0x0fe31a17 vs 0x18d4f947",
            "/boot/grub/grub.cfg › recording date",
            "/boot/grub/efi.img › /EFI",
            "volume creation date",
            "disk GUID",
            "/boot.catalog",
        ],
    );
}

#[test]
fn squashfs_inside_iso_is_compared_member_by_member() {
    let d = tmp();
    let per_side = "SERIAL=0fe31a17; EFIDATE=1764000000
        {EFI}
        if [ $N = 2 ]; then mkdir -p t2/etc && echo 'hello, changed' > t2/etc/motd && echo 'new' > t2/etc/new && \
           SOURCE_DATE_EPOCH=1764000000 mksquashfs t2 $S/live/filesystem.squashfs -noappend -no-progress >/dev/null && \
           touch -d @1764000000 $S/live/filesystem.squashfs; fi"
        .replace("{EFI}", EFI);
    build(
        d.path(),
        &per_side,
        ["-volume_date uuid 2025112416000000"; 2],
    );
    let r = report(&d.path().join("1.iso"), &d.path().join("2.iso"));
    let motd = node(&r, &["/live/filesystem.squashfs", "/etc/motd"]);
    match &motd.content {
        Some(ContentDiff::Text { unified, .. }) => {
            assert!(unified.contains("+hello, changed"), "{unified}")
        }
        _ => panic!("no text diff for /etc/motd"),
    }
    assert_eq!(
        node(&r, &["/live/filesystem.squashfs", "/etc/new"]).change,
        isoforge_diff::Change::Added
    );
    // Squashfs structures inside the ISO file's extent are named through it.
    assert!(
        common::attributions(&r)
            .iter()
            .any(|a| a.a.as_ref().is_some_and(|p| p
                .structure
                .first()
                .is_some_and(|s| s == "content of /live/filesystem.squashfs")
                && p.structure.len() > 1)),
        "no attribution through /live/filesystem.squashfs"
    );
    assert_fully_attributed(&r);
}

/// grub-mkrescue is not reproducible as is: the EFI image gets a random serial and the boot
/// catalog the wall-clock date. Both must be found and explained.
#[test]
fn grub_mkrescue_twice() {
    tools();
    require("grub-mkrescue", "grub-common");
    assert!(
        std::path::Path::new("/usr/lib/grub/x86_64-efi").exists(),
        "missing /usr/lib/grub/x86_64-efi: apt-get install grub-efi-amd64-bin"
    );
    let d = tmp();
    sh(
        d.path(),
        "mkdir -p r/boot/grub && echo 'set timeout=1' > r/boot/grub/grub.cfg
         grub-mkrescue -o 1.iso r -- -volume_date uuid 2025112416000000 >/dev/null 2>&1
         sleep 1.1
         grub-mkrescue -o 2.iso r -- -volume_date uuid 2025112416000000 >/dev/null 2>&1",
    );
    let r = report(&d.path().join("1.iso"), &d.path().join("2.iso"));
    let serial = common::attributions(&r)
        .into_iter()
        .find(|a| {
            a.a.as_ref()
                .is_some_and(|p| p.field.as_deref() == Some("volume serial"))
        })
        .expect("FAT volume serial difference");
    assert_ne!(
        serial.a.as_ref().unwrap().value,
        serial.b.as_ref().unwrap().value
    );
    assert!(has_hint(&r, "fat-serial"));
    assert_fully_attributed(&r);
}

/// The kind of pair `bench/diff-vs-diffoscope.sh` builds, in small: the same files planted in
/// the squashfs of B (machine-id, nvme host id, a dpkg.log line, motd, issue mode; the
/// hostname's later mtime is clamped by mksquashfs to SOURCE_DATE_EPOCH, so it is not a
/// difference), xz with 1 MiB blocks, and grub-mkrescue's random FAT serial and wall-clock dates.
/// The first 40 lines of the default report name every planted difference with its remedy.
#[test]
fn bench_kind_of_pair_opens_with_every_planted_cause() {
    tools();
    require("grub-mkrescue", "grub-common");
    assert!(
        std::path::Path::new("/usr/lib/grub/x86_64-efi").exists(),
        "missing /usr/lib/grub/x86_64-efi: apt-get install grub-efi-amd64-bin"
    );
    let d = tmp();
    sh(
        d.path(),
        &format!(
            "for s in a b; do
               mkdir -p $s/root/etc $s/root/var/log $s/root/usr/share/doc/x $s/stage/live $s/stage/boot/grub
               echo 0123456789abcdef0123456789abcdef > $s/root/etc/machine-id
               echo 'Debian GNU/Linux 12' > $s/root/etc/issue; chmod 0644 $s/root/etc/issue
               echo live > $s/root/etc/hostname; echo 'Welcome' > $s/root/etc/motd
               echo 'Start-Date: 2025-11-24  16:00:00' > $s/root/var/log/dpkg.log
               head -c 3000000 /dev/zero | tr '\\0' d > $s/root/usr/share/doc/x/big
               for i in $(seq 1 40); do echo file $i > $s/root/usr/share/doc/x/f$i; done
             done
             cat /proc/sys/kernel/random/uuid | tr -d - > b/root/etc/machine-id
             mkdir -p b/root/etc/nvme; cat /proc/sys/kernel/random/uuid > b/root/etc/nvme/hostid
             echo 'Start-Date: 2026-12-01  06:00:00' >> b/root/var/log/dpkg.log
             echo 'Welcome to the rebuilt image' >> b/root/etc/motd
             chmod 0664 b/root/etc/issue
             find a/root b/root -exec touch -h -d @{SDE} {{}} +
             touch -d '2025-12-01 12:00' b/root/etc/hostname
             for s in a b; do
               SOURCE_DATE_EPOCH={SDE} mksquashfs $s/root $s/stage/live/filesystem.squashfs -comp xz -b 1M -noappend -no-progress >/dev/null
               echo 'set timeout=1' > $s/stage/boot/grub/grub.cfg
               grub-mkrescue -o $s.iso $s/stage >/dev/null 2>&1
               sleep 1.1
             done"
        ),
    );
    let r = report(&d.path().join("a.iso"), &d.path().join("b.iso"));
    assert_causes_first(
        &r,
        &[
            "machine-id",
            "nvme-hostid",
            "logs",
            "umask",
            "fat-serial",
            "iso-volume-dates",
        ],
        &[
            "/etc/machine-id",
            "/etc/nvme/hostid",
            "/var/log/dpkg.log",
            "/etc/motd",
            "/etc/issue › mode",
            "volume serial",
        ],
    );
}
