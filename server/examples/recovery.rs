//! Recovery after `kill -9`: the real `finstage serve` binary, killed with
//! SIGKILL while it has work under way, restarted on the same database, and
//! timed until it answers and until it has nothing left to recover.
//!
//! Each trial uses a fresh SQLite database in a temporary directory, a free
//! loopback port, and the test suite's loopback stand-ins for the Bot API and
//! Yahoo's chart API (`server/tests/mocks/`). Times are measured from the
//! moment the restarted process is spawned:
//!
//! - **healthz**: the first `GET /healthz` answered 200 (polled every 5 ms);
//! - **ready**: the first `GET /readyz` answered 200 with no `recovering` list
//!   (polled every 20 ms, once `/healthz` answers).
//!
//! Scenarios (`--scenario`, all three by default):
//!
//! - `telegram`: the operator's set-up of issue 13. Simulated feed at 1 s bars
//!   over the default watchlist (7 symbols), signals on, `--chats` linked chats
//!   each subscribed to every watchlist symbol, and the bot talking to the Bot
//!   API stand-in (20 to 80 ms of latency per request, 429 beyond 30 messages
//!   a second or one per chat a second). The server runs `--load-secs`, is
//!   killed in the middle of delivering (messages on the way, a backlog in the
//!   outbox), restarted, and runs `--after-secs` more before a SIGTERM. Also
//!   timed: the first message the stand-in accepts after the restart, and the
//!   delivery of every alert that was pending at the kill (the dead process's
//!   claims lapse after `telegram.claim_lease_ms`, 10 s by default). Then a
//!   last run with no feed (`feed = "none"`) delivers what is left, and the
//!   outbox is checked against the signals and what the stand-in accepted:
//!   *unqueued* = (passed signal, subscribed chat) pairs with no outbox row
//!   (lost before Telegram); *repeated* = alerts the stand-in accepted more
//!   often than the outbox marked sent (a message accepted while the process
//!   died, sent again after the restart); *unconfirmed* = alerts marked sent
//!   that the stand-in never accepted. A digest counts as the number in its
//!   first line (`N signals:`), a single alert as one.
//! - `yahoo`: the Yahoo feed's start-up backfill (five years of daily bars per
//!   watchlist symbol, one durable job per symbol, two job workers) against
//!   the Yahoo chart stand-in, which holds every request unanswered until the
//!   kill: the server is killed as soon as both workers are in a job, so two
//!   backfill jobs die `running` with their leases held (`jobs::LEASE_MS`,
//!   15 s, renewed while a job runs; until commit 1bd9069 a claim held the
//!   job's timeout, 300 s, plus 10 s). The restart queues nothing new (the jobs'
//!   idempotency keys), `/readyz` lists `startup_backfill` until every job has
//!   settled, and the check afterwards is that every symbol has exactly the
//!   stand-in's bars and every job is `done`, one row per symbol.
//! - `yahoo-settled`: the same, but killed once the start-up backfill has
//!   settled (`/readyz` without `recovering`), nothing held: a restart in the
//!   steady state.
//!
//! ```text
//! cargo build --release -p server --bin finstage --example recovery
//! target/release/examples/recovery --bin target/release/finstage --trials 5
//! ```
//!
//! `server/bench/recovery.sh` does both. Lines starting with `RESULT` are for
//! scripts (one per trial), `SUMMARY` lines give min / median / max.

#![allow(clippy::unwrap_used, reason = "a benchmark")]

#[path = "../tests/mocks/mod.rs"]
mod mocks;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use mocks::telegram::{MockApi, TOKEN};
use server::config::{Config, DatabaseUrl};
use server::jobs::now_ms;
use server::storage::Db;
use server::storage::telegram as store;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// What runs when the server is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Telegram alerts being delivered from the simulated feed at 1 s bars.
    Telegram,
    /// The Yahoo feed's start-up backfill, jobs running.
    Yahoo,
    /// The Yahoo feed after its start-up backfill has settled.
    YahooSettled,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Telegram => "telegram",
            Self::Yahoo => "yahoo",
            Self::YahooSettled => "yahoo-settled",
        }
    }
}

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Time finstage's recovery after kill -9")]
struct Args {
    /// The `finstage` binary to run.
    #[arg(long, default_value = "target/release/finstage")]
    bin: PathBuf,
    /// Scenarios, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "telegram,yahoo,yahoo-settled")]
    scenario: Vec<Scenario>,
    /// Trials per scenario.
    #[arg(long, default_value_t = 5)]
    trials: usize,
    /// Linked chats (telegram), each subscribed to every watchlist symbol.
    #[arg(long, default_value_t = 40)]
    chats: i64,
    /// Seconds the first process runs before it is killed (telegram).
    #[arg(long, default_value_t = 30)]
    load_secs: u64,
    /// Seconds the restarted process runs before it is stopped (telegram).
    #[arg(long, default_value_t = 20)]
    after_secs: u64,
    /// Keep each trial's directory (database and logs) and print where.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = std::fs::canonicalize(&args.bin).with_context(|| format!("no binary at {}", args.bin.display()))?;
    for &scenario in &args.scenario {
        let mut trials = Vec::new();
        for n in 1..=args.trials {
            let dir = tempfile::Builder::new().prefix("finstage-recovery-").tempdir()?;
            println!("== {}, trial {n} of {} ({})", scenario.name(), args.trials, dir.path().display());
            let trial = match scenario {
                Scenario::Telegram => telegram_trial(&args, &bin, dir.path()).await?,
                Scenario::Yahoo => yahoo_trial(&bin, dir.path(), false).await?,
                Scenario::YahooSettled => yahoo_trial(&bin, dir.path(), true).await?,
            };
            println!("{}", trial.result_line(scenario, n));
            trials.push(trial);
            if args.keep {
                println!("kept {}", dir.keep().display());
            }
        }
        summarize(scenario, &trials);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The server process.

/// A running `finstage serve`.
struct Finstage {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Finstage {
    /// Spawns `bin serve` in `dir` (so no `finstage.toml` is read) with the
    /// database `dir/finstage.db`, a free port and `env`; its output goes to
    /// `dir/<name>.log`.
    fn start(bin: &Path, dir: &Path, name: &str, env: &[(&str, String)]) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let mut command = Command::new(bin);
        // Only the settings given here: none inherited.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FINSTAGE_") {
                command.env_remove(key);
            }
        }
        command
            .arg("serve")
            .current_dir(dir)
            .env_remove("DATABASE_URL")
            .env("FINSTAGE_DATABASE_URL", database_url(dir))
            .env("FINSTAGE_LISTEN", format!("127.0.0.1:{port}"))
            .env("FINSTAGE_LOG", "info")
            .env("FINSTAGE_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().with_context(|| format!("starting {}", bin.display()))?;
        Ok(Self { child, port, log })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Time from `since` to the first `/healthz` 200.
    async fn healthz(&mut self, http: &reqwest::Client, since: Instant, within: Duration) -> anyhow::Result<Duration> {
        loop {
            if let Ok(r) = http.get(self.url("/healthz")).send().await
                && r.status().is_success()
            {
                return Ok(since.elapsed());
            }
            self.check_alive()?;
            if since.elapsed() > within {
                bail!("no /healthz within {within:?} (log: {})", self.log.display());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Time from `since` to the first `/readyz` 200 without a `recovering` list.
    async fn ready(&mut self, http: &reqwest::Client, since: Instant, within: Duration) -> anyhow::Result<Duration> {
        loop {
            if let Ok(r) = http.get(self.url("/readyz")).send().await
                && r.status().is_success()
                && let Ok(body) = r.text().await
                && let Ok(body) = serde_json::from_str::<serde_json::Value>(&body)
                && body.get("recovering").is_none_or(|r| r.as_array().is_some_and(Vec::is_empty))
            {
                return Ok(since.elapsed());
            }
            self.check_alive()?;
            if since.elapsed() > within {
                bail!("/readyz still recovering after {within:?} (log: {})", self.log.display());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("finstage exited ({status}); log: {}", self.log.display());
        }
        Ok(())
    }

    /// SIGKILL, and reap.
    fn kill9(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, and wait for a clean exit.
    async fn terminate(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let waited = tokio::task::spawn_blocking(move || self.child.wait()).await??;
        if !waited.success() {
            bail!("finstage exited with {waited} after SIGTERM");
        }
        Ok(())
    }
}

fn database_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("finstage.db").display())
}

/// A small pool on the trial's database, for reading while the server runs.
async fn reader(dir: &Path) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new().filename(dir.join("finstage.db")).busy_timeout(Duration::from_secs(5));
    Ok(SqlitePoolOptions::new().max_connections(1).connect_with(options).await?)
}

async fn scalar(pool: &SqlitePool, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build()?)
}

/// Field `key` of the first event of the JSON log `log` whose message is `message`.
fn logged(log: &Path, message: &str, key: &str) -> Option<i64> {
    std::fs::read_to_string(log).ok()?.lines().find_map(|line| {
        let event: serde_json::Value = serde_json::from_str(line).ok()?;
        let fields = event.get("fields")?;
        (fields.get("message")?.as_str()? == message).then(|| fields.get(key)?.as_i64())?
    })
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

// ---------------------------------------------------------------------------
// Trials.

/// What one trial measured.
#[derive(Debug, Default)]
struct Trial {
    /// Restart to the first `/healthz` 200.
    healthz: Duration,
    /// Restart to `/readyz` 200 with nothing recovering.
    ready: Duration,
    /// Further times, by name (restart to ...).
    times: BTreeMap<&'static str, Duration>,
    /// Counts, by name.
    counts: BTreeMap<&'static str, i64>,
    /// Whether the checks held.
    ok: bool,
}

impl Trial {
    fn result_line(&self, scenario: Scenario, n: usize) -> String {
        let scenario = scenario.name();
        let mut line = format!(
            "RESULT scenario={scenario} trial={n} healthz_s={} ready_s={}",
            secs(self.healthz),
            secs(self.ready)
        );
        for (name, time) in &self.times {
            line.push_str(&format!(" {name}_s={}", secs(*time)));
        }
        for (name, count) in &self.counts {
            line.push_str(&format!(" {name}={count}"));
        }
        line.push_str(if self.ok { " ok=1" } else { " ok=0" });
        line
    }
}

fn summarize(scenario: Scenario, trials: &[Trial]) {
    let spread = |mut values: Vec<f64>| -> String {
        values.sort_by(f64::total_cmp);
        match values.as_slice() {
            [] => "n/a".into(),
            v => format!("{:.3} / {:.3} / {:.3} s", v[0], v[v.len() / 2], v[v.len() - 1]),
        }
    };
    println!("SUMMARY {}: {} trials, min / median / max", scenario.name(), trials.len());
    println!("SUMMARY   healthz  {}", spread(trials.iter().map(|t| t.healthz.as_secs_f64()).collect()));
    println!("SUMMARY   ready    {}", spread(trials.iter().map(|t| t.ready.as_secs_f64()).collect()));
    if let Some(first) = trials.first() {
        for name in first.times.keys() {
            let values = trials.iter().filter_map(|t| t.times.get(name)).map(Duration::as_secs_f64).collect();
            println!("SUMMARY   {name}  {}", spread(values));
        }
        for name in first.counts.keys() {
            let values: Vec<String> =
                trials.iter().map(|t| t.counts.get(name).copied().unwrap_or(0).to_string()).collect();
            println!("SUMMARY   {name}  {}", values.join(", "));
        }
    }
    println!("SUMMARY   checks held in {} of {} trials", trials.iter().filter(|t| t.ok).count(), trials.len());
}

/// The number of alerts a message carries: `N` for a digest (`N signals:`), else one.
fn alerts_in(text: &str) -> i64 {
    text.split_once(" signals:").and_then(|(n, _)| n.parse().ok()).unwrap_or(1)
}

async fn telegram_trial(args: &Args, bin: &Path, dir: &Path) -> anyhow::Result<Trial> {
    let watchlist: Vec<String> = Config::default().watchlist.iter().map(ToString::to_string).collect();
    // Linked chats, each subscribed to every symbol, before the first start.
    let db = Db::connect(&DatabaseUrl::from(database_url(dir).as_str())).await?;
    db.migrate().await?;
    let now = now_ms();
    for chat in 1..=args.chats {
        store::link_chat(&db, chat, Some("recovery"), now).await?;
        for symbol in &watchlist {
            store::subscribe(&db, chat, symbol, None, now).await?;
        }
    }
    db.close().await;

    let api = MockApi::start().await;
    api.set_latency(Duration::from_millis(20), Duration::from_millis(80));
    api.enforce_limits(30, Duration::from_secs(1));
    let bot = [("FINSTAGE_TELEGRAM__TOKEN", TOKEN.to_owned()), ("FINSTAGE_TELEGRAM__API_URL", api.url.clone())];
    let live: Vec<(&str, String)> = [("FINSTAGE_FEED", "sim".to_owned()), ("FINSTAGE_SIM__INTERVAL", "1s".to_owned())]
        .into_iter()
        .chain(bot.clone())
        .collect();
    let http = http_client()?;

    let started = Instant::now();
    let mut first = Finstage::start(bin, dir, "first", &live)?;
    let first_healthz = first.healthz(&http, started, Duration::from_secs(120)).await?;
    tokio::time::sleep(Duration::from_secs(args.load_secs)).await;
    first.check_alive()?;
    let pool = reader(dir).await?;
    let accepted_before = api.sent_count();
    first.kill9()?;
    let pending_at_kill = scalar(&pool, "SELECT COUNT(*) FROM telegram_outbox WHERE done_at IS NULL").await?;
    let claimed_at_kill = scalar(
        &pool,
        &format!("SELECT COUNT(*) FROM telegram_outbox WHERE done_at IS NULL AND claimed_until > {}", now_ms()),
    )
    .await?;
    let last_row = scalar(&pool, "SELECT COALESCE(MAX(id), 0) FROM telegram_outbox").await?;
    let signals_at_kill = scalar(&pool, "SELECT COUNT(*) FROM signals WHERE passed = 1").await?;
    println!(
        "first run: /healthz after {} s; killed after {} s with {signals_at_kill} passed signals, {pending_at_kill} alerts \
         pending ({claimed_at_kill} claimed), {accepted_before} messages accepted",
        secs(first_healthz),
        args.load_secs
    );

    let restart = Instant::now();
    let mut second = Finstage::start(bin, dir, "second", &live)?;
    let healthz = second.healthz(&http, restart, Duration::from_secs(120)).await?;
    let ready = second.ready(&http, restart, Duration::from_secs(120)).await?;
    // Every alert that was pending at the kill delivered (or superseded).
    let backlog_sql = format!("SELECT COUNT(*) FROM telegram_outbox WHERE id <= {last_row} AND done_at IS NULL");
    let backlog = loop {
        if scalar(&pool, &backlog_sql).await? == 0 {
            break Some(restart.elapsed());
        }
        if restart.elapsed() > Duration::from_secs(120) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let rest = Duration::from_secs(args.after_secs).saturating_sub(restart.elapsed());
    tokio::time::sleep(rest).await;
    second.check_alive()?;
    let caught_up = logged(&second.log, "missed alerts caught up", "queued");
    second.terminate().await?;
    let first_message = api.all_sent().iter().map(|s| s.at).filter(|&at| at >= restart).min().map(|at| at - restart);

    // What is left, delivered by a run without the feed.
    let mut drain = Finstage::start(bin, dir, "drain", &bot)?;
    drain.healthz(&http, Instant::now(), Duration::from_secs(120)).await?;
    let draining = Instant::now();
    while scalar(&pool, "SELECT COUNT(*) FROM telegram_outbox WHERE done_at IS NULL").await? > 0 {
        if draining.elapsed() > Duration::from_secs(300) {
            bail!("the outbox did not drain within 300 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drain.terminate().await?;

    // The books.
    let passed = scalar(&pool, "SELECT COUNT(*) FROM signals WHERE passed = 1").await?;
    let pairs = "SELECT DISTINCT s.id AS signal_id, t.chat_id FROM signals s \
                 JOIN telegram_subscriptions t ON t.symbol = s.symbol WHERE s.passed = 1";
    let expected = scalar(&pool, &format!("SELECT COUNT(*) FROM ({pairs})")).await?;
    let unqueued = scalar(
        &pool,
        &format!(
            "SELECT COUNT(*) FROM ({pairs}) p WHERE NOT EXISTS (SELECT 1 FROM telegram_outbox o \
             WHERE o.chat_id = p.chat_id AND o.signal_id = p.signal_id)"
        ),
    )
    .await?;
    let alerts = scalar(&pool, "SELECT COUNT(*) FROM telegram_outbox WHERE kind = 'alert'").await?;
    let superseded = scalar(&pool, "SELECT COUNT(*) FROM telegram_outbox WHERE outcome = 'superseded'").await?;
    let pending = scalar(&pool, "SELECT COUNT(*) FROM telegram_outbox WHERE done_at IS NULL").await?;
    let sent_rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT chat_id, COUNT(*) FROM telegram_outbox WHERE kind = 'alert' AND outcome = 'sent' GROUP BY chat_id",
    )
    .fetch_all(&pool)
    .await?;
    let sent_rows: HashMap<i64, i64> = sent_rows.into_iter().collect();
    let mut accepted: HashMap<i64, i64> = HashMap::new();
    for message in api.all_sent() {
        *accepted.entry(message.chat_id).or_default() += alerts_in(&message.text);
    }
    let (mut repeated, mut unconfirmed) = (0, 0);
    for chat in 1..=args.chats {
        let (got, marked) = (accepted.get(&chat).copied().unwrap_or(0), sent_rows.get(&chat).copied().unwrap_or(0));
        repeated += (got - marked).max(0);
        unconfirmed += (marked - got).max(0);
    }
    let sent: i64 = sent_rows.values().sum();
    pool.close().await;
    println!(
        "restart: /healthz {} s, /readyz without recovering {} s, first message accepted {}, backlog of the kill \
         delivered {}; catch-up queued {}",
        secs(healthz),
        secs(ready),
        first_message.map_or_else(|| "never".into(), |d| format!("{} s", secs(d))),
        backlog.map_or_else(|| "not within 120 s".into(), |d| format!("{} s", secs(d))),
        caught_up.map_or_else(|| "?".into(), |n| n.to_string()),
    );
    println!(
        "books: {passed} passed signals x subscribers = {expected} alerts expected, {alerts} queued, {unqueued} never \
         queued; {sent} sent, {superseded} superseded, {pending} pending; repeated {repeated}, unconfirmed {unconfirmed}"
    );
    let mut trial = Trial {
        healthz,
        ready,
        ok: unqueued == 0 && pending == 0 && unconfirmed == 0 && alerts == expected && backlog.is_some(),
        ..Trial::default()
    };
    if let Some(d) = first_message {
        trial.times.insert("first_message", d);
    }
    if let Some(d) = backlog {
        trial.times.insert("backlog_delivered", d);
    }
    trial.counts.extend([
        ("pending_at_kill", pending_at_kill),
        ("claimed_at_kill", claimed_at_kill),
        ("caught_up", caught_up.unwrap_or(-1)),
        ("signals", passed),
        ("alerts_expected", expected),
        ("unqueued", unqueued),
        ("sent", sent),
        ("superseded", superseded),
        ("repeated", repeated),
        ("unconfirmed", unconfirmed),
    ]);
    Ok(trial)
}

async fn yahoo_trial(bin: &Path, dir: &Path, settled: bool) -> anyhow::Result<Trial> {
    let watchlist: Vec<String> = Config::default().watchlist.iter().map(ToString::to_string).collect();
    let yahoo = mocks::yahoo::start().await;
    let backfills = {
        let yahoo = yahoo.clone();
        move || yahoo.seen().iter().filter(|s| s.query.contains("period1")).count()
    };
    if !settled {
        yahoo.hold();
    }
    let env = [("FINSTAGE_FEED", "yahoo".to_owned()), ("FINSTAGE_PROVIDERS__YAHOO__BASE_URL", yahoo.base_url.clone())];
    let http = http_client()?;

    let started = Instant::now();
    let mut first = Finstage::start(bin, dir, "first", &env)?;
    first.healthz(&http, started, Duration::from_secs(120)).await?;
    if settled {
        first.ready(&http, started, Duration::from_secs(120)).await?;
    }
    // Killed once both job workers wait on a backfill request.
    while !settled && backfills() < 2 {
        first.check_alive()?;
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the backfill jobs did not start within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill9()?;
    let killed_ms = now_ms();
    yahoo.release();
    let pool = reader(dir).await?;
    let running = scalar(&pool, "SELECT COUNT(*) FROM jobs WHERE kind = 'backfill' AND status = 'running'").await?;
    let lease_left_ms = scalar(
        &pool,
        &format!("SELECT COALESCE(MAX(locked_until) - {killed_ms}, 0) FROM jobs WHERE status = 'running'"),
    )
    .await?;
    let queued = scalar(&pool, "SELECT COUNT(*) FROM jobs WHERE kind = 'backfill' AND status = 'queued'").await?;
    println!(
        "first run: killed {} s after the spawn with {running} backfill jobs running (lease {} s left), {queued} queued",
        secs(started.elapsed()),
        lease_left_ms / 1_000
    );

    let restart = Instant::now();
    let mut second = Finstage::start(bin, dir, "second", &env)?;
    let healthz = second.healthz(&http, restart, Duration::from_secs(120)).await?;
    // Until the queued jobs are done (the running ones wait for their lease).
    let queued_done = loop {
        let open = scalar(&pool, "SELECT COUNT(*) FROM jobs WHERE kind = 'backfill' AND status = 'queued'").await?;
        if open == 0 || restart.elapsed() > Duration::from_secs(120) {
            break restart.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let ready = second.ready(&http, restart, Duration::from_secs(600)).await?;
    second.terminate().await?;

    // The books: each symbol's bars are the stand-in's, each job done once.
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(5 * 365);
    let mut wrong_bars = 0;
    let mut bars = 0;
    for symbol in &watchlist {
        let want = i64::try_from(mocks::yahoo::expected(symbol, from, today).len())?;
        let got: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bars WHERE symbol = $1 AND timeframe = '1d'")
            .bind(symbol)
            .fetch_one(&pool)
            .await?;
        bars += got;
        if got != want {
            println!("  {symbol}: {got} daily bars, the stand-in has {want}");
            wrong_bars += 1;
        }
    }
    let jobs = scalar(&pool, "SELECT COUNT(*) FROM jobs WHERE kind = 'backfill'").await?;
    let done = scalar(&pool, "SELECT COUNT(*) FROM jobs WHERE kind = 'backfill' AND status = 'done'").await?;
    let attempts = scalar(&pool, "SELECT COALESCE(SUM(attempts), 0) FROM jobs WHERE kind = 'backfill'").await?;
    let answered = backfills();
    pool.close().await;
    println!(
        "restart: /healthz {} s, queued jobs done {} s, /readyz without recovering {} s",
        secs(healthz),
        secs(queued_done),
        secs(ready)
    );
    println!(
        "books: {bars} daily bars over {} symbols ({wrong_bars} symbols off), {jobs} backfill jobs, {done} done, \
         {attempts} attempts, {answered} backfill requests seen",
        watchlist.len()
    );
    let symbols = i64::try_from(watchlist.len())?;
    let mut trial =
        Trial { healthz, ready, ok: wrong_bars == 0 && jobs == symbols && done == symbols, ..Trial::default() };
    trial.times.insert("queued_jobs_done", queued_done);
    trial.counts.extend([
        ("running_at_kill", running),
        ("lease_left_at_kill_s", lease_left_ms / 1_000),
        ("jobs", jobs),
        ("done", done),
        ("attempts", attempts),
        ("bars", bars),
        ("symbols_off", wrong_bars),
    ]);
    Ok(trial)
}
