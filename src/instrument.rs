//! How a pass is watched: its run id, its `stage` spans and their durations,
//! the bytes its images cost, and the problem lines it logs.
//!
//! A [`Recorder`] belongs to one pass and is carried by it (the pipeline's
//! `Pass` holds a reference), so a step records without reaching back up to
//! the module that started the pass. Every line a pass logs is inside a
//! `stage` span opened by [`Recorder::stage`]. Names only `error`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::{Instrument, debug, info_span, warn};

use crate::error::{Category, Problem};

/// Item-level problems logged one by one per pass; the rest are counted.
const MAX_PROBLEM_LINES: usize = 20;

/// A short id that tells passes apart in the journal.
pub fn new_run_id() -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    let mixed = nanos
        ^ u64::from(std::process::id()).rotate_left(32)
        ^ SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}", (mixed ^ (mixed >> 32)) as u32)
}

/// What one pass measured, for the metrics.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Each stage's duration, in the order they ended. Written by the stages
    /// of one pass only, never held across an `.await`.
    stages: Mutex<Vec<(&'static str, Duration)>>,
    image_bytes: AtomicU64,
}

impl Recorder {
    /// Runs `future` inside a `stage` span, logs its duration at debug and records it.
    pub async fn stage<T>(&self, name: &'static str, future: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let span = info_span!("stage", stage = %name);
        let output = future.instrument(span.clone()).await;
        let elapsed = started.elapsed();
        span.in_scope(|| debug!(elapsed_ms = elapsed.as_millis() as u64, "stage finished"));
        self.stages
            .lock()
            .expect("the recorder lock is never poisoned")
            .push((name, elapsed));
        output
    }

    pub fn add_image_bytes(&self, bytes: u64) {
        self.image_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The stages' durations and the image bytes, for the pass's report.
    pub fn finish(self) -> (Vec<(&'static str, Duration)>, u64) {
        let stages = self
            .stages
            .into_inner()
            .expect("the recorder lock is never poisoned");
        (stages, self.image_bytes.into_inner())
    }
}

/// Logs a pass's item and image problems, the first [`MAX_PROBLEM_LINES`]
/// one by one and the rest as a count.
pub fn log_problems(problems: &[Problem]) {
    for problem in problems.iter().take(MAX_PROBLEM_LINES) {
        warn!(category = %problem.category, subject = %problem.subject, "skipped {}: {}", problem.subject, problem.message);
    }
    if problems.len() > MAX_PROBLEM_LINES {
        warn!(
            category = %Category::Data,
            "{} more problems not logged one by one",
            problems.len() - MAX_PROBLEM_LINES
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stages_are_recorded_in_the_order_they_end() {
        let recorder = Recorder::default();
        let value = recorder.stage("fetch", async { 7 }).await;
        recorder.stage("parse", async {}).await;
        recorder.add_image_bytes(10);
        recorder.add_image_bytes(5);
        let (stages, bytes) = recorder.finish();
        assert_eq!(value, 7);
        let names: Vec<&str> = stages.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["fetch", "parse"]);
        assert_eq!(bytes, 15);
    }

    #[test]
    fn run_ids_differ() {
        assert_ne!(new_run_id(), new_run_id());
    }
}
