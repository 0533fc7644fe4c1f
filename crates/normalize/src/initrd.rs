//! The initrd: concatenated cpio archives (newc `070701` or crc `070702`), uncompressed (early
//! microcode) or in a gzip, xz or zstd stream. Rewritten deterministically: segments and
//! archives keep their order; inside an archive the entries are sorted by name, mtimes later
//! than the epoch are clamped, inode numbers are renumbered from 0 in that order (hard links
//! keep sharing one, held back to their group's last link which carries the data, exactly as
//! GNU `cpio --reproducible -H newc` writes sorted input) and device numbers of the
//! archive's own file system are zeroed; each archive is padded to 512 bytes; a
//! compressed segment is compressed again by the same compressor's real tool at a fixed level
//! (`gzip -n -6`, `xz -6` with the input's check type, `zstd -9`).
//!
//! When every archive is already in that form (as `find | sort | cpio --reproducible` with
//! SOURCE_DATE_EPOCH writes it) and no gzip header records a time or a name, the file is kept
//! byte for byte. Decompression is bounded: more than the limit is an error naming it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use isoforge_exec::{Runner, Stage};
use isoforge_formats::Limits;
use isoforge_formats::compress::{self, Codec};
use isoforge_formats::io::{FileSource, ReadAt, Source, SpoolBudget, Window, read_exact_at};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Error;

/// Entries accepted in one initrd, the longest name, and all names together (what is held in
/// memory).
const MAX_ENTRIES: usize = 1_000_000;
const MAX_NAME: usize = 4096;
const MAX_NAME_BYTES: usize = 256 << 20;

/// What one initrd may still hold in memory: entries and name bytes.
struct Budget {
    entries: usize,
    names: usize,
}
const HEADER: u64 = 110;
const TRAILER: &[u8] = b"TRAILER!!!";
/// Each archive is padded to a multiple of this (GNU cpio's block).
const BLOCK: u64 = 512;

/// What was done to one initrd.
#[derive(Debug, Clone, Serialize)]
pub struct InitrdReport {
    /// Where it is (`/live/initrd.img`, or `rootfs:/boot/initrd.img-…`).
    pub path: String,
    /// `rewritten` or `kept`.
    pub outcome: String,
    pub reason: String,
    pub segments: Vec<SegmentReport>,
}

/// One segment: an uncompressed archive, or a compressed stream of archives.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SegmentReport {
    pub offset: u64,
    /// `cpio` or the compressor (`gzip`, `xz`, `zstd`).
    pub kind: String,
    pub archives: usize,
    pub entries: usize,
    /// Entries whose position changed when sorted.
    pub moved: usize,
    pub mtimes_clamped: usize,
    pub inodes_renumbered: usize,
    pub compressor: Option<String>,
}

/// A cpio member as read.
struct Member {
    magic: [u8; 6],
    /// ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
    /// namesize, check.
    f: [u32; 13],
    name: Vec<u8>,
    data: u64,
}

const INO: usize = 0;
const MODE: usize = 1;
const NLINK: usize = 4;
const MTIME: usize = 5;
const SIZE: usize = 6;
const DEVMAJ: usize = 7;
const DEVMIN: usize = 8;
const NAMESIZE: usize = 11;

struct Archive {
    members: Vec<Member>,
    start: u64,
    /// After the trailer's header and name, 4-aligned.
    end: u64,
}

fn align4(n: u64) -> u64 {
    n.div_ceil(4) * 4
}

fn hex_field(b: &[u8]) -> Option<u32> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
}

/// One archive starting at `start` (which holds a cpio magic).
fn parse_archive(src: &dyn ReadAt, start: u64, budget: &mut Budget) -> Result<Archive, String> {
    let size = src.size();
    let mut pos = start;
    let mut members = Vec::new();
    loop {
        if pos + HEADER > size {
            return Err(format!(
                "cpio archive at offset {start}: truncated header at offset {pos} (no TRAILER!!!)"
            ));
        }
        let mut h = [0u8; HEADER as usize];
        read_exact_at(src, pos, &mut h).map_err(|e| format!("offset {pos}: {e}"))?;
        if &h[..6] != b"070701" && &h[..6] != b"070702" {
            return Err(format!(
                "offset {pos}: not a newc cpio header ({:?})",
                String::from_utf8_lossy(&h[..6])
            ));
        }
        let mut f = [0u32; 13];
        for (i, v) in f.iter_mut().enumerate() {
            *v = hex_field(&h[6 + 8 * i..14 + 8 * i])
                .ok_or_else(|| format!("offset {pos}: header field {i} is not hex"))?;
        }
        let ns = f[NAMESIZE] as usize;
        if ns == 0 || ns > MAX_NAME {
            return Err(format!("offset {pos}: name size {ns} (at most {MAX_NAME})"));
        }
        if pos + HEADER + ns as u64 > size {
            return Err(format!("offset {pos}: the name runs past the end"));
        }
        let mut name = vec![0u8; ns];
        read_exact_at(src, pos + HEADER, &mut name).map_err(|e| format!("offset {pos}: {e}"))?;
        if name.pop() != Some(0) || name.contains(&0) {
            return Err(format!("offset {pos}: the name is not NUL-terminated"));
        }
        let data = align4(pos + HEADER + ns as u64);
        let end = data + u64::from(f[SIZE]);
        if end > size {
            return Err(format!(
                "offset {pos}: {} ({} bytes) runs past the end",
                String::from_utf8_lossy(&name),
                f[SIZE]
            ));
        }
        pos = align4(end);
        if name == TRAILER {
            return Ok(Archive {
                members,
                start,
                end: pos,
            });
        }
        if budget.entries == 0 || budget.names < name.len() {
            return Err(format!(
                "more than {MAX_ENTRIES} entries or {MAX_NAME_BYTES} bytes of names"
            ));
        }
        budget.entries -= 1;
        budget.names -= name.len();
        let mut magic = [0u8; 6];
        magic.copy_from_slice(&h[..6]);
        members.push(Member {
            magic,
            f,
            name,
            data,
        });
    }
}

/// Writes and hashes at once, counting bytes.
struct Out<'a> {
    w: &'a mut dyn Write,
    hash: Sha256,
    n: u64,
}

impl Write for Out<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.w.write(b)?;
        self.hash.update(&b[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

fn header(w: &mut impl Write, magic: &[u8; 6], f: &[u32; 13], name: &[u8]) -> io::Result<()> {
    let mut h = Vec::with_capacity(HEADER as usize + name.len() + 4);
    h.extend_from_slice(magic);
    for v in f {
        h.extend_from_slice(format!("{v:08X}").as_bytes());
    }
    h.extend_from_slice(name);
    h.push(0);
    while h.len() % 4 != 0 {
        h.push(0);
    }
    w.write_all(&h)
}

fn copy_range(src: &dyn ReadAt, at: u64, len: u64, w: &mut impl Write) -> io::Result<()> {
    let mut buf = vec![0u8; (256 << 10).min(len as usize).max(1)];
    let mut done = 0u64;
    while done < len {
        let n = buf.len().min((len - done) as usize);
        read_exact_at(src, at + done, &mut buf[..n])?;
        w.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

fn sha_range(src: &dyn ReadAt, at: u64, len: u64) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; (256 << 10).min(len as usize).max(1)];
    let mut done = 0u64;
    while done < len {
        let n = buf.len().min((len - done) as usize);
        read_exact_at(src, at + done, &mut buf[..n])?;
        h.update(&buf[..n]);
        done += n as u64;
    }
    Ok(h.finalize().into())
}

/// Writes `a` in canonical form to `w`; returns how many bytes, and whether the original
/// bytes were already exactly those.
fn write_canonical(
    src: &dyn ReadAt,
    a: &Archive,
    epoch: i64,
    w: &mut dyn Write,
    seg: &mut SegmentReport,
) -> io::Result<(u64, bool)> {
    let mut out = Out {
        w,
        hash: Sha256::new(),
        n: 0,
    };
    let mut order: Vec<usize> = (0..a.members.len()).collect();
    order.sort_by(|&x, &y| a.members[x].name.cmp(&a.members[y].name));
    // Hard link groups: (dev, ino) of regular files with more than one link.
    type Key = (u32, u32, u32);
    let key = |m: &Member| -> Key { (m.f[DEVMAJ], m.f[DEVMIN], m.f[INO]) };
    let linked = |m: &Member| m.f[NLINK] > 1 && m.f[MODE] & 0o170000 == 0o100000;
    // Inode numbers from 0 in name order, one per group (GNU cpio's --renumber-inodes).
    let mut numbers: HashMap<Key, u32> = HashMap::new();
    let mut group_data: HashMap<Key, (u64, u32)> = HashMap::new();
    let mut ino = vec![0u32; a.members.len()];
    let mut next = 0u32;
    for &i in &order {
        let m = &a.members[i];
        ino[i] = if linked(m) {
            if m.f[SIZE] > 0 {
                group_data.entry(key(m)).or_insert((m.data, m.f[SIZE]));
            }
            *numbers.entry(key(m)).or_insert_with(|| {
                next += 1;
                next - 1
            })
        } else {
            next += 1;
            next - 1
        };
    }
    // The order GNU cpio writes (newc): a hard link is held back until the group's last link
    // comes, then the held ones (latest first, empty) and the last with the data; groups
    // whose other links are not in the archive come at the end, latest first, the data on
    // each group's last one written.
    let mut emit: Vec<(usize, bool)> = Vec::with_capacity(order.len());
    let mut held: Vec<usize> = Vec::new();
    let mut held_of: HashMap<Key, usize> = HashMap::new();
    for &i in &order {
        let m = &a.members[i];
        if !linked(m) {
            emit.push((i, true));
            continue;
        }
        let k = key(m);
        let seen = held_of.get(&k).copied().unwrap_or(0);
        if seen + 1 == m.f[NLINK] as usize {
            let group: Vec<usize> = held
                .iter()
                .rev()
                .copied()
                .filter(|&j| key(&a.members[j]) == k)
                .collect();
            held.retain(|&j| key(&a.members[j]) != k);
            held_of.remove(&k);
            emit.extend(group.into_iter().map(|j| (j, false)));
            emit.push((i, true));
        } else {
            held.push(i);
            *held_of.entry(k).or_insert(0) += 1;
        }
    }
    for &j in held.iter().rev() {
        let k = key(&a.members[j]);
        let left = held_of.get_mut(&k).expect("counted when held");
        *left -= 1;
        emit.push((j, *left == 0));
    }
    seg.moved += emit.iter().enumerate().filter(|(p, (i, _))| p != i).count();
    seg.entries += emit.len();
    for (i, with_data) in emit {
        let m = &a.members[i];
        let mut f = m.f;
        if f[INO] != ino[i] {
            seg.inodes_renumbered += 1;
        }
        f[INO] = ino[i];
        f[DEVMAJ] = 0;
        f[DEVMIN] = 0;
        if i64::from(f[MTIME]) > epoch {
            f[MTIME] = u32::try_from(epoch).unwrap_or(u32::MAX);
            seg.mtimes_clamped += 1;
        }
        let (data, size) = match (linked(m), with_data) {
            (false, _) => (m.data, m.f[SIZE]),
            (true, true) => group_data.get(&key(m)).copied().unwrap_or((0, 0)),
            (true, false) => (0, 0),
        };
        f[SIZE] = size;
        f[NAMESIZE] = m.name.len() as u32 + 1;
        header(&mut out, &m.magic, &f, &m.name)?;
        copy_range(src, data, u64::from(size), &mut out)?;
        let pad = (align4(u64::from(size)) - u64::from(size)) as usize;
        out.write_all(&[0u8; 4][..pad])?;
    }
    let magic = a.members.first().map(|m| m.magic).unwrap_or(*b"070701");
    let mut f = [0u32; 13];
    f[NLINK] = 1;
    f[NAMESIZE] = TRAILER.len() as u32 + 1;
    header(&mut out, &magic, &f, TRAILER)?;
    let len = out.n;
    let padded = len.div_ceil(BLOCK) * BLOCK;
    out.write_all(&vec![0u8; (padded - len) as usize])?;
    let mine: [u8; 32] = out.hash.finalize().into();
    // The original over the same length, byte for byte (its own padding included).
    let same = a.start + padded <= src.size() && sha_range(src, a.start, padded)? == mine;
    Ok((padded, same))
}

/// Rewrites the initrd at `path` (a regular file of the work tree, shown as `shown`) in place
/// unless it is already deterministic. `scratch` holds temporary files; `limit` bounds every
/// decompressed stream.
pub fn normalize(
    runner: &Runner,
    stage: &Stage,
    path: &Path,
    shown: &str,
    scratch: &Path,
    epoch: i64,
    limit: u64,
) -> Result<InitrdReport, Error> {
    let bad = |m: String| Error::Invalid(format!("initrd {shown}: {m}"));
    let io = |what: &str| {
        let what = format!("initrd {shown}: {what}");
        move |e: io::Error| Error::Invalid(format!("{what}: {e}"))
    };
    let src: Source = Arc::new(FileSource::open(path).map_err(io("cannot open"))?);
    let size = src.size();
    let new_path = scratch.join("initrd.new");
    let mut out = BufWriter::new(File::create(&new_path).map_err(io("cannot create a work file"))?);
    let mut report = InitrdReport {
        path: shown.to_string(),
        outcome: String::new(),
        reason: String::new(),
        segments: Vec::new(),
    };
    let mut entries = Budget {
        entries: MAX_ENTRIES,
        names: MAX_NAME_BYTES,
    };
    let mut canonical = true;
    let mut canonical_len = 0u64;
    let mut pos = skip_zeros(&*src, 0).map_err(io("cannot read"))?;
    canonical &= pos == 0;
    while pos < size {
        let mut head = [0u8; 16];
        let n = (size - pos).min(16) as usize;
        read_exact_at(&*src, pos, &mut head[..n]).map_err(io("cannot read"))?;
        if head[..n].starts_with(b"07070") {
            let a = parse_archive(&*src, pos, &mut entries).map_err(bad)?;
            let mut seg = SegmentReport {
                offset: pos,
                kind: "cpio".into(),
                archives: 1,
                ..Default::default()
            };
            let (len, same) = write_canonical(&*src, &a, epoch, &mut out, &mut seg)
                .map_err(io("cannot write"))?;
            canonical &= same;
            canonical_len += len;
            report.segments.push(seg);
            pos = skip_zeros(&*src, a.end).map_err(io("cannot read"))?;
            continue;
        }
        let codec = compress::detect(&head[..n])
            .filter(|c| matches!(c, Codec::Gzip | Codec::Xz | Codec::Zstd));
        let Some(codec) = codec else {
            // Not something this rewrites (lz4 legacy, bzip2, lzma, or garbage): keep it all.
            drop(out);
            let _ = std::fs::remove_file(&new_path);
            report.outcome = "kept".into();
            report.reason = format!(
                "offset {pos} holds neither a cpio archive nor a gzip, xz or zstd stream \
                 (magic {}): kept byte for byte, NOT normalized",
                head[..n.min(6)]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            );
            return Ok(report);
        };
        let (tool, level) = match codec {
            Codec::Gzip => ("gzip", "-6"),
            Codec::Xz => ("xz", "-6"),
            _ => ("zstd", "-9"),
        };
        let mut seg = SegmentReport {
            offset: pos,
            kind: tool.into(),
            ..Default::default()
        };
        let rest = std::iter::once(pos..size).collect::<Vec<_>>();
        let window: Source = Arc::new(Window::new(src.clone(), &rest));
        let limits = Limits {
            max_decompressed: limit,
            spool_budget: SpoolBudget::new(limit),
            ..Limits::default()
        };
        let (dec, note) = compress::decompress(&window, codec, &limits).map_err(|e| {
            bad(format!(
                "the {tool} stream at offset {pos}: {e} (the limit is {limit} bytes \
                 decompressed; raise it with --max-unpacked if this initrd is genuine)"
            ))
        })?;
        if let Some(note) = note {
            return Err(bad(format!("the stream at offset {pos}: {note}")));
        }
        let mut seg_same = gzip_header_clean(codec, &head[..n]);
        let cpio_path = scratch.join("segment.cpio");
        let mut cpio = BufWriter::new(File::create(&cpio_path).map_err(io("cannot create"))?);
        let mut dpos = skip_zeros(&*dec, 0).map_err(io("cannot read"))?;
        seg_same &= dpos == 0;
        let mut dlen = 0u64;
        while dpos < dec.size() {
            let a = parse_archive(&*dec, dpos, &mut entries)
                .map_err(|m| bad(format!("inside the {tool} stream at offset {pos}: {m}")))?;
            let (len, same) = write_canonical(&*dec, &a, epoch, &mut cpio, &mut seg)
                .map_err(io("cannot write"))?;
            seg.archives += 1;
            seg_same &= same;
            dlen += len;
            dpos = skip_zeros(&*dec, a.end).map_err(io("cannot read"))?;
        }
        seg_same &= dlen == dec.size();
        cpio.flush().map_err(io("cannot write"))?;
        drop(cpio);
        if seg_same {
            // Already deterministic inside: the original compressed bytes stay.
            copy_range(&*src, pos, size - pos, &mut out).map_err(io("cannot write"))?;
        } else {
            let packed = compress_with(runner, stage, codec, level, &head[..n], &cpio_path)?;
            let mut f = File::open(&packed).map_err(io("cannot read the compressed segment"))?;
            io::copy(&mut f, &mut out).map_err(io("cannot write"))?;
            let _ = std::fs::remove_file(&packed);
            seg.compressor = Some(format!("{tool} {level}"));
        }
        let _ = std::fs::remove_file(&cpio_path);
        canonical &= seg_same;
        canonical_len += size - pos;
        report.segments.push(seg);
        pos = size;
    }
    out.flush().map_err(io("cannot write"))?;
    drop(out);
    if canonical && canonical_len == size {
        let _ = std::fs::remove_file(&new_path);
        report.outcome = "kept".into();
        report.reason = "already deterministic (entries sorted, times clamped, inodes numbered \
                         in order, no gzip time or name): kept byte for byte"
            .into();
    } else {
        std::fs::rename(&new_path, path).map_err(io("cannot replace"))?;
        report.outcome = "rewritten".into();
        report.reason = "entries sorted, mtimes clamped, inodes renumbered, segments kept in \
                         order; compressed segments recompressed at a fixed level"
            .into();
    }
    Ok(report)
}

/// The first offset at or after `at` that is not a zero byte (or the end).
fn skip_zeros(src: &dyn ReadAt, mut at: u64) -> io::Result<u64> {
    let size = src.size();
    let mut buf = [0u8; 4096];
    while at < size {
        let n = (size - at).min(buf.len() as u64) as usize;
        read_exact_at(src, at, &mut buf[..n])?;
        match buf[..n].iter().position(|&b| b != 0) {
            Some(i) => return Ok(at + i as u64),
            None => at += n as u64,
        }
    }
    Ok(size)
}

/// A gzip header that records no time and no file name (`gzip -n`).
fn gzip_header_clean(codec: Codec, head: &[u8]) -> bool {
    codec != Codec::Gzip || (head.len() >= 8 && head[3] & 0x08 == 0 && head[4..8] == [0; 4])
}

/// Compresses `file` with the real tool; returns the compressed file's path.
fn compress_with(
    runner: &Runner,
    stage: &Stage,
    codec: Codec,
    level: &str,
    head: &[u8],
    file: &Path,
) -> Result<PathBuf, Error> {
    let mut name = file.as_os_str().to_owned();
    let cmd = match codec {
        Codec::Gzip => {
            name.push(".gz");
            let mut c = runner.command("gzip");
            c.args(["-n", level, "-k", "-f"]).arg(file);
            c
        }
        Codec::Xz => {
            name.push(".xz");
            // The kernel checks what the stream says: keep its check type (crc32 for initrds).
            let check = match head.get(7).copied().unwrap_or(1) & 0x0f {
                0x00 => "none",
                0x04 => "crc64",
                0x0a => "sha256",
                _ => "crc32",
            };
            let mut c = runner.command("xz");
            c.args([level, "-T1", "-k", "-f"])
                .arg(format!("--check={check}"))
                .arg(file);
            c
        }
        _ => {
            name.push(".zst");
            let mut c = runner.command("zstd");
            c.args(["-q", level, "-T1", "-k", "-f"])
                .arg(file)
                .arg("-o")
                .arg(&name);
            c
        }
    };
    runner.run(stage, "initrd-compress", cmd)?;
    Ok(PathBuf::from(name))
}
