//! The latest price of a symbol, wherever it is known best: the live quote the
//! feed published, else the last stored daily close against the one before
//! (cached; see [`crate::cache`]).

use app::model::QuoteRow;
use quant::Timeframe;

use crate::bus::Bus;
use crate::cache::MarketCache;
use crate::storage::symbols::SymbolRow;
use crate::storage::{Db, StorageError, bars};

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
