//! A process killed with SIGKILL in the middle of a job loses nothing: the job
//! is retried after its lease lapses and the data ends up as if it ran once.
//! And several worker processes consume one PostgreSQL queue without running
//! any job twice.
//!
//! To kill the process at a known point, the test holds a row lock on the
//! symbol (PostgreSQL `SELECT ... FOR UPDATE`) so the backfill's first write
//! blocks after the job was claimed; once PostgreSQL shows that write waiting
//! on the lock (`pg_blocking_pids`), SIGKILL, release the lock, let the
//! lease lapse (by moving `locked_until` into the past rather than waiting the
//! job's timeout), and run the same command again.
#![allow(clippy::unwrap_used, reason = "test")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use quant::Timeframe;
use server::storage::{bars, jobs};
use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_finstage");

fn backfill(url: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["backfill", "--symbol", "AMD", "--from", "2020-01-01", "--to", "2024-12-31", "--provider", "sim"])
        .env("FINSTAGE_DATABASE_URL", url)
        .env("FINSTAGE_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("FINSTAGE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_mid_write_is_retried_and_writes_exactly_once() {
    let t = common::TestDb::postgres().await;
    let url = t.url.expose().to_owned();

    // Hold the symbol's row so the job blocks on its first write.
    sqlx::query("INSERT INTO symbols (symbol, simulated) VALUES ('AMD', true)").execute(pg(&t)).await.unwrap();
    let mut blocker = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query("SELECT symbol FROM symbols WHERE symbol = 'AMD' FOR UPDATE").execute(&mut blocker).await.unwrap();

    let blocker_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut blocker).await.unwrap();

    let mut child = backfill(&url).spawn().unwrap();
    let job = wait_for_running(&t).await;
    assert_eq!(job.attempts, 1);
    // Wait until its write is really in flight: a session of this database
    // waits on the lock the blocker holds.
    let blocked = wait_until_blocked_by(&t, blocker_pid).await;
    assert!(blocked.contains("symbols"), "the blocked statement should be the symbol's upsert: {blocked}");
    // It is now blocked inside the handler. Kill it without a chance to clean up.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    assert_eq!(bars::count(&t.db, "AMD", Timeframe::D1).await.unwrap(), 0, "nothing was written");

    // The dead process's lease lapses (here: by moving it into the past).
    sqlx::query("UPDATE jobs SET locked_until = 0").execute(pg(&t)).await.unwrap();
    let out = backfill(&url).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let all = jobs::list(&t.db, None, 10).await.unwrap();
    assert_eq!(all.len(), 1, "the retry reused the queued job");
    assert_eq!((all[0].status.as_str(), all[0].attempts), ("done", 2));
    let written = bars::latest(&t.db, "AMD", Timeframe::D1, 10_000).await.unwrap();

    // Exactly what one clean run writes.
    let clean = common::TestDb::sqlite().await;
    let out = backfill(clean.url.expose()).output().unwrap();
    assert!(out.status.success());
    let reference = bars::latest(&clean.db, "AMD", Timeframe::D1, 10_000).await.unwrap();
    assert_eq!(written.len(), 1_305, "weekdays of 2020-2024");
    assert_eq!(written, reference);
    // And running it again changes nothing.
    let out = backfill(&url).output().unwrap();
    assert!(out.status.success());
    assert_eq!(bars::latest(&t.db, "AMD", Timeframe::D1, 10_000).await.unwrap(), reference);
    assert_eq!(jobs::list(&t.db, None, 10).await.unwrap().len(), 1);
    clean.cleanup().await;
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_processes_share_one_queue_and_run_each_job_once() {
    use std::io::BufRead;

    let t = common::TestDb::postgres().await;
    let url = t.url.expose().to_owned();
    let mut workers: Vec<std::process::Child> = (0..3)
        .map(|_| {
            Command::new(BIN)
                // Idle workers look every 10 ms: all six are at the queue
                // when the jobs fall due, so no process can finish them
                // alone before the others look (at 500 ms, one sometimes did).
                .args(["worker", "--workers", "2", "--idle-poll-ms", "10"])
                .env("FINSTAGE_DATABASE_URL", &url)
                .env("FINSTAGE_LOG", "warn")
                .env_remove("DATABASE_URL")
                .env_remove("FINSTAGE_CONFIG")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // Each says it is consuming once it has opened the database.
    for w in &mut workers {
        let mut line = String::new();
        std::io::BufReader::new(w.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert!(line.contains("consuming jobs"), "{line}");
    }

    let symbols: Vec<String> = (0..24).map(|i| format!("W{i:02}")).collect();
    // Due together, once every job is in the queue.
    let due = server::jobs::now_ms() + 500;
    for symbol in &symbols {
        let request = server::backfill::Backfill {
            symbol: server::symbol::Symbol::parse(symbol).unwrap(),
            timeframe: Timeframe::D1,
            from: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            to: chrono::NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(),
            source: server::backfill::Source::Sim,
            seed: 42,
        };
        let job = jobs::NewJob { run_at: Some(due), ..request.job().unwrap() };
        jobs::enqueue(&t.db, &job, server::jobs::now_ms()).await.unwrap();
    }
    let mut done = Vec::new();
    for _ in 0..600 {
        done = jobs::list(&t.db, Some("done"), 100).await.unwrap();
        if done.len() == symbols.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(done.len(), symbols.len(), "every job finished");
    assert!(done.iter().all(|j| j.attempts == 1), "no job was claimed twice");
    let processes: std::collections::BTreeSet<&str> =
        done.iter().filter_map(|j| j.locked_by.as_deref()?.split('-').nth(1)).collect();
    assert!(processes.len() >= 2, "the work was shared, not done by one process: {processes:?}");
    for symbol in &symbols {
        assert_eq!(bars::count(&t.db, symbol, Timeframe::D1).await.unwrap(), 1_305, "{symbol}");
    }

    // SIGTERM: each worker stops cleanly.
    for w in &mut workers {
        let pid = w.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    }
    for mut w in workers {
        assert!(w.wait().unwrap().success());
    }
    t.cleanup().await;
}

fn pg(t: &common::TestDb) -> &sqlx::PgPool {
    match &t.db {
        server::storage::Db::Postgres(pool) => pool,
        server::storage::Db::Sqlite { .. } => unreachable!("this test runs on PostgreSQL"),
    }
}

async fn wait_for_running(t: &common::TestDb) -> jobs::Job {
    for _ in 0..600 {
        if let Some(job) = jobs::list(&t.db, Some("running"), 1).await.unwrap().pop() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the backfill never started (30 s)");
}

/// Waits until a session of the test's database waits on a lock held by the
/// backend `holder`, and returns that session's statement.
async fn wait_until_blocked_by(t: &common::TestDb, holder: i32) -> String {
    const BLOCKED: &str = "SELECT query FROM pg_stat_activity \
         WHERE datname = current_database() AND $1 = ANY(pg_blocking_pids(pid))";
    for _ in 0..600 {
        if let Some(query) = sqlx::query_scalar::<_, String>(BLOCKED).bind(holder).fetch_optional(pg(t)).await.unwrap()
        {
            return query;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no statement of the backfill blocked on the held row within 30 s");
}
