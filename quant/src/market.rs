//! What the market is doing: the condition of one series (trend and
//! volatility regimes, momentum, distance from its highs), updated bar by
//! bar, and the breadth of a list of series. Pure and deterministic, like
//! the rest of the crate, so the server and the browser agree.
//!
//! Definitions (bar counts are of the series' own timeframe; on daily bars
//! 252 is a trading year):
//! - **Trend**: `up` when the close is above its 200-bar SMA, that SMA rose
//!   over the last 20 bars, and ADX(14) is at least 25 (a directional
//!   market); `down` is the mirror image; anything else is `range`.
//! - **Volatility**: ATR(14) as a fraction of the close, ranked against its
//!   own last 252 values (today's included): the percentile is the share of
//!   those below today's plus half the share equal to it (a mid-rank, so a
//!   perfectly steady series sits at 50%): `low` under 25%, `high` over
//!   75%, else `normal`.
//! - **Momentum**: the 20-bar rate of change, close over close 20 bars ago
//!   minus one.
//! - **Distance from highs**: the close over the highest high seen (all
//!   time, and over the last 252 bars) minus one: zero at a high, negative
//!   below it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::Bar;
use crate::indicators::{Adx, Atr, Indicator, Sma};

/// Bars the SMA's slope is measured over.
pub const SLOPE_BARS: usize = 20;
/// The trend's moving average.
pub const TREND_PERIOD: usize = 200;
/// ADX at or above which a market is directional.
pub const ADX_TRENDING: f64 = 25.0;
/// The ADX and ATR period.
pub const PERIOD: usize = 14;
/// Bars of the volatility ranking and of the 52-week high (a trading year of days).
pub const YEAR_BARS: usize = 252;
/// The momentum's look-back.
pub const MOMENTUM_BARS: usize = 20;

/// The trend regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    /// Above a rising 200-bar average, directional.
    Up,
    /// Below a falling 200-bar average, directional.
    Down,
    /// Neither.
    Range,
}

/// The volatility regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Volatility {
    /// In the quietest quarter of the last year.
    Low,
    /// In between.
    Normal,
    /// In the most volatile quarter of the last year.
    High,
}

/// One series' condition at a bar.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The bar's opening time, Unix seconds.
    pub ts: i64,
    /// The trend regime (`None` until 220 bars are seen).
    pub trend: Option<Trend>,
    /// ADX(14).
    pub adx: Option<f64>,
    /// The 200-bar SMA's change over the last 20 bars, as a fraction.
    pub sma_slope: Option<f64>,
    /// The volatility regime (`None` until a year of ATR values is seen).
    pub volatility: Option<Volatility>,
    /// ATR(14) over the close.
    pub atr_fraction: Option<f64>,
    /// Where this ATR fraction ranks among the last year's (a mid-rank, 0 to 1).
    pub volatility_percentile: Option<f64>,
    /// The 20-bar rate of change.
    pub momentum: Option<f64>,
    /// Close over the all-time high, minus one.
    pub from_all_time_high: f64,
    /// Close over the 252-bar high, minus one.
    pub from_year_high: f64,
}

/// Follows one series bar by bar.
#[derive(Debug, Clone)]
pub struct ConditionTracker {
    sma: Sma,
    smas: VecDeque<f64>,
    adx: Adx,
    atr: Atr,
    atr_fractions: VecDeque<f64>,
    closes: VecDeque<f64>,
    highs: VecDeque<(usize, f64)>,
    all_time_high: f64,
    seen: usize,
}

impl Default for ConditionTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl ConditionTracker {
    /// A tracker with the module's definitions.
    ///
    /// # Panics
    /// Never: the periods are valid constants.
    #[must_use]
    pub fn new() -> Self {
        #[allow(clippy::expect_used, reason = "constant, valid periods")]
        Self {
            sma: Sma::new(TREND_PERIOD).expect("valid period"),
            smas: VecDeque::with_capacity(SLOPE_BARS + 1),
            adx: Adx::new(PERIOD).expect("valid period"),
            atr: Atr::new(PERIOD).expect("valid period"),
            atr_fractions: VecDeque::with_capacity(YEAR_BARS),
            closes: VecDeque::with_capacity(MOMENTUM_BARS + 1),
            highs: VecDeque::new(),
            all_time_high: f64::NEG_INFINITY,
            seen: 0,
        }
    }

    /// Takes the next closed bar; the condition at it.
    pub fn next(&mut self, bar: Bar) -> Condition {
        let index = self.seen;
        self.seen += 1;
        let close = bar.close;

        let sma = self.sma.next(close);
        if let Some(sma) = sma {
            push_bounded(&mut self.smas, sma, SLOPE_BARS + 1);
        }
        let sma_slope = (self.smas.len() == SLOPE_BARS + 1).then(|| self.smas[SLOPE_BARS] / self.smas[0] - 1.0);
        let adx = self.adx.next(bar);
        let trend = match (sma, sma_slope, adx) {
            (Some(sma), Some(slope), Some(adx)) if adx >= ADX_TRENDING && close > sma && slope > 0.0 => Some(Trend::Up),
            (Some(sma), Some(slope), Some(adx)) if adx >= ADX_TRENDING && close < sma && slope < 0.0 => {
                Some(Trend::Down)
            }
            (Some(_), Some(_), Some(_)) => Some(Trend::Range),
            _ => None,
        };

        let atr_fraction = self.atr.next(bar).filter(|_| close > 0.0).map(|atr| atr / close);
        if let Some(fraction) = atr_fraction {
            push_bounded(&mut self.atr_fractions, fraction, YEAR_BARS);
        }
        let volatility_percentile = atr_fraction.filter(|_| self.atr_fractions.len() == YEAR_BARS).map(|today| {
            let below = self.atr_fractions.iter().filter(|&&v| v < today).count();
            let equal = self.atr_fractions.iter().filter(|&&v| v == today).count();
            (below as f64 + 0.5 * equal as f64) / YEAR_BARS as f64
        });
        let volatility = volatility_percentile.map(|p| {
            if p < 0.25 {
                Volatility::Low
            } else if p > 0.75 {
                Volatility::High
            } else {
                Volatility::Normal
            }
        });

        push_bounded(&mut self.closes, close, MOMENTUM_BARS + 1);
        let momentum =
            (self.closes.len() == MOMENTUM_BARS + 1 && self.closes[0] != 0.0).then(|| close / self.closes[0] - 1.0);

        // The 252-bar high: a queue of (index, high), highs decreasing.
        while self.highs.back().is_some_and(|&(_, h)| h <= bar.high) {
            self.highs.pop_back();
        }
        self.highs.push_back((index, bar.high));
        while self.highs.front().is_some_and(|&(i, _)| i + YEAR_BARS <= index) {
            self.highs.pop_front();
        }
        self.all_time_high = self.all_time_high.max(bar.high);
        let year_high = self.highs.front().map_or(bar.high, |&(_, h)| h);

        Condition {
            ts: bar.ts,
            trend,
            adx,
            sma_slope,
            volatility,
            atr_fraction,
            volatility_percentile,
            momentum,
            from_all_time_high: close / self.all_time_high - 1.0,
            from_year_high: close / year_high - 1.0,
        }
    }
}

fn push_bounded(queue: &mut VecDeque<f64>, value: f64, capacity: usize) {
    if queue.len() == capacity {
        queue.pop_front();
    }
    queue.push_back(value);
}

/// The condition at the last of `bars` (`None` for no bars).
#[must_use]
pub fn condition(bars: &[Bar]) -> Option<Condition> {
    let mut tracker = ConditionTracker::new();
    bars.iter().map(|&bar| tracker.next(bar)).last()
}

/// Breadth across a list of series at their last bars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Breadth {
    /// Series with enough bars to say.
    pub series: usize,
    /// Share of series closing above their 50-bar SMA.
    pub above_sma50: Option<f64>,
    /// Share of series closing above their 200-bar SMA.
    pub above_sma200: Option<f64>,
    /// Series whose last close is above the one before.
    pub advancers: usize,
    /// Series whose last close is below the one before.
    pub decliners: usize,
    /// Series whose last bar made a 252-bar high.
    pub new_highs: usize,
    /// Series whose last bar made a 252-bar low.
    pub new_lows: usize,
    /// The mean pairwise correlation of the series' last 60 bar-to-bar
    /// returns (`None` with fewer than two series of 61 bars).
    pub average_correlation: Option<f64>,
}

/// Bars of returns the correlation is measured over.
pub const CORRELATION_BARS: usize = 60;

/// Breadth across `series` (each in time order; they are compared by
/// position from the end, so they should end at the same bar).
#[must_use]
pub fn breadth(series: &[&[Bar]]) -> Breadth {
    let share = |period: usize| {
        let eligible: Vec<bool> = series
            .iter()
            .filter(|bars| bars.len() >= period)
            .map(|bars| {
                let window = &bars[bars.len() - period..];
                let mean = window.iter().map(|b| b.close).sum::<f64>() / period as f64;
                bars[bars.len() - 1].close > mean
            })
            .collect();
        (!eligible.is_empty()).then(|| eligible.iter().filter(|&&a| a).count() as f64 / eligible.len() as f64)
    };
    let mut advancers = 0;
    let mut decliners = 0;
    let mut new_highs = 0;
    let mut new_lows = 0;
    for bars in series.iter().filter(|b| b.len() >= 2) {
        let (last, before) = (bars[bars.len() - 1], bars[bars.len() - 2]);
        if last.close > before.close {
            advancers += 1;
        } else if last.close < before.close {
            decliners += 1;
        }
        let year = &bars[bars.len().saturating_sub(YEAR_BARS)..bars.len() - 1];
        if year.iter().all(|b| last.high > b.high) {
            new_highs += 1;
        }
        if year.iter().all(|b| last.low < b.low) {
            new_lows += 1;
        }
    }
    let returns: Vec<Vec<f64>> = series
        .iter()
        .filter(|bars| bars.len() > CORRELATION_BARS)
        .map(|bars| {
            let window = &bars[bars.len() - CORRELATION_BARS - 1..];
            window.windows(2).map(|w| w[1].close / w[0].close - 1.0).collect()
        })
        .collect();
    let mut pairs = 0;
    let mut sum = 0.0;
    for i in 0..returns.len() {
        for j in i + 1..returns.len() {
            if let Some(r) = correlation(&returns[i], &returns[j]) {
                sum += r;
                pairs += 1;
            }
        }
    }
    Breadth {
        series: series.iter().filter(|b| b.len() >= 2).count(),
        above_sma50: share(50),
        above_sma200: share(200),
        advancers,
        decliners,
        new_highs,
        new_lows,
        average_correlation: (pairs > 0).then(|| sum / f64::from(pairs)),
    }
}

/// Pearson's correlation of two equally long samples (`None` when either is
/// constant).
#[must_use]
pub fn correlation(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < 2 {
        return None;
    }
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |x: &[f64]| x.iter().sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let mut cov = 0.0;
    let mut va = 0.0;
    let mut vb = 0.0;
    for (x, y) in a.iter().zip(b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(i: usize, close: f64, spread: f64) -> Bar {
        Bar {
            ts: i as i64 * 86_400,
            open: close,
            high: close * (1.0 + spread),
            low: close * (1.0 - spread),
            close,
            volume: 1_000.0,
        }
    }

    /// A clean uptrend: 1% a day for a year and a half.
    fn uptrend(n: usize) -> Vec<Bar> {
        (0..n).map(|i| bar(i, 100.0 * 1.01_f64.powi(i as i32), 0.005)).collect()
    }

    #[test]
    fn a_clean_uptrend_is_up_at_its_high_with_positive_momentum() {
        let bars = uptrend(400);
        let c = condition(&bars).unwrap();
        assert_eq!(c.trend, Some(Trend::Up));
        assert!(c.adx.unwrap() >= ADX_TRENDING, "{c:?}");
        assert!(c.sma_slope.unwrap() > 0.0);
        let expected_momentum = 1.01_f64.powi(MOMENTUM_BARS as i32) - 1.0;
        assert!((c.momentum.unwrap() - expected_momentum).abs() < 1e-12, "{c:?}");
        // The close is under its own bar's high by the spread: as near the high as it gets.
        assert!((c.from_all_time_high - (1.0 / 1.005 - 1.0)).abs() < 1e-12);
        assert_eq!(c.from_year_high, c.from_all_time_high);
        // Too few bars for a trend: no regime yet.
        let early = condition(&bars[..TREND_PERIOD + SLOPE_BARS - 2]).unwrap();
        assert_eq!(early.trend, None);
        assert_eq!(early.volatility, None);
    }

    #[test]
    fn a_range_is_range_and_a_crash_is_down_with_high_volatility() {
        // A sideways market: choppy moves around 100 that go nowhere.
        let range: Vec<Bar> =
            (0..500).map(|i| bar(i, 100.0 + 3.0 * (i as f64 * 2.1).sin() + (i as f64 * 0.7).cos(), 0.01)).collect();
        let c = condition(&range).unwrap();
        assert_eq!(c.trend, Some(Trend::Range), "{c:?}");
        assert!(c.from_all_time_high < 0.0 && c.from_all_time_high > -0.2);

        // A quiet year, then a crash: 3% a day down for 40 days on wide bars.
        let mut crash: Vec<Bar> = (0..400).map(|i| bar(i, 100.0 + 0.01 * i as f64, 0.004)).collect();
        let top = crash.last().unwrap().close;
        crash.extend((0..40).map(|k| bar(400 + k, top * 0.97_f64.powi(k as i32 + 1), 0.03)));
        let c = condition(&crash).unwrap();
        assert_eq!(c.trend, Some(Trend::Down), "{c:?}");
        assert_eq!(c.volatility, Some(Volatility::High));
        assert_eq!(c.volatility_percentile, Some(251.5 / 252.0), "the widest of the year");
        assert!(c.momentum.unwrap() < -0.4);
        let fall = 0.97_f64.powi(40) * top / (top * 1.004) - 1.0;
        assert!((c.from_all_time_high - fall).abs() < 1e-9, "{} vs {fall}", c.from_all_time_high);
    }

    #[test]
    fn calm_after_a_busy_year_is_low_volatility_and_a_steady_one_normal() {
        let mut bars: Vec<Bar> = (0..300).map(|i| bar(i, 100.0, 0.02)).collect();
        bars.extend((300..330).map(|i| bar(i, 100.0, 0.002)));
        let c = condition(&bars).unwrap();
        assert_eq!(c.volatility, Some(Volatility::Low), "{c:?}");
        assert!(c.volatility_percentile.unwrap() < 0.1);
        // The same width all year: the middle, not the top.
        let steady: Vec<Bar> = (0..300).map(|i| bar(i, 100.0, 0.01)).collect();
        assert_eq!(condition(&steady).unwrap().volatility, Some(Volatility::Normal));
    }

    #[test]
    fn the_year_high_rolls_past_an_old_peak_and_the_all_time_high_does_not() {
        let mut bars: Vec<Bar> = (0..100).map(|i| bar(i, 150.0, 0.05)).collect();
        bars.extend((100..400).map(|i| bar(i, 100.0, 0.002)));
        let c = condition(&bars).unwrap();
        assert!((c.from_all_time_high - (100.0 / (150.0 * 1.05) - 1.0)).abs() < 1e-12);
        assert!((c.from_year_high - (100.0 / 100.2 - 1.0)).abs() < 1e-12);
        // 252 bars after the peak's last bar it still counts; one more and it does not.
        let at = |n: usize| condition(&bars[..n]).unwrap().from_year_high;
        assert!((at(99 + YEAR_BARS) - (100.0 / 157.5 - 1.0)).abs() < 1e-12);
        assert!((at(100 + YEAR_BARS) - (100.0 / 100.2 - 1.0)).abs() < 1e-12);
    }

    #[test]
    fn the_tracker_gives_at_each_bar_what_a_run_up_to_it_gives() {
        let bars = uptrend(300);
        let mut tracker = ConditionTracker::new();
        for (i, &b) in bars.iter().enumerate() {
            let live = tracker.next(b);
            if i % 37 == 0 {
                assert_eq!(Some(live), condition(&bars[..=i]));
            }
        }
    }

    #[test]
    fn breadth_counts_advancers_highs_and_the_share_above_averages() {
        // Trends with a wiggle, so that their returns vary.
        let wiggle = |i: usize, k: f64| 1.0 + 0.01 * (i as f64 * k).sin();
        let up: Vec<Bar> = (0..300).map(|i| bar(i, 100.0 * 1.01_f64.powi(i as i32) * wiggle(i, 0.3), 0.0)).collect();
        let down: Vec<Bar> = (0..300).map(|i| bar(i, 300.0 * 0.995_f64.powi(i as i32) * wiggle(i, 0.5), 0.0)).collect();
        let flat: Vec<Bar> = (0..300).map(|i| bar(i, 50.0, 0.0)).collect();
        let short = uptrend(30);
        let b = breadth(&[&up, &down, &flat, &short]);
        assert_eq!(b.series, 4);
        let last_move = |bars: &[Bar]| bars[bars.len() - 1].close - bars[bars.len() - 2].close;
        let (mut advancers, mut decliners) = (1, 0); // short rises
        for series in [&up, &down] {
            if last_move(series) > 0.0 {
                advancers += 1;
            } else {
                decliners += 1;
            }
        }
        assert_eq!((b.advancers, b.decliners), (advancers, decliners));
        // Flat makes neither a high nor a low (equal is not new).
        assert!(b.new_highs + b.new_lows <= 3);
        // Above the 50- and 200-bar averages: up only, of the three long series.
        assert_eq!(b.above_sma50, Some(1.0 / 3.0));
        assert_eq!(b.above_sma200, Some(1.0 / 3.0));
        // The one pair with varying returns over 60 bars: up and down (flat's are constant).
        let returns = |bars: &[Bar]| -> Vec<f64> {
            bars[bars.len() - CORRELATION_BARS - 1..].windows(2).map(|w| w[1].close / w[0].close - 1.0).collect()
        };
        assert_eq!(b.average_correlation, correlation(&returns(&up), &returns(&down)));
        assert!(b.average_correlation.is_some());
        assert_eq!(breadth(&[]).above_sma50, None);
        assert_eq!(breadth(&[&flat, &flat]).average_correlation, None);
        // New highs and lows on plain trends.
        let b = breadth(&[&uptrend(300), &flat]);
        assert_eq!((b.new_highs, b.new_lows), (1, 0));
    }

    #[test]
    fn correlation_is_pearsons() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(correlation(&a, &[2.0, 4.0, 6.0, 8.0]), Some(1.0));
        assert_eq!(correlation(&a, &[8.0, 6.0, 4.0, 2.0]), Some(-1.0));
        assert_eq!(correlation(&a, &[5.0, 5.0, 5.0, 5.0]), None);
        // Two noisy series built from one shared move: positive, below one.
        let shared: Vec<f64> = (0..61).map(|i| (i as f64 * 0.7).sin()).collect();
        let x: Vec<f64> = shared.iter().enumerate().map(|(i, s)| s + 0.5 * (i as f64 * 1.3).cos()).collect();
        let y: Vec<f64> = shared.iter().enumerate().map(|(i, s)| s + 0.5 * (i as f64 * 2.9).sin()).collect();
        let r = correlation(&x, &y).unwrap();
        assert!(r > 0.3 && r < 1.0, "{r}");
    }
}
