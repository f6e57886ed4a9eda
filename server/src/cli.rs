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
    /// Fill a symbol's history for a date range (a durable job, run here until done).
    Backfill {
        /// The symbol.
        #[arg(long)]
        symbol: String,
        /// First day, YYYY-MM-DD.
        #[arg(long, value_parser = crate::backfill::parse_day)]
        from: chrono::NaiveDate,
        /// Last day, YYYY-MM-DD.
        #[arg(long, value_parser = crate::backfill::parse_day)]
        to: chrono::NaiveDate,
        /// Where the bars come from.
        #[arg(long, value_enum, default_value = "sim")]
        provider: crate::backfill::Source,
        /// The bars' timeframe.
        #[arg(long, default_value = "1d")]
        timeframe: quant::Timeframe,
    },
    /// Work the durable job queue (backfills) without serving HTTP; run several
    /// to share the work (PostgreSQL for several processes).
    Worker {
        /// Concurrent workers in this process.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// How often an idle worker looks for due jobs, in milliseconds
        /// (lower: jobs start sooner, at one more query per look).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
        idle_poll_ms: u64,
    },
    /// List gaps in a symbol's stored bars; `--fill` queues backfills for them.
    Gaps {
        /// The symbol.
        #[arg(long)]
        symbol: String,
        /// The bars' timeframe.
        #[arg(long, default_value = "1d")]
        timeframe: quant::Timeframe,
        /// How many days back to look.
        #[arg(long, default_value_t = 3_650)]
        days: u32,
        /// Queue a backfill per gap from this provider.
        #[arg(long, value_enum, value_name = "PROVIDER")]
        fill: Option<crate::backfill::Source>,
    },
    /// The Telegram bot's linked chats.
    Telegram {
        /// What to do.
        #[command(subcommand)]
        action: TelegramAction,
    },
    /// Import bars from a CSV file (all or nothing).
    Import {
        /// CSV file with OHLCV bars (the format of `indicators` and `backtest`).
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        /// The symbol the bars belong to (added if missing).
        #[arg(long)]
        symbol: String,
        /// The bars' timeframe.
        #[arg(long, default_value = "1d")]
        timeframe: quant::Timeframe,
    },
    /// Manage the symbols Finstage stores.
    Symbols {
        /// What to do with them.
        #[command(subcommand)]
        action: SymbolsAction,
    },
    /// Inspect recorded scheduler runs.
    Runs {
        /// What to do with them.
        #[command(subcommand)]
        action: RunsAction,
    },
    /// Inspect the durable job queue.
    Jobs {
        /// What to do with it.
        #[command(subcommand)]
        action: JobsAction,
    },
}

/// `finstage telegram ...`
#[derive(Debug, Subcommand)]
pub enum TelegramAction {
    /// Print a one-time code (valid 15 minutes); send `/start CODE` to the bot to link that chat.
    Link,
    /// List linked chats.
    Chats,
    /// Unlink a chat (its subscriptions go with it).
    Unlink {
        /// The chat id.
        chat_id: i64,
    },
}

/// `finstage jobs ...`
#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state: queued, running, done or dead.
        #[arg(long)]
        status: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// `finstage runs ...`
#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// List runs, newest first.
    List {
        /// Only this schedule, e.g. quote_refresh.
        #[arg(long)]
        schedule: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// `finstage symbols ...`
#[derive(Debug, Subcommand)]
pub enum SymbolsAction {
    /// List every stored symbol.
    List,
    /// Add a symbol.
    Add {
        /// The ticker, e.g. AAPL.
        symbol: String,
        /// A display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove a symbol and all its bars.
    Remove {
        /// The ticker.
        symbol: String,
    },
}
