//! Metrics without a port: Prometheus text for node_exporter's textfile collector.
//!
//! Counters live in memory since the process started (Prometheus handles
//! resets); gauges come from each store's state after its last pass. The file
//! `<metrics_dir>/menusync.prom` is replaced atomically (temp file, fsync,
//! rename), so the collector never reads half a file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::report::{Outcome, PassReport};

pub const METRICS_FILE: &str = "menusync.prom";

#[derive(Debug, Default)]
struct StoreMetrics {
    /// (result, category) → passes; category is empty unless the result is `failed`.
    passes: BTreeMap<(&'static str, String), u64>,
    /// stage → (seconds summed, passes counted)
    stages: BTreeMap<&'static str, (f64, u64)>,
    image_bytes: u64,
    last_success: Option<DateTime<Utc>>,
    last_change: Option<DateTime<Utc>>,
    consecutive_failures: u32,
    failing_since: Option<DateTime<Utc>>,
    release: Option<String>,
    /// When the release waiting for approval was held.
    held_since: Option<DateTime<Utc>>,
    /// Change-to-served lag: `to` ("publish" or a target) → histogram.
    lag: BTreeMap<String, LagHistogram>,
    /// The POS change times already counted per `to`, so a change counts once.
    lag_seen: BTreeMap<String, DateTime<Utc>>,
    /// Passes by what started them (schedule, event, signal, start, ...).
    triggers: BTreeMap<&'static str, u64>,
    /// What started the last pass.
    last_trigger: Option<&'static str>,
}

/// Upper bounds of the lag histogram, in seconds.
const LAG_BUCKETS: [f64; 13] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

#[derive(Debug, Default, Clone)]
struct LagHistogram {
    /// Observations at or below each bound of [`LAG_BUCKETS`].
    buckets: [u64; LAG_BUCKETS.len()],
    count: u64,
    sum: f64,
    /// The last lag seen, counted or not.
    last: f64,
}

impl LagHistogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, bucket) in LAG_BUCKETS.iter().zip(self.buckets.iter_mut()) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Every store's metrics; shared by all passes of the process.
#[derive(Debug)]
pub struct Metrics {
    /// Held only to update or render, never across `.await`.
    stores: Mutex<BTreeMap<String, StoreMetrics>>,
    /// When this process began counting: a lag measured before it (read back
    /// from the state after a restart) is shown, not counted again.
    since: DateTime<Utc>,
    /// With a cluster: this instance's role (`leader`, `standby`,
    /// `no-quorum`, `starting`) and who leads, if known.
    cluster: Mutex<Option<(&'static str, Option<String>)>>,
}

/// Counting starts now.
impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            stores: Mutex::default(),
            since: Utc::now(),
            cluster: Mutex::default(),
        }
    }
}

impl Metrics {
    /// This instance's role in its cluster, and who leads.
    pub fn set_cluster(&self, role: &'static str, leader: Option<String>) {
        *self
            .cluster
            .lock()
            .expect("the metrics lock is never poisoned") = Some((role, leader));
    }

    /// Counts one pass and takes the store's state after it.
    pub fn record(&self, report: &PassReport) {
        let (result, category) = match &report.outcome {
            Outcome::Unchanged => ("unchanged", String::new()),
            Outcome::Published { .. } => ("published", String::new()),
            Outcome::Held { .. } => ("held", String::new()),
            Outcome::Failed { category, .. } => ("failed", category.to_string()),
            Outcome::Busy | Outcome::Aborted => return,
        };
        let mut stores = self
            .stores
            .lock()
            .expect("the metrics lock is never poisoned");
        let store = stores.entry(report.store_id.clone()).or_default();
        *store.passes.entry((result, category)).or_default() += 1;
        for (stage, elapsed) in &report.stages {
            let entry = store.stages.entry(stage).or_default();
            entry.0 += elapsed.as_secs_f64();
            entry.1 += 1;
        }
        store.image_bytes += report.image_bytes;
        if let Some(trigger) = report.state.as_ref().and_then(|state| state.last_trigger()) {
            *store.triggers.entry(trigger.name()).or_default() += 1;
            store.last_trigger = Some(trigger.name());
        }
        if let Some(state) = &report.state {
            store.last_success = state.last_success();
            store.last_change = state.last_change();
            store.consecutive_failures = state.consecutive_failures();
            store.failing_since = state.failing_since();
            store.release = state.release().map(str::to_string);
            store.held_since = state.held().map(|held| held.since);
            if let Some(lag) = state.lag() {
                let observations = std::iter::once(("publish".to_string(), lag.publish_secs))
                    .chain(lag.targets.iter().map(|(name, secs)| (name.clone(), *secs)));
                for (to, seconds) in observations {
                    if store.lag_seen.get(&to) == Some(&lag.changed_at) {
                        continue;
                    }
                    store.lag_seen.insert(to.clone(), lag.changed_at);
                    let histogram = store.lag.entry(to).or_default();
                    histogram.last = seconds;
                    // A store's first release measures its menu's age, not a
                    // delay; a lag from before this process was counted by it.
                    if !lag.first_release && lag.measured_at(seconds) >= self.since {
                        histogram.observe(seconds);
                    }
                }
            }
        }
    }

    /// Drops stores no longer configured, after a reload.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.stores
            .lock()
            .expect("the metrics lock is never poisoned")
            .retain(|store, _| keep(store));
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, now: DateTime<Utc>, stale_after: Duration) -> String {
        let stores = self
            .stores
            .lock()
            .expect("the metrics lock is never poisoned");
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, lines: Vec<String>| {
            let _ = writeln!(
                out,
                "# HELP menusync_{name} {help}\n# TYPE menusync_{name} {kind}"
            );
            for line in lines {
                let _ = writeln!(out, "menusync_{line}");
            }
        };
        let cluster = self
            .cluster
            .lock()
            .expect("the metrics lock is never poisoned")
            .clone();
        if let Some((role, leader)) = cluster {
            family(
                "cluster_leader",
                "gauge",
                "1 while this instance leads its cluster (passes and pushes run here).",
                vec![format!("cluster_leader {}", u8::from(role == "leader"))],
            );
            family(
                "cluster_quorum",
                "gauge",
                "0 while etcd gives this instance no answer (down, partitioned, no quorum): nothing is published from here.",
                vec![format!("cluster_quorum {}", u8::from(role != "no-quorum"))],
            );
            let leader = leader.unwrap_or_default().replace(['"', '\\', '\n'], "_");
            family(
                "cluster_role",
                "gauge",
                "This instance's role in its cluster, and who leads.",
                vec![format!(
                    "cluster_role{{role=\"{role}\",leader=\"{leader}\"}} 1"
                )],
            );
        }
        let per_store =
            |value: &dyn Fn(&StoreMetrics) -> Option<String>, name: &str| -> Vec<String> {
                stores
                    .iter()
                    .filter_map(|(id, store)| {
                        value(store).map(|v| format!("{name}{{store=\"{id}\"}} {v}"))
                    })
                    .collect()
            };
        let timestamp = |at: Option<DateTime<Utc>>| {
            at.map(|at| format!("{:.3}", at.timestamp_millis() as f64 / 1000.0))
        };
        family(
            "last_success_timestamp_seconds",
            "gauge",
            "When the store's last successful pass ended (published or unchanged).",
            per_store(
                &|s| timestamp(s.last_success),
                "last_success_timestamp_seconds",
            ),
        );
        family(
            "last_change_timestamp_seconds",
            "gauge",
            "When the store last published a new release.",
            per_store(
                &|s| timestamp(s.last_change),
                "last_change_timestamp_seconds",
            ),
        );
        family(
            "held",
            "gauge",
            "1 while a release waits for menusync approve or reject (a publish gate tripped).",
            per_store(
                &|s| Some(u8::from(s.held_since.is_some()).to_string()),
                "held",
            ),
        );
        family(
            "held_since_timestamp_seconds",
            "gauge",
            "When the release waiting for approval was held.",
            per_store(&|s| timestamp(s.held_since), "held_since_timestamp_seconds"),
        );
        family(
            "consecutive_failures",
            "gauge",
            "Failed passes in a row.",
            per_store(
                &|s| Some(s.consecutive_failures.to_string()),
                "consecutive_failures",
            ),
        );
        family(
            "stale",
            "gauge",
            "1 when the store has been failing for longer than stale_after_secs.",
            per_store(
                &|s| {
                    let stale = s.failing_since.is_some_and(|since| {
                        (now - since).to_std().unwrap_or_default() > stale_after
                    });
                    Some(u8::from(stale).to_string())
                },
                "stale",
            ),
        );
        let mut passes = Vec::new();
        let mut stage_sums = Vec::new();
        let mut stage_counts = Vec::new();
        let mut releases = Vec::new();
        let mut triggers = Vec::new();
        let mut last_triggers = Vec::new();
        for (id, store) in stores.iter() {
            for (trigger, count) in &store.triggers {
                triggers.push(format!(
                    "pass_trigger_total{{store=\"{id}\",trigger=\"{trigger}\"}} {count}"
                ));
            }
            if let Some(trigger) = store.last_trigger {
                last_triggers.push(format!(
                    "last_pass_trigger{{store=\"{id}\",trigger=\"{trigger}\"}} 1"
                ));
            }
            for ((result, category), count) in &store.passes {
                passes.push(format!("passes_total{{store=\"{id}\",result=\"{result}\",category=\"{category}\"}} {count}"));
            }
            for (stage, (seconds, count)) in &store.stages {
                stage_sums.push(format!(
                    "stage_duration_seconds_sum{{store=\"{id}\",stage=\"{stage}\"}} {seconds:.6}"
                ));
                stage_counts.push(format!(
                    "stage_duration_seconds_count{{store=\"{id}\",stage=\"{stage}\"}} {count}"
                ));
            }
            if let Some(release) = &store.release {
                releases.push(format!(
                    "release_info{{store=\"{id}\",release=\"{release}\"}} 1"
                ));
            }
        }
        family(
            "passes_total",
            "counter",
            "Passes by result, and failures by category.",
            passes,
        );
        family(
            "pass_trigger_total",
            "counter",
            "Passes by what started them: schedule, event (menusync notify or an etcd event key), signal (SIGUSR1), start, reload, once.",
            triggers,
        );
        family(
            "last_pass_trigger",
            "gauge",
            "What started the store's last pass (1 on that trigger's line).",
            last_triggers,
        );
        stage_sums.extend(stage_counts);
        family(
            "stage_duration_seconds",
            "summary",
            "Time spent in each stage of a pass.",
            stage_sums,
        );
        family(
            "image_bytes_downloaded_total",
            "counter",
            "Image bytes fetched from the POS.",
            per_store(
                &|s| Some(s.image_bytes.to_string()),
                "image_bytes_downloaded_total",
            ),
        );
        family(
            "release_info",
            "gauge",
            "The release each store has published.",
            releases,
        );
        let mut lag_lines = Vec::new();
        let mut last_lines = Vec::new();
        for (id, store) in stores.iter() {
            for (to, histogram) in &store.lag {
                let labels = format!("store=\"{id}\",to=\"{to}\"");
                for (bound, count) in LAG_BUCKETS.iter().zip(histogram.buckets) {
                    lag_lines.push(format!(
                        "change_lag_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                    ));
                }
                lag_lines.push(format!(
                    "change_lag_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    histogram.count
                ));
                lag_lines.push(format!(
                    "change_lag_seconds_sum{{{labels}}} {:.3}",
                    histogram.sum
                ));
                lag_lines.push(format!(
                    "change_lag_seconds_count{{{labels}}} {}",
                    histogram.count
                ));
                last_lines.push(format!(
                    "last_change_lag_seconds{{{labels}}} {:.3}",
                    histogram.last
                ));
            }
        }
        family(
            "change_lag_seconds",
            "histogram",
            "From the time the POS dated a menu change (updatedAt) to its publish (to=\"publish\") and to each target serving it.",
            lag_lines,
        );
        family(
            "last_change_lag_seconds",
            "gauge",
            "The lag of the last dated POS change, per store and per publish or target.",
            last_lines,
        );
        out
    }

    /// Replaces `<dir>/menusync.prom` atomically.
    pub fn write(
        &self,
        dir: &Path,
        now: DateTime<Utc>,
        stale_after: Duration,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        // What a killed daemon left of its own file, never anything else of a shared folder.
        crate::atomic::remove_orphans(dir, Some(METRICS_FILE))?;
        crate::atomic::write(
            &dir.join(METRICS_FILE),
            self.render(now, stale_after).as_bytes(),
            crate::atomic::Mtime::Now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Category;
    use crate::state::StoreState;

    #[test]
    fn renders_counters_gauges_and_summaries_per_store() {
        let metrics = Metrics::default();
        let now = Utc::now();
        let mut state = StoreState::default();
        state.went_live(
            "m-0123456789abcdef0123",
            3,
            crate::state::WentLive::RolledBack,
            now,
        );
        state.record_success(now);
        state.record_trigger(crate::state::Trigger::Event);
        metrics.record(&PassReport {
            store_id: "gangnam".into(),
            outcome: Outcome::Published {
                release: "r".into(),
            },
            stages: vec![
                ("fetch", Duration::from_millis(250)),
                ("images", Duration::from_millis(500)),
            ],
            image_bytes: 4096,
            state: Some(state),
        });
        let mut failing = StoreState::default();
        failing.record_failure(
            Category::Network,
            "down".into(),
            now - chrono::TimeDelta::hours(2),
        );
        metrics.record(&PassReport {
            state: Some(failing),
            ..PassReport::failed("yeoksam", Category::Network, "down".into())
        });
        let text = metrics.render(now, Duration::from_secs(3600));
        for expected in [
            "menusync_passes_total{store=\"gangnam\",result=\"published\",category=\"\"} 1",
            "menusync_passes_total{store=\"yeoksam\",result=\"failed\",category=\"network\"} 1",
            "menusync_stage_duration_seconds_sum{store=\"gangnam\",stage=\"fetch\"} 0.250000",
            "menusync_stage_duration_seconds_count{store=\"gangnam\",stage=\"images\"} 1",
            "menusync_image_bytes_downloaded_total{store=\"gangnam\"} 4096",
            "menusync_release_info{store=\"gangnam\",release=\"m-0123456789abcdef0123\"} 1",
            "menusync_stale{store=\"yeoksam\"} 1",
            "menusync_stale{store=\"gangnam\"} 0",
            "menusync_consecutive_failures{store=\"yeoksam\"} 1",
            "menusync_pass_trigger_total{store=\"gangnam\",trigger=\"event\"} 1",
            "menusync_last_pass_trigger{store=\"gangnam\",trigger=\"event\"} 1",
        ] {
            assert!(text.contains(expected), "missing {expected}\n{text}");
        }
        // Every sample line belongs to a family declared with HELP and TYPE.
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = name.trim_end_matches("_sum").trim_end_matches("_count");
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{name} has no TYPE"
            );
        }
    }
}
