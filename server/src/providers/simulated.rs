//! The built-in market simulator: seeded, reproducible OHLCV for any symbol.
//!
//! Prices follow geometric Brownian motion whose volatility switches between a
//! calm and a turbulent regime (a two-state Markov chain), which gives the
//! clustered volatility real markets show. Each bar is built as:
//! - close = previous close * exp(mu + kappa * (fair - ln close) + sigma * Z),
//!   where `fair` grows by mu per day: the drift sets the median path, and a
//!   weak pull (half-life about two years) towards it keeps a fourteen-year
//!   history in a plausible range. (With the usual -sigma^2/2 term, crypto-level
//!   volatility drags the median price towards zero over a decade.)
//! - open  = previous close * exp(gap), a small overnight (or inter-bar) gap;
//! - high / low extend max(open, close) / min(open, close) by a half-normal wick;
//! - volume is log-normal around a per-symbol base, higher in turbulent regimes
//!   and on large moves.
//!
//! Daily history always starts at [`ANCHOR_DAY`] and is generated forward, so a
//! given (seed, symbol) has one fixed history however long the window asked for:
//! re-running a backfill on another day rewrites nothing. Equities trade Monday
//! to Friday; symbols ending in `-USD` (crypto) trade every day.
//!
//! Everything this module produces is simulated and is labelled so by callers.

use chrono::{Datelike, NaiveDate, Weekday};
use quant::{Bar, Timeframe};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// The first simulated trading day.
pub const ANCHOR_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2012, 1, 2) {
    Some(d) => d,
    None => panic!("valid anchor date"),
};

/// The longest daily history the simulator serves, in calendar days (a
/// setting's limit, so it lives with the settings).
pub use crate::config::MAX_SIM_HISTORY_DAYS as MAX_HISTORY_DAYS;

/// Seconds in a regular US equity session (6.5 h), used to scale daily
/// volatility down to intraday bars.
const SESSION_SECONDS: f64 = 23_400.0;

/// Daily strength of the pull of log price towards its fair value (half-life
/// ln 2 / kappa, about 1.9 years).
const MEAN_REVERSION: f64 = 0.001;

/// Volatility regimes as (daily sigma multiplier, probability of leaving per day).
const CALM: (f64, f64) = (1.0, 0.02);
const TURBULENT: (f64, f64) = (2.6, 0.08);

/// The per-symbol constants of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Price on [`ANCHOR_DAY`].
    pub start_price: f64,
    /// Daily volatility in the calm regime.
    pub daily_sigma: f64,
    /// Daily drift (log return).
    pub daily_drift: f64,
    /// Typical daily volume.
    pub base_volume: f64,
    /// Whether the symbol trades at weekends.
    pub trades_every_day: bool,
}

impl Profile {
    /// A plausible, deterministic profile for `symbol`.
    #[must_use]
    pub fn for_symbol(symbol: &str) -> Self {
        let h = fnv1a(symbol.as_bytes());
        let crypto = symbol.ends_with("-USD");
        let unit = |shift: u32| ((h >> shift) & 0xFFFF) as f64 / 65_535.0;
        Self {
            start_price: if crypto { 2_000.0 + unit(0) * 8_000.0 } else { 15.0 + unit(0) * 185.0 },
            daily_sigma: if crypto { 0.02 + unit(16) * 0.012 } else { 0.009 + unit(16) * 0.008 },
            daily_drift: 0.000_05 + unit(32) * 0.000_25,
            base_volume: if crypto { 20_000.0 } else { 2_000_000.0 + unit(48) * 30_000_000.0 },
            trades_every_day: crypto,
        }
    }
}

/// A deterministic random walk for one symbol: feed it times, get bars.
#[derive(Debug, Clone)]
pub struct Walker {
    profile: Profile,
    rng: ChaCha8Rng,
    close: f64,
    fair_log: f64,
    turbulent: bool,
}

impl Walker {
    /// A walker for `symbol` starting at `close`, its randomness keyed by
    /// (`seed`, `symbol`, `stream`) so independent streams do not repeat each other.
    #[must_use]
    pub fn new(seed: u64, symbol: &str, stream: u64, close: f64) -> Self {
        let key = seed ^ fnv1a(symbol.as_bytes()).rotate_left(17) ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self {
            profile: Profile::for_symbol(symbol),
            rng: ChaCha8Rng::seed_from_u64(key),
            close,
            fair_log: close.ln(),
            turbulent: false,
        }
    }

    /// The last close produced (or the starting price).
    #[must_use]
    pub fn close(&self) -> f64 {
        self.close
    }

    /// The next bar, opening at `ts` and lasting `seconds` of trading time.
    pub fn next_bar(&mut self, ts: i64, seconds: f64) -> Bar {
        let days = (seconds / SESSION_SECONDS).min(1.0);
        let (multiplier, leave) = if self.turbulent { TURBULENT } else { CALM };
        if self.rng.random::<f64>() < leave * days {
            self.turbulent = !self.turbulent;
        }
        let sigma = self.profile.daily_sigma * multiplier * days.sqrt();
        let drift = self.profile.daily_drift * days;
        let z: f64 = StandardNormal.sample(&mut self.rng);
        let gap: f64 = StandardNormal.sample(&mut self.rng);
        let up_wick: f64 = StandardNormal.sample(&mut self.rng);
        let down_wick: f64 = StandardNormal.sample(&mut self.rng);
        let noise: f64 = StandardNormal.sample(&mut self.rng);

        let open = self.close * (0.2 * sigma * gap).exp();
        self.fair_log += drift;
        let pull = MEAN_REVERSION * days * (self.fair_log - self.close.ln());
        let log_return = drift + pull + sigma * z;
        let close = self.close * log_return.exp();
        let high = open.max(close) * (0.4 * sigma * up_wick.abs()).exp();
        let low = open.min(close) * (-0.4 * sigma * down_wick.abs()).exp();
        let regime_volume = if self.turbulent { 1.8 } else { 1.0 };
        let volume =
            (self.profile.base_volume * days * regime_volume * (1.0 + 20.0 * log_return.abs()) * (0.3 * noise).exp())
                .round()
                .max(1.0);
        self.close = close;
        Bar {
            ts,
            open: round_price(open),
            high: round_price(high),
            low: round_price(low),
            close: round_price(close),
            volume,
        }
    }
}

/// Prices are quoted to 4 decimals, as data vendors do; rounding keeps the
/// OHLC ordering because it is monotonic.
fn round_price(p: f64) -> f64 {
    (p * 10_000.0).round() / 10_000.0
}

/// Daily bars of `symbol` from `end - days + 1` through `end` (inclusive).
#[must_use]
pub fn daily_history(seed: u64, symbol: &str, end: NaiveDate, days: u32) -> Vec<Bar> {
    let profile = Profile::for_symbol(symbol);
    let first_kept = end - chrono::Duration::days(i64::from(days.saturating_sub(1)));
    let mut walker = Walker::new(seed, symbol, 0, profile.start_price);
    let mut bars = Vec::new();
    let mut day = ANCHOR_DAY;
    while day <= end {
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        if profile.trades_every_day || !weekend {
            let ts = day.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp());
            let bar = walker.next_bar(ts, SESSION_SECONDS);
            if day >= first_kept {
                bars.push(bar);
            }
        }
        day = day.succ_opt().unwrap_or(day);
        if day == NaiveDate::MAX {
            break;
        }
    }
    bars
}

/// Folds an intraday bar into the daily bar it belongs to (or starts one).
#[must_use]
pub fn roll_into_daily(daily: Option<Bar>, intraday: &Bar) -> Bar {
    let day = Timeframe::D1.bucket_start(intraday.ts);
    match daily {
        Some(d) if d.ts == day => Bar {
            ts: day,
            open: d.open,
            high: d.high.max(intraday.high),
            low: d.low.min(intraday.low),
            close: intraday.close,
            volume: d.volume + intraday.volume,
        },
        _ => Bar { ts: day, ..*intraday },
    }
}

/// FNV-1a: a tiny, stable hash (std's hasher may change between Rust releases,
/// which would change every simulated history).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn history_is_reproducible_and_independent_of_the_window() {
        let long = daily_history(42, "AAPL", day(2025, 6, 30), 3 * 365);
        let short = daily_history(42, "AAPL", day(2025, 6, 30), 30);
        assert_eq!(long, daily_history(42, "AAPL", day(2025, 6, 30), 3 * 365));
        assert_eq!(&long[long.len() - short.len()..], &short[..]);
        // Extending the end date only appends.
        let later = daily_history(42, "AAPL", day(2025, 7, 31), 3 * 365 + 31);
        assert_eq!(&later[..long.len()], &long[..]);
        assert_ne!(long, daily_history(43, "AAPL", day(2025, 6, 30), 3 * 365));
    }

    #[test]
    fn bars_are_consistent_ohlcv() {
        for symbol in ["AAPL", "TSLA", "BTC-USD"] {
            for bar in daily_history(7, symbol, day(2024, 12, 31), 5 * 365) {
                assert!(bar.is_consistent(), "{symbol}: {bar:?}");
                assert!(bar.volume > 0.0);
            }
        }
    }

    #[test]
    fn equities_skip_weekends_and_crypto_does_not() {
        let end = day(2024, 3, 31);
        let weekdays = daily_history(1, "MSFT", end, 28);
        let all_days = daily_history(1, "BTC-USD", end, 28);
        assert_eq!(weekdays.len(), 20);
        assert_eq!(all_days.len(), 28);
        assert!(weekdays.windows(2).all(|w| w[0].ts < w[1].ts));
    }

    #[test]
    fn prices_stay_in_a_plausible_range_over_the_whole_history() {
        for symbol in ["AAPL", "MSFT", "GOOGL", "TSLA", "NVDA", "SPY", "BTC-USD", "ETH-USD"] {
            let profile = Profile::for_symbol(symbol);
            let bars = daily_history(42, symbol, day(2026, 1, 1), MAX_HISTORY_DAYS);
            let last = bars.last().unwrap().close;
            let ratio = last / profile.start_price;
            assert!((0.05..50.0).contains(&ratio), "{symbol}: {} -> {last}", profile.start_price);
        }
    }

    #[test]
    fn volatility_clusters_across_regimes() {
        // Daily absolute returns: the turbulent regime should show up as a heavier
        // tail than a single Gaussian with the calm sigma would give.
        let bars = daily_history(11, "NVDA", day(2025, 1, 1), MAX_HISTORY_DAYS);
        let returns: Vec<f64> = bars.windows(2).map(|w| (w[1].close / w[0].close).ln()).collect();
        let sigma = Profile::for_symbol("NVDA").daily_sigma;
        let big = returns.iter().filter(|r| r.abs() > 3.0 * sigma).count() as f64 / returns.len() as f64;
        // A pure Gaussian puts 0.27% beyond 3 sigma.
        assert!(big > 0.01, "share beyond 3 calm sigmas: {big}");
    }

    #[test]
    fn intraday_bars_roll_up_into_the_day() {
        let mut walker = Walker::new(1, "AAPL", 9, 100.0);
        let base = 1_704_240_000; // 2024-01-03 00:00 UTC
        let bars: Vec<Bar> = (0..10).map(|i| walker.next_bar(base + i * 5, 5.0)).collect();
        let daily = bars.iter().fold(None, |d, b| Some(roll_into_daily(d, b))).unwrap();
        assert_eq!(daily.ts, base);
        assert_eq!(daily.open, bars[0].open);
        assert_eq!(daily.close, bars[9].close);
        assert_eq!(daily.high, bars.iter().map(|b| b.high).fold(f64::MIN, f64::max));
        assert_eq!(daily.low, bars.iter().map(|b| b.low).fold(f64::MAX, f64::min));
        assert!((daily.volume - bars.iter().map(|b| b.volume).sum::<f64>()).abs() < 1e-6);
        // A bar of the next day starts a new daily bar.
        let next_day = Bar { ts: base + 86_400 + 10, ..bars[0] };
        assert_eq!(roll_into_daily(Some(daily), &next_day).ts, base + 86_400);
    }
}
