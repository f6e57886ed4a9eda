//! One-shot commands that work on the database: `migrate`, `backfill`, `jobs`,
//! and the analysis commands' loading of stored bars (`backtest`, `sweep`,
//! `walk-forward` with `--symbol`). (`serve` lives in [`crate::serve`], the
//! analysis itself in [`crate::analysis`].)

pub mod accounts;

use std::io::Write;

use anyhow::Context;
use chrono::NaiveDate;
use quant::Timeframe;

use crate::backfill::{self, Backfill, Source};
use crate::cache::MarketCache;
use crate::config::Config;
use crate::ingest::Ingest;
use crate::jobs::{self, Registry, Step};
use crate::providers::remote::Remote;
use crate::storage::Db;
use crate::storage::jobs as queue;
use crate::symbol::Symbol;

pub(crate) async fn open(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url).await.with_context(|| format!("opening {}", config.database_url))?;
    db.migrate().await.context("applying migrations")?;
    Ok(db)
}

/// Opens the database for a command that only reads: a SQLite file that is
/// not there is an error, never created (a mistyped path would otherwise
/// leave an empty database behind and report that it holds nothing).
pub(crate) async fn open_existing(config: &Config) -> anyhow::Result<Db> {
    if let Some(file) = config.database_url.sqlite_file()
        && !file.exists()
    {
        anyhow::bail!(
            "no database at {}: run `finstage migrate` or `finstage serve` first, or set `database_url` \
             (FINSTAGE_DATABASE_URL) to an existing one",
            file.display()
        );
    }
    open(config).await
}

/// Records a change the command line made in the audit log.
async fn audit_cli(db: &Db, action: &str, target: &str) {
    let target = (!target.is_empty()).then_some(target);
    crate::accounts::Accounts::new(db.clone()).audit(&crate::accounts::Actor::cli(), action, target, None).await;
}

/// `finstage migrate`.
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn migrate(config: &Config, out: &mut impl Write) -> anyhow::Result<()> {
    open(config).await?.close().await;
    writeln!(out, "migrations applied to {}", config.database_url)?;
    Ok(())
}

/// `finstage backfill`: enqueues the backfill (once, by its idempotency key),
/// then works the queue here until that job is done or dead. If this process
/// dies, the job stays queued and the next worker (a server, or this command
/// again) finishes it.
///
/// # Errors
/// When the arguments are invalid, the database fails, or the job ends dead.
pub async fn backfill(
    config: &Config,
    symbol: &str,
    (from, to): (NaiveDate, NaiveDate),
    source: Source,
    timeframe: Timeframe,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let symbol = Symbol::parse(symbol)?;
    let request = Backfill { symbol, timeframe, from, to, source, seed: config.sim.seed };
    let job = request.job()?;
    let db = open(config).await?;
    let id = queue::enqueue(&db, &job, jobs::now_ms()).await?;
    let remote = Remote::from_config(&config.providers)?;
    let mut registry = Registry::default();
    backfill::register(&mut registry, Ingest::new(db.clone(), MarketCache::new(&config.cache)), remote);
    let worker = format!("cli-{}", std::process::id());
    let outcome = loop {
        let current = queue::get(&db, id).await?.context("the job disappeared")?;
        match current.status.as_str() {
            "done" | "dead" => break current,
            _ => {}
        }
        if jobs::run_once(&db, &registry, &worker).await? == Step::Idle {
            // Someone else holds it, or it waits for its backoff: check again soon.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    };
    db.close().await;
    if outcome.status == "dead" {
        anyhow::bail!("backfill job {id} failed: {}", outcome.last_error.unwrap_or_default());
    }
    writeln!(out, "backfill job {id} done: {} {} {from}..{to} from {source:?}", request.symbol, timeframe)?;
    Ok(())
}

/// `finstage worker`: works the durable job queue with `workers` workers until
/// SIGTERM or Ctrl-C; each finishes its job in hand first. Several workers (in
/// several processes, on PostgreSQL on several hosts) share one queue safely.
///
/// # Errors
/// When the database cannot be opened.
pub async fn worker(
    config: &Config,
    workers: usize,
    idle_poll: std::time::Duration,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let db = open(config).await?;
    let remote = Remote::from_config(&config.providers)?;
    let mut registry = Registry::default();
    backfill::register(&mut registry, Ingest::new(db.clone(), MarketCache::new(&config.cache)), remote);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let runner_config = jobs::RunnerConfig { workers, idle_poll, ..jobs::RunnerConfig::default() };
    let runner = tokio::spawn(jobs::run(db.clone(), registry, runner_config, shutdown.clone()));
    writeln!(out, "worker {} consuming jobs from {} with {workers} workers", std::process::id(), config.database_url)?;
    out.flush()?;
    crate::serve::wait_for_signal(shutdown.clone()).await;
    runner.await.context("job runner panicked")?;
    db.close().await;
    Ok(())
}

/// `finstage gaps`: lists the gaps in a symbol's stored bars over the last
/// `days` days; with `fill`, queues a backfill per gap (run by a server or a worker).
///
/// # Errors
/// When the arguments are invalid or the database fails.
pub async fn gaps(
    config: &Config,
    symbol: &str,
    timeframe: Timeframe,
    days: u32,
    fill: Option<Source>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let symbol = Symbol::parse(symbol)?;
    let db = open_existing(config).await?;
    let to = chrono::Utc::now().timestamp();
    let from = to - i64::from(days) * 86_400;
    let found = crate::gaps::scan(&db, symbol.as_str(), timeframe, from, to).await?;
    writeln!(out, "{} gaps in {symbol} {timeframe} bars over the last {days} days", found.len())?;
    for gap in &found {
        let (first, last) = gap.days();
        write!(out, "{first}..{last}  {} missing", gap.missing)?;
        if let Some(source) = fill {
            let request =
                Backfill { symbol: symbol.clone(), timeframe, from: first, to: last, source, seed: config.sim.seed };
            let id = queue::enqueue(&db, &request.job()?, jobs::now_ms()).await?;
            write!(out, "  backfill job {id} queued")?;
        }
        writeln!(out)?;
    }
    db.close().await;
    Ok(())
}

/// `finstage import`: validates the whole file first, then writes every bar in
/// one transaction, so a bad file changes nothing and a good one is all there.
///
/// # Errors
/// When the file is malformed (line and column named), the symbol invalid, or
/// the database fails.
pub async fn import(
    config: &Config,
    csv: &std::path::Path,
    symbol: &str,
    timeframe: Timeframe,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let symbol = Symbol::parse(symbol)?;
    let file = std::fs::File::open(csv).with_context(|| format!("cannot open {}", csv.display()))?;
    let data = crate::providers::csv::read_bars(std::io::BufReader::new(file))
        .map_err(|e| anyhow::anyhow!("{}: {e}", csv.display()))?;
    // Row i of the data is line i + 2 of the file (after the header).
    if let Some(i) = data.bars.iter().position(|b| timeframe.bucket_start(b.ts) != b.ts) {
        anyhow::bail!(
            "{}: line {}: time {} is not the start of a {timeframe} bar (use --timeframe to say which bars these are)",
            csv.display(),
            i + 2,
            data.labels[i]
        );
    }
    let db = open(config).await?;
    let ingest = Ingest::new(db.clone(), MarketCache::new(&config.cache));
    let changed = ingest.history(&symbol, timeframe, &data.bars, false).await?;
    audit_cli(&db, "import", &format!("{symbol} {timeframe}: {} bars", data.bars.len())).await;
    db.close().await;
    writeln!(out, "imported {} {timeframe} bars of {symbol} ({changed} new or changed)", data.bars.len())?;
    Ok(())
}

/// `finstage jobs list`.
///
/// # Errors
/// When the database fails.
pub async fn list_jobs(
    config: &Config,
    status: Option<&str>,
    limit: usize,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if let Some(s) = status
        && !["queued", "running", "done", "dead"].contains(&s)
    {
        anyhow::bail!("--status must be queued, running, done or dead, got `{s}`");
    }
    let db = open_existing(config).await?;
    let rows = queue::list(&db, status, limit).await?;
    db.close().await;
    writeln!(
        out,
        "{:>6}  {:<10} {:<8} {:>8}  {:<20}  last error",
        "id", "kind", "status", "attempts", "updated (UTC)"
    )?;
    for j in rows {
        let updated = chrono::DateTime::from_timestamp_millis(j.updated_at)
            .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
        let attempts = format!("{}/{}", j.attempts, j.max_attempts);
        writeln!(
            out,
            "{:>6}  {:<10} {:<8} {:>8}  {:<20}  {}",
            j.id,
            j.kind,
            j.status,
            attempts,
            updated,
            j.last_error.unwrap_or_default()
        )?;
    }
    Ok(())
}

/// `finstage jobs retry ID` (one dead job) or `finstage jobs retry --dead`
/// (`id` is `None`: every dead job). A server or worker runs them.
///
/// # Errors
/// When the job does not exist or is not dead, or the database fails.
pub async fn retry_jobs(config: &Config, id: Option<i64>, out: &mut impl Write) -> anyhow::Result<()> {
    let db = open_existing(config).await?;
    let result = match id {
        Some(id) => match queue::retry(&db, id, jobs::now_ms()).await? {
            queue::Retry::Requeued => writeln!(out, "job {id} queued again").map_err(anyhow::Error::from),
            queue::Retry::Missing => Err(anyhow::anyhow!("no job {id}")),
            queue::Retry::NotDead => Err(anyhow::anyhow!("job {id} is not dead; only dead jobs are retried")),
        },
        None => {
            let n = queue::retry_dead(&db, jobs::now_ms()).await?;
            writeln!(out, "{n} dead jobs queued again").map_err(anyhow::Error::from)
        }
    };
    db.close().await;
    result
}

/// `finstage runs list`.
///
/// # Errors
/// When the database fails.
pub async fn list_runs(
    config: &Config,
    schedule: Option<&str>,
    limit: usize,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let db = open_existing(config).await?;
    let rows = crate::storage::runs::list(&db, schedule, limit).await?;
    db.close().await;
    let time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
    };
    writeln!(
        out,
        "{:>6}  {:<14} {:<8} {:>4} {:>4}  {:<20}  {:>8}  errors",
        "id", "schedule", "status", "ok", "fail", "started (UTC)", "seconds"
    )?;
    for r in rows {
        let seconds =
            r.finished_at.map_or_else(|| "-".to_owned(), |f| format!("{:.1}", (f - r.started_at) as f64 / 1000.0));
        writeln!(
            out,
            "{:>6}  {:<14} {:<8} {:>4} {:>4}  {:<20}  {:>8}  {}",
            r.id,
            r.schedule,
            r.status,
            r.succeeded,
            r.failed,
            time(r.started_at),
            seconds,
            if r.errors == "[]" { "" } else { &r.errors }
        )?;
    }
    Ok(())
}

/// `finstage symbols list|add|remove`.
///
/// # Errors
/// When the symbol is malformed, already present (add) or absent (remove), or
/// the database fails.
pub async fn symbols(config: &Config, action: crate::cli::SymbolsAction, out: &mut impl Write) -> anyhow::Result<()> {
    use crate::cli::SymbolsAction;
    use crate::storage::symbols;
    // Only adding writes something new; listing or removing needs a database to be there.
    let db =
        if matches!(action, SymbolsAction::Add { .. }) { open(config).await? } else { open_existing(config).await? };
    let result = async {
        match action {
            SymbolsAction::List => {
                for s in symbols::list(&db).await? {
                    let label = if s.simulated { "  (simulated)" } else { "" };
                    writeln!(out, "{:<12} {}{label}", s.symbol, s.name.unwrap_or_default())?;
                }
            }
            SymbolsAction::Add { symbol, name } => {
                let symbol = Symbol::parse(&symbol)?;
                if symbols::get(&db, symbol.as_str()).await?.is_some() {
                    anyhow::bail!("symbol {symbol} already exists");
                }
                symbols::upsert(&db, &symbol, name.as_deref(), false).await?;
                audit_cli(&db, "symbols.add", symbol.as_str()).await;
                writeln!(out, "added {symbol}")?;
            }
            SymbolsAction::Remove { symbol } => {
                let symbol = Symbol::parse(&symbol)?;
                if config.feed != crate::config::Feed::None
                    && crate::storage::watchlist::is_on(&db, &config.watchlist, &symbol).await?
                {
                    anyhow::bail!("{}", config.followed_message(&symbol));
                }
                if !symbols::delete(&db, symbol.as_str()).await? {
                    anyhow::bail!("symbol {symbol} not found");
                }
                audit_cli(&db, "symbols.remove", symbol.as_str()).await;
                writeln!(out, "removed {symbol} and its bars")?;
            }
        }
        Ok(())
    }
    .await;
    db.close().await;
    result
}

/// `finstage telegram link | chats | unlink CHAT`.
///
/// # Errors
/// When the database fails or the chat is not linked.
pub async fn telegram(config: &Config, action: crate::cli::TelegramAction, out: &mut impl Write) -> anyhow::Result<()> {
    use crate::cli::TelegramAction;
    use crate::storage::telegram as tg;
    let db = if matches!(action, TelegramAction::Link) { open(config).await? } else { open_existing(config).await? };
    let result = match action {
        TelegramAction::Link => {
            let code = tg::create_link_code(&db, jobs::now_ms()).await?;
            audit_cli(&db, "telegram.link-code", "").await;
            writeln!(out, "send this to the bot within 15 minutes to link a chat:\n/start {code}")?;
            Ok(())
        }
        TelegramAction::Chats => {
            let chats = tg::list_chats(&db).await?;
            if chats.is_empty() {
                writeln!(out, "no linked chats")?;
            }
            for c in chats {
                let quiet = c.quiet.map(|q| format!(" quiet {q}")).unwrap_or_default();
                let muted = if c.muted { " muted" } else { "" };
                writeln!(out, "{}  {}{muted}{quiet}", c.chat_id, c.title.unwrap_or_default())?;
            }
            Ok(())
        }
        TelegramAction::Unlink { chat_id } => {
            if tg::unlink(&db, chat_id).await? {
                audit_cli(&db, "telegram.unlink", &chat_id.to_string()).await;
                writeln!(out, "chat {chat_id} unlinked")?;
                Ok(())
            } else {
                Err(anyhow::anyhow!("chat {chat_id} is not linked"))
            }
        }
    };
    db.close().await;
    result
}

/// The bars an analysis command's options name: the CSV file, or the stored
/// symbol's bars in the range (at most [`crate::lab::MAX_LAB_BARS`]).
async fn analysis_bars(
    config: &Config,
    data: &crate::analysis::DataArgs,
) -> anyhow::Result<crate::providers::csv::CsvBars> {
    let Some(symbol) = &data.symbol else {
        return Ok(crate::analysis::load_csv(data)?);
    };
    let mut fields = serde_json::Map::new();
    fields.insert("symbol".into(), symbol.as_str().into());
    for (name, value) in [("timeframe", &data.timeframe), ("from", &data.from), ("to", &data.to)] {
        if let Some(v) = value {
            fields.insert(name.into(), v.as_str().into());
        }
    }
    let wanted = crate::lab::Data::take(&mut fields).map_err(crate::analysis::AnalysisError::from)?;
    let db = open_existing(config).await?;
    let bars = crate::lab::load_bars(&db, &wanted).await;
    db.close().await;
    Ok(crate::analysis::labelled(bars.map_err(crate::analysis::AnalysisError::from)?))
}

/// `finstage backtest`: over a CSV file or stored bars.
///
/// # Errors
/// When an option is invalid (named), the bars cannot be read, or output fails.
pub async fn backtest(
    config: &Config,
    args: &crate::analysis::BacktestArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if args.data.list {
        return Ok(crate::analysis::backtest(args, out)?);
    }
    let resolved = args.settings.resolve()?;
    let data = analysis_bars(config, &args.data).await?;
    Ok(crate::analysis::backtest_on(args, &resolved, &data, out)?)
}

/// `finstage sweep`: over a CSV file or stored bars.
///
/// # Errors
/// When an option is invalid (named), the bars cannot be read, or output fails.
pub async fn sweep(config: &Config, args: &crate::analysis::SweepArgs, out: &mut impl Write) -> anyhow::Result<()> {
    if args.data.list {
        return Ok(out.write_all(crate::analysis::strategies_help().as_bytes())?);
    }
    // Options first: a bad grid is reported before any bars are read.
    crate::analysis::sweep_grid(args, &args.settings.resolve()?)?;
    let data = analysis_bars(config, &args.data).await?;
    Ok(crate::analysis::sweep_on(args, &data, out)?)
}

/// `finstage walk-forward`: over a CSV file or stored bars.
///
/// # Errors
/// When an option is invalid (named), the windows do not fit the bars, the
/// bars cannot be read, or output fails.
pub async fn walk_forward(
    config: &Config,
    args: &crate::analysis::WalkForwardArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if args.sweep.data.list {
        return Ok(out.write_all(crate::analysis::strategies_help().as_bytes())?);
    }
    crate::analysis::sweep_grid(&args.sweep, &args.sweep.settings.resolve()?)?;
    let data = analysis_bars(config, &args.sweep.data).await?;
    Ok(crate::analysis::walk_forward_on(args, &data, out)?)
}
