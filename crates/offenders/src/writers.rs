//! The build's own record of who wrote what: which overlay (`includes.chroot`,
//! `includes.binary`) or hook (`hooks/NAME`) wrote which path of the image or of the ISO
//! tree. The build writes it as `logs/writers`; `isoforge verify` hands build A's record to
//! the diff, whose report names the writer of a differing file next to the hints.
//!
//! The format is one line per (path, writer), in the order they wrote:
//!
//! ```text
//! # isoforge: which overlay or hook wrote which path
//! image includes.chroot /etc/motd
//! image hooks/10-stamp.hook.chroot /etc/stamp
//! iso includes.binary /README.txt
//! ```
//!
//! `TREE WRITER PATH`: the tree (`image` or `iso`), the writer (no spaces), the absolute path
//! (the rest of the line; `\` and newline written as `\\` and `\n`).

use std::collections::BTreeMap;

/// The record's name in a build's output directory.
pub const FILE: &str = "logs/writers";

/// Which tree a path is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tree {
    /// The live system's root file system (the squashfs).
    Image,
    /// The ISO 9660 tree.
    Iso,
}

impl Tree {
    fn as_str(self) -> &'static str {
        match self {
            Tree::Image => "image",
            Tree::Iso => "iso",
        }
    }
}

/// Paths and the writers that wrote them (several when one replaced another's file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writers {
    map: BTreeMap<(Tree, String), Vec<String>>,
    /// Lines in the order added, for [`Writers::render`].
    order: Vec<(Tree, String, String)>,
}

impl Writers {
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Records that `writer` wrote `path` (absolute, `/etc/x`; a relative one is made so).
    pub fn add(&mut self, tree: Tree, path: &str, writer: &str) {
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let ws = self.map.entry((tree, path.clone())).or_default();
        if !ws.iter().any(|w| w == writer) {
            ws.push(writer.to_string());
            self.order.push((tree, path, writer.to_string()));
        }
    }

    /// Who wrote `path` of `tree`, first writer first (empty: nobody recorded).
    pub fn of(&self, tree: Tree, path: &str) -> &[String] {
        let key = if path.starts_with('/') {
            (tree, path.to_string())
        } else {
            (tree, format!("/{path}"))
        };
        self.map.get(&key).map_or(&[], Vec::as_slice)
    }

    /// The record's text.
    pub fn render(&self) -> String {
        let mut s = String::from("# isoforge: which overlay or hook wrote which path\n");
        for (tree, path, writer) in &self.order {
            let path = path.replace('\\', "\\\\").replace('\n', "\\n");
            s.push_str(&format!("{} {writer} {path}\n", tree.as_str()));
        }
        s
    }

    /// Reads a record; an error names the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut w = Writers::default();
        for (i, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || format!("line {}: expected `image|iso WRITER /PATH`", i + 1);
            let mut parts = line.splitn(3, ' ');
            let tree = match parts.next() {
                Some("image") => Tree::Image,
                Some("iso") => Tree::Iso,
                _ => return Err(bad()),
            };
            let (Some(writer), Some(path)) = (parts.next(), parts.next()) else {
                return Err(bad());
            };
            if writer.is_empty() || !path.starts_with('/') {
                return Err(bad());
            }
            let mut out = String::with_capacity(path.len());
            let mut chars = path.chars();
            while let Some(c) = chars.next() {
                match (c, c == '\\') {
                    (_, true) => match chars.next() {
                        Some('n') => out.push('\n'),
                        Some('\\') => out.push('\\'),
                        _ => return Err(bad()),
                    },
                    (c, false) => out.push(c),
                }
            }
            w.add(tree, &out, writer);
        }
        Ok(w)
    }

    /// Reads `<output>/logs/writers`; a build without one (no overlay, no hook, or an older
    /// isoforge) has an empty record.
    pub fn load(output_dir: &std::path::Path) -> Result<Self, String> {
        let path = output_dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Self::parse(&String::from_utf8_lossy(&bytes))
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_strange_paths() {
        let mut w = Writers::default();
        w.add(Tree::Image, "/etc/motd", "includes.chroot");
        w.add(Tree::Image, "etc/motd", "hooks/10-a.hook.chroot");
        w.add(Tree::Image, "/etc/a b\nc\\d", "hooks/10-a.hook.chroot");
        w.add(Tree::Iso, "/etc/motd", "includes.binary");
        let text = w.render();
        let back = Writers::parse(&text).unwrap();
        assert_eq!(back, w);
        assert_eq!(
            back.of(Tree::Image, "/etc/motd"),
            ["includes.chroot", "hooks/10-a.hook.chroot"]
        );
        assert_eq!(
            back.of(Tree::Image, "/etc/a b\nc\\d"),
            ["hooks/10-a.hook.chroot"]
        );
        assert_eq!(back.of(Tree::Iso, "/etc/motd"), ["includes.binary"]);
        assert!(back.of(Tree::Iso, "/etc/other").is_empty());
        assert_eq!(
            Writers::parse("image x\n").unwrap_err(),
            "line 1: expected `image|iso WRITER /PATH`"
        );
    }
}
