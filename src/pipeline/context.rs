//! The context of a pass: what lives for one config beside what lives for
//! the daemon, and how a reload carries the second over.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, PosEndpoint, Store};
use crate::error::StoreError;
use crate::metrics::Metrics;
use crate::pos::Provider;

/// What lives as long as the daemon, whatever config is loaded: a reload
/// resizes the limits but never replaces them, so passes of the old and the
/// new config count against the same ones.
pub struct Shared {
    /// Store passes in flight at once, so a tick over many stores cannot start them all.
    pub passes: Arc<Semaphore>,
    /// Requests to POS systems (documents and images) in flight at once, across all stores.
    pub io: Arc<Semaphore>,
    /// rsync processes at once: blocking work kept apart so it never delays a poll.
    pub deploy: Arc<Semaphore>,
    /// One preview mirror at a time: every pass that writes preview pages
    /// mirrors the same folder to the same `preview_target`, and two rsyncs
    /// with `--delete` into one destination at once could remove each
    /// other's files mid-transfer. A pass that finds a mirror running waits:
    /// the mirror after it carries its pages too.
    pub preview_mirror: tokio::sync::Mutex<()>,
    /// Photos decoded and encoded at once, across all stores: one per core
    /// (`image_variants::pool_size`), so image work, run on blocking
    /// threads, never takes the cores the POS I/O and the other passes need.
    pub cpu: Arc<Semaphore>,
    /// Photos being made now, by cache key, so two stores never make one twice.
    pub making: crate::image_variants::InFlight,
    /// When the variant cache was last pruned by this process (seconds
    /// since the epoch): at most once an hour.
    pub variants_pruned_at: std::sync::atomic::AtomicU64,
    /// Folders shared by all stores whose leftovers were cleaned already in
    /// this process (`first_visit`); held only to look up and insert.
    visited: std::sync::Mutex<std::collections::HashSet<std::path::PathBuf>>,
    /// Cancelled when a stop's grace period runs out: passes give up at the next safe point.
    pub abort: CancellationToken,
    /// Counters that survive a SIGHUP.
    pub metrics: Arc<Metrics>,
    /// With `[cluster]`: this instance's membership, set once when the
    /// daemon (or `once`) joins; passes ask it for leadership and its proof.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Member>>,
}

impl Shared {
    /// This instance's membership, with `[cluster]`.
    pub fn member(&self) -> Option<&Arc<crate::cluster::Member>> {
        self.cluster.get()
    }
}

impl Shared {
    /// Whether this process meets `dir` for the first time (and now has).
    pub fn first_visit(&self, dir: &std::path::Path) -> bool {
        self.visited
            .lock()
            .expect("the visited lock is never poisoned")
            .insert(dir.to_path_buf())
    }
}

/// Everything a pass uses: what lives for one config (the config itself and
/// the POS clients built from it) beside what lives for the daemon ([`Shared`]).
pub struct Context {
    pub config: Arc<Config>,
    pub providers: Providers,
    pub shared: Arc<Shared>,
}

/// The POS providers of one config: each endpoint's at the endpoint's
/// `slot`, so every store of the config has one by construction.
pub struct Providers {
    by_slot: Vec<(Arc<PosEndpoint>, Arc<Provider>)>,
}

impl Providers {
    /// One provider per endpoint of `config`, from `provide`.
    fn build(
        config: &Config,
        mut provide: impl FnMut(&Arc<PosEndpoint>) -> Result<Arc<Provider>, StoreError>,
    ) -> Result<Providers, StoreError> {
        let mut by_slot = Vec::with_capacity(config.pos.len());
        // `Config::pos` is in slot order: `check` numbered it so.
        for endpoint in config.pos.values() {
            debug_assert_eq!(endpoint.slot, by_slot.len(), "slots follow Config::pos");
            by_slot.push((Arc::clone(endpoint), provide(endpoint)?));
        }
        Ok(Providers { by_slot })
    }

    /// The provider of `endpoint`, an endpoint of the same config.
    fn of(&self, endpoint: &PosEndpoint) -> &Arc<Provider> {
        let (built_for, provider) = &self.by_slot[endpoint.slot];
        debug_assert!(**built_for == *endpoint, "an endpoint of another config");
        provider
    }

    /// The provider of the endpoint named `name`, if there is one.
    fn get(&self, name: &str) -> Option<&Arc<Provider>> {
        self.by_slot
            .iter()
            .find(|(endpoint, _)| endpoint.name == name)
            .map(|(_, provider)| provider)
    }
}

/// `providers["hq"]`, like a map: panics when no endpoint has that name.
impl std::ops::Index<&str> for Providers {
    type Output = Arc<Provider>;

    fn index(&self, name: &str) -> &Arc<Provider> {
        self.get(name)
            .unwrap_or_else(|| panic!("no [pos.{name}] in this config"))
    }
}

impl Context {
    pub fn new(
        config: Arc<Config>,
        abort: CancellationToken,
        metrics: Arc<Metrics>,
    ) -> Result<Context, StoreError> {
        let providers = Providers::build(&config, |endpoint| {
            Ok(Arc::new(Provider::new(endpoint, &config.daemon)?))
        })?;
        let daemon = &config.daemon;
        let shared = Shared {
            passes: Arc::new(Semaphore::new(daemon.io_concurrency.get())),
            io: Arc::new(Semaphore::new(daemon.io_concurrency.get())),
            deploy: Arc::new(Semaphore::new(daemon.deploy_concurrency.get())),
            preview_mirror: tokio::sync::Mutex::new(()),
            cpu: Arc::new(Semaphore::new(crate::image_variants::pool_size())),
            making: Default::default(),
            variants_pruned_at: Default::default(),
            visited: std::sync::Mutex::default(),
            abort,
            metrics,
            cluster: std::sync::OnceLock::new(),
        };
        Ok(Context {
            providers,
            config,
            shared: Arc::new(shared),
        })
    }
}

impl Context {
    /// The provider of `store`'s POS endpoint; `store` is one of this
    /// context's config, whose endpoints all have a provider.
    pub fn provider(&self, store: &Store) -> &Arc<Provider> {
        self.providers.of(&store.pos)
    }

    /// The context for a reloaded config, keeping what must outlive a reload
    /// while passes started under the old config still run:
    /// - the three limits are the same semaphores, resized, so old and new
    ///   passes together never exceed the larger of the two settings and soon
    ///   the new one;
    /// - every POS endpoint whose settings (and the timeouts its client was
    ///   built with) did not change keeps its provider: its rate limiter,
    ///   open or closed breaker and ETag memo, less what it kept for stores
    ///   gone from the new file (as if it had started with it).
    pub fn reloaded(&self, config: Arc<Config>) -> Result<Context, StoreError> {
        let (old, new) = (&self.config.daemon, &config.daemon);
        let same_client =
            old.connect_timeout == new.connect_timeout && old.read_timeout == new.read_timeout;
        let providers = Providers::build(&config, |endpoint| {
            let kept = self
                .config
                .pos
                .get(&endpoint.name)
                .filter(|old_endpoint| same_client && ***old_endpoint == **endpoint);
            Ok(match kept {
                Some(old_endpoint) => {
                    let provider = Arc::clone(self.providers.of(old_endpoint));
                    // As if it started with the new file: nothing kept for
                    // a store that is gone from this endpoint.
                    provider.forget(&|pos_store_id| {
                        config.stores.iter().any(|store| {
                            store.pos.name == endpoint.name && store.pos_store_id == pos_store_id
                        })
                    });
                    provider
                }
                None => Arc::new(Provider::new(endpoint, new)?),
            })
        })?;
        resize(
            &self.shared.passes,
            old.io_concurrency.get(),
            new.io_concurrency.get(),
        );
        resize(
            &self.shared.io,
            old.io_concurrency.get(),
            new.io_concurrency.get(),
        );
        resize(
            &self.shared.deploy,
            old.deploy_concurrency.get(),
            new.deploy_concurrency.get(),
        );
        Ok(Context {
            config,
            providers,
            shared: Arc::clone(&self.shared),
        })
    }
}

/// Changes a limit of `from` permits to `to`: grown at once; shrunk by
/// forgetting free permits now and the rest as passes give them back (a
/// waiting acquire is served first, so nobody new gets in meanwhile).
fn resize(limit: &Arc<Semaphore>, from: usize, to: usize) {
    if to > from {
        limit.add_permits(to - from);
    } else if to < from {
        let excess = from - to;
        let rest = excess - limit.forget_permits(excess);
        if rest > 0 {
            let limit = Arc::clone(limit);
            let rest = u32::try_from(rest).expect("limits are bounded far below u32::MAX");
            tokio::spawn(async move {
                if let Ok(permits) = limit.acquire_many_owned(rest).await {
                    permits.forget();
                }
            });
        }
    }
}
