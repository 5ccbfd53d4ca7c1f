//! The `menusync` binary: parse the command line, set up logging, hand over to the library.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use menusync::cli::{Cli, Command};
use menusync::commands::{self, EXIT_CONFIG};
use menusync::config::Config;
use menusync::pipeline::PassOptions;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config_path()) {
        Ok(config) => Arc::new(config),
        Err(err) => {
            eprintln!("error: {err}");
            if cli.config.is_none() && matches!(err, menusync::config::ConfigError::Read { .. }) {
                eprintln!(
                    "hint: without --config, menusync reads ./{} where it exists, else {}; \
                     give --config PATH",
                    menusync::cli::LOCAL_CONFIG,
                    menusync::cli::INSTALLED_CONFIG
                );
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Root by hand on an installed host: read the root-only POS keys, then
    // become the state directory's owner, before any thread starts.
    if std::env::var_os("CREDENTIALS_DIRECTORY").is_none()
        && nix::unistd::Uid::effective().is_root()
    {
        menusync::pos::preload_credentials(std::path::Path::new(
            menusync::pos::CREDENTIALS_SOURCE_DIR,
        ));
    }
    match menusync::privileges::become_state_owner(&config.daemon.state_dir) {
        Ok(Some(became)) => eprintln!(
            "menusync: running as {} (uid {}), the owner of {}",
            became.user,
            became.uid,
            config.daemon.state_dir.display()
        ),
        Ok(None) => {}
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    }
    // Commands that write need a state_dir they can write in (after the
    // switch above, as the user that will write); read-only ones do not.
    // `notify` writes under state_dir only without a cluster (else into etcd).
    let notify_writes = matches!(cli.command, Command::Notify { .. }) && config.cluster.is_none();
    let writes = notify_writes
        || matches!(
            cli.command,
            Command::Check
                | Command::Once { .. }
                | Command::Run
                | Command::Rollback { .. }
                | Command::Approve { .. }
                | Command::Reject { .. }
        );
    if writes && let Err(err) = config.check_state_dir_writable() {
        eprintln!("error: {err}");
        return ExitCode::from(EXIT_CONFIG);
    }
    match cli.command {
        Command::Check => commands::check(&config),
        Command::Status { json } => commands::status(&config, json),
        Command::Notify { store, updated_at } => {
            runtime().block_on(commands::notify(&config, &store, updated_at))
        }
        Command::Once {
            stores,
            approve,
            allow_shrink,
        } => {
            let _log_guard = menusync::telemetry::init(&config.log);
            runtime().block_on(commands::once(
                config,
                &stores,
                PassOptions {
                    approve: approve || allow_shrink,
                    ..PassOptions::default()
                },
            ))
        }
        Command::Approve { store } => {
            let _log_guard = menusync::telemetry::init(&config.log);
            runtime().block_on(commands::approve(&config, &store))
        }
        Command::Reject { store } => {
            let _log_guard = menusync::telemetry::init(&config.log);
            runtime().block_on(commands::reject(&config, &store))
        }
        Command::Releases { store, json } => commands::releases(&config, &store, json),
        Command::Diff { store } => runtime().block_on(commands::diff(&config, &store)),
        Command::Rollback { store, to } => {
            let _log_guard = menusync::telemetry::init(&config.log);
            runtime().block_on(commands::rollback(&config, &store, to.as_deref()))
        }
        Command::Run => {
            let _log_guard = menusync::telemetry::init(&config.log);
            runtime().block_on(commands::run(config))
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
}
