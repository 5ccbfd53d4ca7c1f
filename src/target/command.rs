//! Child processes of the targets (rsync, ssh, an `after_push` command): run
//! with their arguments passed directly (no shell), under a wall-clock cap;
//! any exit code but 0 is a `push` failure with the tail of stderr in the
//! message, and a missing program says which package brings it.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::error::{Kind, StoreError};

/// How much of a child's stderr an error keeps (the tail, where the reason is).
const STDERR_TAIL_BYTES: usize = 2000;

/// Runs a child to completion under a wall-clock cap; `Ok(stdout)` only on exit 0.
pub async fn run(
    program: &str,
    args: &[String],
    what: &str,
    wall_timeout: Duration,
) -> Result<String, StoreError> {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| spawn_error(program, err))?;
    let output = tokio::time::timeout(wall_timeout, child.wait_with_output())
        .await
        .map_err(|_| {
            StoreError::new(
                Kind::Push,
                format!("{what} did not finish within {wall_timeout:?}; killed"),
            )
        })?
        .map_err(|err| {
            StoreError::with_source(Kind::Push, format!("waiting for {program}"), err)
        })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail =
        &stderr[stderr.floor_char_boundary(stderr.len().saturating_sub(STDERR_TAIL_BYTES))..];
    let code = output.status.code().map_or_else(
        || "a signal".to_string(),
        |code| format!("exit code {code}"),
    );
    Err(StoreError::new(
        Kind::Push,
        format!("{what} failed with {code}: {}", tail.trim()),
    ))
}

/// A child that cannot start; a missing program says which package brings it,
/// never a bare "No such file or directory".
fn spawn_error(program: &str, err: std::io::Error) -> StoreError {
    if err.kind() == std::io::ErrorKind::NotFound {
        let package = match program {
            "ssh" => "openssh-client",
            "rsync" => "rsync",
            // An `after_push` command: no package to name.
            other => {
                return StoreError::new(
                    Kind::ToolMissing,
                    format!("{other} was not found (not on PATH, or no such file)"),
                );
            }
        };
        return StoreError::new(
            Kind::ToolMissing,
            format!(
                "{program} is not installed (not found on PATH): install the `{package}` \
                 package, e.g. `apt-get install {package}`"
            ),
        );
    }
    StoreError::with_source(Kind::Push, format!("starting {program}"), err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11: on a fresh machine without rsync the quick start said only
    /// "No such file or directory".
    #[tokio::test]
    async fn a_missing_program_names_the_package_to_install() {
        let err = run(
            "menusync-test-no-such-program",
            &[],
            "a push",
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, Kind::ToolMissing);
        assert_eq!(
            err.message,
            "menusync-test-no-such-program was not found (not on PATH, or no such file)",
            "an after_push command names no package"
        );
        assert_eq!(
            spawn_error("rsync", std::io::ErrorKind::NotFound.into()).message,
            "rsync is not installed (not found on PATH): install the `rsync` package, \
             e.g. `apt-get install rsync`"
        );
        assert_eq!(
            spawn_error("ssh", std::io::ErrorKind::NotFound.into()).message,
            "ssh is not installed (not found on PATH): install the `openssh-client` package, \
             e.g. `apt-get install openssh-client`"
        );
    }
}
