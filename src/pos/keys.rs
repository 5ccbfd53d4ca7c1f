//! Where a POS API key comes from: an environment variable, a file, or a
//! systemd credential.
//!
//! The shipped unit loads the whole folder `/etc/menusync/credentials/` with
//! `LoadCredential=menusync:/etc/menusync/credentials`, so systemd passes each
//! file `NAME` there as the credential `menusync_NAME`, and a missing file no
//! longer stops the unit with a bare `status=243/CREDENTIALS`: the pass that
//! needs it fails as `config` and names the file. A command run by hand has
//! no `$CREDENTIALS_DIRECTORY`; it reads the same folder, preloaded while it
//! is still root (see `privileges`).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::config::ApiKeySource;
use crate::error::{Kind, StoreError};

/// A POS API key; prints as `MASKED` so it never reaches a log by accident.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: String) -> ApiKey {
        ApiKey(key)
    }

    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MASKED")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MASKED")
    }
}

/// The folder the shipped unit hands to the service as credentials.
pub const CREDENTIALS_SOURCE_DIR: &str = "/etc/menusync/credentials";
/// The credential id the unit gives that folder; its files become `<id>_<NAME>`.
const UNIT_CREDENTIAL_PREFIX: &str = "menusync_";
/// Credentials are keys, not documents; a bigger file is a mistake.
const MAX_CREDENTIAL_BYTES: u64 = 64 * 1024;

/// Credential files read by a hand-run command before it gave up root.
static PRELOADED: OnceLock<HashMap<String, String>> = OnceLock::new();

/// Reads every credential file in `dir` now, for a command about to give up
/// root (the files are root's, mode 0600). Unreadable entries are skipped:
/// the pass that needs one reports it.
pub fn preload_credentials(dir: &Path) {
    let mut keys = HashMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let small = entry
            .metadata()
            .is_ok_and(|meta| meta.is_file() && meta.len() <= MAX_CREDENTIAL_BYTES);
        if let (true, Some(name), Ok(text)) = (
            small,
            entry.file_name().to_str(),
            std::fs::read_to_string(&path),
        ) {
            keys.insert(name.to_string(), text);
        }
    }
    let _ = PRELOADED.set(keys);
}

/// Reads a key afresh from its source, so a rotated key or file applies at the next pass.
pub(super) fn read_api_key(source: &ApiKeySource) -> Result<ApiKey, StoreError> {
    read_secret(source).map(ApiKey::new)
}

/// A secret (a POS key, etcd's password) from its source, trailing newline
/// dropped; a missing or empty one is a `config` error naming the source.
pub fn read_secret(source: &ApiKeySource) -> Result<String, StoreError> {
    let key = match source {
        ApiKeySource::Env(name) => {
            std::env::var(name).map_err(|_| missing(format!("variable {name} is not set")))?
        }
        ApiKeySource::Credential(name) => match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) => read_credential(Path::new(&dir), name)?,
            None => match PRELOADED.get().and_then(|keys| keys.get(name)) {
                Some(text) => text.clone(),
                None => read_file(&Path::new(CREDENTIALS_SOURCE_DIR).join(name))?,
            },
        },
        ApiKeySource::File(path) => read_file(path)?,
    };
    let key = key.trim_end_matches(['\n', '\r']).to_string();
    if key.is_empty() {
        return Err(missing("is empty".to_string()));
    }
    Ok(key)
}

/// `menusync_NAME` (the shipped unit's folder), else `NAME` (a unit of one's
/// own with `LoadCredential=NAME:...`), in `$CREDENTIALS_DIRECTORY`.
fn read_credential(dir: &Path, name: &str) -> Result<String, StoreError> {
    let candidates: [PathBuf; 2] = [
        dir.join(format!("{UNIT_CREDENTIAL_PREFIX}{name}")),
        dir.join(name),
    ];
    for path in &candidates {
        if path.exists() {
            return read_file(path);
        }
    }
    Err(missing(format!(
        "credential `{name}` is missing: put the key in {CREDENTIALS_SOURCE_DIR}/{name} \
         (root's, mode 0600), then `systemctl restart menusync`"
    )))
}

fn read_file(path: &Path) -> Result<String, StoreError> {
    std::fs::read_to_string(path)
        .map_err(|err| missing(format!("file {} cannot be read: {err}", path.display())))
}

fn missing(what: String) -> StoreError {
    StoreError::new(Kind::Settings, format!("the POS API key {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 11): a missing key file stopped the unit with only
    /// `status=243/CREDENTIALS`; now the pass names the file to create.
    #[test]
    fn a_missing_credential_names_the_file_to_create() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_credential(dir.path(), "pos-hq").unwrap_err();
        assert_eq!(err.kind, Kind::Settings);
        assert!(
            err.message.contains("/etc/menusync/credentials/pos-hq"),
            "{}",
            err.message
        );
    }

    #[test]
    fn the_unit_folder_credential_wins_over_a_plain_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pos-hq"), "plain\n").unwrap();
        assert_eq!(read_credential(dir.path(), "pos-hq").unwrap(), "plain\n");
        std::fs::write(dir.path().join("menusync_pos-hq"), "folder\n").unwrap();
        assert_eq!(read_credential(dir.path(), "pos-hq").unwrap(), "folder\n");
    }
}
