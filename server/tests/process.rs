//! The `finstage` binary as users run it: configuration errors, `migrate`, a
//! live `serve` that feeds a WebSocket client and shuts down cleanly on SIGTERM,
//! and analysis commands piped into a reader that stops early (`| head`).
#![allow(clippy::unwrap_used, reason = "test helpers should fail loudly at the failing line")]

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const BIN: &str = env!("CARGO_BIN_EXE_finstage");

fn finstage(dir: &tempfile::TempDir) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir.path())
        .env("FINSTAGE_DATABASE_URL", format!("sqlite://{}", dir.path().join("f.db").display()))
        .env("FINSTAGE_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("FINSTAGE_CONFIG");
    cmd
}

#[test]
fn bad_configuration_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value, expected) in [
        ("FINSTAGE_LISTEN", "not-an-address", "listen"),
        ("FINSTAGE_SIM__INTERVAL", "1d", "sim.interval"),
        ("FINSTAGE_WATCHLIST", "AAPL,no good", "watchlist"),
        ("FINSTAGE_TYPO", "1", "typo"),
    ] {
        let out = finstage(&dir).arg("migrate").env(key, value).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains(expected), "{key}: stderr should name `{expected}`: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = finstage(&dir).args(["--config", "missing.toml", "migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
    assert!(!dir.path().join("f.db").exists(), "bad configuration must change nothing");
}

/// `migrate` with a configuration file naming the database and the logging:
/// the database appears where the file says (not where the environment of the
/// other tests points), the log is the file's level and format, and the
/// schema is the one `Db::migrate` makes, read back through sqlx.
#[tokio::test]
async fn migrate_creates_the_schema_and_reads_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("from-file.db");
    let url = format!("sqlite://{}", from_file.display());
    let toml = format!("database_url = \"{url}\"\nlog = \"debug\"\nlog_format = \"json\"\n");
    std::fs::write(dir.path().join("finstage.toml"), toml).unwrap();
    let out =
        finstage(&dir).arg("migrate").env_remove("FINSTAGE_DATABASE_URL").env_remove("FINSTAGE_LOG").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("migrations applied to {url}"));
    assert!(from_file.exists() && !dir.path().join("f.db").exists(), "the file's database_url was used");
    // log = "debug" and log_format = "json": every line a JSON record, some at DEBUG.
    let records: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(records.iter().any(|r| r["level"] == "DEBUG"), "{stderr}");

    let made = schema(&url).await;
    let bars = &made.iter().find(|(table, _)| table == "bars").expect("a bars table").1;
    assert_eq!(bars, &["symbol", "timeframe", "ts", "open", "high", "low", "close", "volume"]);
    assert!(made.iter().any(|(table, _)| table == "symbols"), "{made:?}");
    let reference = tempfile::tempdir().unwrap();
    let reference_url = format!("sqlite://{}", reference.path().join("r.db").display());
    let db = server::storage::Db::connect(&server::config::DatabaseUrl::from(reference_url.as_str())).await.unwrap();
    db.migrate().await.unwrap();
    db.close().await;
    assert_eq!(made, schema(&reference_url).await, "the binary's schema is the library's");
}

/// Every table of a SQLite database (sqlx's own included) with its columns in order.
async fn schema(url: &str) -> Vec<(String, Vec<String>)> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, c.name FROM sqlite_master AS m, pragma_table_info(m.name) AS c \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, c.cid",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    for (table, column) in rows {
        match tables.last_mut() {
            Some((last, columns)) if *last == table => columns.push(column),
            _ => tables.push((table, vec![column])),
        }
    }
    tables
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_streams_live_bars_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let token = common::seed_admin(&format!("sqlite://{}", dir.path().join("f.db").display())).await;
    let port = free_port();
    let child = finstage(&dir)
        .arg("serve")
        .env("FINSTAGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("FINSTAGE_WATCHLIST", "AAPL,BTC-USD")
        .env("FINSTAGE_SIM__INTERVAL", "1s")
        .env("FINSTAGE_SIM__HISTORY_DAYS", "30")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait for the listener (bounded), then open the live feed.
    let url = format!("ws://127.0.0.1:{port}/ws");
    let mut socket = None;
    for _ in 0..100 {
        if let Ok(s) = common::ws_connect(&url, &token).await {
            socket = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut socket = socket.expect("server did not start listening");
    let next_json = |msg: Option<Result<Message, _>>| -> serde_json::Value {
        match msg {
            Some(Ok(Message::Text(t))) => serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    };
    assert_eq!(next_json(socket.next().await)["type"], "hello");
    socket.send(Message::Text(r#"{"type":"subscribe","channel":"bars","symbols":["AAPL"]}"#.into())).await.unwrap();
    assert_eq!(next_json(socket.next().await)["type"], "subscribed");
    // Snapshot, then bars for AAPL only: one 1s bar and the day's rolled-up bar per tick.
    let mut seen_intraday = 0;
    while seen_intraday < 2 {
        let msg = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("no live bar");
        let json = next_json(msg);
        if json["type"] == "bar" {
            assert_eq!(json["symbol"], "AAPL");
            if json["timeframe"] == "1s" {
                seen_intraday += 1;
            }
        }
    }

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    // The session ends with a close frame saying the server is going away.
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("no close frame") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Away));
    let exit = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(exit.status.code(), Some(0), "{}", String::from_utf8_lossy(&exit.stderr));
}

#[test]
fn import_is_all_or_nothing_and_names_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,10,11,9,10.5,10.4,1000\n2024-01-03,10.5,12,10,11.5,11.4,2000\n";
    let bad = format!("{good}2024-01-04,11,12,10,oops,11,3000\n");
    std::fs::write(dir.path().join("good.csv"), good).unwrap();
    std::fs::write(dir.path().join("bad.csv"), bad).unwrap();

    let out = finstage(&dir).args(["import", "--csv", "bad.csv", "--symbol", "aapl"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 4, column Close: `oops` is not a finite number"), "{stderr}");

    let out = finstage(&dir).args(["import", "--csv", "good.csv", "--symbol", "aapl"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 2 1d bars of AAPL (2 new or changed)"));
    // The bad file wrote nothing: after the good import there are exactly its 2 bars.
    let out = Command::new("sqlite3").arg(dir.path().join("f.db")).arg("SELECT count(*) FROM bars").output();
    if let Ok(out) = out {
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    }
    let again = finstage(&dir).args(["import", "--csv", "good.csv", "--symbol", "AAPL"]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("(0 new or changed)"), "re-import is idempotent");
}

#[test]
fn symbols_can_be_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| finstage(&dir).args(args).output().unwrap();
    let out = run(&["symbols", "add", "aapl", "--name", "Apple"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "added AAPL\n");
    let again = run(&["symbols", "add", "AAPL"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = run(&["symbols", "add", "no good"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("may only contain"));
    let list = run(&["symbols", "list"]);
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim_end(), "AAPL         Apple");
    // With the default configuration the simulated feed follows AAPL.
    let followed = run(&["symbols", "remove", "AAPL"]);
    assert_eq!(followed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&followed.stderr).contains("AAPL is on the watchlist"));
    let no_feed = |args: &[&str]| finstage(&dir).env("FINSTAGE_FEED", "none").args(args).output().unwrap();
    assert!(no_feed(&["symbols", "remove", "AAPL"]).status.success());
    let gone = no_feed(&["symbols", "remove", "AAPL"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not found"));
    assert_eq!(String::from_utf8_lossy(&run(&["symbols", "list"]).stdout), "");
}

#[test]
fn telegram_link_codes_and_gaps_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| finstage(&dir).args(args).output().unwrap();
    let out = run(&["telegram", "link"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = text.lines().last().and_then(|l| l.strip_prefix("/start ")).unwrap();
    assert_eq!(code.len(), 8, "{text}");
    assert_ne!(String::from_utf8_lossy(&run(&["telegram", "link"]).stdout), text, "codes are single-use and fresh");
    assert_eq!(String::from_utf8_lossy(&run(&["telegram", "chats"]).stdout), "no linked chats\n");
    let unlink = run(&["telegram", "unlink", "42"]);
    assert_eq!(unlink.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unlink.stderr).contains("chat 42 is not linked"));

    // Gaps: a simulated backfill has none; the listing says so.
    let fill = run(&["backfill", "--symbol", "AMD", "--from", "2024-01-01", "--to", "2024-03-31"]);
    assert!(fill.status.success(), "{}", String::from_utf8_lossy(&fill.stderr));
    let gaps = run(&["gaps", "--symbol", "AMD", "--days", "36500"]);
    assert!(gaps.status.success(), "{}", String::from_utf8_lossy(&gaps.stderr));
    assert!(String::from_utf8_lossy(&gaps.stdout).starts_with("0 gaps in AMD 1d bars"));
    let bad = run(&["gaps", "--symbol", "no good"]);
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn analysis_output_piped_into_head_ends_quietly_when_the_reader_stops() {
    let dir = tempfile::tempdir().unwrap();
    // 20,000 daily bars (Unix seconds, a slow wave so the strategy trades): each
    // command below prints megabytes, far more than a pipe buffers, so it is
    // still writing when the reader goes away.
    let mut text = String::from("ts,Open,High,Low,Close,Volume\n");
    for i in 0..20_000_u32 {
        let close = 100.0 + 10.0 * (f64::from(i) * 0.05).sin();
        let ts = 1_000_000_000 + u64::from(i) * 86_400;
        text.push_str(&format!("{ts},{close},{},{},{close},1000\n", close + 1.0, close - 1.0));
    }
    std::fs::write(dir.path().join("long.csv"), text).unwrap();

    for args in [
        &["indicators", "--csv", "long.csv", "--ind", "MACD(12,26,9)", "--ind", "BBANDS(20,2,2)"][..],
        &["backtest", "--csv", "long.csv", "--json"],
    ] {
        let mut child = finstage(&dir).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // What `| head -1` does: read a line, then close the pipe.
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        assert!(!first.is_empty(), "{args:?} printed nothing");
        drop(reader);

        // Bounded, so a command stuck writing fails the test instead of hanging it.
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("{args:?} still running a minute after its reader went away");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("Broken pipe") && !stderr.contains("panicked"), "{args:?}: {stderr}");
        // Status 0: the reader chose to stop, the command did not fail (main.rs).
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// Commands that only read (listings, gaps, retries, removals) never create a
/// database: pointed at a path with nothing there, they say so and leave no
/// file behind. `finstage jobs list` used to create `./finstage.db` silently.
#[test]
fn read_only_commands_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.db");
    for args in [
        &["jobs", "list"][..],
        &["runs", "list"],
        &["symbols", "list"],
        &["symbols", "remove", "ZZZ"],
        &["telegram", "chats"],
        &["gaps", "--symbol", "AAPL"],
        &["jobs", "retry", "--dead"],
    ] {
        let out = finstage(&dir).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no database at") && stderr.contains("finstage migrate"), "{args:?}: {stderr}");
        assert!(!file.exists(), "{args:?} created the database");
    }
    assert!(finstage(&dir).arg("migrate").output().unwrap().status.success());
    let listed = finstage(&dir).args(["jobs", "list"]).output().unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
}

/// `finstage jobs retry` requeues dead jobs, by id or all at once, and says
/// clearly when there is nothing to retry.
#[test]
fn dead_jobs_are_retried_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| finstage(&dir).args(args).output().unwrap();
    // The simulator starts in 2012: a backfill of 1990 dies at its first attempt.
    let dead = run(&["backfill", "--symbol", "AMD", "--from", "1990-01-01", "--to", "1990-01-31"]);
    assert_eq!(dead.status.code(), Some(1));
    let listed = String::from_utf8_lossy(&run(&["jobs", "list", "--status", "dead"]).stdout).into_owned();
    let id: i64 = listed.lines().nth(1).and_then(|l| l.split_whitespace().next()).unwrap().parse().unwrap();

    let out = run(&["jobs", "retry", &id.to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("job {id} queued again\n"));
    let queued = String::from_utf8_lossy(&run(&["jobs", "list", "--status", "queued"]).stdout).into_owned();
    assert!(queued.lines().nth(1).is_some_and(|l| l.contains("0/5")), "fresh attempts: {queued}");
    let again = run(&["jobs", "retry", &id.to_string()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not dead"));
    let missing = run(&["jobs", "retry", "424242"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no job 424242"));
    let neither = run(&["jobs", "retry"]);
    assert_eq!(neither.status.code(), Some(2), "an id or --dead is required");
    let all = run(&["jobs", "retry", "--dead"]);
    assert_eq!(String::from_utf8_lossy(&all.stdout), "0 dead jobs queued again\n");
}
