//! The server's answers to the dashboard's server functions (the
//! [`app::api::ssr::Backend`] port), read from storage.

use std::sync::Arc;

use app::api::ApiError;
use app::api::ssr::{Backend, BoxFuture};
use app::model::{Chart, QuoteRow};
use quant::Timeframe;

use crate::bus::Bus;
use crate::state::AppState;
use crate::storage::symbols::SymbolRow;
use crate::storage::{Db, StorageError, bars, symbols};
use crate::symbol::Symbol;

/// Reads the dashboard's data from the database.
#[derive(Debug, Clone)]
pub struct DashboardData {
    db: Db,
    bus: Bus,
    watchlist: Arc<Vec<Symbol>>,
}

impl DashboardData {
    /// Serves the configured watchlist from the state's database.
    #[must_use]
    pub fn new(state: &AppState) -> Self {
        Self { db: state.db.clone(), bus: state.bus.clone(), watchlist: Arc::new(state.config.watchlist.clone()) }
    }

    async fn rows(&self) -> Result<Vec<QuoteRow>, StorageError> {
        let mut rows = Vec::with_capacity(self.watchlist.len());
        for symbol in self.watchlist.iter() {
            let Some(info) = symbols::get(&self.db, symbol.as_str()).await? else { continue };
            rows.extend(self.quote(info).await?);
        }
        Ok(rows)
    }

    async fn quote(&self, info: SymbolRow) -> Result<Option<QuoteRow>, StorageError> {
        crate::quotes::latest(&self.db, &self.bus, info).await
    }

    async fn chart_of(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        limit: usize,
    ) -> Result<Result<Chart, ApiError>, StorageError> {
        let Some(info) = symbols::get(&self.db, symbol).await? else {
            return Ok(Err(ApiError::NotFound(format!("symbol {symbol}"))));
        };
        let bars = bars::latest(&self.db, symbol, timeframe, limit).await?;
        let timeframes = bars::timeframes(&self.db, symbol).await?;
        let (symbol, name, simulated) = (info.symbol.clone(), info.name.clone(), info.simulated);
        let quote = self.quote(info).await?;
        Ok(Ok(Chart { symbol, name, timeframe, timeframes, bars, quote, simulated }))
    }
}

/// Logs a storage failure and hides it from the browser.
fn internal(e: StorageError) -> ApiError {
    tracing::error!(error = %e, "dashboard query failed");
    ApiError::Internal
}

impl Backend for DashboardData {
    fn watchlist(&self) -> BoxFuture<'_, Result<Vec<QuoteRow>, ApiError>> {
        Box::pin(async move { self.rows().await.map_err(internal) })
    }

    fn chart<'a>(
        &'a self,
        symbol: &'a str,
        timeframe: Timeframe,
        limit: usize,
    ) -> BoxFuture<'a, Result<Chart, ApiError>> {
        Box::pin(async move {
            let symbol = Symbol::parse(symbol).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            self.chart_of(symbol.as_str(), timeframe, limit).await.map_err(internal)?
        })
    }
}
