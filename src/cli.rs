//! The command line, parsed with clap.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "menusync",
    version,
    about = "Keeps each store's ordering-site menu in step with its POS"
)]
pub struct Cli {
    /// The configuration file; relative paths inside it resolve against its folder.
    #[arg(long, global = true, default_value = "stores.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
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
        /// Publish even a menu that shrank past the shrink guard.
        #[arg(long)]
        allow_shrink: bool,
    },
    /// Check the configuration and exit; errors give file, line and column.
    Check,
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
    /// Point a store's current release back at an earlier one and push it to the targets.
    Rollback {
        /// The store id.
        store: String,
        /// The release to go back to; default the one before the current.
        #[arg(long, value_name = "RELEASE")]
        to: Option<String>,
    },
}
