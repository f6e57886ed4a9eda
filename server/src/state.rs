//! `AppState`: the cheap handles every part of the server shares.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::cache::MarketCache;
use crate::config::{Config, Feed};
use crate::metrics::Metrics;
use crate::providers::remote::Remote;
use crate::storage::Db;

/// How many frames a live session may have queued before it must resync. The
/// queue only holds handles to shared frames and grows only while a client is
/// behind; at the benchmark's 10 events/s per client this is ~100 s of backlog,
/// and a "*" subscriber to a large watchlist still absorbs a whole burst.
pub const BUS_CAPACITY: usize = 1_024;

/// Shared server state; clone freely.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The configuration the process started with.
    pub config: Arc<Config>,
    /// The database.
    pub db: Db,
    /// Live events to WebSocket sessions.
    pub bus: Bus,
    /// Cancelled once, when the server begins shutting down.
    pub shutdown: CancellationToken,
    /// Leptos' view of the site (output name, site root, address). Behind an
    /// `Arc`: the state is cloned into every request, and the options are
    /// several strings.
    pub leptos: Arc<LeptosOptions>,
    /// The remote market-data providers.
    pub remote: Remote,
    /// Quotes and indicator series computed from stored bars.
    pub cache: MarketCache,
    /// What `/metrics` reports.
    pub metrics: Metrics,
    /// The live signal pipeline, when `serve` runs one (told to reload when
    /// strategy settings change).
    pub pipeline: Option<crate::pipeline::Pipeline>,
}

impl AppState {
    /// Assembles the state around an open database.
    ///
    /// # Panics
    /// When the HTTP client for the providers cannot be built (no TLS backend),
    /// which is a build defect rather than a runtime condition.
    #[must_use]
    pub fn new(config: Config, db: Db, shutdown: CancellationToken) -> Self {
        let leptos = LeptosOptions::builder()
            .output_name("finstage")
            .site_root(config.site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(config.listen)
            .hash_files(built_with_hashes())
            .build();
        let leptos = Arc::new(leptos);
        let remote =
            Remote::from_config(&config.providers).expect("the HTTP client builds with the compiled-in TLS backend");
        let bus = Bus::new(BUS_CAPACITY);
        let cache = MarketCache::new(&config.cache);
        let metrics = Metrics::new(db.clone(), cache.clone(), remote.clone(), bus.clone());
        Self { config: Arc::new(config), db, bus, shutdown, leptos, remote, cache, metrics, pipeline: None }
    }

    /// Whether market data comes from the simulator.
    #[must_use]
    pub fn is_simulated(&self) -> bool {
        self.config.feed == Feed::Sim
    }
}

/// Whether the site was built with content-hashed file names: cargo-leptos
/// then leaves `hash.txt` beside the binary, where Leptos looks for it.
fn built_with_hashes() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt")))
        .is_some_and(|p| p.is_file())
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        (*state.leptos).clone()
    }
}
