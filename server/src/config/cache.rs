//! The `[cache]` section: sizes and lifetimes of the in-process caches
//! (`crate::cache`).

use serde::{Deserialize, Serialize};

/// Sizes and lifetimes of the caches (config section `cache`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Most quotes kept.
    pub quote_capacity: u64,
    /// How long a stored quote may be served, seconds.
    pub quote_ttl_secs: u64,
    /// Most indicator values kept over all series (each series weighs its length).
    pub series_capacity_points: u64,
    /// How long a computed series may be served, seconds.
    pub series_ttl_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { quote_capacity: 10_000, quote_ttl_secs: 30, series_capacity_points: 5_000_000, series_ttl_secs: 300 }
    }
}
