//! The `finstage` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Finstage: self-hosted market data and trading signals.
#[derive(Debug, Parser)]
#[command(name = "finstage", version, about)]
pub struct Cli {
    /// TOML configuration file (default: $FINSTAGE_CONFIG, else ./finstage.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard, the API and the live feed.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Compute indicators over a CSV file of bars and print them as CSV.
    Indicators {
        /// CSV file with OHLCV bars.
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        /// An indicator in TA-Lib notation, e.g. `RSI(14)` or `MACD(12,26,9)`; repeatable.
        #[arg(long = "ind", value_name = "SPEC", required = true)]
        ind: Vec<String>,
    },
    /// Backtest a strategy over a CSV file of bars.
    Backtest(crate::analysis::BacktestArgs),
}
