//! `AppState`: the cheap handles every part of the server shares.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::config::{Config, Feed};
use crate::providers::remote::Remote;
use crate::storage::Db;

/// How many events a live subscriber may fall behind before it must resync.
pub const BUS_CAPACITY: usize = 4_096;

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
    /// Leptos' view of the site (output name, site root, address).
    pub leptos: LeptosOptions,
    /// The remote market-data providers.
    pub remote: Remote,
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
            .build();
        let remote =
            Remote::from_config(&config.providers).expect("the HTTP client builds with the compiled-in TLS backend");
        Self { config: Arc::new(config), db, bus: Bus::new(BUS_CAPACITY), shutdown, leptos, remote }
    }

    /// Whether market data comes from the simulator.
    #[must_use]
    pub fn is_simulated(&self) -> bool {
        self.config.feed == Feed::Sim
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
