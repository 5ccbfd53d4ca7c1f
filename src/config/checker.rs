//! [`Checker`]: the file being checked (its path and text), which every
//! section's check shares to report errors at a span's line and column,
//! resolve relative paths against the file's folder and bound numbers.
//! Each section adds its own `impl Checker` in its file.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::bounds;
use super::error::ConfigError;

/// Turns a [`RawConfig`](super::raw::RawConfig) into a
/// [`Config`](super::checked::Config), with spans mapped to lines.
pub(super) struct Checker<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    /// Whether to look at the disk too (`state_dir`); `parse` checks the text alone.
    pub(super) on_disk: bool,
}

impl Checker<'_> {
    pub(super) fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_column(self.text, span.start);
        ConfigError::Invalid {
            path: self.path.display().to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    fn base_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    pub(super) fn resolve(&self, value: &str) -> PathBuf {
        let path = Path::new(value);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir().join(path)
        }
    }

    /// `value`, or `default` when absent, refused outside `name`'s range in [`bounds::BOUNDS`].
    pub(super) fn bounded(
        &self,
        value: &Option<Spanned<i64>>,
        name: &str,
        default: u64,
    ) -> Result<u64, ConfigError> {
        match value {
            None => Ok(default),
            Some(spanned) => bounds::of(name)
                .check(name, *spanned.get_ref())
                .map_err(|message| self.error(spanned.span(), message)),
        }
    }
}

/// 1-based line and column of a byte offset, counting columns in characters.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

pub(super) fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!("name `{name}` must be letters, digits, `-` or `_`"))
    }
}
