//! Gap detection: where a symbol's stored bars skip sessions they should have,
//! so a targeted backfill can fetch just those ranges.
//!
//! Which sessions a symbol should have depends on its calendar:
//! - **24/7** (crypto, `*-USD`): every period of the timeframe. Any skipped
//!   period is a gap.
//! - **Weekdays** (everything else): daily bars on Monday to Friday. Without an
//!   exchange holiday calendar a single missing weekday cannot be told from a
//!   holiday (Good Friday, Thanksgiving, ...), so only runs of **two or more**
//!   missing weekdays count as gaps. Intraday equity bars have overnight and
//!   weekend breaks that vary by exchange, so they are not checked.
//!
//! Only the inside of the stored range is checked; the range's own ends are the
//! backfill's concern (the daily backfill always re-reads the latest days).

use chrono::{DateTime, Datelike, NaiveDate, Weekday};
use quant::Timeframe;
use serde::Serialize;

use crate::storage::{Db, StorageError, with_reader};

/// The fewest consecutive missing weekdays that count as a gap for weekday symbols.
pub(crate) const MIN_WEEKDAY_GAP: u32 = 2;

/// When a symbol trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Calendar {
    /// Every day, around the clock.
    Always,
    /// Monday to Friday.
    Weekdays,
}

impl Calendar {
    /// The calendar of `symbol`: 24/7 for `*-USD` crypto pairs, else weekdays.
    #[must_use]
    pub(crate) fn of(symbol: &str) -> Self {
        if symbol.ends_with("-USD") { Self::Always } else { Self::Weekdays }
    }
}

/// A run of missing bars between two stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Gap {
    /// Opening time of the first missing bar, Unix seconds.
    pub from: i64,
    /// Opening time of the last missing bar, Unix seconds.
    pub to: i64,
    /// How many bars are missing.
    pub missing: u32,
}

impl Gap {
    /// The gap's first and last day (UTC), for a daily backfill request.
    #[must_use]
    pub(crate) fn days(&self) -> (NaiveDate, NaiveDate) {
        let day = |ts: i64| DateTime::from_timestamp(ts, 0).map(|d| d.date_naive()).unwrap_or_default();
        (day(self.from), day(self.to))
    }
}

/// The gaps in `ts` (sorted opening times of one symbol's bars of `timeframe`).
#[must_use]
pub(crate) fn find(ts: &[i64], timeframe: Timeframe, calendar: Calendar) -> Vec<Gap> {
    let step = timeframe.seconds();
    let weekdays = match (calendar, timeframe) {
        (Calendar::Always, _) => false,
        (Calendar::Weekdays, Timeframe::D1) => true,
        // Weekly bars have no weekend; intraday equity sessions are not modelled.
        (Calendar::Weekdays, Timeframe::W1) => false,
        (Calendar::Weekdays, _) => return Vec::new(),
    };
    let mut gaps = Vec::new();
    for pair in ts.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b - a <= step {
            continue;
        }
        if weekdays {
            let missing: Vec<i64> =
                (1..).map(|k| a + k * step).take_while(|&t| t < b).filter(|&t| is_weekday(t)).collect();
            if let (Some(&from), Some(&to)) = (missing.first(), missing.last())
                && u32::try_from(missing.len()).unwrap_or(u32::MAX) >= MIN_WEEKDAY_GAP
            {
                gaps.push(Gap { from, to, missing: u32::try_from(missing.len()).unwrap_or(u32::MAX) });
            }
        } else {
            let missing = u32::try_from((b - a) / step - 1).unwrap_or(u32::MAX);
            if missing > 0 {
                gaps.push(Gap { from: a + step, to: b - step, missing });
            }
        }
    }
    gaps
}

fn is_weekday(ts: i64) -> bool {
    DateTime::from_timestamp(ts, 0).is_some_and(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
}

/// The gaps in a symbol's stored bars with opening times in `from..=to`.
///
/// # Errors
/// [`StorageError::Database`] on a database failure.
pub(crate) async fn scan(
    db: &Db,
    symbol: &str,
    timeframe: Timeframe,
    from: i64,
    to: i64,
) -> Result<Vec<Gap>, StorageError> {
    const SQL: &str = "SELECT ts FROM bars WHERE symbol = $1 AND timeframe = $2 AND ts BETWEEN $3 AND $4 ORDER BY ts";
    let ts: Vec<i64> = with_reader!(db, |pool| sqlx::query_scalar(SQL)
        .bind(symbol)
        .bind(timeframe.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?);
    Ok(find(&ts, timeframe, Calendar::of(symbol)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    /// Midnight UTC of a day in November 2026 (the 2nd is a Monday).
    fn nov(day: i64) -> i64 {
        NaiveDate::from_ymd_opt(2026, 11, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).map_or(0, |t| t.and_utc().timestamp())
            + (day - 1) * DAY
    }

    #[test]
    fn weekends_are_not_gaps_for_equities() {
        // Fri 6th -> Mon 9th.
        assert!(find(&[nov(5), nov(6), nov(9), nov(10)], Timeframe::D1, Calendar::Weekdays).is_empty());
    }

    #[test]
    fn a_single_missing_weekday_may_be_a_holiday() {
        // Thu 26th (Thanksgiving) missing.
        assert!(find(&[nov(25), nov(27)], Timeframe::D1, Calendar::Weekdays).is_empty());
    }

    #[test]
    fn two_missing_weekdays_across_a_weekend_are_a_gap() {
        // Fri 6th and Mon 9th missing between Thu 5th and Tue 10th.
        let gaps = find(&[nov(5), nov(10)], Timeframe::D1, Calendar::Weekdays);
        assert_eq!(gaps, vec![Gap { from: nov(6), to: nov(9), missing: 2 }]);
        assert_eq!(gaps[0].days().0.to_string(), "2026-11-06");
    }

    #[test]
    fn crypto_misses_any_day() {
        let gaps = find(&[nov(5), nov(7), nov(8), nov(12)], Timeframe::D1, Calendar::Always);
        assert_eq!(
            gaps,
            vec![Gap { from: nov(6), to: nov(6), missing: 1 }, Gap { from: nov(9), to: nov(11), missing: 3 }]
        );
    }

    #[test]
    fn intraday_gaps_only_for_round_the_clock_symbols() {
        let ts = [0, 60, 300, 360];
        assert_eq!(find(&ts, Timeframe::M1, Calendar::Always), vec![Gap { from: 120, to: 240, missing: 3 }]);
        assert!(find(&ts, Timeframe::M1, Calendar::Weekdays).is_empty());
    }

    #[test]
    fn calendars_by_symbol() {
        assert_eq!(Calendar::of("BTC-USD"), Calendar::Always);
        assert_eq!(Calendar::of("AAPL"), Calendar::Weekdays);
    }
}
