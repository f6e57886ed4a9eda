//! OHLCV bars from CSV files: the format of the `indicators` and `backtest`
//! commands and of CSV import.
//!
//! The first row is a header. The timestamp column is the one named `Date`,
//! `Datetime`, `Timestamp`, `Time` or `ts`, or else an unnamed first column (as
//! pandas writes). `Open`, `High`, `Low`, `Close` and `Volume` are required;
//! names are matched case-insensitively and other columns (`Adj Close`, ...) are
//! ignored. Timestamps may be dates (`2024-01-31`), date-times
//! (`2024-01-31 15:30[:00]`, read as UTC), RFC 3339 (`2024-01-31T15:30:00Z`,
//! with any offset) or Unix seconds. Rows must be in strictly increasing time
//! and each bar consistent (`low <= open, close <= high`, non-negative volume).
//!
//! Reading is all-or-nothing: the first problem is reported with its line and
//! column, and nothing is returned.

use std::io::Read;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use quant::Bar;

/// Bars read from a CSV file, with each row's timestamp as written.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvBars {
    /// The bars, oldest first.
    pub bars: Vec<Bar>,
    /// The timestamp cell of each bar, as written in the file.
    pub labels: Vec<String>,
}

/// Why a CSV file was refused. Line numbers count the header as line 1.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file could not be read or is not well-formed CSV.
    #[error("line {line}: {message}")]
    Format {
        /// The line where reading failed.
        line: u64,
        /// What went wrong.
        message: String,
    },
    /// The header lacks a required column.
    #[error("line 1: {0}")]
    Header(String),
    /// A cell holds a value that is not acceptable.
    #[error("line {line}, column {column}: {message}")]
    Cell {
        /// The line of the row.
        line: u64,
        /// The column's name as written in the header.
        column: String,
        /// What is wrong with the value.
        message: String,
    },
    /// The file has a header but no rows.
    #[error("no data rows after the header")]
    Empty,
}

const TIME_NAMES: [&str; 5] = ["date", "datetime", "timestamp", "time", "ts"];
const PRICE_NAMES: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// Reads and validates bars from CSV text.
///
/// # Errors
/// [`CsvError`] naming the line (and column) of the first problem.
pub fn read_bars(input: impl Read) -> Result<CsvBars, CsvError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(input);
    let header = reader.headers().map_err(|e| format_error(&e))?.clone();
    let names: Vec<String> = header.iter().map(|h| h.to_ascii_lowercase()).collect();
    let time_col = names
        .iter()
        .position(|n| TIME_NAMES.contains(&n.as_str()))
        .or_else(|| names.first().filter(|n| n.is_empty()).map(|_| 0))
        .ok_or_else(|| {
            CsvError::Header(
                "no timestamp column: name one Date, Datetime, Timestamp or Time, or leave the first column unnamed"
                    .into(),
            )
        })?;
    let mut price_cols = [0usize; 5];
    for (slot, wanted) in price_cols.iter_mut().zip(PRICE_NAMES) {
        *slot = names.iter().position(|n| n == wanted).ok_or_else(|| {
            CsvError::Header(format!(
                "missing column `{}` (needed: Open, High, Low, Close, Volume)",
                capitalise(wanted)
            ))
        })?;
    }

    let mut out = CsvBars { bars: Vec::new(), labels: Vec::new() };
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(format_error(&e)),
        }
        let line = record.position().map_or(0, csv::Position::line);
        let cell_error =
            |col: usize, message: String| CsvError::Cell { line, column: column_name(&header, col), message };
        let label = record.get(time_col).unwrap_or_default();
        let ts = parse_time(label).map_err(|m| cell_error(time_col, m))?;
        let mut values = [0.0f64; 5];
        for (value, &col) in values.iter_mut().zip(&price_cols) {
            let text = record.get(col).unwrap_or_default();
            *value = text
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| cell_error(col, format!("`{text}` is not a finite number")))?;
        }
        let [open, high, low, close, volume] = values;
        let bar = Bar { ts, open, high, low, close, volume };
        if volume < 0.0 {
            return Err(cell_error(price_cols[4], format!("volume {volume} is negative")));
        }
        if high < open.max(close) || high < low {
            return Err(cell_error(price_cols[1], format!("high {high} is below the open, close or low")));
        }
        if low > open.min(close) {
            return Err(cell_error(price_cols[2], format!("low {low} is above the open or close")));
        }
        if let Some(prev) = out.bars.last()
            && ts <= prev.ts
        {
            return Err(cell_error(time_col, format!("`{label}` is not after the previous row's time")));
        }
        out.bars.push(bar);
        out.labels.push(label.to_owned());
    }
    if out.bars.is_empty() {
        return Err(CsvError::Empty);
    }
    Ok(out)
}

fn format_error(e: &csv::Error) -> CsvError {
    CsvError::Format { line: e.position().map_or(1, csv::Position::line), message: e.to_string() }
}

fn column_name(header: &csv::StringRecord, col: usize) -> String {
    match header.get(col) {
        Some("") | None => format!("{}", col + 1),
        Some(name) => name.to_owned(),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

/// Parses a timestamp cell into Unix seconds (UTC).
pub(crate) fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt.timestamp());
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(dt.and_utc().timestamp());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp()));
    }
    Err(format!("`{text}` is not a date, date-time, RFC 3339 time or Unix seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<CsvBars, CsvError> {
        read_bars(text.as_bytes())
    }

    #[test]
    fn reads_yahoo_style_files_ignoring_extra_columns() {
        let csv = "Date,Open,High,Low,Close,Adj Close,Volume\n\
                   2024-01-02,10,11,9,10.5,10.4,1000\n\
                   2024-01-03,10.5,12,10,11.5,11.4,2000\n";
        let got = read(csv).unwrap();
        assert_eq!(got.bars.len(), 2);
        assert_eq!(
            got.bars[1],
            Bar { ts: 1_704_240_000, open: 10.5, high: 12.0, low: 10.0, close: 11.5, volume: 2000.0 }
        );
        assert_eq!(got.labels, ["2024-01-02", "2024-01-03"]);
    }

    #[test]
    fn accepts_an_unnamed_first_column_and_other_time_formats() {
        let csv = ",open,HIGH,low,Close,volume\n\
                   2024-01-02 09:30:00,1,2,1,2,5\n\
                   2024-01-02T09:31:00Z,2,2,1,1,5\n\
                   1704188000,1,1,1,1,0\n";
        let got = read(csv).unwrap();
        assert_eq!(got.bars.iter().map(|b| b.ts).collect::<Vec<_>>(), [1_704_187_800, 1_704_187_860, 1_704_188_000]);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let cases = [
            (
                "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,x,5\n",
                "line 2, column Close: `x` is not a finite number",
            ),
            ("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,2,5\n2024-01-02,1,2,1,2,5\n", "line 3, column Date"),
            (
                "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,2,5\nyesterday,1,2,1,2,5\n",
                "line 3, column Date: `yesterday`",
            ),
            ("Date,Open,High,Low,Close,Volume\n2024-01-02,1,0.5,0.4,1,5\n", "line 2, column High"),
            ("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1.5,2,5\n", "line 2, column Low"),
            ("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,2,-5\n", "line 2, column Volume"),
            ("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,2\n", "line 2"),
            ("Date,Open,High,Low,Close\n2024-01-02,1,2,1,2\n", "line 1: missing column `Volume`"),
            ("Day,Open,High,Low,Close,Volume\n", "line 1: no timestamp column"),
        ];
        for (csv, expected) in cases {
            let err = read(csv).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{csv:?}: got `{err}`, expected it to start with `{expected}`");
        }
        assert!(matches!(read("Date,Open,High,Low,Close,Volume\n"), Err(CsvError::Empty)));
    }
}
