//! The `rsync` kind of target: a published release pushed to a web host
//! with rsync (over ssh, or to a local folder), in one of two modes.
//!
//! `files`: `<dest>/<store>/` is the docroot. New images go first (their names
//! are content hashes, so nothing existing changes), `menu.json` last (rsync
//! writes a temp file and renames it), and only then are images that the
//! release no longer holds deleted. A release carries the images of releases
//! replaced within the grace period (see `images::carry_forward`), so pages
//! loaded before a publish keep working.
//!
//! `releases`: `<dest>/<store>/releases/<id>/` is filled with `--link-dest` to
//! the previous one, a `.complete` marker is written and checked, and
//! `<dest>/<store>/current` is swapped by renaming a uniquely named link over
//! it; the newest N releases are kept, never the current one. Release ids
//! say nothing about time (they are content hashes), so on a target
//! "newest" is by the mtime of each release's `.complete` marker, touched at
//! every swap: the order releases went live there. A release without the
//! marker (a push that failed half-way) counts as the oldest.
//!
//! The swap is fenced: under an exclusive `flock` on `<dest>/<store>/.swap.lock`
//! (util-linux `flock` over ssh, the crate's own `lock` locally; both are
//! flock(2), so they exclude each other), `<dest>/<store>/.epoch` is read
//! (missing: 0); a stored epoch greater than the push's refuses the swap
//! (`Kind::Fenced`), otherwise the push's epoch is written (temp file and
//! rename) and `current` swapped. So once a newer leader has swapped a
//! store, an older one never moves `current` back. Files mode has no epoch:
//! its folder is the docroot, and a cluster requires releases mode.
//!
//! rsync and ssh run as children (`command`), with rsync's own I/O timeout
//! plus a wall-clock cap, ssh in batch mode; any exit code but 0 fails the
//! push, 23 and 24 included. The one remote shell
//! command (over ssh) is built only from validated ids and a checked path,
//! each single-quoted.

use std::path::Path;
use std::time::Duration;

use super::command::run;
use super::{Release, Timeouts};
use crate::atomic::{self, Mtime};
use crate::config::{DeployMode, RsyncDest, RsyncTarget, SshOptions, lexical};
use crate::error::{Kind, StoreError};
use crate::lock::StoreLock;
use crate::publish::{RELEASE_ID_ERE, is_release_id, prunable, swap_current_link};

const COMPLETE_MARKER: &str = ".complete";
/// In `<dest>/<store>/`: locked while a release is swapped there.
const SWAP_LOCK: &str = ".swap.lock";
/// In `<dest>/<store>/`: the fencing epoch of the last swap there.
const EPOCH_FILE: &str = ".epoch";
/// How long a swap waits for another one of the same store to end.
const SWAP_LOCK_WAIT: Duration = Duration::from_secs(30);

/// Where and how this target is pushed to, as one line (`releases
/// web@host:2222:/srv/www`).
pub(super) fn location(target: &RsyncTarget) -> String {
    let dest = match &target.dest {
        // The same folder whichever way the config was named (`--config
        // stores.toml` or its full path), with or without the folder on disk.
        RsyncDest::Local(path) => lexical(path).display().to_string(),
        RsyncDest::Remote { host, path } => match target.ssh.port {
            Some(port) => format!("{host}:{port}:{path}"),
            None => format!("{host}:{path}"),
        },
    };
    let mode = match target.mode {
        DeployMode::Files => "files",
        DeployMode::Releases => "releases",
    };
    format!("{mode} {dest}")
}

/// A store's docroot relative to `dest`: `<store>` in files mode, the
/// `<store>/current` link in releases mode.
pub(super) fn served_root(target: &RsyncTarget, store_id: &str) -> String {
    match target.mode {
        DeployMode::Files => store_id.to_string(),
        DeployMode::Releases => format!("{store_id}/current"),
    }
}

/// Pushes one release; `Ok` only when readers there now see it whole.
pub(super) async fn push(
    target: &RsyncTarget,
    release: &Release<'_>,
    timeouts: Timeouts,
) -> Result<(), StoreError> {
    let site = Site {
        dest: &target.dest,
        ssh: &target.ssh,
    };
    let release_dir = release.dir();
    let push = Push {
        store_id: release.store_id,
        release: release.id,
        release_dir: &release_dir,
        previous: release.previous,
        carries_previous_images: release.carries_previous_images,
        epoch: release.epoch,
        mode: target.mode,
        keep_releases: target.keep_releases.get(),
        io_timeout: timeouts.io,
        wall_timeout: timeouts.wall,
    };
    push_to(site, &push).await
}

/// One push of one release of one store, in the terms rsync needs.
#[derive(Debug, Clone)]
struct Push<'a> {
    store_id: &'a str,
    release: &'a str,
    release_dir: &'a Path,
    /// The release this target last received, for `--link-dest`.
    previous: Option<&'a str>,
    /// Whether the release carries the images of the one it replaces (a grace
    /// period is set); then files mode may drop stale images with the first copy.
    carries_previous_images: bool,
    /// The pusher's fencing token (see `Release::epoch`).
    epoch: u64,
    mode: DeployMode,
    keep_releases: usize,
    io_timeout: Duration,
    wall_timeout: Duration,
}

/// Where a target lives and how to reach it.
#[derive(Debug, Clone, Copy)]
struct Site<'a> {
    dest: &'a RsyncDest,
    ssh: &'a SshOptions,
}

impl Site<'_> {
    /// `<dest>/<store>/<sub>` as rsync names it: a local path or `host:/path`.
    fn rsync_path(&self, store_id: &str, sub: &str) -> String {
        match self.dest {
            RsyncDest::Local(path) => format!("{}/{store_id}/{sub}", path.display()),
            RsyncDest::Remote { host, path } => format!("{host}:{path}/{store_id}/{sub}"),
        }
    }

    /// The absolute path of a release on the target's own filesystem, for `--link-dest`.
    ///
    /// Absolute, never `../PREV`: with a relative `--link-dest` over ssh, the
    /// rsync Debian 12 ships (3.2.7) on the receiving side discards every file
    /// ("failed verification -- update discarded", exit code 23), so every
    /// release after a host's first failed there. tests/field/ proves it on
    /// a real Debian 12 web host.
    fn release_path(&self, store_id: &str, release: &str) -> String {
        match self.dest {
            RsyncDest::Local(path) => {
                let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                format!("{}/{store_id}/releases/{release}", absolute.display())
            }
            RsyncDest::Remote { path, .. } => format!("{path}/{store_id}/releases/{release}"),
        }
    }

    fn describe(&self) -> String {
        match self.dest {
            RsyncDest::Local(path) => path.display().to_string(),
            RsyncDest::Remote { host, path } => format!("{host}:{path}"),
        }
    }
}

/// The ssh options every call shares: batch mode, a connect timeout, the configured key.
fn ssh_options(ssh: &SshOptions) -> Vec<String> {
    let mut options = vec![
        "-o".to_string(),
        "BatchMode=yes".to_string(),
        "-o".to_string(),
        "ConnectTimeout=10".to_string(),
    ];
    if let Some(port) = ssh.port {
        options.extend(["-p".to_string(), port.to_string()]);
    }
    if let Some(key) = &ssh.key {
        options.extend([
            "-i".to_string(),
            key.display().to_string(),
            "-o".to_string(),
            "IdentitiesOnly=yes".to_string(),
        ]);
    }
    if let Some(known_hosts) = &ssh.known_hosts {
        options.extend([
            "-o".to_string(),
            format!("UserKnownHostsFile={}", known_hosts.display()),
            "-o".to_string(),
            "StrictHostKeyChecking=yes".to_string(),
        ]);
    }
    options
}

/// rsync's arguments to copy `source` to `target`, plus `extra` options.
fn rsync_args(
    site: Site<'_>,
    source: &str,
    target: &str,
    extra: &[&str],
    io_timeout: Duration,
) -> Vec<String> {
    let mut args: Vec<String> = ["--recursive", "--links", "--times", "--mkpath"]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
    args.push(format!("--timeout={}", io_timeout.as_secs().max(1)));
    args.extend(extra.iter().map(|arg| arg.to_string()));
    if matches!(site.dest, RsyncDest::Remote { .. }) {
        // rsync splits this on spaces itself; the config admits no spaces in these paths.
        args.push(format!("--rsh=ssh {}", ssh_options(site.ssh).join(" ")));
    }
    // Everything after `--` is a path, never an option, whatever it looks like.
    args.push("--".to_string());
    args.push(source.to_string());
    args.push(target.to_string());
    args
}

async fn rsync(
    site: Site<'_>,
    push: &Push<'_>,
    source: &str,
    target: &str,
    extra: &[&str],
) -> Result<(), StoreError> {
    let args = rsync_args(site, source, target, extra, push.io_timeout);
    let what = format!("rsync to {}", site.describe());
    run("rsync", &args, &what, push.wall_timeout)
        .await
        .map(drop)
}

/// Quotes a value for the remote shell; values are already restricted, this is the second fence.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

async fn ssh(
    site: Site<'_>,
    host: &str,
    script: &str,
    wall_timeout: Duration,
) -> Result<String, StoreError> {
    let mut args = ssh_options(site.ssh);
    args.extend([host.to_string(), "--".to_string(), script.to_string()]);
    run("ssh", &args, &format!("ssh to {host}"), wall_timeout).await
}

/// Mirrors a whole local folder (the preview pages) to the target's `dest`
/// itself, deleting there what the folder no longer holds.
pub(super) async fn mirror(
    target: &RsyncTarget,
    source_dir: &Path,
    timeouts: Timeouts,
) -> Result<(), StoreError> {
    let site = Site {
        dest: &target.dest,
        ssh: &target.ssh,
    };
    let target = match site.dest {
        RsyncDest::Local(path) => format!("{}/", path.display()),
        RsyncDest::Remote { host, path } => format!("{host}:{path}/"),
    };
    let source = format!("{}/", source_dir.display());
    let args = rsync_args(site, &source, &target, &["--delete"], timeouts.io);
    let what = format!("rsync of the previews to {}", site.describe());
    run("rsync", &args, &what, timeouts.wall).await.map(drop)
}

/// Copies `releases/<release>/` of a `releases`-mode target into `into`,
/// without its `.complete` marker (a push writes that on the host itself).
pub(super) async fn fetch(
    target: &RsyncTarget,
    store_id: &str,
    release: &str,
    into: &Path,
    timeouts: Timeouts,
) -> Result<(), StoreError> {
    if target.mode != DeployMode::Releases || !is_release_id(release) {
        return Err(StoreError::new(
            Kind::Push,
            format!("release {release} cannot be fetched from a target in files mode"),
        ));
    }
    let site = Site {
        dest: &target.dest,
        ssh: &target.ssh,
    };
    let source = site.rsync_path(store_id, &format!("releases/{release}/"));
    let local = format!("{}/", into.display());
    let exclude = format!("--exclude=/{COMPLETE_MARKER}");
    let args = rsync_args(site, &source, &local, &[exclude.as_str()], timeouts.io);
    let what = format!("rsync of release {release} from {}", site.describe());
    run("rsync", &args, &what, timeouts.wall).await.map(drop)
}

async fn push_to(site: Site<'_>, push: &Push<'_>) -> Result<(), StoreError> {
    match push.mode {
        DeployMode::Files => push_files(site, push).await,
        DeployMode::Releases => push_release(site, push).await,
    }
}

async fn push_files(site: Site<'_>, push: &Push<'_>) -> Result<(), StoreError> {
    let images = format!("{}/images/", push.release_dir.display());
    let data = format!("{}/data/", push.release_dir.display());
    let remote_images = site.rsync_path(push.store_id, "images/");
    // 1. New images; existing names are never rewritten, since a name is its content.
    //    Images the release no longer holds may go now only if the live menu's are
    //    carried in it; otherwise they wait for step 3.
    let first: &[&str] = if push.carries_previous_images {
        &["--ignore-existing", "--delete"]
    } else {
        &["--ignore-existing"]
    };
    rsync(site, push, &images, &remote_images, first).await?;
    // 2. menu.json, through rsync's temp file and rename; by checksum, as two menus may share size and second.
    rsync(
        site,
        push,
        &data,
        &site.rsync_path(push.store_id, "data/"),
        &["--checksum", "--delete"],
    )
    .await?;
    if push.carries_previous_images {
        return Ok(());
    }
    // 3. Only now, images this release does not hold.
    rsync(
        site,
        push,
        &images,
        &remote_images,
        &["--ignore-existing", "--delete"],
    )
    .await
}

async fn push_release(site: Site<'_>, push: &Push<'_>) -> Result<(), StoreError> {
    let source = format!("{}/", push.release_dir.display());
    let target = site.rsync_path(push.store_id, &format!("releases/{}/", push.release));
    let link_dest = push
        .previous
        .filter(|previous| is_release_id(previous) && *previous != push.release)
        .map(|previous| format!("--link-dest={}", site.release_path(push.store_id, previous)));
    let mut extra = vec!["--checksum", "--delete"];
    extra.extend(link_dest.as_deref());
    rsync(site, push, &source, &target, &extra).await?;
    match site.dest {
        RsyncDest::Local(path) => swap_local(&path.join(push.store_id), push).await,
        RsyncDest::Remote { host, path } => {
            swap_remote(site, host, &format!("{path}/{}", push.store_id), push).await
        }
    }
}

/// Fence, marker, check, swap and prune on a remote host, in one ssh call.
///
/// The script is built from a checked path, ids that match `is_release_id`
/// and numbers, each single-quoted; it runs under `flock` on `.swap.lock`,
/// and says on stdout how it ended: `fenced <epoch>` (a newer leader's epoch
/// is stored: nothing moved) or, last, `swapped`. The prune keeps the newest
/// `keep_releases` names that look like release ids, by their `.complete`
/// marker's mtime (`ls -t`; those without one listed first, as the oldest),
/// and never the new current.
async fn swap_remote(
    site: Site<'_>,
    host: &str,
    store_dir: &str,
    push: &Push<'_>,
) -> Result<(), StoreError> {
    let epoch = shell_epoch(push.epoch)?;
    let release = push.release;
    let marker = format!("releases/{release}/{COMPLETE_MARKER}");
    let temp = format!(".current-{release}-{}", std::process::id());
    let script = format!(
        "set -e; cd {dir}; \
         command -v flock >/dev/null || {{ echo 'flock is not installed: install util-linux' >&2; exit 1; }}; \
         exec 9>>{lock}; flock -w {wait} 9 || {{ echo \"another swap held {lock} for {wait} s\" >&2; exit 1; }}; \
         stored=0; if test -e {epoch_file}; then stored=$(cat {epoch_file}); fi; \
         case $stored in ''|*[!0-9]*) echo \"{epoch_file} holds '$stored', not an epoch\" >&2; exit 1;; esac; \
         test \"$stored\" -le {epoch} 2>/dev/null || {{ echo \"fenced $stored\"; exit 0; }}; \
         if test \"$stored\" -ne {epoch}; then \
         printf '%s\\n' {epoch} > {epoch_temp}; mv -f {epoch_temp} {epoch_file}; fi; \
         touch {marker}; test -f {marker}; ln -s {target} {temp}; mv -T {temp} current; \
         cd releases; \
         {{ for r in *; do test -f \"$r/{complete}\" || printf '%s\\n' \"$r\"; done; \
         ls -1tr -- */{complete} 2>/dev/null | sed 's|/\\.complete$||'; }} \
         | grep -E {pattern} | head -n -{keep} | grep -vxF {release} \
         | while read -r old; do rm -rf -- \"$old\"; done; \
         echo swapped",
        dir = quote(store_dir),
        lock = quote(SWAP_LOCK),
        wait = SWAP_LOCK_WAIT.as_secs(),
        epoch_file = quote(EPOCH_FILE),
        epoch_temp = quote(&format!("{EPOCH_FILE}.tmp-{}", std::process::id())),
        epoch = quote(&epoch),
        marker = quote(&marker),
        target = quote(&format!("releases/{release}")),
        temp = quote(&temp),
        pattern = quote(RELEASE_ID_ERE),
        keep = push.keep_releases,
        release = quote(release),
        complete = COMPLETE_MARKER,
    );
    let said = ssh(site, host, &script, push.wall_timeout).await?;
    for line in said.lines().map(str::trim) {
        if line == "swapped" {
            return Ok(());
        }
        if let Some(stored) = line.strip_prefix("fenced ") {
            return Err(fenced(&format!("{host}:{store_dir}"), stored, push.epoch));
        }
    }
    Err(StoreError::new(
        Kind::Push,
        format!(
            "the swap on {host}:{store_dir} ended without saying it swapped: {}",
            said.trim()
        ),
    ))
}

/// The push's epoch as the remote `sh` compares it: `test -le` reads
/// signed 64-bit numbers, which every etcd revision is.
fn shell_epoch(epoch: u64) -> Result<String, StoreError> {
    if i64::try_from(epoch).is_err() {
        return Err(StoreError::new(
            Kind::Push,
            format!("epoch {epoch} is beyond what a target's sh compares (2^63 - 1)"),
        ));
    }
    Ok(epoch.to_string())
}

/// The refusal of a swap a newer leader has made.
fn fenced(place: &str, stored: &str, ours: u64) -> StoreError {
    StoreError::new(
        Kind::Fenced,
        format!(
            "{place}: a newer leader (epoch {stored}) has swapped this store; \
             this one has epoch {ours}; current left as it is"
        ),
    )
}

/// The same steps on a local target folder, without a shell, with the very
/// swap and prune rule of local publishing (`publish`), under the crate's
/// own `flock` on the same `.swap.lock` the remote script locks.
async fn swap_local(store_dir: &Path, push: &Push<'_>) -> Result<(), StoreError> {
    let deploy_error = |what: &str, err: std::io::Error| {
        StoreError::with_source(
            Kind::Push,
            format!("{what} in {}", store_dir.display()),
            err,
        )
    };
    let lock_path = store_dir.join(SWAP_LOCK);
    let _lock = StoreLock::acquire_within(&lock_path, SWAP_LOCK_WAIT)
        .await
        .map_err(|err| {
            StoreError::with_source(Kind::Push, format!("locking {}", lock_path.display()), err)
        })?
        .ok_or_else(|| {
            StoreError::new(
                Kind::Push,
                format!(
                    "another swap held {} for {} s",
                    lock_path.display(),
                    SWAP_LOCK_WAIT.as_secs()
                ),
            )
        })?;
    fence_local(store_dir, push.epoch)?;
    let marker = store_dir
        .join("releases")
        .join(push.release)
        .join(COMPLETE_MARKER);
    std::fs::write(&marker, b"")
        .map_err(|err| deploy_error("writing the .complete marker", err))?;
    if !marker.is_file() {
        return Err(StoreError::new(
            Kind::Push,
            format!("{} did not stick", marker.display()),
        ));
    }
    swap_current_link(store_dir, push.release)
        .map_err(|err| deploy_error("swapping current", err))?;
    let names = by_complete_marker(&store_dir.join("releases"))
        .map_err(|err| deploy_error("listing releases", err))?;
    let old = prunable(
        names.iter().map(String::as_str),
        Some(push.release),
        push.keep_releases,
    );
    for name in old {
        std::fs::remove_dir_all(store_dir.join("releases").join(&name))
            .map_err(|err| deploy_error("pruning releases", err))?;
    }
    Ok(())
}

/// Under the swap lock: refuses `epoch` when the store's `.epoch` holds a
/// greater one, else records it (temp file and rename) when it differs.
fn fence_local(store_dir: &Path, epoch: u64) -> Result<(), StoreError> {
    let path = store_dir.join(EPOCH_FILE);
    let stored = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u64>().map_err(|_| {
            StoreError::new(
                Kind::Push,
                format!("{} holds {:?}, not an epoch", path.display(), text.trim()),
            )
        })?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => 0,
        Err(err) => {
            return Err(StoreError::with_source(
                Kind::Push,
                format!("reading {}", path.display()),
                err,
            ));
        }
    };
    if stored > epoch {
        return Err(fenced(
            &store_dir.display().to_string(),
            &stored.to_string(),
            epoch,
        ));
    }
    if stored != epoch {
        atomic::write(&path, format!("{epoch}\n").as_bytes(), Mtime::Now).map_err(|err| {
            StoreError::with_source(Kind::Push, format!("writing {}", path.display()), err)
        })?;
    }
    Ok(())
}

/// The folders in a target's `releases/`, oldest first by the mtime of their
/// `.complete` marker (the order they went live there); those without one
/// first, as the oldest, ties by name. `ls -1tr */.complete` in `swap_remote`.
fn by_complete_marker(releases_dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(releases_dir)? {
        let Ok(name) = entry?.file_name().into_string() else {
            continue;
        };
        let live_at = std::fs::metadata(releases_dir.join(&name).join(COMPLETE_MARKER))
            .and_then(|meta| meta.modified())
            .ok();
        names.push((live_at, name));
    }
    names.sort();
    Ok(names.into_iter().map(|(_, name)| name).collect())
}

#[cfg(test)]
mod tests;
