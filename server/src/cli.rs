//! The `finstage` command line: its arguments ([`Cli`]) and the standard
//! output its commands write to ([`Output`], [`is_broken_pipe`]).

use std::io::{self, Write};
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
    /// Backtest a strategy over a CSV file or a stored symbol's bars.
    #[command(after_long_help = crate::analysis::strategies_help())]
    Backtest(crate::analysis::BacktestArgs),
    /// Backtest every combination of a parameter grid and rank them by a metric.
    #[command(after_long_help = crate::analysis::strategies_help())]
    Sweep(crate::analysis::SweepArgs),
    /// Walk-forward validation: choose parameters on each training window by
    /// a sweep, then trade them on the following test window.
    #[command(after_long_help = crate::analysis::strategies_help())]
    WalkForward(crate::analysis::WalkForwardArgs),
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
    /// Manage who can log in, and their roles.
    Users {
        /// What to do.
        #[command(subcommand)]
        action: UsersAction,
    },
    /// API tokens for scripts and the REST API (`Authorization: Bearer`).
    Tokens {
        /// What to do.
        #[command(subcommand)]
        action: TokensAction,
    },
    /// Print the audit log: every change, who made it, when and from where.
    Audit {
        /// How many entries, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only this user's entries (`cli` for the command line's).
        #[arg(long)]
        user: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `finstage users ...`. Passwords are read from a prompt at a terminal, or
/// from the first line of standard input otherwise; never from an argument.
#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Add a user.
    Add {
        /// The login name (a-z, 0-9, '.', '_', '-').
        name: String,
        /// admin (users, bot, settings), trader (watchlist, strategies, lab runs) or viewer (read only).
        #[arg(long, default_value = "viewer")]
        role: app::auth::Role,
    },
    /// List users.
    List,
    /// Change a user's role (ends their sessions).
    SetRole {
        /// The user.
        name: String,
        /// The new role.
        role: app::auth::Role,
    },
    /// Disable a user: their sessions, WebSockets and tokens stop at once.
    Disable {
        /// The user.
        name: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user.
        name: String,
    },
    /// Set a new password (ends the user's sessions).
    ResetPassword {
        /// The user.
        name: String,
    },
}

/// `finstage tokens ...`.
#[derive(Debug, Subcommand)]
pub enum TokensAction {
    /// Create a token; it is printed once and stored only as a digest.
    Create {
        /// The user it acts for.
        #[arg(long)]
        user: String,
        /// read (the user's reads) or write (everything the user's role may do).
        #[arg(long, default_value = "read")]
        scope: crate::accounts::Scope,
        /// Lifetime, e.g. 90d, 12h or 30m; no expiry when omitted.
        #[arg(long, value_parser = parse_lifetime)]
        expires: Option<std::time::Duration>,
        /// A label to recognise it by.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token: requests and WebSockets using it stop at once.
    Revoke {
        /// The token's id (from `tokens list`).
        id: i64,
    },
}

/// Parses a lifetime such as `90d`, `12h`, `30m` or `45s`.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_lifetime(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not a lifetime: a whole number followed by d, h, m or s (90d, 12h)");
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" => n.checked_mul(60),
        "s" => Some(n),
        _ => None,
    }
    .filter(|&s| s > 0)
    .ok_or_else(bad)?;
    Ok(std::time::Duration::from_secs(seconds))
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
    /// Queue a dead job again with fresh attempts (`retry ID`), or every dead job (`retry --dead`).
    #[command(group = clap::ArgGroup::new("which").required(true).args(["id", "dead"]))]
    Retry {
        /// The job's id (from `jobs list`).
        id: Option<i64>,
        /// Every dead job.
        #[arg(long)]
        dead: bool,
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

/// Standard output as the commands see it: a writer that remembers whether a
/// write failed because the reader went away (`finstage indicators ... | head`).
///
/// The binary needs to tell that closed pipe apart from a broken pipe anywhere
/// else, such as a database socket: only its own stdout closing is the user's
/// choice to stop reading, and only that ends the command quietly.
#[derive(Debug)]
pub struct Output<W> {
    inner: W,
    reader_gone: bool,
}

impl<W: Write> Output<W> {
    /// Wraps `inner` (stdout in the binary).
    pub const fn new(inner: W) -> Self {
        Self { inner, reader_gone: false }
    }

    /// Whether a write or flush failed with [`io::ErrorKind::BrokenPipe`].
    #[must_use]
    pub const fn reader_gone(&self) -> bool {
        self.reader_gone
    }

    fn note<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.reader_gone = true;
        }
        result
    }
}

impl<W: Write> Write for Output<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.inner.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

/// Whether a command failed because a write found its reader gone: an
/// [`io::Error`] of kind [`io::ErrorKind::BrokenPipe`] anywhere in the chain,
/// or inside an [`AnalysisError`](crate::analysis::AnalysisError) (whose CSV
/// writer's errors do not expose their I/O cause as a `source`).
#[must_use]
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || cause.downcast_ref::<crate::analysis::AnalysisError>().is_some_and(|e| e.is_broken_pipe())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    /// A pipe whose reader has gone, or any other failing writer.
    struct Failing(io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(self.0.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            Err(self.0.into())
        }
    }

    #[test]
    fn output_remembers_only_a_closed_pipe() {
        let mut closed = Output::new(Failing(io::ErrorKind::BrokenPipe));
        assert!(!closed.reader_gone());
        let error = writeln!(closed, "x").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe, "the error itself is passed on");
        assert!(closed.reader_gone());

        let mut full = Output::new(Failing(io::ErrorKind::StorageFull));
        assert!(writeln!(full, "x").is_err() && full.flush().is_err());
        assert!(!full.reader_gone());

        let mut fine = Output::new(Vec::new());
        writeln!(fine, "x").unwrap();
        assert!(!fine.reader_gone());
        assert_eq!(fine.inner, b"x\n");
    }

    #[test]
    fn broken_pipes_are_found_through_context_and_inside_csv_errors() {
        let pipe = || io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(&anyhow::Error::new(pipe())));
        assert!(is_broken_pipe(&Err::<(), _>(pipe()).context("writing the table").unwrap_err()));

        let analysis = crate::analysis::AnalysisError::Output(pipe());
        assert!(is_broken_pipe(&analysis.into()));
        let csv = crate::analysis::AnalysisError::CsvOutput(csv::Error::from(pipe()));
        assert!(is_broken_pipe(&csv.into()));

        let other = crate::analysis::AnalysisError::Output(io::ErrorKind::StorageFull.into());
        assert!(!is_broken_pipe(&other.into()));
        assert!(!is_broken_pipe(&anyhow::anyhow!("broken pipe, but only in words")));
    }
}
