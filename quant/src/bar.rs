//! Bars: one period of trading summarised as open, high, low, close and volume.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParamError;

/// One OHLCV bar. `ts` is the bar's opening time in Unix seconds (UTC); a bar
/// covers `[ts, ts + timeframe)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Opening time of the bar, Unix seconds, UTC.
    pub ts: i64,
    /// First traded price of the period.
    pub open: f64,
    /// Highest traded price of the period.
    pub high: f64,
    /// Lowest traded price of the period.
    pub low: f64,
    /// Last traded price of the period.
    pub close: f64,
    /// Traded quantity over the period.
    pub volume: f64,
}

impl Bar {
    /// Whether the prices are finite and consistent: `low <= open, close <= high`,
    /// positive prices and non-negative volume.
    #[must_use]
    pub fn is_consistent(&self) -> bool {
        let finite = [self.open, self.high, self.low, self.close, self.volume].iter().all(|v| v.is_finite());
        finite
            && self.low > 0.0
            && self.low <= self.open.min(self.close)
            && self.high >= self.open.max(self.close)
            && self.volume >= 0.0
    }
}

/// The length of time one bar covers. The set is closed on purpose: every
/// timeframe has a fixed length in seconds, which storage, charts and the
/// pipeline rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Timeframe {
    /// One second (used by fast simulated feeds and tests).
    S1,
    /// Five seconds.
    S5,
    /// One minute.
    M1,
    /// Five minutes.
    M5,
    /// Fifteen minutes.
    M15,
    /// Thirty minutes.
    M30,
    /// One hour.
    H1,
    /// One day.
    D1,
    /// One week.
    W1,
}

const TIMEFRAME_NAMES: &str = "1s, 5s, 1m, 5m, 15m, 30m, 1h, 1d, 1wk";

impl Timeframe {
    /// Every timeframe, shortest first.
    pub const ALL: [Timeframe; 9] =
        [Self::S1, Self::S5, Self::M1, Self::M5, Self::M15, Self::M30, Self::H1, Self::D1, Self::W1];

    /// The bar length in seconds.
    #[must_use]
    pub const fn seconds(self) -> i64 {
        match self {
            Self::S1 => 1,
            Self::S5 => 5,
            Self::M1 => 60,
            Self::M5 => 300,
            Self::M15 => 900,
            Self::M30 => 1_800,
            Self::H1 => 3_600,
            Self::D1 => 86_400,
            Self::W1 => 604_800,
        }
    }

    /// The canonical spelling (`1m`, `1d`, `1wk`, ...), as stored and shown.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::S1 => "1s",
            Self::S5 => "5s",
            Self::M1 => "1m",
            Self::M5 => "5m",
            Self::M15 => "15m",
            Self::M30 => "30m",
            Self::H1 => "1h",
            Self::D1 => "1d",
            Self::W1 => "1wk",
        }
    }

    /// Whether bars of this timeframe are shorter than a day.
    #[must_use]
    pub const fn is_intraday(self) -> bool {
        self.seconds() < 86_400
    }

    /// The opening time of the bar of this timeframe that contains `ts`.
    /// Weekly bars open on Monday 00:00 UTC.
    #[must_use]
    pub const fn bucket_start(self, ts: i64) -> i64 {
        // 1970-01-01 was a Thursday; the first Monday was 4 days later.
        let offset = if matches!(self, Self::W1) { 4 * 86_400 } else { 0 };
        let len = self.seconds();
        (ts - offset).div_euclid(len) * len + offset
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Timeframe {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|tf| tf.as_str() == s).ok_or_else(|| ParamError::Unknown {
            kind: "timeframe",
            // Quote a short prefix: the text may come from a client.
            value: if s.chars().count() > 32 {
                format!("{}…", s.chars().take(32).collect::<String>())
            } else {
                s.to_owned()
            },
            expected: TIMEFRAME_NAMES,
        })
    }
}

impl TryFrom<String> for Timeframe {
    type Error = ParamError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Timeframe> for String {
    fn from(tf: Timeframe) -> Self {
        tf.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframe_round_trips_through_its_name() {
        for tf in Timeframe::ALL {
            assert_eq!(tf.as_str().parse::<Timeframe>(), Ok(tf));
        }
    }

    #[test]
    fn unknown_timeframe_names_the_accepted_ones() {
        let err = "2d".parse::<Timeframe>().unwrap_err();
        assert!(err.to_string().contains("unknown timeframe `2d`"), "{err}");
        assert!(err.to_string().contains("1wk"), "{err}");
    }

    #[test]
    fn buckets_align_to_the_timeframe() {
        // 2024-01-03 (a Wednesday) 10:17:42 UTC.
        let ts = 1_704_277_062;
        assert_eq!(Timeframe::M5.bucket_start(ts), 1_704_276_900);
        assert_eq!(Timeframe::D1.bucket_start(ts), 1_704_240_000);
        // Monday 2024-01-01 00:00 UTC.
        assert_eq!(Timeframe::W1.bucket_start(ts), 1_704_067_200);
        assert_eq!(Timeframe::W1.bucket_start(1_704_067_200), 1_704_067_200);
        assert_eq!(Timeframe::W1.bucket_start(1_704_067_199), 1_704_067_200 - 604_800);
    }

    #[test]
    fn consistency_rejects_a_high_below_the_close() {
        let good = Bar { ts: 0, open: 10.0, high: 11.0, low: 9.0, close: 10.5, volume: 100.0 };
        assert!(good.is_consistent());
        assert!(!Bar { high: 10.2, ..good }.is_consistent());
        assert!(!Bar { volume: f64::NAN, ..good }.is_consistent());
    }
}
