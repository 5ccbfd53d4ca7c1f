//! What keeps one sick POS from being hammered or from slowing the others:
//! retries with capped exponential backoff and jitter, a circuit breaker and a
//! rate limiter, one set per POS endpoint.
//!
//! Whether a failure is retried is decided by [`StoreError::is_retryable`];
//! a `Retry-After` from the POS stretches the wait, capped at
//! [`MAX_RETRY_AFTER`]. The breaker counts only `network` failures: a POS that
//! answers, even with an error, is alive.

use std::sync::Mutex;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::error::{Kind, StoreError};

/// The longest `Retry-After` we honour; a POS asking for more gets this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

pub use crate::config::ResilienceSettings;

/// Retries, breaker and rate limit of one POS endpoint.
pub struct Resilience {
    name: String,
    settings: ResilienceSettings,
    breaker: Breaker,
    /// Shared by every store on this endpoint, whatever the I/O limit allows.
    limiter: DefaultDirectRateLimiter,
}

impl std::fmt::Debug for Resilience {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resilience")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Resilience {
    pub fn new(name: &str, settings: ResilienceSettings) -> Resilience {
        let quota = Quota::per_second(settings.requests_per_second);
        Resilience {
            name: name.to_string(),
            breaker: Breaker::new(settings.breaker_failures, settings.breaker_cooldown),
            limiter: RateLimiter::direct(quota),
            settings,
        }
    }

    /// Runs `request` through the breaker and the rate limit, retrying what is worth it.
    ///
    /// `guarded` is false for requests that do not go to the POS itself (a CDN):
    /// they are retried but neither counted by the breaker nor rate limited.
    pub async fn call<T, F, Fut>(&self, guarded: bool, mut request: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        if guarded {
            self.breaker.admit(&self.name)?;
        }
        let backoff = ExponentialBuilder::default()
            .with_min_delay(FIRST_RETRY_DELAY)
            .with_max_delay(MAX_RETRY_DELAY)
            .with_factor(2.0)
            .with_max_times(self.settings.retries)
            .with_jitter();
        let attempt = || {
            let future = request();
            async move {
                if guarded {
                    self.limiter.until_ready().await;
                }
                future.await
            }
        };
        let result = attempt
            .retry(backoff)
            .when(StoreError::is_retryable)
            .adjust(|err, delay| {
                delay.map(|delay| err.retry_after.map_or(delay, |after| after.max(delay)))
            })
            .notify(|err, delay| {
                // Info, not warning: a retry that heals is no trouble, and one that
                // does not ends the pass with a warning of its own.
                info!(category = %err.category(), "retrying in {delay:?}: {}", err.chain());
            })
            .await;
        if guarded {
            self.breaker.record(&self.name, result.as_ref().err());
        }
        result
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BreakerState {
    /// Calls go through; counting consecutive network failures.
    Closed { failures: u32 },
    /// Calls fail fast until the cooldown ends.
    Open { until: Instant },
    /// The cooldown ended and one trial call is in flight; others fail fast.
    HalfOpen,
}

/// A circuit breaker: after `threshold` consecutive network failures it opens
/// for `cooldown`, then lets one trial call decide whether to close again.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    /// Held only to read or change the state, never across `.await`.
    state: Mutex<BreakerState>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    /// Lets a call through, or fails it fast while the breaker is open.
    pub fn admit(&self, name: &str) -> Result<(), StoreError> {
        let mut state = self
            .state
            .lock()
            .expect("the breaker lock is never poisoned");
        let now = Instant::now();
        match *state {
            BreakerState::Closed { .. } => Ok(()),
            BreakerState::Open { until } if now >= until => {
                info!(pos_endpoint = name, "breaker half-open: one trial call");
                *state = BreakerState::HalfOpen;
                Ok(())
            }
            BreakerState::Open { until } => {
                let at = chrono::Utc::now() + (until - now);
                Err(StoreError::new(
                    Kind::BreakerOpen,
                    format!(
                        "breaker open for POS {name} until {} after repeated failures",
                        at.format("%Y-%m-%dT%H:%M:%SZ")
                    ),
                ))
            }
            BreakerState::HalfOpen => Err(StoreError::new(
                Kind::BreakerOpen,
                format!("breaker half-open for POS {name}: a trial call is in flight"),
            )),
        }
    }

    /// Counts the outcome of an admitted call.
    pub fn record(&self, name: &str, error: Option<&StoreError>) {
        let mut state = self
            .state
            .lock()
            .expect("the breaker lock is never poisoned");
        let network_failure = error.is_some_and(StoreError::is_retryable);
        let next = match (*state, network_failure) {
            (BreakerState::Closed { failures }, true) if failures + 1 >= self.threshold => {
                warn!(
                    pos_endpoint = name,
                    failures = failures + 1,
                    "breaker open for {:?} after consecutive network failures",
                    self.cooldown
                );
                BreakerState::Open {
                    until: Instant::now() + self.cooldown,
                }
            }
            (BreakerState::Closed { failures }, true) => BreakerState::Closed {
                failures: failures + 1,
            },
            (BreakerState::HalfOpen, true) => {
                warn!(
                    pos_endpoint = name,
                    "breaker open again: the trial call failed"
                );
                BreakerState::Open {
                    until: Instant::now() + self.cooldown,
                }
            }
            (BreakerState::HalfOpen, false) => {
                info!(pos_endpoint = name, "breaker closed: the POS answers again");
                BreakerState::Closed { failures: 0 }
            }
            (BreakerState::Closed { .. }, false) => BreakerState::Closed { failures: 0 },
            // A call admitted before the breaker opened finished late; the open state stands.
            (open @ BreakerState::Open { .. }, _) => open,
        };
        *state = next;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn network() -> StoreError {
        StoreError::new(Kind::Unreachable, "down")
    }

    fn settings(retries: usize) -> ResilienceSettings {
        ResilienceSettings {
            retries,
            breaker_failures: 2,
            breaker_cooldown: Duration::from_secs(30),
            requests_per_second: std::num::NonZeroU32::new(1000).unwrap(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_fails_fast_half_opens_and_closes() {
        let breaker = Breaker::new(2, Duration::from_secs(30));
        breaker.admit("hq").unwrap();
        breaker.record("hq", Some(&network()));
        breaker.admit("hq").unwrap();
        // An auth error means the POS answered: it does not count, and resets the count.
        breaker.record(
            "hq",
            Some(&StoreError::new(Kind::KeyRefused { status: 401 }, "no")),
        );
        breaker.record("hq", Some(&network()));
        breaker.admit("hq").unwrap();
        breaker.record("hq", Some(&network()));

        let err = breaker.admit("hq").unwrap_err();
        assert_eq!(err.kind, Kind::BreakerOpen);
        assert!(err.message.contains("breaker open"), "{}", err.message);

        tokio::time::advance(Duration::from_secs(31)).await;
        breaker.admit("hq").expect("the trial call goes through");
        assert!(breaker.admit("hq").is_err(), "only one trial at a time");
        breaker.record("hq", Some(&network()));
        assert!(breaker.admit("hq").is_err(), "a failed trial reopens");

        tokio::time::advance(Duration::from_secs(31)).await;
        breaker.admit("hq").unwrap();
        breaker.record("hq", None);
        breaker.admit("hq").expect("closed again");
        breaker.admit("hq").expect("and stays closed");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_network_failures_up_to_the_limit_and_never_others() {
        let resilience = Resilience::new("hq", settings(3));
        for (kind, expected_calls) in [
            (Kind::Unreachable, 4),
            (Kind::PosUnavailable { status: 503 }, 4),
            (Kind::KeyRefused { status: 401 }, 1),
            (Kind::BadDocument, 1),
            (Kind::RequestRefused { status: 404 }, 1),
        ] {
            let calls = AtomicUsize::new(0);
            let result: Result<(), StoreError> = resilience
                .call(false, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async move { Err(StoreError::new(kind, "x")) }
                })
                .await;
            assert!(result.is_err());
            assert_eq!(calls.load(Ordering::SeqCst), expected_calls, "{kind:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_stretches_the_wait() {
        let resilience = Resilience::new("hq", settings(1));
        let calls = AtomicUsize::new(0);
        let started = Instant::now();
        let result: Result<u32, StoreError> = resilience
            .call(false, || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        let mut err = network();
                        err.retry_after = Some(Duration::from_secs(20));
                        Err(err)
                    } else {
                        Ok(7)
                    }
                }
            })
            .await;
        assert_eq!(result.unwrap(), 7);
        assert!(
            started.elapsed() >= Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_breaker_fails_the_call_without_calling_the_pos() {
        let resilience = Resilience::new("hq", settings(0));
        for _ in 0..2 {
            let _ = resilience
                .call(true, || async { Err::<(), _>(network()) })
                .await;
        }
        let calls = AtomicUsize::new(0);
        let err = resilience
            .call(true, || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok(()) }
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind, Kind::BreakerOpen);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}
