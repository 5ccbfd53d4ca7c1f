//! Checks a `[target.NAME]` section into [`Target`]: the settings every kind
//! shares (retry backoff, `after_push`) and those of its kind
//! ([`TargetKind`]). What a kind does lives in the `target` module; a new
//! kind adds its keys to `raw.rs`, its check here and its file there.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::checker::{Checker, check_name};
use super::error::ConfigError;
use super::raw::{RawStore, RawTarget};

pub const DEFAULT_TARGET_KEEP_RELEASES: usize = 5;
pub const DEFAULT_RETRY_BACKOFF_SECS: u64 = 30;
pub const DEFAULT_AFTER_PUSH_TIMEOUT_SECS: u64 = 30;

#[derive(Debug, PartialEq)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    /// First wait before retrying a target whose push failed.
    pub retry_backoff: Duration,
    /// Run after each successful push of a release to this target.
    pub after_push: Option<AfterPush>,
}

/// `after_push = ["program", "fixed args"…]`: run with the store, the release
/// and the changed paths appended as arguments, no shell, under a timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterPush {
    pub program: String,
    pub args: Vec<String>,
    pub timeout: Duration,
}

/// What a target is, with the settings only that kind reads; what each kind
/// does is in the `target` module.
#[derive(Debug, PartialEq)]
pub enum TargetKind {
    /// Push with rsync; each store goes to `<dest>/<store id>/`.
    Rsync(RsyncTarget),
}

/// `kind = "rsync"`: where, in which mode, and how ssh reaches the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsyncTarget {
    pub dest: RsyncDest,
    pub mode: DeployMode,
    /// `releases` mode: how many remote releases to keep (never the current one).
    pub keep_releases: NonZeroUsize,
    pub ssh: SshOptions,
}

/// How readers on the web host see a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployMode {
    /// `<dest>/<store>/` is the docroot: images first, `menu.json` last, old images pruned.
    Files,
    /// `<dest>/<store>/current` is the docroot: a symlink swapped to a complete release.
    Releases,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RsyncDest {
    Local(PathBuf),
    /// `[user@]host` and an absolute path on it, reached over ssh.
    Remote {
        host: String,
        path: String,
    },
}

/// How ssh reaches a remote target; always in batch mode, never prompting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshOptions {
    pub port: Option<u16>,
    pub key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
}

impl Checker<'_> {
    pub(super) fn check_target(
        &self,
        name: &Spanned<String>,
        raw: &RawTarget,
        state_dir: &Path,
    ) -> Result<Target, ConfigError> {
        check_name(name.get_ref()).map_err(|why| self.error(name.span(), why))?;
        if raw.kind.get_ref() != "rsync" {
            return Err(self.error(
                raw.kind.span(),
                format!(
                    "unknown target kind `{}`, expected `rsync`",
                    raw.kind.get_ref()
                ),
            ));
        }
        let dest = parse_rsync_dest(raw.dest.get_ref(), |local| self.resolve(local))
            .map_err(|why| self.error(raw.dest.span(), why))?;
        if let RsyncDest::Local(path) = &dest
            && (lexical(path) == lexical(state_dir) || in_state(path, state_dir))
        {
            return Err(self.error(
                raw.dest.span(),
                format!(
                    "dest {} is state_dir {} or inside its stores/ or preview/: a push \
                     there would write over menusync's own releases; point the target \
                     elsewhere",
                    path.display(),
                    state_dir.display()
                ),
            ));
        }
        let mode = match raw
            .mode
            .as_ref()
            .map(|mode| (mode, mode.get_ref().as_str()))
        {
            None | Some((_, "files")) => DeployMode::Files,
            Some((_, "releases")) => DeployMode::Releases,
            Some((mode, other)) => {
                return Err(self.error(
                    mode.span(),
                    format!("unknown target mode `{other}`, expected `files` or `releases`"),
                ));
            }
        };
        let keep = self.bounded(
            &raw.keep_releases,
            "keep_releases",
            DEFAULT_TARGET_KEEP_RELEASES as u64,
        )?;
        let backoff = self.bounded(
            &raw.retry_backoff_secs,
            "retry_backoff_secs",
            DEFAULT_RETRY_BACKOFF_SECS,
        )?;
        let port = match &raw.ssh_port {
            None => None,
            Some(_) => Some(
                u16::try_from(self.bounded(&raw.ssh_port, "ssh_port", 22)?)
                    .expect("the ssh_port bound ends at 65535"),
            ),
        };
        let ssh = SshOptions {
            port,
            key: self.ssh_path(&raw.ssh_key, "ssh_key")?,
            known_hosts: self.ssh_path(&raw.known_hosts, "known_hosts")?,
        };
        if matches!(dest, RsyncDest::Local(_)) && ssh != SshOptions::default() {
            let span = [&raw.ssh_key, &raw.known_hosts]
                .into_iter()
                .flatten()
                .next()
                .map_or_else(
                    || raw.ssh_port.as_ref().map(Spanned::span).unwrap_or_default(),
                    Spanned::span,
                );
            return Err(self.error(
                span,
                "ssh settings apply only to a remote `dest` (user@host:/path)",
            ));
        }
        let after_push = match &raw.after_push {
            None => None,
            Some(command) => {
                let words = command.get_ref();
                let program = words.first().filter(|program| {
                    !program.trim().is_empty()
                        && (program.starts_with('/') || !program.contains('/'))
                });
                let Some(program) = program else {
                    return Err(self.error(
                        command.span(),
                        "`after_push` is a list: an absolute path or a command on PATH, then \
                         its fixed arguments, e.g. [\"/usr/local/bin/cdn-purge\", \"--zone\", \"menu\"]",
                    ));
                };
                Some(AfterPush {
                    program: program.clone(),
                    args: words[1..].to_vec(),
                    timeout: Duration::from_secs(self.bounded(
                        &raw.after_push_timeout_secs,
                        "after_push_timeout_secs",
                        DEFAULT_AFTER_PUSH_TIMEOUT_SECS,
                    )?),
                })
            }
        };
        if raw.after_push.is_none()
            && let Some(timeout) = &raw.after_push_timeout_secs
        {
            return Err(self.error(
                timeout.span(),
                "`after_push_timeout_secs` applies only with `after_push`",
            ));
        }
        Ok(Target {
            name: name.get_ref().clone(),
            kind: TargetKind::Rsync(RsyncTarget {
                dest,
                mode,
                keep_releases: NonZeroUsize::new(usize::try_from(keep).unwrap_or(usize::MAX))
                    .expect("the bound of keep_releases starts at 1"),
                ssh,
            }),
            retry_backoff: Duration::from_secs(backoff),
            after_push,
        })
    }

    /// A file ssh reads; it reaches ssh inside rsync's `--rsh`, so it must be plain.
    fn ssh_path(
        &self,
        value: &Option<Spanned<String>>,
        name: &str,
    ) -> Result<Option<PathBuf>, ConfigError> {
        let Some(value) = value else { return Ok(None) };
        let plain = !value.get_ref().is_empty()
            && !value.get_ref().starts_with('-')
            && value
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-@+".contains(c));
        if !plain {
            return Err(self.error(
                value.span(),
                format!("`{name}` must be a plain path (letters, digits, `/._-@+`)"),
            ));
        }
        Ok(Some(self.resolve(value.get_ref())))
    }
}

/// Splits an rsync destination into a local path or an ssh `[user@]host:/path`.
///
/// Values that rsync could read as an option, or that carry shell or ssh
/// metacharacters, are refused: they reach rsync as arguments, and remote
/// commands only ever see them single-quoted.
pub(super) fn parse_rsync_dest(
    dest: &str,
    resolve_local: impl Fn(&str) -> PathBuf,
) -> Result<RsyncDest, String> {
    if dest.is_empty() || dest.starts_with('-') {
        return Err(format!(
            "target `dest` `{dest}` must be a path or user@host:/path"
        ));
    }
    if dest
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || "'\"`$;|&<>\\*?!#~".contains(c))
    {
        return Err(format!(
            "target `dest` `{dest}` contains whitespace or shell metacharacters"
        ));
    }
    // An IPv6 host is bracketed (`user@[2001:db8::1]:/path`), so split after the bracket.
    let split = match dest.find("]:") {
        Some(close) => Some((&dest[..=close], &dest[close + 2..])),
        None => dest.split_once(':'),
    };
    match split {
        Some((host, path)) if !host.contains('/') => {
            let host_ok = !host.is_empty()
                && host
                    .split('@')
                    .all(|part| !part.is_empty() && !part.starts_with('-'))
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_@[]:".contains(c));
            if !host_ok || !path.starts_with('/') {
                return Err(format!(
                    "remote target `dest` `{dest}` must look like user@host:/absolute/path"
                ));
            }
            Ok(RsyncDest::Remote {
                host: host.to_string(),
                path: path.trim_end_matches('/').to_string(),
            })
        }
        _ => Ok(RsyncDest::Local(resolve_local(dest))),
    }
}

impl TargetKind {
    /// Whether mirroring the previews to this target, deleting what they do
    /// not hold, would touch the menu of store `store_id` on `other`: in a
    /// folder holding the store's, or in the store's own.
    fn mirror_would_touch(&self, other: &TargetKind, store_id: &str) -> bool {
        match (self, other) {
            (TargetKind::Rsync(previews), TargetKind::Rsync(store)) => {
                let store_dir = store.dest.join(store_id);
                previews.dest.holds(&store.dest) || store_dir.holds(&previews.dest)
            }
        }
    }
}

impl RsyncDest {
    /// Whether `inner`, on the same host, is this folder or lies in it (by
    /// path alone: links are not followed).
    fn holds(&self, inner: &RsyncDest) -> bool {
        let host_name = |host: &str| {
            host.rsplit_once('@')
                .map_or(host, |(_, name)| name)
                .to_string()
        };
        match (self, inner) {
            (RsyncDest::Local(outer), RsyncDest::Local(inner)) => {
                lexical(inner).starts_with(lexical(outer))
            }
            (
                RsyncDest::Remote { host, path },
                RsyncDest::Remote {
                    host: inner_host,
                    path: inner_path,
                },
            ) => {
                host_name(host) == host_name(inner_host)
                    && lexical(Path::new(inner_path)).starts_with(lexical(Path::new(path)))
            }
            _ => false,
        }
    }

    /// The folder `name` in this one: where a store goes.
    fn join(&self, name: &str) -> RsyncDest {
        match self {
            RsyncDest::Local(path) => RsyncDest::Local(path.join(name)),
            RsyncDest::Remote { host, path } => RsyncDest::Remote {
                host: host.clone(),
                path: format!("{}/{name}", path.trim_end_matches('/')),
            },
        }
    }
}

/// Whether `path` is inside (or is) a folder of `state_dir` that menusync
/// writes and prunes: `stores/` and `preview/`.
fn in_state(path: &Path, state_dir: &Path) -> bool {
    let path = lexical(path);
    ["stores", "preview"]
        .iter()
        .any(|own| path.starts_with(lexical(&state_dir.join(own))))
}

/// `path` made absolute against the working folder, with `.` dropped and
/// `..` taken back, without asking the disk (links are not followed).
pub fn lexical(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl Checker<'_> {
    /// `[daemon] preview_target`: a target of its own, whose folder holds no
    /// store's target and no part of `state_dir`, since the previews are
    /// mirrored there with `--delete`.
    pub(super) fn check_preview_target(
        &self,
        name: &Spanned<String>,
        targets: &BTreeMap<String, Arc<Target>>,
        stores: &[RawStore],
        state_dir: &Path,
    ) -> Result<Arc<Target>, ConfigError> {
        let refuse = |why: String| Err(self.error(name.span(), why));
        let named = name.get_ref();
        let Some(target) = targets.get(named) else {
            return refuse(format!(
                "preview_target `{named}` names no [target.*] section"
            ));
        };
        for store in stores {
            for used in &store.targets {
                let Some(other) = targets.get(used.get_ref()) else {
                    continue;
                };
                if used.get_ref() == named {
                    return refuse(format!(
                        "preview_target `{named}` is a target of store `{}` too: the previews \
                         would overwrite its menu; give the previews a [target.*] of their own",
                        store.id.get_ref()
                    ));
                }
                if target
                    .kind
                    .mirror_would_touch(&other.kind, store.id.get_ref())
                {
                    return refuse(format!(
                        "preview_target `{named}` would be mirrored with --delete over the \
                         menu of store `{}` (its target `{}`); give the previews a folder \
                         that holds no store's and is no store's",
                        store.id.get_ref(),
                        used.get_ref()
                    ));
                }
            }
        }
        if let TargetKind::Rsync(RsyncTarget {
            dest: RsyncDest::Local(path),
            ..
        }) = &target.kind
            && (lexical(state_dir).starts_with(lexical(path)) || in_state(path, state_dir))
        {
            return refuse(format!(
                "preview_target `{named}` holds state_dir {} or lies in its stores/ or \
                 preview/: the previews are mirrored with --delete and would delete \
                 menusync's releases; give them a folder of their own",
                state_dir.display()
            ));
        }
        Ok(Arc::clone(target))
    }
}
