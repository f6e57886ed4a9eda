//! How prices, changes and timestamps are written on screen. Pure functions, so
//! the server's HTML and the browser's updates always agree.

/// A price with two decimals, or four below 1.0 (penny stocks, FX-like quotes).
pub(crate) fn price(value: f64) -> String {
    if value.abs() < 1.0 { format!("{value:.4}") } else { format!("{value:.2}") }
}

/// An indicator value: four significant decimals for small numbers, two otherwise.
pub(crate) fn number(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.2}")
    } else if value.abs() >= 1.0 {
        format!("{value:.3}")
    } else {
        format!("{value:.4}")
    }
}

/// A traded volume, shortened past a thousand: `950`, `12.3K`, `4.56M`, `1.2B`.
pub(crate) fn volume(value: f64) -> String {
    let abs = value.abs();
    let (scaled, unit) = if abs >= 1e9 {
        (value / 1e9, "B")
    } else if abs >= 1e6 {
        (value / 1e6, "M")
    } else if abs >= 1e3 {
        (value / 1e3, "K")
    } else {
        return format!("{value:.0}");
    };
    let digits = if scaled.abs() >= 100.0 {
        0
    } else if scaled.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{scaled:.digits$}{unit}")
}

/// A signed change, e.g. `+1.25 (+0.83%)`. A change that rounds to zero is
/// `+0.00`, never `-0.00`.
pub(crate) fn change(abs: f64, pct: f64) -> String {
    format!("{:+.2} ({:+.2}%)", hundredths(abs), hundredths(pct))
}

/// The CSS class for a change: `up`, `down` or `flat`, as the change is shown
/// (to the hundredth: one that rounds to zero is flat).
pub(crate) fn direction(abs: f64) -> &'static str {
    let shown = hundredths(abs);
    if shown > 0.0 {
        "up"
    } else if shown < 0.0 {
        "down"
    } else {
        "flat"
    }
}

/// `value` rounded to hundredths, with negative zero made zero.
fn hundredths(value: f64) -> f64 {
    let rounded = (value * 100.0).round() / 100.0;
    if rounded == 0.0 { 0.0 } else { rounded }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn datetime(ts: i64) -> String {
    let (y, m, d) = civil_from_days(ts.div_euclid(86_400));
    let secs = ts.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Unix seconds as `YYYY-MM-DD` (UTC).
pub(crate) fn date(ts: i64) -> String {
    let (y, m, d) = civil_from_days(ts.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's `civil_from_days`; pulling a date crate into the wasm bundle
/// for this one conversion is not worth its size.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_shortened_to_three_significant_digits() {
        assert_eq!(volume(950.0), "950");
        assert_eq!(volume(12_345.0), "12.3K");
        assert_eq!(volume(4_560_000.0), "4.56M");
        assert_eq!(volume(123_400_000.0), "123M");
        assert_eq!(volume(1_200_000_000.0), "1.20B");
    }

    #[test]
    fn dates_match_known_days() {
        assert_eq!(datetime(0), "1970-01-01 00:00:00");
        assert_eq!(datetime(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(datetime(1_704_277_062), "2024-01-03 10:17:42");
        assert_eq!(date(-86_400), "1969-12-31");
    }

    #[test]
    fn prices_and_changes_are_signed_and_rounded() {
        assert_eq!(price(187.456), "187.46");
        assert_eq!(price(0.123_456), "0.1235");
        assert_eq!(change(-1.234, -0.5), "-1.23 (-0.50%)");
        assert_eq!(direction(0.0), "flat");
    }

    /// A change too small to show was written `-0.00 (-0.00%)` in red.
    #[test]
    fn a_change_that_rounds_to_zero_is_flat_and_unsigned() {
        assert_eq!(change(-0.001, -0.000_4), "+0.00 (+0.00%)");
        assert_eq!(direction(-0.001), "flat");
        assert_eq!(direction(0.004), "flat");
        assert_eq!(direction(-0.005), "down");
        assert_eq!(direction(0.006), "up");
    }
}
