//! The latest price of a symbol, wherever it is known best: the live quote the
//! feed published, else the last stored daily close against the one before;
//! and the other things every page asks about a symbol (its stored details,
//! its latest bars). All cached; see [`crate::cache`].

use app::model::QuoteRow;
use quant::Timeframe;

use crate::bus::Bus;
use std::sync::Arc;

use crate::cache::{ChartBars, MarketCache};
use crate::storage::symbols::SymbolRow;
use crate::storage::{Db, StorageError, bars, symbols};

/// The quote of a stored symbol; `None` when it has no bars yet.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn latest(
    db: &Db,
    bus: &Bus,
    cache: &MarketCache,
    info: SymbolRow,
) -> Result<Option<QuoteRow>, StorageError> {
    let SymbolRow { symbol, name, simulated } = info;
    if let Some(live) = bus.latest_quote(&symbol) {
        return Ok(Some(QuoteRow {
            symbol,
            name,
            last: live.price,
            prev_close: live.prev_close,
            ts: live.ts,
            simulated,
        }));
    }
    let stored = async {
        let recent = bars::latest(db, &symbol, Timeframe::D1, 2).await?;
        let Some(last) = recent.last() else { return Ok(None) };
        let prev_close = recent.len().checked_sub(2).map(|i| recent[i].close);
        Ok::<_, StorageError>(Some(QuoteRow {
            symbol: symbol.clone(),
            name: name.clone(),
            last: last.close,
            prev_close,
            ts: last.ts,
            simulated,
        }))
    };
    Ok(cache.quote(&symbol, stored).await?)
}

/// The stored details of `symbol`; `None` when it is not stored.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn details(db: &Db, cache: &MarketCache, symbol: &str) -> Result<Option<SymbolRow>, StorageError> {
    Ok(cache.symbol(symbol, symbols::get(db, symbol)).await?)
}

/// The latest `limit` bars of a series and the symbol's timeframes.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn chart_bars(
    db: &Db,
    cache: &MarketCache,
    symbol: &str,
    timeframe: Timeframe,
    limit: usize,
) -> Result<Arc<ChartBars>, StorageError> {
    let read = async {
        let bars = bars::latest(db, symbol, timeframe, limit).await?;
        let timeframes = bars::timeframes(db, symbol).await?;
        Ok::<_, StorageError>(Arc::new(ChartBars { bars, timeframes }))
    };
    Ok(cache.chart(symbol, timeframe, limit, read).await?)
}
