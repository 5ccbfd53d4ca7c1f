//! The daemon loop: cron ticks fan out to store passes through bounded limits.
//!
//! tokio-cron-scheduler drops runs when it holds thousands of jobs, so there
//! is one job per distinct schedule, not per store. A job's only work is to
//! put a tick on a small bounded queue (light work); the dispatcher here turns
//! a tick into one pass per store of that schedule, skipping any store whose
//! previous pass is still running, so no store is ever synced twice at once.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, info_span, warn};

use crate::config::{Config, Store};
use crate::pipeline::{self, Context, PassOptions};

/// Ticks waiting for the dispatcher; a full queue drops the tick with a log line.
const TICK_QUEUE: usize = 64;

/// Stores with a pass in flight in this process.
#[derive(Default)]
struct RunningStores {
    /// Held only for an insert or a remove, never across `.await`.
    ids: Mutex<HashSet<String>>,
}

/// Marks a store as running until dropped.
struct RunningGuard {
    running: Arc<RunningStores>,
    store_id: String,
}

impl RunningStores {
    fn claim(self: &Arc<Self>, store_id: &str) -> Option<RunningGuard> {
        let mut ids = self
            .ids
            .lock()
            .expect("the running-stores lock is never poisoned");
        ids.insert(store_id.to_string()).then(|| RunningGuard {
            running: Arc::clone(self),
            store_id: store_id.to_string(),
        })
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.running
            .ids
            .lock()
            .expect("the running-stores lock is never poisoned")
            .remove(&self.store_id);
    }
}

/// Spawns passes and remembers which stores are busy.
struct Dispatcher {
    ctx: Arc<Context>,
    running: Arc<RunningStores>,
    /// Every spawned pass, so shutdown can wait for them.
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Dispatcher {
    fn dispatch(&self, stores: &[Arc<Store>]) {
        for store in stores {
            let Some(guard) = self.running.claim(&store.id) else {
                let span = info_span!("pass", store = %store.id, pos = %store.pos, run = "-");
                span.in_scope(|| {
                    info_span!("stage", stage = "schedule").in_scope(|| {
                        info!("tick skipped: the previous pass of this store is still running")
                    })
                });
                continue;
            };
            let ctx = Arc::clone(&self.ctx);
            let store = Arc::clone(store);
            let shutdown = self.shutdown.clone();
            self.tracker.spawn(async move {
                let _guard = guard;
                // Wait for a pass slot, unless the daemon is stopping meanwhile.
                let _permit = tokio::select! {
                    permit = Arc::clone(&ctx.passes).acquire_owned() => {
                        permit.expect("the pass semaphore is never closed")
                    }
                    () = shutdown.cancelled() => return,
                };
                pipeline::run_pass(&ctx, &store, PassOptions::default()).await;
            });
        }
    }
}

/// Groups stores by their cron schedule, one group per scheduler job.
fn schedule_groups(config: &Config) -> BTreeMap<String, Vec<Arc<Store>>> {
    let mut groups: BTreeMap<String, Vec<Arc<Store>>> = BTreeMap::new();
    for store in &config.stores {
        groups
            .entry(store.schedule.clone())
            .or_default()
            .push(Arc::clone(store));
    }
    groups
}

/// Runs the daemon until `shutdown` is cancelled, then waits for passes in flight.
pub async fn run(config: Arc<Config>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let ctx =
        Arc::new(Context::new(Arc::clone(&config)).map_err(|err| anyhow::anyhow!(err.chain()))?);
    let dispatcher = Dispatcher {
        ctx,
        running: Arc::new(RunningStores::default()),
        tracker: TaskTracker::new(),
        shutdown: shutdown.clone(),
    };
    let (tick_sender, mut ticks) = mpsc::channel::<Arc<Vec<Arc<Store>>>>(TICK_QUEUE);
    let mut scheduler = JobScheduler::new()
        .await
        .context("starting the scheduler")?;
    let groups = schedule_groups(&config);
    for (schedule, stores) in &groups {
        let sender = tick_sender.clone();
        let stores = Arc::new(stores.clone());
        let schedule_name = schedule.clone();
        let job = Job::new_async(schedule.as_str(), move |_id, _scheduler| {
            let sender = sender.clone();
            let stores = Arc::clone(&stores);
            let schedule_name = schedule_name.clone();
            Box::pin(async move {
                if sender.try_send(stores).is_err() {
                    warn!(schedule = %schedule_name, "tick dropped: the dispatcher is behind");
                }
            })
        })
        .with_context(|| format!("scheduling `{schedule}`"))?;
        scheduler
            .add(job)
            .await
            .with_context(|| format!("scheduling `{schedule}`"))?;
    }
    scheduler.start().await.context("starting the scheduler")?;
    info!(
        stores = config.stores.len(),
        schedules = groups.len(),
        "menusync running; first pass over every store now"
    );
    dispatcher.dispatch(&config.stores);

    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(stores) = ticks.recv() => dispatcher.dispatch(&stores),
        }
    }
    scheduler
        .shutdown()
        .await
        .context("stopping the scheduler")?;
    dispatcher.tracker.close();
    dispatcher.tracker.wait().await;
    info!("stopped; every pass in flight finished");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_can_be_claimed_once_until_its_guard_drops() {
        let running = Arc::new(RunningStores::default());
        let guard = running.claim("gangnam").expect("first claim succeeds");
        assert!(
            running.claim("gangnam").is_none(),
            "a running store is not claimed twice"
        );
        assert!(
            running.claim("yeoksam").is_some(),
            "other stores are independent"
        );
        drop(guard);
        assert!(running.claim("gangnam").is_some());
    }
}
