//! Indicator series over stored bars, computed by `quant` and cached (see
//! [`crate::cache`]): what the API serves at `/api/v1/symbols/{s}/indicators`.
//!
//! A series is computed over the latest [`HISTORY_BARS`] stored bars (ten years
//! of daily bars fit whole), so recursive indicators (EMA, RSI, ADX, ...) start
//! from the same seed as a computation over the full stored history whenever
//! the history fits, and have converged long before the returned tail otherwise.

use std::sync::Arc;

use quant::Timeframe;
use quant::indicators::catalog::{self, Spec};

use crate::cache::{MarketCache, Series, SeriesKey};
use crate::storage::{Db, StorageError, bars};

/// How many of the latest bars a series is computed over.
pub(crate) const HISTORY_BARS: usize = 20_000;

/// The last `limit` points of `spec` over `symbol`'s `timeframe` bars, oldest first.
///
/// # Errors
/// [`StorageError`] when the bars cannot be read. The spec must already be
/// valid ([`catalog::build`] succeeds); an invalid one yields an empty series.
pub(crate) async fn indicator(
    db: &Db,
    cache: &MarketCache,
    symbol: &str,
    timeframe: Timeframe,
    spec: &Spec,
    limit: usize,
) -> Result<Arc<Series>, StorageError> {
    let key = SeriesKey { symbol: symbol.to_owned(), timeframe, spec: spec.to_string(), limit };
    let compute = async {
        let bars = bars::latest(db, symbol, timeframe, HISTORY_BARS.max(limit)).await?;
        Ok::<_, StorageError>(Arc::new(compute(&bars, spec, limit)))
    };
    Ok(cache.series(key, compute).await?)
}

/// Runs `spec` over `bars` and keeps the last `limit` points.
#[must_use]
pub(crate) fn compute(bars: &[quant::Bar], spec: &Spec, limit: usize) -> Series {
    let Ok(mut indicator) = catalog::build(spec) else { return Series { ts: Vec::new(), columns: Vec::new() } };
    let names = indicator.outputs();
    let skip = bars.len().saturating_sub(limit);
    let kept = bars.len() - skip;
    let mut columns: Vec<(String, Vec<Option<f64>>)> =
        names.iter().map(|n| (format!("{spec}.{n}"), Vec::with_capacity(kept))).collect();
    let mut out = vec![f64::NAN; names.len()];
    for (i, bar) in bars.iter().enumerate() {
        let ready = indicator.update(bar, &mut out);
        if i < skip {
            continue;
        }
        for ((_, column), v) in columns.iter_mut().zip(&out) {
            column.push((ready && v.is_finite()).then_some(*v));
        }
    }
    Series { ts: bars[skip..].iter().map(|b| b.ts).collect(), columns }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_tail_with_full_history_warm_up() {
        let bars: Vec<quant::Bar> = (0..50)
            .map(|i| {
                let c = 100.0 + f64::from(i);
                quant::Bar { ts: i64::from(i) * 60, open: c, high: c + 1.0, low: c - 1.0, close: c, volume: 1.0 }
            })
            .collect();
        let spec: Spec = "SMA(3)".parse().unwrap_or_else(|e| panic!("{e}"));
        let all = compute(&bars, &spec, 100);
        assert_eq!(all.ts.len(), 50);
        assert_eq!(all.columns[0].0, "SMA(3).real");
        assert_eq!(&all.columns[0].1[..3], &[None, None, Some(101.0)]);
        let tail = compute(&bars, &spec, 5);
        assert_eq!(tail.ts, vec![45 * 60, 46 * 60, 47 * 60, 48 * 60, 49 * 60]);
        assert_eq!(tail.columns[0].1, vec![Some(144.0), Some(145.0), Some(146.0), Some(147.0), Some(148.0)]);
    }
}
