//! A YAML document as a small tree of nodes that remember where they start in the file, built
//! from saphyr's marked nodes, plus the look-ups that turn a needle inside a scalar (a volume in
//! an `options:` string, an expression in a `run:` block) into its own line and column.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use crate::Error;

/// A file larger than this is not a workflow or a runner config (and is not parsed).
pub const MAX_BYTES: usize = 1 << 20;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    /// Any scalar, as its text (`true`, `3`, `a string`).
    Scalar(String),
    Seq(Vec<Node>),
    /// Keys in file order.
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    /// Character offsets of the node in the file (end exclusive).
    pub start: usize,
    pub end: usize,
    pub value: Value,
}

impl Node {
    pub fn str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node of `key` in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub fn map(&self) -> &[(Node, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn seq(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// A scalar or a sequence of scalars, as strings (`runs-on: x` or `runs-on: [x, y]`).
    pub fn strings(&self) -> Vec<&Node> {
        match &self.value {
            Value::Scalar(_) => vec![self],
            Value::Seq(items) => items.iter().filter(|n| n.str().is_some()).collect(),
            _ => Vec::new(),
        }
    }
}

/// A parsed file: its text (for positions of needles and trailing comments) and its root.
pub struct Doc {
    pub text: String,
    /// Byte offset of each character, plus one past the end.
    char_bytes: Vec<usize>,
    pub root: Node,
}

impl Doc {
    pub fn load(path: &Path) -> Result<Doc, Error> {
        let read = |message: String| Error::Read {
            path: path.to_path_buf(),
            message,
        };
        // Opened without blocking (a FIFO planted in place of the file must not hang the
        // linter), then checked to be a regular file, then read to at most the limit.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| read(e.to_string()))?;
        let meta = file.metadata().map_err(|e| read(e.to_string()))?;
        if !meta.is_file() {
            return Err(read("not a regular file".into()));
        }
        let mut bytes = Vec::new();
        file.take(MAX_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| read(e.to_string()))?;
        if bytes.len() > MAX_BYTES {
            return Err(read(format!(
                "larger than the {MAX_BYTES}-byte limit for a workflow or runner config"
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| read(format!("not UTF-8: {e}")))?;
        Doc::parse(path, text)
    }

    pub fn parse(path: &Path, text: String) -> Result<Doc, Error> {
        let invalid = |pos: Pos, message: String| Error::Yaml {
            path: path.to_path_buf(),
            line: pos.line,
            column: pos.column,
            message,
        };
        if text.len() > MAX_BYTES {
            return Err(invalid(
                Pos { line: 1, column: 1 },
                format!("larger than the {MAX_BYTES}-byte limit"),
            ));
        }
        let docs = MarkedYaml::load_from_str(&text).map_err(|e| {
            let m = e.marker();
            invalid(
                Pos {
                    line: m.line(),
                    column: m.col() + 1,
                },
                e.info().to_string(),
            )
        })?;
        let root = match docs.as_slice() {
            [] => Node {
                pos: Pos { line: 1, column: 1 },
                start: 0,
                end: 0,
                value: Value::Null,
            },
            [one] => convert(one),
            [_, second, ..] => {
                let pos = Pos {
                    line: second.span.start.line(),
                    column: second.span.start.col() + 1,
                };
                return Err(invalid(
                    pos,
                    "a second YAML document; keep one per file".into(),
                ));
            }
        };
        let mut char_bytes: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        char_bytes.push(text.len());
        Ok(Doc {
            text,
            char_bytes,
            root,
        })
    }

    fn byte(&self, char_index: usize) -> usize {
        self.char_bytes
            .get(char_index)
            .copied()
            .unwrap_or(self.text.len())
    }

    /// Where `needle` first occurs within `node`'s own text, or the node's start. Escapes in
    /// double-quoted scalars can hide a needle; the node's start is then the best answer.
    pub fn find(&self, node: &Node, needle: &str) -> Pos {
        self.find_from(node, needle, 0).map_or(node.pos, |(p, _)| p)
    }

    /// Like [`Doc::find`], from a byte offset into the node's text; also returns the byte
    /// offset after the match, for the next search.
    pub fn find_from(&self, node: &Node, needle: &str, from: usize) -> Option<(Pos, usize)> {
        let (start, end) = (self.byte(node.start), self.byte(node.end.max(node.start)));
        let hay = self.text.get(start..end)?;
        let at = from + hay.get(from..)?.find(needle)?;
        let before = &hay[..at];
        let pos = match before.rfind('\n') {
            None => Pos {
                line: node.pos.line,
                column: node.pos.column + before.chars().count(),
            },
            Some(nl) => Pos {
                line: node.pos.line + before.matches('\n').count(),
                column: before[nl + 1..].chars().count() + 1,
            },
        };
        Some((pos, at + needle.len()))
    }

    /// The comment on the line where `node` starts (`uses: x@sha # v3.1.3` gives `v3.1.3`).
    /// A YAML comment is a `#` after white space; saphyr's span of a quoted scalar runs to
    /// the end of the line, so the line is searched from the node's start instead.
    pub fn trailing_comment(&self, node: &Node) -> Option<&str> {
        let start = self.byte(node.start);
        let line = self.text.get(start..)?.split('\n').next()?;
        let hash = line.find(" #").or_else(|| line.find("\t#"))?;
        Some(line[hash + 2..].trim())
    }
}

fn convert(node: &MarkedYaml<'_>) -> Node {
    let value = match &node.data {
        YamlData::Value(scalar) => match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Scalar(b.to_string()),
            Scalar::Integer(i) => Value::Scalar(i.to_string()),
            Scalar::FloatingPoint(f) => Value::Scalar(f.to_string()),
            Scalar::String(s) => Value::Scalar(s.to_string()),
        },
        YamlData::Representation(s, _, _) => Value::Scalar(s.to_string()),
        YamlData::Sequence(items) => Value::Seq(items.iter().map(convert).collect()),
        YamlData::Mapping(map) => {
            Value::Map(map.iter().map(|(k, v)| (convert(k), convert(v))).collect())
        }
        YamlData::Tagged(_, inner) => return convert(inner),
        _ => Value::Null,
    };
    Node {
        pos: Pos {
            line: node.span.start.line(),
            column: node.span.start.col() + 1,
        },
        start: node.span.start.index(),
        end: node.span.end.index(),
        value,
    }
}
