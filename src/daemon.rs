//! The daemon loop: cron ticks fan out to store passes through bounded limits.
//!
//! tokio-cron-scheduler drops runs when it holds thousands of jobs, so there
//! is one job per distinct schedule, not per store. A job's only work is to
//! put its schedule on a small bounded queue (light work); the dispatcher here
//! turns a tick into one pass per store on that schedule in the *current*
//! config, skipping any store whose previous pass is still running, so no
//! store is ever synced twice at once. A tick does not start its stores at
//! once: they are spread evenly over the schedule's interval (splay, see
//! [`splay`]), so the POS sees a steady request rate rather than a burst.
//! The first pass after start and a SIGUSR1 pass are never delayed (SIGUSR1
//! also starts every store still waiting for its slot). Signals reload the
//! config or ask for a pass over every store; a stop lets passes finish up to
//! a deadline, then aborts them at a safe point.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, info_span, warn};

use crate::config::{Config, Schedule, Store};
use crate::metrics::Metrics;
use crate::notify;
use crate::pipeline::{self, Context, Outcome, PassOptions};
use crate::signals::Control;
use crate::state::Trigger;

mod clock;
mod events;
mod passes;
use clock::Clock;
use passes::{Passes, RunningGuard};

/// Ticks waiting for the dispatcher; a full queue drops the tick with a log line.
const TICK_QUEUE: usize = 64;
/// How often at most the metrics file and the status line are rewritten while passes end.
const METRICS_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

/// Spawns passes and remembers which stores are busy.
struct Dispatcher {
    /// Replaced on reload; passes in flight keep the context they started with.
    ctx: Arc<Context>,
    passes: Arc<Passes>,
    /// Every spawned pass, so shutdown can wait for them.
    tracker: TaskTracker,
    shutdown: CancellationToken,
    /// Bumped by SIGUSR1: passes waiting for their splay slot start now.
    now: tokio::sync::watch::Sender<u64>,
}

/// Each store's start within its schedule's interval: the stores sorted by a
/// hash of their id (ties by id), spaced `interval / n` apart. Stable while
/// the stores on the schedule stay the same; every offset is below `interval`.
pub fn splay(stores: &[Arc<Store>], interval: std::time::Duration) -> Vec<std::time::Duration> {
    use sha2::{Digest, Sha256};
    let mut ranked: Vec<(u64, &str, usize)> = stores
        .iter()
        .enumerate()
        .map(|(index, store)| {
            let digest = Sha256::digest(store.id.as_bytes());
            let key = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
            (key, store.id.as_str(), index)
        })
        .collect();
    ranked.sort();
    let count = ranked.len().max(1) as u32;
    let mut offsets = vec![std::time::Duration::ZERO; stores.len()];
    for (rank, (_, _, index)) in ranked.into_iter().enumerate() {
        offsets[index] = interval * rank as u32 / count;
    }
    offsets
}

/// The longest a tick spreads its stores over: a daily or twice-daily
/// schedule still has every store synced within minutes of its time.
const MAX_SPLAY: std::time::Duration = std::time::Duration::from_secs(300);

/// For a tick of `schedule` arriving at `now`: the window its stores are
/// spread over (from the run that was due to the next run, at most
/// [`MAX_SPLAY`]) and how late the tick arrived. Both zero when no run of
/// the schedule is found at or before `now`.
fn splay_window(
    schedule: &Schedule,
    now: chrono::DateTime<Utc>,
) -> (std::time::Duration, std::time::Duration) {
    let Some(due) = schedule.tick(now) else {
        return Default::default();
    };
    // The gap after `due` itself: the next two runs after a second before it.
    let window = schedule
        .interval(due - chrono::TimeDelta::seconds(1))
        .unwrap_or_default()
        .min(MAX_SPLAY);
    let late = (now - due).to_std().unwrap_or_default();
    (window, late)
}

impl Dispatcher {
    /// Every store of `schedule`, each at its splay offset from the tick's own
    /// time (at once without splay). Offsets count from when the tick was due,
    /// not from when it arrived, so a late tick does not shift its round into
    /// the next one and double the POS's rate for a moment.
    fn dispatch_tick(&self, schedule: &Schedule) {
        let stores = self.stores_on(schedule);
        let daemon = &self.ctx.config.daemon;
        let (window, late) = splay_window(schedule, Utc::now());
        let window = if daemon.splay {
            window
        } else {
            std::time::Duration::ZERO
        };
        let offsets = splay(&stores, window);
        for (store, offset) in stores.iter().zip(offsets) {
            self.spawn(store, offset.saturating_sub(late), Trigger::Schedule);
        }
    }

    /// Each of `stores` now.
    fn dispatch<'a>(&self, stores: impl IntoIterator<Item = &'a Arc<Store>>, trigger: Trigger) {
        for store in stores {
            self.spawn(store, std::time::Duration::ZERO, trigger);
        }
    }

    /// One pass of `store` after `delay` (cut short by SIGUSR1, by an
    /// event for the store, or by a stop). With a cluster, only the leader
    /// runs passes; a standby's ticks pass by.
    fn spawn(&self, store: &Arc<Store>, delay: std::time::Duration, trigger: Trigger) {
        if !self.may_run() {
            return;
        }
        let Some(guard) = self.passes.claim(&store.id, trigger) else {
            let span = info_span!("pass", store = %store.id, pos = %store.pos.name, run = "-");
            let _pass = span.enter();
            let what = match trigger {
                Trigger::Schedule => "tick",
                other => other.name(),
            };
            info_span!("stage", stage = %"schedule").in_scope(|| {
                info!(%trigger, "{what} skipped: the previous pass of this store is still running")
            });
            return;
        };
        self.run_claimed(guard, store, delay);
    }

    /// Whether this instance runs passes now: always alone, only as leader in a cluster.
    fn may_run(&self) -> bool {
        self.ctx
            .shared
            .member()
            .is_none_or(|member| member.leading().is_some())
    }

    /// Runs the claimed store's pass after `delay`, then once more while
    /// events that came during a pass ask for it.
    fn run_claimed(&self, guard: RunningGuard, store: &Arc<Store>, delay: std::time::Duration) {
        let ctx = Arc::clone(&self.ctx);
        let store = Arc::clone(store);
        let shutdown = self.shutdown.clone();
        let passes = Arc::clone(&self.passes);
        let mut now = self.now.subscribe();
        self.tracker.spawn(async move {
            if !delay.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = now.changed() => {}
                    () = guard.wake.notified() => {}
                    () = shutdown.cancelled() => return,
                }
            }
            let mut trigger = passes.start(&guard);
            loop {
                let options = PassOptions {
                    trigger,
                    ..PassOptions::default()
                };
                let Some(report) = pipeline::run_in_slot(&ctx, &store, options, &shutdown).await
                else {
                    return;
                };
                passes
                    .metrics_dirty
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                let outcome = &report.outcome;
                if *outcome != Outcome::Busy && *outcome != Outcome::Aborted {
                    passes.record(&store.id, outcome.is_ok(), Utc::now());
                }
                let succeeded = outcome.is_ok();
                if shutdown.is_cancelled()
                    || !passes.again(&guard, report.state.as_ref(), succeeded)
                {
                    return;
                }
                trigger = Trigger::Event;
            }
        });
    }

    /// Rewrites the metrics file and systemd's status line if a pass ended
    /// since the last time: every [`METRICS_FLUSH`], not per pass, since the
    /// summary counts every store.
    fn flush_metrics(&self) {
        if !self
            .passes
            .metrics_dirty
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        notify::status(&self.passes.summary());
        let daemon = &self.ctx.config.daemon;
        if let Some(dir) = &daemon.metrics_dir
            && let Err(err) =
                self.ctx
                    .shared
                    .metrics
                    .write(dir, chrono::Utc::now(), daemon.stale_after)
        {
            warn!(
                category = "storage",
                "cannot write metrics to {}: {err}",
                dir.display()
            );
        }
    }

    fn stores_on(&self, schedule: &Schedule) -> Vec<Arc<Store>> {
        let config = &self.ctx.config;
        config
            .stores
            .iter()
            .filter(|store| store.schedule == *schedule)
            .cloned()
            .collect()
    }
}

/// Stores that are new in `new`, or whose settings, POS or targets changed
/// (a store compares its resolved POS endpoint and targets by value).
fn changed_stores(old: &Config, new: &Config) -> Vec<Arc<Store>> {
    new.stores
        .iter()
        .filter(|store| {
            old.store(&store.id)
                .is_none_or(|before| **before != ***store)
        })
        .cloned()
        .collect()
}

/// Runs the daemon until `shutdown` is cancelled, then waits for passes in flight.
pub async fn run(
    config_path: PathBuf,
    config: Arc<Config>,
    shutdown: CancellationToken,
    mut controls: mpsc::Receiver<Control>,
) -> anyhow::Result<()> {
    let abort = CancellationToken::new();
    let metrics = Arc::new(Metrics::default());
    let ctx = Context::new(Arc::clone(&config), abort.clone(), metrics)
        .map_err(|err| anyhow::anyhow!(err.chain()))?;
    let mut dispatcher = Dispatcher {
        ctx: Arc::new(ctx),
        passes: Arc::new(Passes::default()),
        tracker: TaskTracker::new(),
        shutdown: shutdown.clone(),
        now: tokio::sync::watch::Sender::new(0),
    };
    let (tick_sender, mut ticks) = mpsc::channel::<Arc<Schedule>>(TICK_QUEUE);
    let mut clock = Clock::start(&config, tick_sender).await?;
    let membership = join_cluster(&dispatcher.ctx)?;
    let mut roles = membership.as_ref().map(|(member, _, _)| member.subscribe());
    let mut requests = tokio::time::interval(REQUEST_POLL);
    let intake = events::Intake::new(&dispatcher);
    let mut event_poll = tokio::time::interval(events::EVENT_POLL);
    event_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    info!(
        stores = config.stores.len(),
        "menusync running; first pass over every store now"
    );
    notify::ready(&format!(
        "{} stores, first pass running",
        config.stores.len()
    ));
    dispatcher.dispatch(&config.stores, Trigger::Start);

    let mut watchdog = notify::watchdog_interval().map(tokio::time::interval);
    // Passes mark the metrics dirty; the file is rewritten at most this often.
    let mut metrics_flush = tokio::time::interval(METRICS_FLUSH);
    loop {
        tokio::select! {
            _ = metrics_flush.tick() => dispatcher.flush_metrics(),
            () = shutdown.cancelled() => break,
            Ok(()) = async { roles.as_mut().expect("guarded by the if").changed().await }, if roles.is_some() => {
                let role = roles.as_mut().expect("guarded by the if").borrow_and_update().clone();
                record_role(&dispatcher.ctx, &role);
                dispatcher.passes.metrics_dirty.store(true, std::sync::atomic::Ordering::Relaxed);
                notify::status(&format!("cluster: {}", role.name()));
                if let crate::cluster::Role::Leading { .. } = role {
                    info!("leading: a pass over every store now");
                    dispatcher.dispatch(&dispatcher.ctx.config.stores.clone(), Trigger::Start);
                }
            }
            _ = requests.tick(), if membership.is_some() => dispatcher.carry_out_requests().await,
            _ = event_poll.tick() => dispatcher.take_events(&intake).await,
            Some(schedule) = ticks.recv() => dispatcher.dispatch_tick(&schedule),
            Some(control) = controls.recv() => match control {
                Control::SyncAll => {
                    info!("SIGUSR1: a pass over every store now");
                    dispatcher.now.send_modify(|count| *count += 1);
                    dispatcher.dispatch(&dispatcher.ctx.config.stores.clone(), Trigger::Signal);
                }
                Control::Reload => {
                    notify::reloading();
                    reload(&config_path, &mut dispatcher, &mut clock).await;
                    notify::ready(&dispatcher.passes.summary());
                }
            },
            _ = async { watchdog.as_mut().expect("guarded by the if").tick().await }, if watchdog.is_some() => {
                notify::watchdog();
            }
        }
    }
    notify::stopping();
    clock.stop().await?;
    dispatcher.tracker.close();
    let deadline = dispatcher.ctx.config.daemon.shutdown_timeout;
    if tokio::time::timeout(deadline, dispatcher.tracker.wait())
        .await
        .is_err()
    {
        warn!("passes still running {deadline:?} after the stop; aborting them at a safe point");
        abort.cancel();
        dispatcher.tracker.wait().await;
    }
    // Passes are over: resign now, so a standby takes over at once.
    if let Some((member, stop, task)) = membership {
        stop.cancel();
        let bound = member.request_timeout() * 3;
        if tokio::time::timeout(bound, task).await.is_err() {
            warn!(
                "the cluster membership did not end within {bound:?}; the lease runs out on its own"
            );
        }
    }
    dispatcher.flush_metrics();
    info!("stopped");
    Ok(())
}

/// How often a leader looks for staff decisions made on any host.
const REQUEST_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// This instance's membership, the token that ends it, and its task.
type Membership = (
    Arc<crate::cluster::Member>,
    CancellationToken,
    tokio::task::JoinHandle<()>,
);

/// With `[cluster]`: this instance's membership, campaigning in its own
/// task until the returned token stops it (after the passes, so it resigns
/// last).
fn join_cluster(ctx: &Arc<Context>) -> anyhow::Result<Option<Membership>> {
    let Some(settings) = &ctx.config.cluster else {
        return Ok(None);
    };
    let etcd = crate::cluster::connect(settings).map_err(|err| anyhow::anyhow!(err.chain()))?;
    let member = Arc::new(crate::cluster::Member::new(etcd, settings.clone()));
    ctx.shared
        .cluster
        .set(Arc::clone(&member))
        .map_err(|_| anyhow::anyhow!("the cluster membership is set once"))?;
    record_role(ctx, &member.role());
    info!(
        cluster = %settings.name,
        member = %settings.member,
        endpoints = settings.endpoints.len(),
        "joining the cluster; passes run only while this instance leads"
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (member, stop) = (Arc::clone(&member), stop.clone());
        async move { member.run(stop).await }
    });
    Ok(Some((member, stop, task)))
}

/// The role into the metrics, with who leads.
fn record_role(ctx: &Context, role: &crate::cluster::Role) {
    use crate::cluster::Role;
    let leader = match role {
        Role::Leading { .. } => ctx.config.cluster.as_ref().map(|c| c.member.clone()),
        Role::Standby { leader } => leader.clone(),
        Role::Starting | Role::Unreachable { .. } => None,
    };
    ctx.shared.metrics.set_cluster(role.name(), leader);
}

impl Dispatcher {
    /// A leader carries out the decisions staff made on any host
    /// (`approve`, `reject`, `rollback`), each in its own task.
    async fn carry_out_requests(&self) {
        let Some(member) = self.ctx.shared.member() else {
            return;
        };
        for claimed in member.claim_requests().await {
            let (ctx, member) = (Arc::clone(&self.ctx), Arc::clone(member));
            self.tracker.spawn(async move {
                let answer = carry_out(&ctx, &claimed).await;
                member.answer(&claimed.id, answer).await;
            });
        }
    }
}

/// One staff decision, as the command would run it on this host.
async fn carry_out(ctx: &Context, claimed: &crate::cluster::Claimed) -> crate::cluster::Answer {
    use crate::cluster::{Answer, Decision};
    let Some(store) = ctx.config.store(&claimed.store) else {
        return Answer {
            ok: false,
            message: format!(
                "no store with id `{}` in the leader's config",
                claimed.store
            ),
        };
    };
    let span = info_span!("pass", store = %store.id, pos = %store.pos.name, run = "request");
    let request = &claimed.request;
    let result = async {
        info_span!("stage", stage = %"decision").in_scope(|| {
            info!(from = %request.from, "carrying out `{:?}` asked on {}", request.op, request.from)
        });
        match request.op {
            Decision::Approve => crate::operations::approve(ctx, store).await,
            Decision::Reject => crate::operations::reject(ctx, store).await,
            Decision::Rollback => {
                crate::operations::rollback(ctx, store, request.to.as_deref()).await
            }
        }
    }
    .instrument(span.clone())
    .await;
    // What the decision changed (a pin, a rejection, the live release) is
    // the cluster's record now, before anything else can end this leader.
    let result = match result {
        Ok(release) => {
            let tree = crate::publish::StoreTree::new(&ctx.config.daemon.state_dir, &store.id);
            let recorded = match (
                ctx.shared.member(),
                crate::state::StoreState::load(&tree.state_file()),
            ) {
                (Some(member), Ok(state)) => {
                    member.record(&store.id, &state).instrument(span).await
                }
                (_, Err(err)) => Err(err),
                (None, Ok(_)) => Ok(()),
            };
            recorded.map(|()| release)
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(release) => Answer {
            ok: true,
            message: release,
        },
        Err(err) => Answer {
            ok: false,
            message: format!("[{}] {}", err.category(), err.chain()),
        },
    }
}

/// Applies a re-read config; on any error keeps the running one and says why.
async fn reload(config_path: &std::path::Path, dispatcher: &mut Dispatcher, clock: &mut Clock) {
    let new = match Config::load(config_path) {
        Ok(config) => Arc::new(config),
        Err(err) => {
            error!("reload refused, the running config stays: {err}");
            return;
        }
    };
    if new.cluster != dispatcher.ctx.config.cluster {
        error!(
            "reload refused, the running config stays: [cluster] changed, which takes a \
             restart (`systemctl restart menusync`; a standby takes over meanwhile)"
        );
        return;
    }
    let change = match clock.change_for(&new) {
        Ok(change) => change,
        Err(err) => {
            error!("reload refused, the running config stays: {err:#}");
            return;
        }
    };
    // Limits, breakers, rate limiters and ETag memos carry over (see `Context::reloaded`).
    let ctx = match dispatcher.ctx.reloaded(Arc::clone(&new)) {
        Ok(ctx) => ctx,
        Err(err) => {
            error!("reload refused, the running config stays: {}", err.chain());
            return;
        }
    };
    if let Err(err) = clock.apply(change).await {
        // Jobs made from a checked config do not fail to add; if one did,
        // its schedule stays unticked until the next reload, and says so.
        error!("reload: the clock is not fully set: {err:#}");
    }
    ctx.shared
        .metrics
        .retain(|store| new.store(store).is_some());
    let changed = changed_stores(&dispatcher.ctx.config, &new);
    let removed: Vec<&str> = dispatcher
        .ctx
        .config
        .stores
        .iter()
        .filter(|old| new.store(&old.id).is_none())
        .map(|old| old.id.as_str())
        .collect();
    // The tasks alive after a reload tell ops (and tests/daemon.rs) that
    // reloading leaves nothing behind: the count stays flat over reloads.
    info!(
        stores = new.stores.len(),
        changed = changed.len(),
        removed = removed.len(),
        schedules = clock.job_count(),
        tasks = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        "config reloaded; syncing new and changed stores now"
    );
    {
        let mut outcomes = dispatcher
            .passes
            .outcomes
            .lock()
            .expect("the outcome lock is never poisoned");
        outcomes.last_ok.retain(|id, _| new.store(id).is_some());
    }
    dispatcher.passes.retain(|id| new.store(id).is_some());
    dispatcher.ctx = Arc::new(ctx);
    dispatcher.dispatch(&changed, Trigger::Reload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores(ids: &[&str]) -> Vec<Arc<Store>> {
        let text = ids
            .iter()
            .map(|id| {
                format!(
                    "[[store]]\nid = \"{id}\"\nname = \"{id}\"\npos = \"p\"\npos_store_id = \"{id}\"\n"
                )
            })
            .collect::<String>();
        let config = Config::parse(
            std::path::Path::new("stores.toml"),
            &format!("[pos.p]\nkind = \"fixture\"\npath = \"x\"\n{text}"),
        )
        .unwrap();
        config.stores.clone()
    }

    /// Issue 16: a tick's stores start evenly spread over the interval, each
    /// at a place that depends on its id only, so the POS sees a steady rate.
    #[test]
    fn splay_spaces_stores_evenly_and_stably() {
        let interval = std::time::Duration::from_secs(15);
        let ids: Vec<String> = (0..100).map(|i| format!("store-{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let all = stores(&refs);
        let offsets = splay(&all, interval);
        let mut sorted = offsets.clone();
        sorted.sort();
        for (rank, offset) in sorted.iter().enumerate() {
            assert_eq!(*offset, interval * rank as u32 / 100, "evenly spaced");
        }
        assert!(sorted.last().unwrap() < &interval);
        // The order the stores are listed in changes nothing.
        let mut reversed = all.clone();
        reversed.reverse();
        let again = splay(&reversed, interval);
        for (index, store) in reversed.iter().enumerate() {
            let original = all.iter().position(|s| s.id == store.id).unwrap();
            assert_eq!(again[index], offsets[original], "{}", store.id);
        }
        // No interval (splay off, or a schedule that does not parse): all at once.
        assert!(
            splay(&all, std::time::Duration::ZERO)
                .iter()
                .all(|o| o.is_zero())
        );
    }

    fn schedule(text: &str) -> Schedule {
        Schedule::parse(text).unwrap()
    }

    #[test]
    fn a_schedule_interval_is_the_gap_between_two_runs() {
        let now = Utc::now();
        let interval = |s: &str| schedule(s).interval(now).unwrap();
        assert_eq!(
            interval("*/15 * * * * *"),
            std::time::Duration::from_secs(15)
        );
        assert_eq!(
            interval("0 */5 * * * *"),
            std::time::Duration::from_secs(300)
        );
        // A tick that arrives late belongs to the run that was due.
        let due = chrono::DateTime::parse_from_rfc3339("2026-12-03T10:00:15Z")
            .unwrap()
            .with_timezone(&Utc);
        let late = due + chrono::TimeDelta::milliseconds(700);
        assert_eq!(schedule("*/15 * * * * *").tick(late), Some(due));
        assert_eq!(schedule("*/15 * * * * *").tick(due), Some(due));
    }

    #[test]
    fn a_tick_spreads_its_stores_until_the_next_run_and_at_most_five_minutes() {
        let at = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        let secs = std::time::Duration::from_secs;
        let late = std::time::Duration::from_millis(700);
        assert_eq!(
            splay_window(&schedule("*/15 * * * * *"), at("2026-12-03T10:00:15.700Z")),
            (secs(15), late)
        );
        assert_eq!(
            splay_window(&schedule("0 */5 * * * *"), at("2026-12-03T10:05:00.700Z")),
            (secs(300), late)
        );
        // Twice a day: the 09:00 round is 8 hours long, the 17:00 one 16;
        // either way every store goes within five minutes of its time.
        for tick in ["2026-12-03T09:00:00.700Z", "2026-12-03T17:00:00.700Z"] {
            assert_eq!(
                splay_window(&schedule("0 0 9,17 * * *"), at(tick)),
                (MAX_SPLAY, late),
                "{tick}"
            );
        }
        // Every 10 s from second 0 to 40, then a 20 s gap: each round runs to
        // the next run, and a tick belongs to the run just due, whatever the
        // gap after it (the :30 tick is not the :20 one 10 s late).
        for (tick, window) in [("10", 10), ("30", 10), ("40", 20)] {
            assert_eq!(
                splay_window(
                    &schedule("0,10,20,30,40 * * * * *"),
                    at(&format!("2026-12-03T10:00:{tick}.700Z"))
                ),
                (secs(window), late),
                ":{tick}"
            );
        }
        assert_eq!(
            splay_window(
                &schedule("0 0 9,12,17 * * *"),
                at("2026-12-03T12:00:00.700Z")
            ),
            (MAX_SPLAY, late),
            "the 12:00 tick is not the 09:00 one three hours late"
        );
    }

    #[test]
    fn reload_resyncs_new_and_changed_stores_only() {
        let base = r#"
[pos.demo]
kind = "fixture"
path = "fixtures/pos"
[[store]]
id = "a"
name = "A"
pos = "demo"
pos_store_id = "S001"
[[store]]
id = "b"
name = "B"
pos = "demo"
pos_store_id = "S002"
"#;
        let old = Config::parse(std::path::Path::new("/x/stores.toml"), base).unwrap();
        let edited = base.replace("name = \"B\"", "name = \"B2\"")
            + "[[store]]\nid = \"c\"\nname = \"C\"\npos = \"demo\"\npos_store_id = \"S003\"\n";
        let new = Config::parse(std::path::Path::new("/x/stores.toml"), &edited).unwrap();
        let changed = changed_stores(&old, &new);
        let ids: Vec<&str> = changed.iter().map(|store| store.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        assert!(changed_stores(&new, &new).is_empty());
    }
}
