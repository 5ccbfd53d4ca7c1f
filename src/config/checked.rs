//! [`Config`]: the checked configuration the rest of the daemon sees, how it
//! is loaded from `stores.toml`, and the walk that checks each section into it.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::checker::{Checker, line_column};
use super::cluster::ClusterSettings;
use super::daemon::{DaemonSettings, LogSettings};
use super::error::ConfigError;
use super::explain;
use super::pos::PosEndpoint;
use super::raw::RawConfig;
use super::store::Store;
use super::target::Target;

/// The checked configuration.
#[derive(Debug)]
pub struct Config {
    /// The file this was read from, for messages.
    pub path: PathBuf,
    pub daemon: DaemonSettings,
    pub log: LogSettings,
    pub pos: BTreeMap<String, Arc<PosEndpoint>>,
    pub targets: BTreeMap<String, Arc<Target>>,
    pub stores: Vec<Arc<Store>>,
    /// Line and column of `state_dir` in the file (1:1 when it is not set), for messages.
    pub state_dir_position: (usize, usize),
    /// Active/standby on etcd; `None`: this host runs alone.
    pub cluster: Option<ClusterSettings>,
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::check_text(path, &text, true)
    }

    /// Checks `text` as if read from `path`; relative paths resolve against its folder.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        Config::check_text(path, text, false)
    }

    fn check_text(path: &Path, text: &str, on_disk: bool) -> Result<Config, ConfigError> {
        let checker = Checker {
            path,
            text,
            on_disk,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|err| {
            let span = err.span().unwrap_or(0..0);
            checker.error(
                span.clone(),
                explain::parse_error(err.message(), text, span),
            )
        })?;
        checker.check(raw)
    }

    /// For commands that write (`check`, `once`, `run`, `rollback`): an
    /// existing `state_dir` must be writable by this process. Read-only
    /// commands (`status`, `releases`, `diff`) skip it, so a monitoring user
    /// may run `menusync status`.
    pub fn check_state_dir_writable(&self) -> Result<(), ConfigError> {
        let dir = &self.daemon.state_dir;
        if !dir.is_dir() {
            return Ok(());
        }
        let access = rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK;
        rustix::fs::access(dir, access).map_err(|err| ConfigError::Invalid {
            path: self.path.display().to_string(),
            line: self.state_dir_position.0,
            column: self.state_dir_position.1,
            message: format!(
                "`state_dir` {} is not writable by this user ({err}): fix its owner or \
                 mode, or run as its owner",
                dir.display()
            ),
        })
    }

    pub fn store(&self, id: &str) -> Option<&Arc<Store>> {
        self.stores.iter().find(|store| store.id == id)
    }
}

impl Checker<'_> {
    /// Checks every section of `raw` into a [`Config`], in the order later sections need them.
    fn check(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let mut daemon = self.check_daemon(&raw.daemon)?;
        // Both maps are in name order, so an endpoint's slot is its place in `pos`.
        let mut pos = BTreeMap::new();
        for (slot, (name, endpoint)) in raw.pos.iter().enumerate() {
            let checked = self.check_pos(name, slot, endpoint)?;
            pos.insert(name.get_ref().clone(), Arc::new(checked));
        }
        let mut targets = BTreeMap::new();
        for (name, target) in &raw.target {
            let checked = self.check_target(name, target, &daemon.state_dir)?;
            targets.insert(name.get_ref().clone(), Arc::new(checked));
        }
        // Square locations go into their endpoint before stores share it.
        self.attach_locations(&mut pos, &raw.store)?;
        if let Some(name) = &raw.daemon.preview_target {
            daemon.preview_target =
                Some(self.check_preview_target(name, &targets, &raw.store, &daemon.state_dir)?);
        }
        let mut stores = Vec::with_capacity(raw.store.len());
        let mut seen_ids = HashSet::new();
        for store in &raw.store {
            let checked = self.check_store(store, &daemon, &pos, &targets)?;
            if !seen_ids.insert(checked.id.clone()) {
                return Err(self.error(
                    store.id.span(),
                    format!("store id `{}` is used twice", checked.id),
                ));
            }
            stores.push(Arc::new(checked));
        }
        let log = self.check_log(&raw.log)?;
        let cluster = match &raw.cluster {
            Some(cluster) => {
                let checked = self.check_cluster(cluster)?;
                self.check_cluster_targets(cluster, &stores)?;
                Some(checked)
            }
            None => None,
        };
        let state_dir_position = match &raw.daemon.state_dir {
            Some(dir) => line_column(self.text, dir.span().start),
            None => (1, 1),
        };
        Ok(Config {
            path: self.path.to_path_buf(),
            daemon,
            log,
            pos,
            targets,
            stores,
            state_dir_position,
            cluster,
        })
    }
}
