//! Analytics over stored bars on SQLite and PostgreSQL: indicator series and
//! their cache, gap detection and the daily backfill that fills gaps, the
//! all-time-high schedule, and `/metrics`.
#![allow(clippy::unwrap_used, reason = "test helpers should fail loudly at the failing line")]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::NaiveDate;
use http_body_util::BodyExt;
use quant::{Bar, Timeframe};
use serde_json::{Value, json};
use server::backfill::Source;
use server::config::Config;
use server::scheduler;
use server::schedules::{self, DailyBackfill};
use server::state::AppState;
use server::storage::bars::{self, NewBar};
use server::storage::{jobs, runs, stats, symbols};
use server::symbol::Symbol;
use tokio_util::sync::CancellationToken;

async fn get(state: &AppState, uri: &str) -> (StatusCode, String) {
    let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let exchange = async {
        let response = common::as_admin(state, request).await;
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), exchange).await.expect("request did not complete")
}

async fn get_json(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let (status, text) = get(state, uri).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn on_both<F, Fut>(body: F)
where
    F: Fn(AppState) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for t in [common::TestDb::sqlite().await, common::TestDb::postgres().await] {
        let config = Config { database_url: t.url.clone(), ..Config::default() };
        body(AppState::new(config, t.db.clone(), CancellationToken::new())).await;
        t.cleanup().await;
    }
}

fn day(y: i32, m: u32, d: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp()
}

/// Daily bars on the given days, closing at 100 + i (the high 1 above).
async fn store_days(state: &AppState, symbol: &str, days: &[i64]) {
    symbols::upsert(&state.db, &Symbol::parse(symbol).unwrap(), None, false).await.unwrap();
    let rows: Vec<NewBar<'_>> = days
        .iter()
        .enumerate()
        .map(|(i, &ts)| {
            let c = 100.0 + i as f64;
            NewBar {
                symbol,
                timeframe: Timeframe::D1,
                bar: Bar { ts, open: c, high: c + 1.0, low: c - 1.0, close: c, volume: 1_000.0 },
            }
        })
        .collect();
    bars::upsert(&state.db, &rows).await.unwrap();
}

/// Weekdays from `from` for `n` calendar days.
fn weekdays(from: i64, n: i64) -> Vec<i64> {
    (0..n)
        .map(|k| from + k * 86_400)
        .filter(|&ts| {
            use chrono::Datelike;
            let d = chrono::DateTime::from_timestamp(ts, 0).unwrap();
            d.weekday().num_days_from_monday() < 5
        })
        .collect()
}

#[tokio::test]
async fn indicator_series_are_computed_cached_and_refreshed_when_bars_land() {
    on_both(|s| async move {
        let days = weekdays(day(2026, 1, 5), 60);
        store_days(&s, "AAPL", &days).await;
        let (status, body) = get_json(&s, "/api/v1/symbols/AAPL/indicators?ind=SMA(3)&limit=4").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let n = days.len();
        // Closes are 100 + i, so SMA(3) at bar i is 100 + i - 1.
        let expected: Vec<f64> = (n - 4..n).map(|i| 99.0 + i as f64).collect();
        assert_eq!(body["ts"], json!(days[n - 4..]));
        assert_eq!(body["columns"], json!([{"name": "SMA(3).real", "values": expected}]));
        assert_eq!(body["indicator"], "SMA(3)");

        // The same request again is a cache hit; a different one a miss.
        get_json(&s, "/api/v1/symbols/AAPL/indicators?ind=SMA(3)&limit=4").await;
        get_json(&s, "/api/v1/symbols/AAPL/indicators?ind=MACD(12,26,9)&limit=2").await;
        let st = s.cache.series_stats();
        assert_eq!((st.hits, st.misses), (1, 2));

        // New bars land: the next answer includes them.
        let next = day(2026, 3, 9);
        let bar = Bar { ts: next, open: 500.0, high: 500.0, low: 500.0, close: 500.0, volume: 1.0 };
        bars::upsert(&s.db, &[NewBar { symbol: "AAPL", timeframe: Timeframe::D1, bar }]).await.unwrap();
        s.cache.bars_landed("AAPL");
        let (_, body) = get_json(&s, "/api/v1/symbols/AAPL/indicators?ind=SMA(3)&limit=4").await;
        assert_eq!(body["ts"][3], json!(next));
        let last = body["columns"][0]["values"][3].as_f64().unwrap();
        assert!((last - (500.0 + 197.0 + 2.0 * n as f64) / 3.0).abs() < 1e-9, "{last}");

        // Bad input: a 4xx with a message, nothing computed.
        for (uri, code, text) in [
            ("/api/v1/symbols/AAPL/indicators?ind=NOPE(3)", StatusCode::BAD_REQUEST, "unknown"),
            ("/api/v1/symbols/AAPL/indicators?ind=SMA(0)", StatusCode::BAD_REQUEST, "period"),
            ("/api/v1/symbols/AAPL/indicators?ind=SMA(3)&limit=0", StatusCode::BAD_REQUEST, "limit"),
            ("/api/v1/symbols/AAPL/indicators?ind=SMA(3)&timeframe=2d", StatusCode::BAD_REQUEST, "timeframe"),
            ("/api/v1/symbols/AAPL/indicators", StatusCode::BAD_REQUEST, "ind"),
            ("/api/v1/symbols/ZZZZ/indicators?ind=SMA(3)", StatusCode::NOT_FOUND, "not found"),
        ] {
            let (status, body) = get_json(&s, uri).await;
            assert_eq!(status, code, "{uri}: {body}");
            let message = body["error"]["message"].as_str().unwrap_or_default().to_lowercase();
            assert!(message.contains(text), "{uri}: {body}");
        }
        assert_eq!(s.cache.series_stats().misses, 3);
    })
    .await;
}

#[tokio::test]
async fn gaps_are_found_and_the_daily_backfill_queues_them_once() {
    on_both(|s| async move {
        // Weekdays of ~two months before today, minus a 3-weekday hole and a
        // single day. The daily backfill reads the clock for its own "today";
        // the test notes the day before the first run and after the last one,
        // so runs on either side of midnight UTC are told apart, not a failure.
        let today = chrono::Utc::now().date_naive();
        let start = (today - chrono::Duration::days(70)).and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
        let all = weekdays(start, 60);
        let (hole, single) = (&all[10..13], all[30]);
        let kept: Vec<i64> = all.iter().copied().filter(|t| !hole.contains(t) && *t != single).collect();
        store_days(&s, "MSFT", &kept).await;

        let (status, body) = get_json(&s, "/api/v1/symbols/MSFT/gaps?days=365").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["gaps"],
            json!([{"from": hole[0], "to": hole[2], "missing": 3}]),
            "a lone weekday may be a holiday"
        );
        assert_eq!(get_json(&s, "/api/v1/symbols/MSFT/gaps?days=0").await.0, StatusCode::BAD_REQUEST);

        let plan = DailyBackfill { source: Source::Yahoo, recent_days: 5, gap_scan_days: 365, max_gaps: 10 };
        let watch = vec![Symbol::parse("MSFT").unwrap()];
        let schedule = schedules::daily_backfill(s.db.clone(), plan, watch, chrono::NaiveTime::MIN, 2);
        scheduler::run_once(&s.db, &schedule).await.unwrap();
        scheduler::run_once(&s.db, &schedule).await.unwrap();
        let today_after = chrono::Utc::now().date_naive();
        let queued = jobs::list(&s.db, Some("queued"), 10).await.unwrap();
        let ranges: Vec<(String, String)> = queued
            .iter()
            .map(|j| {
                let p = j.payload_json().unwrap();
                (p["from"].as_str().unwrap().to_owned(), p["to"].as_str().unwrap().to_owned())
            })
            .collect();
        let hole_days = (
            chrono::DateTime::from_timestamp(hole[0], 0).unwrap().date_naive().to_string(),
            chrono::DateTime::from_timestamp(hole[2], 0).unwrap().date_naive().to_string(),
        );
        let recent = |d: NaiveDate| ((d - chrono::Duration::days(5)).to_string(), d.to_string());
        // The gap is queued once over both runs, and so are the five days up
        // to "today": each run reads the clock once, so across midnight there
        // is one such job per day seen, else exactly one.
        assert_eq!(ranges.iter().filter(|r| **r == hole_days).count(), 1, "the gap once: {ranges:?}");
        let mut recent_jobs: Vec<&(String, String)> = ranges.iter().filter(|r| **r != hole_days).collect();
        recent_jobs.sort();
        let mut days_seen = vec![recent(today)];
        if today_after != today {
            days_seen.push(recent(today_after));
        }
        assert!(!recent_jobs.is_empty(), "the recent days were queued: {ranges:?}");
        assert!(
            recent_jobs.len() <= days_seen.len() && recent_jobs.iter().all(|r| days_seen.contains(*r)),
            "the recent days once per day seen ({days_seen:?}): {ranges:?}"
        );
        recent_jobs.dedup();
        assert_eq!(recent_jobs.len(), ranges.len() - 1, "no range queued twice: {ranges:?}");
        let run = runs::list(&s.db, Some("daily_backfill"), 1).await.unwrap().pop().unwrap();
        assert_eq!((run.status.as_str(), run.succeeded), ("ok", 1));
    })
    .await;
}

#[tokio::test]
async fn the_all_time_high_schedule_records_highs_and_ranges() {
    on_both(|s| async move {
        let days = weekdays(day(2024, 1, 1), 700);
        store_days(&s, "NVDA", &days).await;
        symbols::upsert(&s.db, &Symbol::parse("EMPTY").unwrap(), None, false).await.unwrap();
        assert_eq!(get_json(&s, "/api/v1/symbols/NVDA/stats").await.0, StatusCode::NOT_FOUND);

        let watch = vec![Symbol::parse("NVDA").unwrap(), Symbol::parse("EMPTY").unwrap()];
        let schedule = schedules::all_time_high(s.db.clone(), watch, chrono::NaiveTime::MIN, 2);
        scheduler::run_once(&s.db, &schedule).await.unwrap();
        let run = runs::list(&s.db, Some("all_time_high"), 1).await.unwrap().pop().unwrap();
        assert_eq!((run.status.as_str(), run.succeeded, run.failed), ("partial", 1, 1));
        assert!(run.errors.contains("no daily bars"), "{}", run.errors);

        let n = days.len();
        let (status, body) = get_json(&s, "/api/v1/symbols/NVDA/stats").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Rising closes: the high is the last bar's, and the 52-week low is a year back.
        assert_eq!(body["ath"], json!(100.0 + (n - 1) as f64 + 1.0));
        assert_eq!(body["ath_ts"], json!(days[n - 1]));
        assert_eq!(body["last_close"], json!(100.0 + (n - 1) as f64));
        let year_ago = days[n - 1] - 365 * 86_400;
        let first_in_year = days.iter().position(|&t| t > year_ago).unwrap();
        assert_eq!(body["low_52w"], json!(100.0 + first_in_year as f64 - 1.0));

        // A lower bar changes nothing; a higher one is a new high.
        let (_, before) = stats::refresh(&s.db, "NVDA", 0).await.unwrap();
        let ts = days[n - 1] + 3 * 86_400;
        let bar = Bar { ts, open: 2_000.0, high: 2_500.0, low: 1_900.0, close: 2_400.0, volume: 1.0 };
        bars::upsert(&s.db, &[NewBar { symbol: "NVDA", timeframe: Timeframe::D1, bar }]).await.unwrap();
        let (now, previous) = stats::refresh(&s.db, "NVDA", 0).await.unwrap();
        assert_eq!(previous, before);
        assert_eq!(now.map(|s| (s.ath, s.ath_ts, s.high_52w)), Some((2_500.0, ts, 2_500.0)));
    })
    .await;
}

#[tokio::test]
async fn metrics_report_caches_providers_and_jobs() {
    on_both(|s| async move {
        store_days(&s, "AAPL", &weekdays(day(2026, 1, 5), 30)).await;
        get_json(&s, "/api/v1/quotes?symbols=AAPL").await;
        get_json(&s, "/api/v1/quotes?symbols=AAPL").await;
        let job = server::storage::jobs::NewJob::new("backfill", json!({}));
        jobs::enqueue(&s.db, &job, 0).await.unwrap();

        let (status, text) = get(&s, "/metrics").await;
        assert_eq!(status, StatusCode::OK, "{text}");
        for line in [
            "finstage_cache_hits_total{cache=\"quotes\"} 1",
            "finstage_cache_misses_total{cache=\"quotes\"} 1",
            "finstage_cache_hits_total{cache=\"series\"} 0",
            "finstage_provider_circuit_state{provider=\"yahoo\"} 0",
            "finstage_provider_requests_total{provider=\"investing\",outcome=\"success\"} 0",
            "finstage_jobs{status=\"queued\"} 1",
            "finstage_jobs{status=\"dead\"} 0",
            "finstage_live_subscribers 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
        }
        assert!(text.contains("# TYPE finstage_cache_hits counter"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    })
    .await;
}
