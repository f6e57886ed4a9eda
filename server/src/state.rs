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
use crate::storage::watchlist::Watchlist;

/// How many frames a live session may have queued before it must resync. The
/// queue only holds handles to shared frames and grows only while a client is
/// behind; at the benchmark's 10 events/s per client this is ~100 s of backlog,
/// and a "*" subscriber to a large watchlist still absorbs a whole burst.
pub const BUS_CAPACITY: usize = 1_024;

/// Shared server state; clone freely: a clone is one reference count.
///
/// Every request clones the state (each `State` extractor and stateful layer
/// takes its own), so the handles live behind one `Arc` ([`Shared`], read
/// through `Deref`): cloning the handles themselves meant a dozen atomic
/// reference counts per clone, which a profile of the quotes endpoint under
/// load found at about a fifth of the server's CPU.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The handles an [`AppState`] shares.
#[derive(Debug, Clone)]
pub struct Shared {
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
    /// Start-up work still running behind the open HTTP port.
    pub recovery: Recovery,
    /// The stored watchlist; changes made through it reach the feed and the
    /// schedules of this process.
    pub watchlist: Watchlist,
    /// The lab's sweeps and walk-forward validations running in the background.
    pub lab: crate::lab::Tasks,
    /// Accounts: the first admin, the auth epoch live connections watch, the login throttle.
    pub auth: crate::accounts::live::Live,
}

/// Start-up work that runs in the background once the server answers (the
/// catch-up of alerts missed by a crash, the first history backfill), as
/// `/readyz` reports it. Each piece holds a [`Recovering`] while it runs.
#[derive(Debug, Clone, Default)]
pub struct Recovery(Arc<std::sync::Mutex<Vec<&'static str>>>);

impl Recovery {
    /// Marks `what` as running until the returned guard is dropped.
    #[must_use]
    pub fn begin(&self, what: &'static str) -> Recovering {
        self.lock().push(what);
        Recovering { recovery: self.clone(), what }
    }

    /// What is still running, in the order it began.
    #[must_use]
    pub fn pending(&self) -> Vec<&'static str> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<&'static str>> {
        // A list of names cannot be left inconsistent by a panic.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One piece of [`Recovery`]; finished when dropped (also on panic or cancellation).
#[derive(Debug)]
pub struct Recovering {
    recovery: Recovery,
    what: &'static str,
}

impl Drop for Recovering {
    fn drop(&mut self) {
        let mut pending = self.recovery.lock();
        if let Some(i) = pending.iter().position(|w| *w == self.what) {
            pending.remove(i);
        }
    }
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
        let watchlist = Watchlist::new(db.clone());
        let auth = crate::accounts::live::Live::new(crate::accounts::Accounts::new(db.clone()), config.auth.clone());
        Self(Arc::new(Shared {
            config: Arc::new(config),
            db,
            bus,
            shutdown,
            leptos,
            remote,
            cache,
            metrics,
            pipeline: None,
            recovery: Recovery::default(),
            watchlist,
            lab: crate::lab::Tasks::default(),
            auth,
        }))
    }

    /// Changes the state while it is being set up. Meant for before the state
    /// is shared: a state already cloned is copied first, and the clones keep
    /// the old handles.
    #[must_use]
    pub fn with(mut self, change: impl FnOnce(&mut Shared)) -> Self {
        change(Arc::make_mut(&mut self.0));
        self
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
