//! What each subcommand does, given a loaded configuration.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::config::Store;
use crate::pipeline::{self, Context, PassOptions};
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
    if let Some(cluster) = &config.cluster {
        eprintln!(
            "{}: `menusync once` does not run with [cluster] `{}`: every host runs `menusync run` \
             and only the leader publishes. To sync every store now, send SIGUSR1 to the leader \
             (`menusync status` names it).",
            config.path.display(),
            cluster.name
        );
        return ExitCode::from(EXIT_CONFIG);
    }
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
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let ctx = match Context::new(
        Arc::clone(&config),
        CancellationToken::new(),
        Arc::clone(&metrics),
    ) {
        Ok(ctx) => ctx,
        Err(err) => {
            eprintln!("menusync: {}", err.chain());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // One task per store, so passes spread over every worker thread; the pass
    // limit bounds how many run at once, as in the daemon.
    let ctx = Arc::new(ctx);
    let never = CancellationToken::new();
    let mut passes = tokio::task::JoinSet::new();
    for store in stores {
        let (ctx, never) = (Arc::clone(&ctx), never.clone());
        passes.spawn(async move {
            pipeline::run_in_slot(&ctx, &store, options, &never)
                .await
                .expect("nothing cancels a once run's slots")
        });
    }
    let reports: Vec<crate::pipeline::PassReport> = passes.join_all().await;
    if let Some(dir) = &config.daemon.metrics_dir
        && let Err(err) = metrics.write(dir, chrono::Utc::now(), config.daemon.stale_after)
    {
        tracing::warn!(
            category = "storage",
            "cannot write metrics to {}: {err}",
            dir.display()
        );
    }
    if reports.iter().all(|report| report.outcome.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_STORE_FAILED)
    }
}

/// `menusync run`: the daemon.
pub async fn run(config: Arc<Config>) -> ExitCode {
    let shutdown = CancellationToken::new();
    let controls = match crate::signals::listen(shutdown.clone()) {
        Ok((_task, controls)) => controls,
        Err(err) => {
            eprintln!("menusync: cannot listen for signals: {err}");
            return ExitCode::FAILURE;
        }
    };
    match crate::daemon::run(config.path.clone(), config, shutdown, controls).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `menusync notify STORE`: an event for the store, in etcd with a cluster
/// (the leader takes it), else in the spool folder the daemon on this host
/// polls. An unknown store is refused and nothing is written.
pub async fn notify(
    config: &Config,
    store_id: &str,
    updated_at: Option<DateTime<Utc>>,
) -> ExitCode {
    if config.store(store_id).is_none() {
        eprintln!(
            "menusync: [config] {}: no store with id `{store_id}`; nothing was written",
            config.path.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let written = match &config.cluster {
        Some(settings) => match crate::cluster::connect(settings) {
            Ok(etcd) => crate::cluster::notify(
                &etcd,
                settings,
                store_id,
                updated_at,
                Duration::from_secs(3),
            )
            .await
            .map(|()| format!("etcd, cluster `{}`", settings.name))
            .map_err(|err| format!("[network] cannot write the event to etcd: {err}")),
            Err(err) => Err(format!("[{}] {}", err.category(), err.chain())),
        },
        None => {
            let spool = crate::events::Spool::new(&config.daemon.state_dir);
            spool
                .write(store_id, updated_at)
                .map(|()| spool.dir().display().to_string())
                .map_err(|err| {
                    format!(
                        "[storage] cannot write the event into {}: {err} (run as root or as \
                         the owner of the state directory)",
                        spool.dir().display()
                    )
                })
        }
    };
    match written {
        Ok(place) => {
            let at = updated_at.map_or("undated".to_string(), |at| at.to_rfc3339());
            println!("{store_id}: event ({at}) written to {place}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("menusync: {store_id}: {why}");
            ExitCode::from(EXIT_STORE_FAILED)
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
    /// When the current run of failures began; `None` while the store is healthy.
    pub stale_since: Option<DateTime<Utc>>,
    /// Whether it has been failing for longer than `stale_after_secs`.
    pub stale: bool,
    pub consecutive_failures: u32,
    /// The last failure: news while `failing`, history once `healed_at` is set.
    pub last_error: Option<LastError>,
    /// Whether the store is failing now (its last pass failed).
    pub failing: bool,
    /// When the first success after `last_error` came; `None` while failing
    /// (or when an older state file did not record it).
    pub healed_at: Option<DateTime<Utc>>,
    /// Set while a rollback holds the store at an earlier release.
    pub pinned: bool,
    /// A release a publish gate holds for `approve` or `reject`: since when and why.
    pub held: Option<HeldStatus>,
    /// Set after `reject`, while the POS still sends the rejected menu.
    pub rejected: Option<DateTime<Utc>>,
    /// How long the last change the POS dated took to publish and to reach each target.
    pub lag: Option<crate::state::Lag>,
    /// What started the store's last pass: `schedule`, `event`, `signal`,
    /// `start`, `reload` or `once` (added in issue 25).
    pub last_trigger: Option<crate::state::Trigger>,
    pub targets: std::collections::BTreeMap<String, TargetState>,
    /// With `[cluster]`: the cluster's view (who leads, this host's role);
    /// the fields above are then the cluster's record of the store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStatus>,
}

/// What `status` shows of the cluster, on every host.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    pub name: String,
    /// The member that leads, if any.
    pub leader: Option<String>,
    /// This host's role as etcd shows it: `leader`, `standby` or `no-quorum`.
    pub role: String,
    /// Why etcd could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct HeldStatus {
    pub release: String,
    pub since: DateTime<Utc>,
    pub reasons: Vec<String>,
    /// The page that shows it, under the state directory.
    pub preview: String,
}

pub fn collect_status(config: &Config, now: DateTime<Utc>) -> Vec<StoreStatus> {
    collect_status_in(config, now, None)
}

/// The status of every store; with a cluster's view, each store as the
/// cluster recorded it (this host's own files for a store never recorded).
fn collect_status_in(
    config: &Config,
    now: DateTime<Utc>,
    cluster: Option<(&crate::cluster::View, ClusterStatus)>,
) -> Vec<StoreStatus> {
    config
        .stores
        .iter()
        .map(|store| {
            let tree = StoreTree::new(&config.daemon.state_dir, &store.id);
            let record = cluster
                .as_ref()
                .and_then(|(view, _)| view.stores.get(&store.id));
            let release = match record {
                Some(record) => record.release().map(str::to_string),
                None => tree.current_release().ok().flatten(),
            };
            let state = match record {
                Some(record) => record.clone(),
                None => StoreState::load(&tree.state_file()).unwrap_or_default(),
            };
            let published_dir = release.as_ref().map(|release| {
                let dir = tree.release_dir(release);
                std::path::absolute(&dir)
                    .unwrap_or(dir)
                    .display()
                    .to_string()
            });
            let stale = state.failing_since().is_some_and(|since| {
                (now - since).to_std().unwrap_or_default() > config.daemon.stale_after
            });
            StoreStatus {
                store: store.id.clone(),
                name: store.settings.display_name.clone(),
                release,
                published_dir,
                last_success: state.last_success(),
                last_change: state.last_change(),
                stale_since: state.failing_since(),
                stale,
                consecutive_failures: state.consecutive_failures(),
                last_error: state.last_error().cloned(),
                failing: state.failing(),
                healed_at: state.healed_at(),
                pinned: state.pinned().is_some(),
                held: state.held().map(|held| HeldStatus {
                    release: held.release.clone(),
                    since: held.since,
                    reasons: held.reasons.clone(),
                    preview: {
                        let page =
                            crate::preview::StorePreview::new(&config.daemon.state_dir, &store.id)
                                .held_page();
                        std::path::absolute(&page)
                            .unwrap_or(page)
                            .display()
                            .to_string()
                    },
                }),
                rejected: state.rejected().map(|rejected| rejected.at),
                lag: state.lag().cloned(),
                last_trigger: state.last_trigger(),
                targets: state.targets().clone(),
                cluster: cluster.as_ref().map(|(_, summary)| summary.clone()),
            }
        })
        .collect()
}

/// `menusync status`: a table, or JSON for scripts; exit 1 when a store is stale.
pub fn status(config: &Config, json: bool) -> ExitCode {
    let view = config.cluster.as_ref().map(|settings| {
        let view = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime starts")
            .block_on(crate::cluster::view(settings, Duration::from_secs(3)));
        let role = match (&view.error, &view.leader) {
            (Some(_), _) => "no-quorum",
            (None, Some(leader)) if leader.member == settings.member => "leader",
            (None, _) => "standby",
        };
        let summary = ClusterStatus {
            name: settings.name.clone(),
            leader: view.leader.as_ref().map(|leader| leader.member.clone()),
            role: role.to_string(),
            error: view.error.clone(),
        };
        (view, summary)
    });
    let statuses = collect_status_in(
        config,
        Utc::now(),
        view.as_ref().map(|(view, summary)| (view, summary.clone())),
    );
    if let Some((_, summary)) = &view
        && !json
    {
        match &summary.error {
            Some(error) => println!(
                "cluster {}: etcd gives no answer ({error}); stores below are this host's own files",
                summary.name
            ),
            None => println!(
                "cluster {}: {} leads; this host ({}) is {}",
                summary.name,
                summary.leader.as_deref().unwrap_or("nobody"),
                config.cluster.as_ref().map_or("-", |c| c.member.as_str()),
                summary.role
            ),
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&statuses).expect("status always serialises")
        );
    } else {
        print!(
            "{}",
            status_table(
                &statuses,
                std::io::IsTerminal::is_terminal(&std::io::stdout())
            )
        );
    }
    if statuses.iter().any(|status| status.stale) {
        ExitCode::from(EXIT_STORE_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// The human table; red for stale stores and yellow for failing ones, only on a terminal.
pub fn status_table(statuses: &[StoreStatus], colour: bool) -> String {
    let time = |at: &Option<DateTime<Utc>>| {
        at.map_or("-".to_string(), |at| {
            at.format("%Y-%m-%d %H:%M:%SZ").to_string()
        })
    };
    let mut out = format!(
        "{:<14} {:<38} {:<21} {:<21} {:<21} {:<9} {:>5}  LAST ERROR\n",
        "STORE", "RELEASE", "LAST SUCCESS", "LAST CHANGE", "STALE SINCE", "TRIGGER", "FAILS"
    );
    for status in statuses {
        let error = status.last_error.as_ref().map_or("-".to_string(), |err| {
            let error = format!(
                "[{}] {} ({})",
                err.category,
                err.message,
                err.at.format("%Y-%m-%d %H:%M:%SZ")
            );
            match (status.failing, status.healed_at) {
                (true, _) => error,
                (false, Some(at)) => format!("healed {}; was {error}", time(&Some(at))),
                (false, None) => format!("healed; was {error}"),
            }
        });
        let release = match (&status.release, status.pinned) {
            (Some(release), true) => format!("{release} (rollback)"),
            (Some(release), false) => release.clone(),
            (None, _) => "-".to_string(),
        };
        let line = format!(
            "{:<14} {:<38} {:<21} {:<21} {:<21} {:<9} {:>5}  {}",
            status.store,
            release,
            time(&status.last_success),
            time(&status.last_change),
            time(&status.stale_since),
            status.last_trigger.map_or("-", |trigger| trigger.name()),
            status.consecutive_failures,
            error
        );
        let paint = match (colour, status.stale, status.consecutive_failures > 0) {
            (false, _, _) => None,
            (true, true, _) => Some("31"),
            (true, false, true) => Some("33"),
            (true, false, false) => None,
        };
        match paint {
            Some(code) => out.push_str(&format!("\x1b[{code}m{line}\x1b[0m\n")),
            None => out.push_str(&format!("{line}\n")),
        }
        if let Some(held) = &status.held {
            out.push_str(&format!(
                "{:<14} HELD {} since {}: {}\n{:<14} preview {} · menusync approve|reject {}\n",
                "",
                held.release,
                held.since.format("%Y-%m-%d %H:%M:%SZ"),
                held.reasons.join("; "),
                "",
                held.preview,
                status.store
            ));
        }
        if let Some(lag) = &status.lag {
            let targets: String = lag
                .targets
                .iter()
                .map(|(name, secs)| format!(", {name} {secs:.1}s"))
                .collect();
            let first = if lag.first_release {
                " (the store's first release: the menu's age, not a delay)"
            } else {
                ""
            };
            out.push_str(&format!(
                "{:<14} lag of the POS change of {}: publish {:.1}s{targets}{first}\n",
                "",
                lag.changed_at.format("%Y-%m-%d %H:%M:%SZ"),
                lag.publish_secs
            ));
        }
        if let Some(at) = status.rejected {
            out.push_str(&format!(
                "{:<14} rejected at {}; the published menu stays until the POS changes\n",
                "",
                at.format("%Y-%m-%d %H:%M:%SZ")
            ));
        }
    }
    out
}

fn find_store(config: &Config, id: &str) -> Result<Arc<Store>, ExitCode> {
    config.store(id).cloned().ok_or_else(|| {
        eprintln!("{}: no store with id `{id}`", config.path.display());
        ExitCode::from(EXIT_CONFIG)
    })
}

fn context(config: &Arc<Config>) -> Result<Context, ExitCode> {
    Context::new(Arc::clone(config), CancellationToken::new(), Arc::default()).map_err(|err| {
        eprintln!("menusync: {}", err.chain());
        ExitCode::from(EXIT_CONFIG)
    })
}

/// `menusync releases STORE`.
pub fn releases(config: &Arc<Config>, store_id: &str, json: bool) -> ExitCode {
    let (store, ctx) =
        match find_store(config, store_id).and_then(|store| Ok((store, context(config)?))) {
            Ok(found) => found,
            Err(code) => return code,
        };
    match crate::operations::releases(&ctx, &store) {
        Ok(list) if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&list).expect("releases always serialise")
            );
            ExitCode::SUCCESS
        }
        Ok(list) => {
            for info in list {
                let items = info.items.map_or("?".to_string(), |n| n.to_string());
                let marker = if info.current { "  <- current" } else { "" };
                println!("{}  {items:>4} items{marker}", info.release);
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("menusync: {store_id}: [{}] {}", err.category(), err.chain());
            ExitCode::from(EXIT_STORE_FAILED)
        }
    }
}

/// `menusync rollback STORE [--to RELEASE]`.
pub async fn rollback(config: &Arc<Config>, store_id: &str, to: Option<&str>) -> ExitCode {
    if config.cluster.is_some() {
        return ask_leader(config, store_id, crate::cluster::Decision::Rollback, to).await;
    }
    let (store, ctx) =
        match find_store(config, store_id).and_then(|store| Ok((store, context(config)?))) {
            Ok(found) => found,
            Err(code) => return code,
        };
    match crate::operations::rollback(&ctx, &store, to).await {
        Ok(release) => {
            tracing::info!(store = %store_id, release = %release, "rolled back to {release}");
            println!("{store_id}: current is now {release}; held until the POS menu changes");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!(
                "menusync: {store_id}: rollback failed [{}]: {}",
                err.category(),
                err.chain()
            );
            ExitCode::from(EXIT_STORE_FAILED)
        }
    }
}

/// `menusync approve STORE`.
pub async fn approve(config: &Arc<Config>, store_id: &str) -> ExitCode {
    decide(config, store_id, "approve").await
}

/// `menusync reject STORE`.
pub async fn reject(config: &Arc<Config>, store_id: &str) -> ExitCode {
    decide(config, store_id, "reject").await
}

async fn decide(config: &Arc<Config>, store_id: &str, what: &str) -> ExitCode {
    if config.cluster.is_some() {
        let decision = if what == "approve" {
            crate::cluster::Decision::Approve
        } else {
            crate::cluster::Decision::Reject
        };
        return ask_leader(config, store_id, decision, None).await;
    }
    let (store, ctx) =
        match find_store(config, store_id).and_then(|store| Ok((store, context(config)?))) {
            Ok(found) => found,
            Err(code) => return code,
        };
    let decided = if what == "approve" {
        crate::operations::approve(&ctx, &store).await
    } else {
        crate::operations::reject(&ctx, &store).await
    };
    match decided {
        Ok(release) if what == "approve" => {
            println!("{store_id}: approved; {release} is published and pushed to the targets");
            ExitCode::SUCCESS
        }
        Ok(release) => {
            println!(
                "{store_id}: rejected {release}; the published menu stays until the POS menu changes"
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!(
                "menusync: {store_id}: {what} failed [{}]: {}",
                err.category(),
                err.chain()
            );
            ExitCode::from(EXIT_STORE_FAILED)
        }
    }
}

/// How long a decision waits for the leader to carry it out.
const DECISION_WAIT: Duration = Duration::from_secs(120);

/// With a cluster, a decision is the leader's to carry out, on any host it
/// was made: written to etcd, claimed by the leader, answered.
async fn ask_leader(
    config: &Arc<Config>,
    store_id: &str,
    op: crate::cluster::Decision,
    to: Option<&str>,
) -> ExitCode {
    if let Err(code) = find_store(config, store_id) {
        return code;
    }
    let settings = config.cluster.as_ref().expect("called with a cluster");
    let etcd = match crate::cluster::connect(settings) {
        Ok(etcd) => etcd,
        Err(err) => {
            eprintln!("menusync: {}", err.chain());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let request = crate::cluster::Request {
        op,
        to: to.map(str::to_string),
        from: settings.member.clone(),
        at: Utc::now(),
    };
    let what = format!("{op:?}").to_lowercase();
    match crate::cluster::ask(&etcd, settings, store_id, &request, DECISION_WAIT).await {
        Ok(answer) if answer.ok => {
            tracing::info!(store = %store_id, release = %answer.message, "{what} carried out by the leader");
            match op {
                crate::cluster::Decision::Approve => println!(
                    "{store_id}: approved; {} is published and pushed to the targets (by the leader)",
                    answer.message
                ),
                crate::cluster::Decision::Reject => println!(
                    "{store_id}: rejected {}; the published menu stays until the POS menu changes",
                    answer.message
                ),
                crate::cluster::Decision::Rollback => println!(
                    "{store_id}: current is now {}; held until the POS menu changes (on every host)",
                    answer.message
                ),
            }
            ExitCode::SUCCESS
        }
        Ok(answer) => {
            eprintln!(
                "menusync: {store_id}: {what} failed on the leader: {}",
                answer.message
            );
            ExitCode::from(EXIT_STORE_FAILED)
        }
        Err(why) => {
            eprintln!("menusync: {store_id}: {what} not carried out: {why}");
            ExitCode::from(EXIT_STORE_FAILED)
        }
    }
}

/// `menusync diff STORE`.
pub async fn diff(config: &Arc<Config>, store_id: &str) -> ExitCode {
    let (store, ctx) =
        match find_store(config, store_id).and_then(|store| Ok((store, context(config)?))) {
            Ok(found) => found,
            Err(code) => return code,
        };
    match crate::operations::preview(&ctx, &store).await {
        Ok(preview) => {
            println!("{store_id}: {}", preview.diff);
            for why in &preview.kept_back {
                println!("{store_id}: a pass would not publish this: {why}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("menusync: {store_id}: [{}] {}", err.category(), err.chain());
            ExitCode::from(EXIT_STORE_FAILED)
        }
    }
}
