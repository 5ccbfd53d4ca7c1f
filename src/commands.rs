//! What each subcommand does, given a loaded configuration.

use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::pipeline::{self, Context, Outcome, PassOptions};
use crate::publish::StoreTree;
use crate::state::{LastError, StoreState, TargetState};

/// Exit code of a run in which some store failed.
pub const EXIT_STORE_FAILED: u8 = 1;
/// Exit code of a bad command line or configuration.
pub const EXIT_CONFIG: u8 = 2;

/// `menusync check`: the config loaded, so say what it holds.
pub fn check(config: &Config) -> ExitCode {
    println!(
        "{}: ok ({} stores, {} pos endpoints, {} targets)",
        config.path.display(),
        config.stores.len(),
        config.pos.len(),
        config.targets.len()
    );
    ExitCode::SUCCESS
}

/// `menusync once`: one pass over the chosen stores, concurrently within the limits.
pub async fn once(config: Arc<Config>, store_ids: &[String], options: PassOptions) -> ExitCode {
    let mut stores = Vec::new();
    for id in store_ids {
        match config.store(id) {
            Some(store) => stores.push(Arc::clone(store)),
            None => {
                eprintln!("{}: no store with id `{id}`", config.path.display());
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }
    if store_ids.is_empty() {
        stores = config.stores.clone();
    }
    let ctx = match Context::new(Arc::clone(&config), CancellationToken::new()) {
        Ok(ctx) => ctx,
        Err(err) => {
            eprintln!("menusync: {}", err.chain());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let concurrency = config.daemon.io_concurrency.get();
    let outcomes: Vec<Outcome> = futures_util::stream::iter(stores)
        .map(|store| {
            let ctx = &ctx;
            async move {
                crate::schedule::run_guarded(&store.id, pipeline::run_pass(ctx, &store, options))
                    .await
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    if outcomes.iter().all(Outcome::is_ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_STORE_FAILED)
    }
}

/// `menusync run`: the daemon.
pub async fn run(config: Arc<Config>) -> ExitCode {
    let shutdown = CancellationToken::new();
    let controls = match crate::shutdown::listen(shutdown.clone()) {
        Ok((_task, controls)) => controls,
        Err(err) => {
            eprintln!("menusync: cannot listen for signals: {err}");
            return ExitCode::FAILURE;
        }
    };
    match crate::schedule::run(config.path.clone(), config, shutdown, controls).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

/// One store's status, as `status --json` prints it.
#[derive(Debug, Serialize)]
pub struct StoreStatus {
    pub store: String,
    pub name: String,
    pub release: Option<String>,
    /// Absolute path of the published release directory (what `current` points at).
    pub published_dir: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_change: Option<DateTime<Utc>>,
    pub last_error: Option<LastError>,
    pub consecutive_failures: u32,
    pub failing_since: Option<DateTime<Utc>>,
    pub targets: std::collections::BTreeMap<String, TargetState>,
}

pub fn collect_status(config: &Config) -> Vec<StoreStatus> {
    config
        .stores
        .iter()
        .map(|store| {
            let tree = StoreTree::new(&config.daemon.state_dir, &store.id);
            let release = tree.current_release().ok().flatten();
            let state = StoreState::load(&tree.state_file()).unwrap_or_default();
            let published_dir = release.as_ref().map(|release| {
                let dir = tree.release_dir(release);
                std::path::absolute(&dir)
                    .unwrap_or(dir)
                    .display()
                    .to_string()
            });
            StoreStatus {
                store: store.id.clone(),
                name: store.settings.display_name.clone(),
                release,
                published_dir,
                last_success: state.last_success,
                last_change: state.last_change,
                last_error: state.last_error,
                consecutive_failures: state.consecutive_failures,
                failing_since: state.failing_since,
                targets: state.targets,
            }
        })
        .collect()
}

/// `menusync status`: a table, or JSON for scripts.
pub fn status(config: &Config, json: bool) -> ExitCode {
    let statuses = collect_status(config);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&statuses).expect("status always serialises")
        );
        return ExitCode::SUCCESS;
    }
    let time = |at: &Option<DateTime<Utc>>| {
        at.map_or("-".to_string(), |at| {
            at.format("%Y-%m-%d %H:%M:%SZ").to_string()
        })
    };
    println!(
        "{:<16} {:<36} {:<21} {:<21} LAST ERROR",
        "STORE", "RELEASE", "LAST SUCCESS", "LAST CHANGE"
    );
    for status in &statuses {
        let error = status.last_error.as_ref().map_or("-".to_string(), |err| {
            format!(
                "[{}] {} ({})",
                err.category,
                err.message,
                err.at.format("%Y-%m-%d %H:%M:%SZ")
            )
        });
        println!(
            "{:<16} {:<36} {:<21} {:<21} {}",
            status.store,
            status.release.as_deref().unwrap_or("-"),
            time(&status.last_success),
            time(&status.last_change),
            error
        );
    }
    ExitCode::SUCCESS
}
