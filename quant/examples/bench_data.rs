//! Writes the benchmark bars for the Python references (`bench/compare.sh`):
//!
//! - `<dir>/batch_hlc.f64`: the 10,000,000 batch bars as three little-endian
//!   f64 columns one after the other: all highs, then all lows, then all closes
//!   (what TA-Lib's functions take);
//! - `<dir>/daily.csv`: the 2,520 daily bars (`ts,open,high,low,close,volume`,
//!   shortest round-trip decimal), for backtesting.py.
//!
//! Usage: `cargo run --release -p quant --example bench_data -- <dir> [batch bars]`

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use quant::Timeframe;

#[path = "../benches/common/mod.rs"]
mod common;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/bench-data".to_owned()));
    let n = args.next().and_then(|v| v.parse().ok()).unwrap_or(common::BATCH_BARS);
    std::fs::create_dir_all(&dir)?;

    let bars = common::bars(n, Timeframe::M1);
    let mut out = BufWriter::new(std::fs::File::create(dir.join("batch_hlc.f64"))?);
    for column in [|b: &quant::Bar| b.high, |b: &quant::Bar| b.low, |b: &quant::Bar| b.close] {
        for bar in &bars {
            out.write_all(&column(bar).to_le_bytes())?;
        }
    }
    out.flush()?;

    let mut csv = String::from("ts,open,high,low,close,volume\n");
    for b in common::bars(common::DAILY_BARS, Timeframe::D1) {
        let _ = writeln!(csv, "{},{:?},{:?},{:?},{:?},{:?}", b.ts, b.open, b.high, b.low, b.close, b.volume);
    }
    std::fs::write(dir.join("daily.csv"), csv)?;
    println!("wrote {n} batch bars and {} daily bars to {}", common::DAILY_BARS, dir.display());
    Ok(())
}
