//! Pushes a published release to a web host with rsync.
//!
//! rsync runs as a child process with its arguments passed directly (no
//! shell), through the deploy limit, with rsync's own I/O timeout plus a
//! wall-clock cap. Any exit code but 0 is a `deploy` failure, 23 (partial
//! transfer) and 24 (vanished files) included, and rsync's stderr goes into
//! the error so the journal says why.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::config::RsyncDest;
use crate::error::{Category, StoreError};

/// How much of rsync's stderr an error keeps (the tail, where the reason is).
const STDERR_TAIL_BYTES: usize = 2000;

/// The rsync command line that mirrors `release_dir` to `<dest>/<store_id>/`.
pub fn rsync_args(
    release_dir: &Path,
    dest: &RsyncDest,
    store_id: &str,
    io_timeout: Duration,
) -> Vec<String> {
    let mut args = vec![
        "--recursive".to_string(),
        "--links".to_string(),
        "--times".to_string(),
        "--delete".to_string(),
        // Compare content, not size and mtime: two menus of equal size written in the
        // same second would otherwise look unchanged and the target keep the old one.
        "--checksum".to_string(),
        // Move files into place only once all have arrived, to shorten the torn window.
        "--delay-updates".to_string(),
        "--mkpath".to_string(),
        format!("--timeout={}", io_timeout.as_secs().max(1)),
    ];
    let target = match dest {
        RsyncDest::Local(path) => format!("{}/{store_id}/", path.display()),
        RsyncDest::Remote(remote) => {
            args.push("--rsh=ssh -o BatchMode=yes -o ConnectTimeout=10".to_string());
            format!("{}/{store_id}/", remote.trim_end_matches('/'))
        }
    };
    // Everything after `--` is a path, never an option, whatever it looks like.
    args.push("--".to_string());
    args.push(format!("{}/", release_dir.display()));
    args.push(target);
    args
}

/// Runs rsync once; `Ok` only when it exited 0.
pub async fn rsync(
    release_dir: &Path,
    dest: &RsyncDest,
    store_id: &str,
    io_timeout: Duration,
    wall_timeout: Duration,
) -> Result<(), StoreError> {
    let args = rsync_args(release_dir, dest, store_id, io_timeout);
    let child = Command::new("rsync")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| StoreError::with_source(Category::Deploy, "starting rsync", err))?;
    let output = match tokio::time::timeout(wall_timeout, child.wait_with_output()).await {
        Ok(output) => output
            .map_err(|err| StoreError::with_source(Category::Deploy, "waiting for rsync", err))?,
        Err(_) => {
            return Err(StoreError::new(
                Category::Deploy,
                format!(
                    "rsync to {} did not finish within {wall_timeout:?}; killed",
                    describe(dest)
                ),
            ));
        }
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail_start = stderr.len().saturating_sub(STDERR_TAIL_BYTES);
    let tail = stderr[stderr.floor_char_boundary(tail_start)..].trim();
    let code = output.status.code().map_or_else(
        || "a signal".to_string(),
        |code| format!("exit code {code}"),
    );
    Err(StoreError::new(
        Category::Deploy,
        format!("rsync to {} failed with {code}: {tail}", describe(dest)),
    ))
}

fn describe(dest: &RsyncDest) -> String {
    match dest {
        RsyncDest::Local(path) => path.display().to_string(),
        RsyncDest::Remote(remote) => remote.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn paths_follow_a_double_dash_and_remote_uses_batch_ssh() {
        let args = rsync_args(
            Path::new("/var/lib/menusync/stores/gangnam/releases/r1"),
            &RsyncDest::Remote("web@host:/srv/www".into()),
            "gangnam",
            Duration::from_secs(30),
        );
        let dash = args.iter().position(|arg| arg == "--").unwrap();
        assert_eq!(
            &args[dash + 1..],
            [
                "/var/lib/menusync/stores/gangnam/releases/r1/",
                "web@host:/srv/www/gangnam/"
            ]
        );
        assert!(args.iter().any(|arg| arg.contains("BatchMode=yes")));
        assert!(!args.iter().any(|arg| arg == "--inplace"));

        let local = rsync_args(
            Path::new("/r"),
            &RsyncDest::Local(PathBuf::from("/srv/www")),
            "gangnam",
            Duration::from_secs(30),
        );
        assert_eq!(local.last().unwrap(), "/srv/www/gangnam/");
        assert!(!local.iter().any(|arg| arg.starts_with("--rsh")));
    }

    #[tokio::test]
    async fn a_failing_rsync_is_a_deploy_error_with_its_stderr() {
        let dir = tempfile::tempdir().unwrap();
        // The source does not exist, so rsync exits non-zero (23) and says why.
        let err = rsync(
            &dir.path().join("missing"),
            &RsyncDest::Local(dir.path().join("out")),
            "s",
            Duration::from_secs(5),
            Duration::from_secs(30),
        )
        .await
        .unwrap_err();
        assert_eq!(err.category, Category::Deploy);
        assert!(err.message.contains("exit code 23"), "{}", err.message);
        assert!(err.message.contains("missing"), "{}", err.message);
    }

    /// Regression: a price change that keeps menu.json's size, pushed within the same
    /// second, was skipped by rsync's size-and-mtime check and the target kept the old menu.
    #[tokio::test]
    async fn a_same_size_change_in_the_same_second_reaches_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let dest = RsyncDest::Local(dir.path().join("web"));
        let push = |release: &'static str, menu: &'static str| {
            let release_dir = dir.path().join(release);
            let dest = dest.clone();
            async move {
                std::fs::create_dir_all(release_dir.join("data")).unwrap();
                std::fs::write(release_dir.join("data/menu.json"), menu).unwrap();
                rsync(
                    &release_dir,
                    &dest,
                    "s",
                    Duration::from_secs(5),
                    Duration::from_secs(30),
                )
                .await
                .unwrap();
            }
        };
        push("r1", "{\"price\":4500}").await;
        push("r2", "{\"price\":4800}").await;
        let pushed = std::fs::read_to_string(dir.path().join("web/s/data/menu.json")).unwrap();
        assert_eq!(pushed, "{\"price\":4800}");
    }
}
