//! The watchlist page's data: its rows (quote, recent daily closes, the day's
//! bar, the 52-week range), and adding and removing symbols.

use app::api::ApiError;
use app::auth::Owner;
use app::model::{SPARK_POINTS, WatchRow};
use quant::Timeframe;

use super::DashboardData;
use crate::config::Feed;
use crate::providers::remote::RemoteKind;
use crate::providers::{HistoryRequest, NamedRange, ProviderError};
use crate::storage::{StorageError, bars, stats};
use crate::symbol::Symbol;

/// A year, for the 52-week range computed when no figures are stored yet.
const YEAR_SECS: i64 = 365 * 86_400;

impl DashboardData {
    /// The rows of `owner`'s watchlist (the followed list for nobody), in
    /// its order. A symbol without data yet (just added) has a row without a
    /// quote.
    pub(super) async fn watch_rows(&self, owner: Owner) -> Result<Vec<WatchRow>, StorageError> {
        let symbols = self.watchlist.symbols_for(owner.user_id).await?;
        let mut rows = Vec::with_capacity(symbols.len());
        for symbol in &symbols {
            let Some(info) = crate::quotes::details(&self.db, &self.cache, symbol.as_str()).await? else { continue };
            let (name, simulated) = (info.name.clone(), info.simulated);
            let quote = self.quote(info).await?;
            let recent =
                crate::quotes::chart_bars(&self.db, &self.cache, symbol.as_str(), Timeframe::D1, SPARK_POINTS).await?;
            let day = recent.bars.last().copied();
            let range_52w = match (stats::get(&self.db, symbol.as_str()).await?, day) {
                (Some(s), _) => Some((s.low_52w, s.high_52w)),
                (None, Some(last)) => self.range_from_bars(symbol, last.ts).await?,
                (None, None) => None,
            };
            rows.push(WatchRow {
                symbol: symbol.to_string(),
                name,
                quote,
                closes: recent.bars.iter().map(|b| b.close).collect(),
                day,
                range_52w,
                simulated,
            });
        }
        Ok(rows)
    }

    /// The 52-week low and high from the daily bars up to `last_ts`, for a
    /// symbol whose figures the `all_time_high` schedule has not stored yet.
    async fn range_from_bars(&self, symbol: &Symbol, last_ts: i64) -> Result<Option<(f64, f64)>, StorageError> {
        let year =
            bars::range(&self.db, symbol.as_str(), Timeframe::D1, last_ts - YEAR_SECS + 1, last_ts, None, 400).await?;
        let low = year.iter().map(|b| b.low).fold(f64::INFINITY, f64::min);
        let high = year.iter().map(|b| b.high).fold(f64::NEG_INFINITY, f64::max);
        Ok((low.is_finite() && high.is_finite()).then_some((low, high)))
    }

    /// Puts `text` (a ticker as typed) on `owner`'s watchlist (and so on the
    /// followed list). With the Yahoo feed,
    /// Yahoo is asked first, and a ticker it does not know is refused; the
    /// simulator makes up prices for any well-formed ticker.
    pub(super) async fn watch_symbol(&self, owner: Owner, text: &str) -> Result<Result<bool, ApiError>, StorageError> {
        let symbol = match Symbol::parse(text) {
            Ok(s) => s,
            Err(e) => return Ok(Err(ApiError::BadRequest(e.to_string()))),
        };
        let Some(user) = owner.user_id else {
            return Ok(Err(ApiError::BadRequest("log in to keep a watchlist".into())));
        };
        if self.watchlist.symbols_for(Some(user)).await?.contains(&symbol) {
            return Ok(Ok(false));
        }
        if self.feed == Feed::Yahoo {
            let request = HistoryRequest::named(symbol.clone(), Timeframe::D1, NamedRange::Day5);
            match self.remote.history(RemoteKind::Yahoo, &request).await {
                Ok(_) => {}
                Err(ProviderError::UnknownSymbol { .. }) => {
                    return Ok(Err(ApiError::NotFound(format!(
                        "unknown ticker {symbol}: Yahoo Finance has no such symbol"
                    ))));
                }
                Err(e) => {
                    tracing::warn!(%symbol, error = %e, "ticker not checked with Yahoo");
                    return Ok(Err(ApiError::BadRequest(format!(
                        "{symbol} could not be checked with Yahoo Finance just now; try again later"
                    ))));
                }
            }
        }
        let added = self.watchlist.add_for(user, &symbol, None, self.feed == Feed::Sim).await?;
        self.cache.symbol_changed(symbol.as_str());
        if added {
            tracing::info!(%symbol, "symbol added to the watchlist");
        }
        Ok(Ok(added))
    }

    /// Takes `text` off `owner`'s watchlist (and off the followed list when
    /// no other list holds it); its stored bars stay, so adding it
    /// again brings its history back at once.
    pub(super) async fn unwatch_symbol(
        &self,
        owner: Owner,
        text: &str,
    ) -> Result<Result<bool, ApiError>, StorageError> {
        let symbol = match Symbol::parse(text) {
            Ok(s) => s,
            Err(e) => return Ok(Err(ApiError::BadRequest(e.to_string()))),
        };
        let Some(user) = owner.user_id else {
            return Ok(Err(ApiError::BadRequest("log in to keep a watchlist".into())));
        };
        let removed = self.watchlist.remove_for(user, &symbol).await?;
        if removed {
            tracing::info!(%symbol, "symbol removed from the watchlist");
        }
        Ok(Ok(removed))
    }
}
