//! The daemon's clock: one tokio-cron-scheduler for the daemon's whole life,
//! with one job per distinct schedule, each putting its schedule on the tick
//! queue. A reload changes only the jobs whose schedule came or went; an
//! unchanged schedule keeps its job.
//!
//! Why one scheduler: `JobScheduler::new` spawns listener tasks that its
//! `shutdown` does not end (it only sets a flag), so a scheduler built per
//! reload left those tasks and their channels behind: about 0.18 MB per
//! SIGHUP at 300 stores, for the life of the process (issue 23).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler};
use tracing::{debug, warn};
use uuid::Uuid;

use crate::config::{Config, Schedule};

pub(super) struct Clock {
    scheduler: JobScheduler,
    /// Schedule text → the job that ticks it.
    jobs: BTreeMap<String, Uuid>,
    /// Where every job puts its schedule; bounded, so a dispatcher that
    /// falls behind drops ticks instead of queueing them without end.
    ticks: mpsc::Sender<Arc<Schedule>>,
}

/// The jobs a new config needs and the ones it no longer does, made before
/// anything changes, so a refused reload leaves the clock as it was.
pub(super) struct Change {
    add: Vec<(String, Job)>,
    remove: Vec<String>,
}

impl Clock {
    /// A running clock with a job for each schedule of `config`.
    pub(super) async fn start(
        config: &Config,
        ticks: mpsc::Sender<Arc<Schedule>>,
    ) -> anyhow::Result<Clock> {
        let scheduler = JobScheduler::new()
            .await
            .context("starting the scheduler")?;
        let mut clock = Clock {
            scheduler,
            jobs: BTreeMap::new(),
            ticks,
        };
        let change = clock.change_for(config)?;
        clock.apply(change).await?;
        clock
            .scheduler
            .start()
            .await
            .context("starting the scheduler")?;
        Ok(clock)
    }

    /// The jobs to add and remove for `config`'s schedules; changes nothing yet.
    pub(super) fn change_for(&self, config: &Config) -> anyhow::Result<Change> {
        let wanted: BTreeMap<&str, &Schedule> = config
            .stores
            .iter()
            .map(|store| (store.schedule.as_str(), &store.schedule))
            .collect();
        let mut add = Vec::new();
        for (text, schedule) in &wanted {
            if !self.jobs.contains_key(*text) {
                add.push((text.to_string(), self.job(text, schedule)?));
            }
        }
        let remove = self
            .jobs
            .keys()
            .filter(|text| !wanted.contains_key(text.as_str()))
            .cloned()
            .collect();
        Ok(Change { add, remove })
    }

    /// Adds and removes the jobs of `change`.
    pub(super) async fn apply(&mut self, change: Change) -> anyhow::Result<()> {
        for text in change.remove {
            if let Some(id) = self.jobs.remove(&text)
                && let Err(err) = self.scheduler.remove(&id).await
            {
                warn!("removing the job of schedule `{text}`: {err}");
            }
        }
        for (text, job) in change.add {
            let id = self
                .scheduler
                .add(job)
                .await
                .with_context(|| format!("scheduling `{text}`"))?;
            self.jobs.insert(text, id);
        }
        debug!(jobs = self.jobs.len(), "clock set");
        Ok(())
    }

    /// How many jobs tick: one per distinct schedule.
    pub(super) fn job_count(&self) -> usize {
        self.jobs.len()
    }

    pub(super) async fn stop(mut self) -> anyhow::Result<()> {
        self.scheduler
            .shutdown()
            .await
            .context("stopping the scheduler")
    }

    fn job(&self, text: &str, schedule: &Schedule) -> anyhow::Result<Job> {
        let sender = self.ticks.clone();
        let tick = Arc::new(schedule.clone());
        Job::new_async(text, move |_id, _scheduler| {
            let sender = sender.clone();
            let tick = Arc::clone(&tick);
            Box::pin(async move {
                if sender.try_send(Arc::clone(&tick)).is_err() {
                    warn!(schedule = %tick, "tick dropped: the dispatcher is behind");
                }
            })
        })
        .with_context(|| format!("scheduling `{text}`"))
    }
}
