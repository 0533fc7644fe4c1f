//! The one table of known offenders: files of a freshly installed Debian system that differ
//! between identical builds. Each entry says why, what the native build's cleanup does about
//! it (or nothing, when cleanup cannot fix it), and what to do instead; cleanup applies the
//! entries with an action and the diff's hints match them all. A profile adds its own entries
//! in `config/offenders.conf` ([`profile`]).
//!
//! Globs are one dialect everywhere: paths relative to the image root, `*` within one
//! component, `**` across several (the `glob` crate with a literal separator).

use std::path::{Path, PathBuf};

use glob::{MatchOptions, Pattern};

pub mod builtin;
pub mod profile;
pub mod writers;

pub use builtin::BUILTIN;

/// What cleanup does with a matching entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Delete files and symlinks that match (directories are left alone).
    RemoveFile,
    /// Delete whatever matches, directories with their contents.
    RemoveTree,
    /// Empty regular files that match, keeping owner and mode.
    Truncate,
}

/// One row of the built-in table.
#[derive(Debug, Clone, Copy)]
pub struct Offender {
    /// The hint's id; several rows may share one (different actions for related files).
    pub id: &'static str,
    /// Paths relative to the image root (see the module doc for the dialect).
    pub globs: &'static [&'static str],
    /// What cleanup does; `None` when it cannot or must not fix it.
    pub action: Option<Action>,
    pub cause: &'static str,
    pub remedy: &'static str,
    /// The entry's metadata (owner, mode, date), not its content, is what differs.
    pub metadata: bool,
}

/// A compiled rule: one glob of an entry, built-in or from a profile.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: &'static str,
    pub glob: String,
    pattern: Pattern,
    pub action: Option<Action>,
    pub cause: String,
    pub remedy: String,
    pub metadata: bool,
}

/// What kind of file a path is, for the actions that apply only to some kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}:{line}: {message}", file.display())]
    Line {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: {message}", file.display())]
    File { file: PathBuf, message: String },
}

const OPTS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// The rules in order: the built-in table first, then a profile's own; the first match wins.
#[derive(Debug, Clone)]
pub struct Table {
    rules: Vec<Rule>,
}

impl Default for Table {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Table {
    /// The built-in table only.
    pub fn builtin() -> Self {
        let rules = BUILTIN
            .iter()
            .flat_map(|o| {
                o.globs.iter().map(move |g| Rule {
                    id: o.id,
                    glob: g.to_string(),
                    pattern: Pattern::new(g).expect("built-in globs are valid"),
                    action: o.action,
                    cause: o.cause.to_string(),
                    remedy: o.remedy.to_string(),
                    metadata: o.metadata,
                })
            })
            .collect();
        Self { rules }
    }

    /// The built-in table plus `config_dir`'s [`profile::FILE`], when there is one.
    pub fn load(config_dir: &Path) -> Result<Self, Error> {
        let mut t = Self::builtin();
        t.rules
            .extend(profile::load(&config_dir.join(profile::FILE))?);
        Ok(t)
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The cleanup rule for `rel` (relative to the image root), if any.
    pub fn cleanup(&self, rel: &str, kind: Kind) -> Option<&Rule> {
        self.rules.iter().find(|r| {
            let applies = match r.action {
                Some(Action::RemoveFile) => kind != Kind::Dir,
                Some(Action::RemoveTree) => true,
                Some(Action::Truncate) => kind == Kind::File,
                None => false,
            };
            applies && r.pattern.matches_with(rel, OPTS)
        })
    }

    /// The rule that explains a differing member at `path` (a leading `/` is the image root).
    /// When only the member's metadata differs, only the metadata rules apply.
    pub fn hint(&self, path: &str, content_differs: bool) -> Option<&Rule> {
        let rel = path.trim_start_matches('/');
        self.rules
            .iter()
            .filter(|r| content_differs || r.metadata)
            .find(|r| r.pattern.matches_with(rel, OPTS))
    }
}

impl Rule {
    fn new(
        id: &'static str,
        glob: &str,
        action: Option<Action>,
        cause: String,
        remedy: String,
    ) -> Result<Self, glob::PatternError> {
        Ok(Self {
            id,
            glob: glob.to_string(),
            pattern: Pattern::new(glob)?,
            action,
            cause,
            remedy,
            metadata: false,
        })
    }
}
