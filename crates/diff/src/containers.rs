//! Adapters from the format parsers to one shape the engine compares: members, a layout of the
//! container's own bytes, derived streams (decompressed tables and payloads) and notes.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use isoforge_formats::io::{FileSource, Source};
use isoforge_formats::layout::component;
use isoforge_formats::{
    Content, Entry, EntryKind, Error as FormatError, Format, Layout, Limits, Meta, Role, Timestamp,
    Value, ar, compress, cpio, fat, iso9660, squashfs, tar,
};

/// A stream derived from a container: a decompressed metadata table with a known layout, or a
/// decompressed payload whose format is detected again.
pub enum Derived {
    Table {
        name: String,
        data: Source,
        layout: Layout,
    },
    Stream {
        name: String,
        data: Source,
    },
}

impl Derived {
    pub fn name(&self) -> &str {
        match self {
            Derived::Table { name, .. } | Derived::Stream { name, .. } => name,
        }
    }
}

/// How to read a member's content.
#[derive(Clone)]
pub enum Opener {
    /// `Content::Extents` of the container's own bytes.
    Window,
    Squashfs(squashfs::DataReader),
    /// Files on disk, by entry index.
    Dir(Arc<Vec<PathBuf>>),
}

pub struct Parsed {
    pub kind: String,
    pub entries: Vec<Entry>,
    pub layout: Layout,
    pub derived: Vec<Derived>,
    pub notes: Vec<String>,
    /// Member order is chosen by whoever built the container (tar, cpio, ar, FAT).
    pub ordered: bool,
    pub opener: Opener,
}

impl Parsed {
    fn new(
        kind: impl Into<String>,
        entries: Vec<Entry>,
        layout: Layout,
        notes: Vec<String>,
        ordered: bool,
    ) -> Self {
        Self {
            kind: kind.into(),
            entries,
            layout,
            derived: Vec::new(),
            notes,
            ordered,
            opener: Opener::Window,
        }
    }
}

/// Whether the engine descends into this format.
pub fn is_container(f: Format) -> bool {
    !matches!(f, Format::Unknown)
}

pub fn parse(format: Format, src: &Source, limits: &Limits) -> Result<Parsed, FormatError> {
    let mut p = parse_format(format, src, limits)?;
    p.layout.shrink_to_fit();
    p.entries.shrink_to_fit();
    for d in &mut p.derived {
        if let Derived::Table { layout, .. } = d {
            layout.shrink_to_fit();
        }
    }
    Ok(p)
}

fn parse_format(format: Format, src: &Source, limits: &Limits) -> Result<Parsed, FormatError> {
    Ok(match format {
        Format::Iso9660 => {
            let i = iso9660::parse(&**src, limits)?;
            Parsed::new("ISO 9660 image", i.entries, i.layout, i.notes, false)
        }
        Format::Squashfs => {
            let mut i = squashfs::parse(&**src, limits)?;
            let kind = format!(
                "squashfs image ({}, {} KiB blocks)",
                i.compression.name(),
                i.block_size / 1024
            );
            let opener = Opener::Squashfs(i.data_reader(src.clone()));
            let tables = std::mem::take(&mut i.tables);
            let mut p = Parsed::new(kind, i.entries, i.layout, i.notes, false);
            p.opener = opener;
            p.derived = tables
                .into_iter()
                .map(|t| Derived::Table {
                    name: t.name,
                    data: Arc::new(t.data) as Source,
                    layout: t.layout,
                })
                .collect();
            p
        }
        Format::Fat => {
            let f = fat::parse(&**src, limits)?;
            let kind = match f.kind {
                fat::FatType::Fat12 => "FAT12 file system",
                fat::FatType::Fat16 => "FAT16 file system",
                fat::FatType::Fat32 => "FAT32 file system",
            };
            Parsed::new(kind, f.entries, f.layout, f.notes, true)
        }
        Format::Cpio => {
            let c = cpio::parse(&**src, limits)?;
            let segments = c
                .entries
                .iter()
                .filter(|e| e.path.starts_with("/[compressed segment"))
                .count();
            let kind = if c.archives > 1 || segments > 0 {
                format!(
                    "initramfs ({} cpio archive(s), {segments} compressed segment(s))",
                    c.archives
                )
            } else {
                "cpio archive".into()
            };
            Parsed::new(kind, c.entries, c.layout, c.notes, true)
        }
        Format::Tar => {
            let t = tar::parse(&**src, limits)?;
            Parsed::new("tar archive", t.entries, t.layout, t.notes, true)
        }
        Format::Ar => {
            let a = ar::parse(&**src, limits)?;
            let deb = a
                .entries
                .first()
                .is_some_and(|e| e.path == "/debian-binary");
            Parsed::new(
                if deb {
                    "Debian package (ar archive)"
                } else {
                    "ar archive"
                },
                a.entries,
                a.layout,
                a.notes,
                true,
            )
        }
        Format::Compressed(codec) => {
            let layout = compress::layout(&**src, codec)?;
            let (data, note) = compress::decompress(src, codec, limits)?;
            let mut p = Parsed::new(
                codec.name(),
                Vec::new(),
                layout,
                note.into_iter().collect(),
                false,
            );
            p.derived.push(Derived::Stream {
                name: "[decompressed]".into(),
                data,
            });
            p
        }
        Format::Unknown => return Err(FormatError::unsupported("not a container")),
    })
}

/// Members of a directory tree, without following symbolic links.
pub fn directory(root: &Path, limits: &Limits) -> std::io::Result<Parsed> {
    use std::os::unix::fs::MetadataExt;
    let mut entries = Vec::new();
    let mut paths = Vec::new();
    let mut notes = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<Vec<_>, _>>()?;
        names.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for e in names {
            if entries.len() >= limits.max_entries {
                notes.push(format!(
                    "stopped after {} entries (limit)",
                    limits.max_entries
                ));
                break;
            }
            let name = component(e.file_name().as_encoded_bytes());
            let path = format!("{rel}/{name}");
            let md = std::fs::symlink_metadata(e.path())?;
            let kind = EntryKind::from_mode(md.mode());
            let mut meta = vec![
                Meta::new("mode", Value::Mode(md.mode()), Role::Mode),
                Meta::new("uid", Value::Int(u64::from(md.uid())), Role::Owner),
                Meta::new("gid", Value::Int(u64::from(md.gid())), Role::Owner),
                Meta::new(
                    "mtime",
                    Value::Time(Timestamp {
                        unix: md.mtime(),
                        nanos: Some(md.mtime_nsec() as u32),
                        utc_offset_min: None,
                    }),
                    Role::Time,
                ),
            ];
            if kind == EntryKind::Symlink {
                let t = std::fs::read_link(e.path())?;
                meta.push(Meta::new(
                    "symlink target",
                    Value::Text(component(t.as_os_str().as_encoded_bytes()).replace("\\x2f", "/")),
                    Role::Name,
                ));
            }
            if kind == EntryKind::Dir {
                if depth < limits.max_depth {
                    subdirs.push((e.path(), path.clone(), depth + 1));
                } else {
                    notes.push(format!("{path} is nested deeper than {}", limits.max_depth));
                }
            }
            let size = if kind == EntryKind::File { md.len() } else { 0 };
            entries.push(Entry {
                path,
                kind,
                size,
                meta,
                content: Content::None,
            });
            paths.push(e.path());
        }
        stack.extend(subdirs.into_iter().rev());
    }
    let mut p = Parsed::new("directory", entries, Layout::new(), notes, false);
    p.opener = Opener::Dir(Arc::new(paths));
    Ok(p)
}

/// Opens the content of member `index`, if it has any.
pub fn open(
    opener: &Opener,
    container: &Source,
    entries: &[Entry],
    index: usize,
) -> Result<Option<Source>, FormatError> {
    let e = &entries[index];
    Ok(match (&e.content, opener) {
        (Content::Extents(x), _) => Some(Arc::new(isoforge_formats::io::Window::new(
            container.clone(),
            x,
        ))),
        (Content::Squashfs(d), Opener::Squashfs(r)) => Some(r.open(d)?),
        (Content::None, Opener::Dir(paths)) if e.kind == EntryKind::File => {
            let p = &paths[index];
            Some(Arc::new(FileSource::open(p).map_err(|err| {
                FormatError::new(
                    isoforge_formats::ErrorKind::Io,
                    format!("{}: {err}", p.display()),
                )
            })?))
        }
        _ => None,
    })
}
