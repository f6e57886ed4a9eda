//! The `finstage` binary: parse the command line and the configuration, set up
//! logging, run the command. Exit codes: 0 done (or stdout's reader went away,
//! see below), 1 failed, 2 bad configuration.

use std::process::ExitCode;

use clap::Parser;
use server::cli::{self, Cli, Command, JobsAction, RunsAction};
use server::commands;
use server::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc: server-side rendering allocates many
/// small short-lived objects, and glibc's free lists (consolidation, chunk
/// unlinking) took about a third of a page's CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("finstage: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("finstage: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Unlocked: `serve` runs on several threads, and a lock held here would
    // block any of them that printed. Each write takes the lock briefly.
    let mut stdout = cli::Output::new(std::io::stdout());
    let out = &mut stdout;
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => server::serve::run(config).await,
            Command::Migrate => commands::migrate(&config, out).await,
            Command::Backfill { symbol, from, to, provider, timeframe } => {
                commands::backfill(&config, &symbol, (from, to), provider, timeframe, out).await
            }
            Command::Import { csv, symbol, timeframe } => {
                commands::import(&config, &csv, &symbol, timeframe, out).await
            }
            Command::Worker { workers, idle_poll_ms } => {
                let idle_poll = std::time::Duration::from_millis(idle_poll_ms);
                commands::worker(&config, workers, idle_poll, out).await
            }
            Command::Gaps { symbol, timeframe, days, fill } => {
                commands::gaps(&config, &symbol, timeframe, days, fill, out).await
            }
            Command::Telegram { action } => commands::telegram(&config, action, out).await,
            Command::Users { action } => commands::accounts::users(&config, action, out).await,
            Command::Tokens { action } => commands::accounts::tokens(&config, action, out).await,
            Command::Audit { limit, user, json } => {
                commands::accounts::audit(&config, limit, user.as_deref(), json, out).await
            }
            Command::Symbols { action } => commands::symbols(&config, action, out).await,
            Command::Runs { action: RunsAction::List { schedule, limit } } => {
                commands::list_runs(&config, schedule.as_deref(), limit, out).await
            }
            Command::Jobs { action: JobsAction::List { status, limit } } => {
                commands::list_jobs(&config, status.as_deref(), limit, out).await
            }
            Command::Jobs { action: JobsAction::Retry { id, dead: _ } } => commands::retry_jobs(&config, id, out).await,
            Command::Indicators { csv, ind } => Ok(server::analysis::indicators(&csv, &ind, out)?),
            Command::Backtest(args) => commands::backtest(&config, &args, out).await,
            Command::Sweep(args) => commands::sweep(&config, &args, out).await,
            Command::WalkForward(args) => commands::walk_forward(&config, &args, out).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Stdout's reader stopped reading (`finstage indicators ... | head`): its
        // choice, not our failure. End quietly with 0, as ripgrep does, so a
        // `set -o pipefail` script does not fail on `| head`. (The other
        // convention, death by SIGPIPE, status 141 in a shell, does not apply:
        // Rust ignores SIGPIPE, so the write returns EPIPE instead.) Only our
        // own stdout's broken pipe counts; one from a database socket is a failure.
        Err(e) if stdout.reader_gone() && cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("finstage: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    // `Config` validated the filter already; fall back to `info` regardless.
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
