//! Compressed streams: gzip, xz, zstd and lz4 frames: detection by magic, header layouts (a
//! gzip header records a modification time and often a file name), and streaming decoders.
//!
//! Decoders stream; [`decompress`] spools their output (memory while small, then an anonymous
//! temporary file) under a size limit, so that a decompression bomb ends with an error.

use std::io::{self, Read};

use crate::io::{Cursor, ReadAt, Source, read_exact_at, spool_within};
use crate::layout::{Decode, Field, Layout, Role, Structure};
use crate::{Context, Error, Limits, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Gzip,
    Xz,
    Zstd,
    Lz4,
    /// Recognised but not decoded: reported as such.
    Bzip2,
    Lzma,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip stream",
            Codec::Xz => "xz stream",
            Codec::Zstd => "zstd stream",
            Codec::Lz4 => "lz4 frame",
            Codec::Bzip2 => "bzip2 stream",
            Codec::Lzma => "lzma stream",
        }
    }
}

/// The codec whose magic starts `head`, if any.
pub fn detect(head: &[u8]) -> Option<Codec> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Codec::Gzip)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Codec::Xz)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Codec::Zstd)
    } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Some(Codec::Lz4)
    } else if head.len() >= 10 && head.starts_with(b"BZh") && &head[4..10] == b"1AY&SY" {
        Some(Codec::Bzip2)
    } else if head.len() >= 13 && head[0] == 0x5d && head[1..5] == [0, 0, 0x80, 0] {
        Some(Codec::Lzma)
    } else {
        None
    }
}

/// A streaming decoder for `codec` reading compressed bytes from `input`.
pub fn decoder<'a>(
    codec: Codec,
    input: impl Read + Send + 'a,
) -> Result<Box<dyn Read + Send + 'a>> {
    Ok(match codec {
        Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Codec::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(input)),
        Codec::Zstd => Box::new(
            zstd::stream::read::Decoder::new(input)
                .map_err(|e| Error::corrupt(format!("zstd stream: cannot start decoder: {e}")))?,
        ),
        Codec::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(input)),
        Codec::Bzip2 | Codec::Lzma => {
            return Err(Error::unsupported(format!(
                "{} is not supported by isoforge (it is compared as raw bytes)",
                codec.name()
            )));
        }
    })
}

/// Decompressed output of a whole stream, spooled under `limits.max_decompressed` and charged
/// to `limits.spool_budget`. When the stream is corrupt or followed by other data, whatever
/// was decoded is kept and the problem is returned as a note.
pub fn decompress(src: &Source, codec: Codec, limits: &Limits) -> Result<(Source, Option<String>)> {
    let mut dec = decoder(codec, Cursor::new(src.clone()))?;
    // Decode into a bounded spool; on a decoding error keep what came out before it.
    let mut tracked = Tracked {
        inner: &mut dec,
        error: None,
    };
    let out = spool_within(&mut tracked, limits.max_decompressed, &limits.spool_budget)
        .map_err(|e| Error::limit(format!("{}: {e}", codec.name())))?;
    let note = tracked.error.map(|e| {
        format!(
            "{}: decoding stopped after {} bytes: {e}",
            codec.name(),
            out.size()
        )
    });
    Ok((out, note))
}

/// Turns a read error into end-of-stream and remembers it.
struct Tracked<'a, R: ?Sized> {
    inner: &'a mut R,
    error: Option<io::Error>,
}

impl<R: Read + ?Sized> Read for Tracked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.error.is_some() {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.error = Some(e);
                Ok(0)
            }
        }
    }
}

/// The header and trailer fields of a compressed stream; the compressed payload is one span.
pub fn layout(src: &dyn ReadAt, codec: Codec) -> Result<Layout> {
    let size = src.size();
    let mut l = Layout::new();
    let mut head = vec![0u8; size.min(64 << 10) as usize];
    read_exact_at(src, 0, &mut head).ctx(|| format!("{} header", codec.name()))?;
    let body_start = match codec {
        Codec::Gzip => gzip_header(&head, &mut l)?,
        Codec::Xz if size >= 24 => {
            l.structure("xz stream header", 0, 12)
                .field("magic", 0, 6, Decode::Bytes, Role::Data)
                .field("stream flags", 6, 2, Decode::Hex16Le, Role::Flags)
                .field("header CRC32", 8, 4, Decode::Hex32Le, Role::Checksum);
            l.structure("xz stream footer", size - 12, 12)
                .field("footer CRC32", 0, 4, Decode::Hex32Le, Role::Checksum)
                .field("backward size", 4, 4, Decode::U32Le, Role::Size)
                .field("stream flags", 8, 2, Decode::Hex16Le, Role::Flags)
                .field("footer magic", 10, 2, Decode::Bytes, Role::Data);
            l.region(
                "xz blocks and index (compressed)",
                12,
                size - 24,
                Role::Compressed,
            );
            return Ok(l);
        }
        Codec::Zstd => zstd_header(&head, &mut l)?,
        Codec::Lz4 if head.len() >= 7 => {
            l.structure("lz4 frame header", 0, 7)
                .field("magic", 0, 4, Decode::Hex32Le, Role::Data)
                .field("frame descriptor flags", 4, 1, Decode::U8, Role::Flags)
                .field("block descriptor", 5, 1, Decode::U8, Role::Flags)
                .field("header checksum", 6, 1, Decode::U8, Role::Checksum);
            7
        }
        _ => 0,
    };
    let mut body_end = size;
    if codec == Codec::Gzip && size >= body_start + 8 {
        body_end = size - 8;
        l.structure("gzip trailer", body_end, 8)
            .field(
                "CRC-32 of uncompressed data",
                0,
                4,
                Decode::Hex32Le,
                Role::Checksum,
            )
            .field(
                "uncompressed size mod 2^32 (ISIZE)",
                4,
                4,
                Decode::U32Le,
                Role::Size,
            );
    }
    l.region(
        format!("{} compressed data", codec.name()),
        body_start,
        body_end.saturating_sub(body_start),
        Role::Compressed,
    );
    Ok(l)
}

fn gzip_header(h: &[u8], l: &mut Layout) -> Result<u64> {
    if h.len() < 10 {
        return Err(Error::corrupt("gzip header: shorter than 10 bytes"));
    }
    let flg = h[3];
    let mut pos = 10usize;
    let mut fields = vec![
        ("magic", 0u32, 2u32, Decode::Bytes, Role::Data),
        ("compression method", 2, 1, Decode::U8, Role::Data),
        ("flags (FLG)", 3, 1, Decode::U8, Role::Flags),
        (
            "modification time (MTIME)",
            4,
            4,
            Decode::UnixTime32Le,
            Role::Time,
        ),
        ("extra flags (XFL)", 8, 1, Decode::U8, Role::Flags),
        ("operating system (OS)", 9, 1, Decode::U8, Role::Data),
    ];
    let bad = || Error::corrupt("gzip header: optional fields run past the end of the stream");
    if flg & 4 != 0 {
        let xlen = u32::from(u16::from_le_bytes([
            *h.get(pos).ok_or_else(bad)?,
            *h.get(pos + 1).ok_or_else(bad)?,
        ]));
        fields.push((
            "extra field length (XLEN)",
            pos as u32,
            2,
            Decode::U16Le,
            Role::Size,
        ));
        fields.push((
            "extra field",
            pos as u32 + 2,
            xlen,
            Decode::Bytes,
            Role::Data,
        ));
        pos += 2 + xlen as usize;
    }
    for (flag, name) in [
        (8u8, "original file name (FNAME)"),
        (16, "comment (FCOMMENT)"),
    ] {
        if flg & flag != 0 {
            let rest = h.get(pos..).ok_or_else(bad)?;
            let n = memchr_zero(rest).ok_or_else(bad)?;
            fields.push((name, pos as u32, n as u32 + 1, Decode::Ascii, Role::Name));
            pos += n + 1;
        }
    }
    if flg & 2 != 0 {
        fields.push((
            "header CRC-16",
            pos as u32,
            2,
            Decode::Hex16Le,
            Role::Checksum,
        ));
        pos += 2;
    }
    if pos > h.len() {
        return Err(bad());
    }
    let mut s = l.structure("gzip header", 0, pos as u64);
    for (name, off, len, dec, role) in fields {
        s = s.field(name, off, len, dec, role);
    }
    Ok(pos as u64)
}

fn memchr_zero(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == 0)
}

fn zstd_header(h: &[u8], l: &mut Layout) -> Result<u64> {
    let bad = || Error::corrupt("zstd frame header: shorter than its descriptor says");
    let fhd = *h.get(4).ok_or_else(bad)?;
    let single = fhd & 0x20 != 0;
    let dict_len = [0u32, 1, 2, 4][(fhd & 3) as usize];
    let fcs_len = match fhd >> 6 {
        0 if single => 1,
        0 => 0,
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let field = |name: &'static str, offset, len, decode, role| Field {
        name: name.into(),
        offset,
        len,
        decode,
        role,
    };
    let mut fields = vec![
        field("magic", 0, 4, Decode::Hex32Le, Role::Data),
        field("frame header descriptor", 4, 1, Decode::U8, Role::Flags),
    ];
    let mut pos = 5u32;
    if !single {
        fields.push(field("window descriptor", pos, 1, Decode::U8, Role::Data));
        pos += 1;
    }
    if dict_len > 0 {
        fields.push(field(
            "dictionary id",
            pos,
            dict_len,
            Decode::Bytes,
            Role::Identifier,
        ));
        pos += dict_len;
    }
    if fcs_len > 0 {
        fields.push(field(
            "frame content size",
            pos,
            fcs_len,
            Decode::Bytes,
            Role::Size,
        ));
        pos += fcs_len;
    }
    if pos as usize > h.len() {
        return Err(bad());
    }
    l.push(Structure::with_fields(
        "zstd frame header",
        0,
        u64::from(pos),
        fields,
    ));
    Ok(u64::from(pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max_decompressed: u64) -> Limits {
        Limits {
            max_decompressed,
            ..Limits::default()
        }
    }
    use crate::io::MemSource;
    use std::io::Write;
    use std::sync::Arc;

    #[test]
    fn gzip_roundtrip_and_header_layout() {
        let mut enc = flate2::GzBuilder::new()
            .mtime(1_764_000_000)
            .filename("hello.txt")
            .write(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello hello hello").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(detect(&gz), Some(Codec::Gzip));
        let src: Source = Arc::new(MemSource(gz));
        let (out, note) = decompress(&src, Codec::Gzip, &limit(1 << 20)).unwrap();
        assert!(note.is_none());
        let mut buf = vec![0; out.size() as usize];
        read_exact_at(&*out, 0, &mut buf).unwrap();
        assert_eq!(buf, b"hello hello hello");
        let l = layout(&*src, Codec::Gzip).unwrap();
        let h = &l.structures[0];
        let mtime = h.fields.iter().find(|f| f.name.contains("MTIME")).unwrap();
        let mut b = [0u8; 4];
        read_exact_at(&*src, mtime.offset as u64, &mut b).unwrap();
        assert_eq!(
            mtime.decode.decode(&b).to_string(),
            "2025-11-24 16:00:00 UTC"
        );
        assert!(h.fields.iter().any(|f| f.name.contains("FNAME")));
    }

    #[test]
    fn bomb_is_stopped_by_limit() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; 4 << 20]).unwrap();
        let src: Source = Arc::new(MemSource(enc.finish().unwrap()));
        let Err(e) = decompress(&src, Codec::Gzip, &limit(1 << 20)) else {
            panic!("a bomb must be stopped")
        };
        assert!(e.message.contains("limit"), "{e}");
    }

    #[test]
    fn truncated_stream_keeps_partial_output() {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.write_all(
            &(0..200_000u32)
                .flat_map(|i| i.to_le_bytes())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let mut z = enc.finish().unwrap();
        z.truncate(z.len() / 2);
        let src: Source = Arc::new(MemSource(z));
        let (_, note) = decompress(&src, Codec::Zstd, &limit(1 << 30)).unwrap();
        assert!(note.unwrap().contains("decoding stopped"));
    }
}
