//! End-to-end bulk-ingest benchmark for `storage::bars::upsert`.
//!
//! Generates a deterministic data set (by default 100 symbols × 10,000
//! one-minute bars = 1,000,000 rows), then, for each backend and each run:
//! opens a fresh, migrated database (a new SQLite file in a temporary
//! directory, a new PostgreSQL database on the given server), registers the
//! symbols (not timed), writes every bar in batches of `--batch` rows through
//! `bars::upsert` (timed: "first write"), and writes the very same rows again
//! (timed: "replay", where every row already exists unchanged and nothing is
//! rewritten). It checks the row counts, drops the database and prints the
//! median of the runs in bars per second.
//!
//! `--csv DIR` also writes the rows as `DIR/bars.csv` and the symbols as
//! `DIR/symbols.csv`, for the raw-SQL baselines of `server/bench/ingest.sh`.
//!
//! ```text
//! cargo run --release -p server --example ingest_bench -- --runs 3
//! ```
//!
//! Lines starting with `RESULT` are for scripts:
//! `RESULT <backend> <first|replay> <median bars/s> <median seconds>`.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use quant::{Bar, Timeframe};
use server::config::DatabaseUrl;
use server::storage::bars::{self, NewBar};
use server::storage::{Db, symbols};
use server::symbol::Symbol;
use sqlx::Connection as _;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Measure bulk bar ingestion on SQLite and PostgreSQL")]
struct Args {
    /// Number of symbols.
    #[arg(long, default_value_t = 100)]
    symbols: usize,
    /// One-minute bars per symbol.
    #[arg(long, default_value_t = 10_000)]
    bars_per_symbol: usize,
    /// Rows per `bars::upsert` call (one transaction each).
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Runs per backend; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Write `bars.csv` and `symbols.csv` into this directory.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Skip the SQLite runs.
    #[arg(long)]
    no_sqlite: bool,
    /// Skip the PostgreSQL runs.
    #[arg(long)]
    no_postgres: bool,
    /// Directory for the SQLite files (a fresh temporary one under it per run).
    #[arg(long)]
    sqlite_dir: Option<PathBuf>,
    /// A PostgreSQL server URL where a scratch database may be created and dropped.
    #[arg(long, env = "FINSTAGE_TEST_POSTGRES", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// SQL run on each scratch PostgreSQL database after the migrations, to
    /// measure a schema variant.
    #[arg(long)]
    postgres_setup: Option<PathBuf>,
    /// Concurrent writers on PostgreSQL: each takes the next batch as soon as
    /// its previous `upsert` returns, as the job workers do. SQLite always
    /// has one (it has one writer connection).
    #[arg(long, default_value_t = 1)]
    writers: usize,
}

/// The generated rows: owned symbol names and, per symbol, its bars.
struct DataSet {
    symbols: Vec<Symbol>,
    bars: Vec<Vec<Bar>>,
}

impl DataSet {
    fn rows(&self) -> usize {
        self.bars.iter().map(Vec::len).sum()
    }

    /// Every row in ingestion order: symbol by symbol, oldest bar first.
    fn new_bars(&self) -> Vec<NewBar<'_>> {
        self.symbols
            .iter()
            .zip(&self.bars)
            .flat_map(|(s, bars)| {
                bars.iter().map(move |&bar| NewBar { symbol: s.as_str(), timeframe: Timeframe::M1, bar })
            })
            .collect()
    }
}

/// SplitMix64: a tiny deterministic generator, enough for plausible prices.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "53 random bits fit an f64 mantissa exactly")]
        let bits = (self.next_u64() >> 11) as f64;
        bits / (1u64 << 53) as f64
    }
}

/// Rounds to cents, as exchanges quote.
fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A random walk per symbol, one bar a minute from 2024-01-02 00:00 UTC.
fn generate(symbol_count: usize, per_symbol: usize) -> anyhow::Result<DataSet> {
    const START: i64 = 1_704_153_600;
    let mut rng = SplitMix(0x00F1_57A6_E000_0001);
    let mut symbols = Vec::with_capacity(symbol_count);
    let mut all = Vec::with_capacity(symbol_count);
    for i in 0..symbol_count {
        symbols.push(Symbol::parse(&format!("BENCH{i:04}"))?);
        let mut price = 20.0 + 180.0 * rng.unit();
        let mut bars = Vec::with_capacity(per_symbol);
        for ts in (START..).step_by(60).take(per_symbol) {
            let open = cents(price);
            let close = cents((price * (1.0 + 0.002 * (rng.unit() - 0.5))).max(0.01));
            let high = cents(open.max(close) * (1.0 + 0.001 * rng.unit()));
            let low = cents((open.min(close) * (1.0 - 0.001 * rng.unit())).max(0.01));
            let volume = (100.0 + 10_000.0 * rng.unit()).round();
            bars.push(Bar { ts, open, high, low: low.min(open.min(close)), close, volume });
            price = close;
        }
        all.push(bars);
    }
    Ok(DataSet { symbols, bars: all })
}

fn write_csv(data: &DataSet, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut syms = std::io::BufWriter::new(std::fs::File::create(dir.join("symbols.csv"))?);
    for s in &data.symbols {
        writeln!(syms, "{s}")?;
    }
    syms.flush()?;
    // `{}` prints the shortest text that reads back as the same f64, so the
    // baselines load exactly the rows `upsert` gets.
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("bars.csv"))?);
    for r in data.new_bars() {
        let b = r.bar;
        writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            r.symbol,
            r.timeframe.as_str(),
            b.ts,
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume
        )?;
    }
    out.flush()?;
    Ok(())
}

/// A fresh migrated database and what removes it.
enum Scratch {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, name: String },
}

async fn open(backend: &str, args: &Args, run: usize) -> anyhow::Result<(Db, Scratch)> {
    let (url, scratch) = if backend == "sqlite" {
        let dir = match &args.sqlite_dir {
            Some(parent) => tempfile::tempdir_in(parent)?,
            None => tempfile::tempdir()?,
        };
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        (url, Scratch::Sqlite(dir))
    } else {
        let admin = args.postgres.clone();
        let name = format!("finstage_ingest_bench_{}_{run}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&admin).await.with_context(|| format!("connect to {admin}"))?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
        conn.close().await?;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        (format!("{base}/{name}"), Scratch::Postgres { admin, name })
    };
    let db = Db::connect(&DatabaseUrl::from(url.as_str())).await?;
    db.migrate().await?;
    if let (Db::Postgres(pool), Some(path)) = (&db, &args.postgres_setup) {
        let sql = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        sqlx::raw_sql(&sql).execute(pool).await.with_context(|| format!("run {}", path.display()))?;
    }
    Ok((db, scratch))
}

async fn drop_scratch(db: Db, scratch: Scratch) -> anyhow::Result<()> {
    db.close().await;
    match scratch {
        Scratch::Sqlite(dir) => dir.close()?,
        Scratch::Postgres { admin, name } => {
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
            conn.close().await?;
        }
    }
    Ok(())
}

/// CPU time (user + system) of process `pid` ("self" for this one), from
/// `/proc/PID/stat`; `None` where that is unreadable (not Linux). Counted in
/// clock ticks of 10 ms (`USER_HZ` is 100 on Linux).
fn process_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are space-separated.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time of every `postgres` process on this machine (the server's
/// backends and background writers), or `None` when there is none to read.
fn postgres_cpu() -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut found = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|p| p.bytes().all(|b| b.is_ascii_digit())) else { continue };
        let is_postgres = std::fs::read_to_string(entry.path().join("comm")).is_ok_and(|c| c.trim() == "postgres");
        if let Some(cpu) = process_cpu(pid).filter(|_| is_postgres) {
            total += cpu;
            found = true;
        }
    }
    found.then_some(total)
}

/// What one timed pass cost.
#[derive(Debug, Clone, Copy)]
struct Pass {
    wall: Duration,
    /// CPU of this process (for SQLite, the database engine included).
    client_cpu: Option<Duration>,
    /// CPU of the local PostgreSQL server's processes.
    server_cpu: Option<Duration>,
}

impl Pass {
    fn describe(&self, rows: usize) -> String {
        let cpu = |d: Option<Duration>| d.map_or_else(|| "n/a".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
        format!(
            "{:>6.3} s ({:>7.0} bars/s, cpu: bench {}, postgres {})",
            self.wall.as_secs_f64(),
            rate(rows, self.wall),
            cpu(self.client_cpu),
            cpu(self.server_cpu)
        )
    }
}

/// Writes every row in batches, `writers` calls in flight at a time; returns
/// the pass's cost and the rows changed.
async fn write_all(
    db: &Db,
    rows: &[NewBar<'_>],
    batch: usize,
    writers: usize,
    postgres: bool,
) -> anyhow::Result<(Pass, u64)> {
    let server = || if postgres { postgres_cpu() } else { None };
    let (client0, server0) = (process_cpu("self"), server());
    let start = Instant::now();
    let chunks: Vec<&[NewBar<'_>]> = rows.chunks(batch.max(1)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let writer = || async {
        let mut changed = 0;
        while let Some(chunk) = chunks.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
            changed += bars::upsert(db, chunk).await?;
        }
        anyhow::Ok(changed)
    };
    let changed: u64 = futures::future::try_join_all((0..writers.max(1)).map(|_| writer())).await?.into_iter().sum();
    let wall = start.elapsed();
    let (client1, server1) = (process_cpu("self"), server());
    let diff = |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?));
    Ok((Pass { wall, client_cpu: diff(client0, client1), server_cpu: diff(server0, server1) }, changed))
}

/// One backend's timings, per run.
#[derive(Default)]
struct Timings {
    first: Vec<Duration>,
    replay: Vec<Duration>,
}

async fn bench(backend: &str, args: &Args, data: &DataSet) -> anyhow::Result<Timings> {
    let rows = data.new_bars();
    let expected = u64::try_from(rows.len())?;
    let mut timings = Timings::default();
    for run in 0..args.runs {
        let (db, scratch) = open(backend, args, run).await?;
        for s in &data.symbols {
            symbols::upsert(&db, s, None, false).await?;
        }
        let postgres = backend == "postgres";
        let writers = if postgres { args.writers } else { 1 };
        let (first, changed) = write_all(&db, &rows, args.batch, writers, postgres).await?;
        if changed != expected {
            bail!("{backend}: first write changed {changed} rows, expected {expected}");
        }
        let (replay, changed) = write_all(&db, &rows, args.batch, writers, postgres).await?;
        if changed != 0 {
            bail!("{backend}: replay changed {changed} rows, expected 0");
        }
        let mut stored = 0;
        for s in &data.symbols {
            stored += bars::count(&db, s.as_str(), Timeframe::M1).await?;
        }
        if u64::try_from(stored)? != expected {
            bail!("{backend}: {stored} rows stored, expected {expected}");
        }
        println!("{backend:<8} run {}: first write {}", run + 1, first.describe(rows.len()));
        println!("{backend:<8} run {}: replay      {}", run + 1, replay.describe(rows.len()));
        timings.first.push(first.wall);
        timings.replay.push(replay.wall);
        drop_scratch(db, scratch).await?;
    }
    Ok(timings)
}

#[allow(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
fn rate(rows: usize, elapsed: Duration) -> f64 {
    rows as f64 / elapsed.as_secs_f64()
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let data = generate(args.symbols, args.bars_per_symbol)?;
    println!(
        "data set: {} symbols x {} one-minute bars = {} rows, batches of {} rows, {} PostgreSQL writer(s), \
         generated in {:.2} s",
        args.symbols,
        args.bars_per_symbol,
        data.rows(),
        args.batch,
        args.writers,
        started.elapsed().as_secs_f64()
    );
    if let Some(dir) = &args.csv {
        write_csv(&data, dir)?;
        println!("wrote {}/bars.csv and {}/symbols.csv", dir.display(), dir.display());
    }
    let mut backends = Vec::new();
    if !args.no_sqlite {
        backends.push("sqlite");
    }
    if !args.no_postgres {
        backends.push("postgres");
    }
    let mut results = Vec::new();
    if args.runs > 0 {
        for backend in backends {
            let t = bench(backend, &args, &data).await?;
            results.push((backend, t));
        }
    }
    for (backend, t) in results {
        for (phase, times) in [("first", t.first), ("replay", t.replay)] {
            let m = median(times);
            println!("RESULT {backend} {phase} {:.0} {:.3}", rate(data.rows(), m), m.as_secs_f64());
        }
    }
    Ok(())
}
