//! The command line, parsed with clap.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "menusync",
    version,
    about = "Keeps each store's ordering-site menu in step with its POS"
)]
pub struct Cli {
    /// The configuration file; relative paths inside it resolve against its folder.
    /// Default: ./stores.toml if it exists, else /etc/menusync/stores.toml.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The config of a checkout: the quick start runs in the repository's folder.
pub const LOCAL_CONFIG: &str = "stores.toml";
/// The config the .deb installs; an installed host's commands find it without `--config`.
pub const INSTALLED_CONFIG: &str = "/etc/menusync/stores.toml";

impl Cli {
    /// The config to load: `--config`, else `./stores.toml` where it exists
    /// (a checkout), else the installed `/etc/menusync/stores.toml`.
    pub fn config_path(&self) -> PathBuf {
        choose_config(self.config.as_deref(), |path| path.exists())
    }
}

fn choose_config(given: Option<&Path>, exists: impl Fn(&Path) -> bool) -> PathBuf {
    match given {
        Some(path) => path.to_path_buf(),
        None if exists(Path::new(LOCAL_CONFIG)) => PathBuf::from(LOCAL_CONFIG),
        None => PathBuf::from(INSTALLED_CONFIG),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: sync every store on its schedule until SIGTERM or SIGINT.
    Run,
    /// Sync all stores, or the named ones, once and exit (0 when none failed).
    Once {
        /// A store id; repeat for several. All stores when absent.
        #[arg(long = "store", value_name = "ID")]
        stores: Vec<String>,
        /// A person approves this run: publish even what the shrink guard or
        /// a publish gate would hold.
        #[arg(long)]
        approve: bool,
        /// The same as --approve (kept for scripts written before it).
        #[arg(long)]
        allow_shrink: bool,
    },
    /// Check the configuration and exit; errors give file, line and column.
    Check,
    /// Tell the daemon a store's POS menu changed, so its pass runs now
    /// (a hint: the content hash still decides what is published). Written
    /// to etcd with [cluster], else to the state directory's event folder.
    Notify {
        /// The store id.
        store: String,
        /// When the POS says the menu changed (RFC 3339): an event not newer
        /// than what the store published is dropped by the daemon.
        #[arg(long, value_name = "RFC3339", value_parser = parse_updated_at)]
        updated_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Show each store's release, last success and change, staleness and last error.
    /// Exits 1 when a store has been failing for longer than stale_after_secs.
    Status {
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Fetch and transform a store's POS menu and show what would change; publish nothing.
    Diff {
        /// The store id.
        store: String,
    },
    /// List a store's kept releases, newest last.
    Releases {
        /// The store id.
        store: String,
        /// Print JSON for scripts instead of a list.
        #[arg(long)]
        json: bool,
    },
    /// Publish exactly the release a publish gate held (the one its preview
    /// page shows), if the POS still sends what built it, and push it.
    Approve {
        /// The store id.
        store: String,
    },
    /// Drop the held release; the published menu stays until the POS changes again.
    Reject {
        /// The store id.
        store: String,
    },
    /// Point a store's current release back at an earlier one and push it to the targets.
    Rollback {
        /// The store id.
        store: String,
        /// The release to go back to; default the one before the current.
        #[arg(long, value_name = "RELEASE")]
        to: Option<String>,
    },
}

fn parse_updated_at(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|err| format!("not an RFC 3339 date such as 2026-12-05T23:40:00Z: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 11): on an installed host `menusync status` read
    /// `./stores.toml` and failed; the installed config is the fallback.
    #[test]
    fn the_config_is_the_flag_else_a_local_file_else_the_installed_one() {
        let none = |_: &Path| false;
        let local = |path: &Path| path == Path::new(LOCAL_CONFIG);
        let given = Some(Path::new("/tmp/other.toml"));
        assert_eq!(
            choose_config(given, local),
            PathBuf::from("/tmp/other.toml")
        );
        assert_eq!(choose_config(None, local), PathBuf::from(LOCAL_CONFIG));
        assert_eq!(choose_config(None, none), PathBuf::from(INSTALLED_CONFIG));
    }
}
