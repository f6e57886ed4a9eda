//! Telegram delivery under load and across crashes, against the loopback Bot
//! API (`mocks::telegram`): no job per message, Telegram's limits held where
//! Telegram counts them (the mock's receive times), a dead process's claims
//! lapsing within their short lease, nothing lost or repeated when delivery is
//! killed mid-burst, and bounded backlogs.
//!
//! Nothing here synchronises by sleeping: tests wait for observable state
//! (the mock's log, the outbox) with generous deadlines, and timing checks are
//! made on the times the mock recorded.
#![allow(clippy::unwrap_used, reason = "test")]

mod common;
mod mocks;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use app::live::protocol::{Action, SignalEvent};
use mocks::telegram::{MockApi, Sent, TOKEN, max_in_window, min_gap_per_chat};
use quant::Timeframe;
use serde_json::json;
use server::bus::Bus;
use server::cache::{CacheConfig, MarketCache};
use server::jobs;
use server::storage::Db;
use server::storage::jobs as queue;
use server::storage::telegram::{self as store, QuietHours};
use server::telegram::{BotToken, Telegram, TelegramConfig, alerts, delivery};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------- harness

fn config(mock: &MockApi, per_chat_ms: u64, per_second: u32, lease_ms: u64) -> TelegramConfig {
    TelegramConfig {
        enabled: Some(true),
        token: Some(BotToken::new(TOKEN)),
        api_url: mock.url.clone(),
        poll_timeout_secs: 1,
        per_chat_interval_ms: per_chat_ms,
        global_per_second: per_second,
        claim_lease_ms: lease_ms,
        ..TelegramConfig::default()
    }
}

/// A bot process's delivery loop.
struct Delivery {
    bot: Telegram,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Delivery {
    fn start(db: &Db, config: &TelegramConfig) -> Self {
        let bot = Telegram::new(db.clone(), config, Bus::new(64), MarketCache::new(&CacheConfig::default())).unwrap();
        let shutdown = CancellationToken::new();
        let task = bot.spawn_delivery(shutdown.clone());
        Self { bot, shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task).await.unwrap().unwrap();
    }

    /// Kills the loop and its flushes where they stand (no shutdown), like `kill -9`.
    async fn kill(self) {
        self.task.abort();
        assert!(self.task.await.unwrap_err().is_cancelled());
    }
}

/// Polls `check` until it holds, failing after `deadline`.
async fn eventually<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    while !check().await {
        assert!(Instant::now() < until, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const GENEROUS: Duration = Duration::from_secs(60);

async fn drained(db: &Db) {
    eventually("the outbox to drain", GENEROUS, || async { store::pending_count(db, None).await.unwrap() == 0 }).await;
}

/// Signal `id`'s event; its price (`1000 + id`) identifies it in alert texts.
fn event(id: i64) -> SignalEvent {
    SignalEvent {
        id,
        symbol: "AAPL".into(),
        timeframe: Timeframe::D1,
        strategy: "sma_cross".into(),
        params: json!({"fast": 10, "slow": 20}),
        params_hash: "h".into(),
        action: Action::Buy,
        bar_ts: 1_700_000_000 + id * 86_400,
        #[allow(clippy::cast_precision_loss, reason = "small ids")]
        price: 1_000.0 + id as f64,
        evidence: BTreeMap::new(),
        backtest: None,
        created_at: jobs::now_ms(),
    }
}

/// Queues signal `id`'s alerts and wakes `bot`'s loop, as the pipeline's sink does.
async fn signal(db: &Db, bot: &Telegram, id: i64) -> usize {
    let queued = alerts::enqueue(db, &event(id), jobs::now_ms()).await.unwrap();
    bot.waker().wake();
    queued
}

async fn chats_on_aapl(db: &Db, chats: impl IntoIterator<Item = i64>) {
    for chat in chats {
        store::link_chat(db, chat, Some("chat"), jobs::now_ms()).await.unwrap();
        store::subscribe(db, chat, "AAPL", None, jobs::now_ms()).await.unwrap();
    }
}

/// The signals a message carries (each alert line or alert ends its price with ` @ 10NN.00`).
fn signals_in(text: &str) -> Vec<i64> {
    text.match_indices("@ ")
        .filter_map(|(at, _)| {
            let number: String = text[at + 2..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            #[allow(clippy::cast_possible_truncation, reason = "small ids")]
            number.parse::<f64>().ok().map(|price| (price - 1_000.0).round() as i64)
        })
        .collect()
}

/// Signal ids delivered to each chat, in order, from the mock's accepted messages.
fn delivered_by_chat(sent: &[Sent]) -> HashMap<i64, Vec<i64>> {
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    for s in sent {
        out.entry(s.chat_id).or_default().extend(signals_in(&s.text));
    }
    out
}

/// Asserts that each of `chats` got each of `signals` exactly once.
fn each_exactly_once(mock: &MockApi, chats: &[i64], signals: &[i64]) {
    let delivered = delivered_by_chat(&mock.all_sent());
    for chat in chats {
        let mut got = delivered.get(chat).cloned().unwrap_or_default();
        got.sort_unstable();
        assert_eq!(got, signals, "chat {chat}: signals delivered (sorted) differ from those queued");
    }
}

/// Rows of all `chats` marked sent in the outbox.
async fn rows_marked_sent(db: &Db, chats: &[i64]) -> usize {
    let mut n = 0;
    for &chat in chats {
        n += store::outbox(db, chat, 10_000)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.outcome.as_deref() == Some("sent"))
            .count();
    }
    n
}

// ---------------------------------------------------------------- tests

/// 500 alerts for 10 chats: delivered as digests by the loop, each exactly
/// once, and the job queue is not touched (the old design queued a
/// `telegram_flush` job per row).
async fn alerts_are_digested_without_a_job_per_row(db: &Db) {
    let chats: Vec<i64> = (1..=10).collect();
    chats_on_aapl(db, chats.iter().copied()).await;
    let mock = MockApi::start().await;
    let delivery = Delivery::start(db, &config(&mock, 200, 30, 10_000));
    for id in 1..=50 {
        assert_eq!(signal(db, &delivery.bot, id).await, 10);
        if id % 10 == 0 {
            // Signals arrive in a few waves, so chats get several digests.
            let before = mock.sent_count();
            eventually("some of the wave delivered", GENEROUS, || async { mock.sent_count() > before }).await;
        }
    }
    drained(db).await;
    delivery.stop().await;

    let all: Vec<i64> = (1..=50).collect();
    each_exactly_once(&mock, &chats, &all);
    for &chat in &chats {
        let messages = mock.sent_to(chat);
        assert!(messages.len() < 50, "chat {chat} got {} messages for 50 alerts", messages.len());
        assert!(messages.iter().any(|m| m.text.contains(" signals:\n• ")), "chat {chat} got no digest");
    }
    assert_eq!(rows_marked_sent(db, &chats).await, 500);
    let jobs = queue::list(db, None, 10_000).await.unwrap();
    assert!(jobs.is_empty(), "delivery queued {} jobs: {:?}", jobs.len(), jobs.first());
}

/// 100 chats and a burst, through a network with jitter: at the mock (where
/// Telegram would count), no one-second window holds more than 30 messages
/// and no chat gets two within a second; Telegram's flood control (enforced by
/// the mock) never has to refuse one.
#[tokio::test]
async fn the_limits_hold_where_telegram_counts_them() {
    let t = common::TestDb::sqlite().await;
    let db = &t.db;
    let chats: Vec<i64> = (1..=100).collect();
    chats_on_aapl(db, chats.iter().copied()).await;
    let mock = MockApi::start().await;
    mock.set_latency(Duration::ZERO, Duration::from_millis(40));
    mock.enforce_limits(30, Duration::from_secs(1));
    let delivery = Delivery::start(db, &config(&mock, 1_000, 30, 10_000));
    for id in 1..=3 {
        signal(db, &delivery.bot, id).await;
    }
    // A second wave once some chats were served: those must wait out their second.
    eventually("the first messages", GENEROUS, || async { mock.sent_count() >= 40 }).await;
    for id in 4..=5 {
        signal(db, &delivery.bot, id).await;
    }
    drained(db).await;
    delivery.stop().await;

    each_exactly_once(&mock, &chats, &[1, 2, 3, 4, 5]);
    let attempts = mock.all_attempts();
    let times: Vec<Instant> = attempts.iter().map(|s| s.at).collect();
    let most = max_in_window(&times, Duration::from_secs(1));
    assert!(most <= 30, "{most} messages reached the API within one second");
    for (chat, gap) in min_gap_per_chat(&attempts) {
        assert!(gap >= Duration::from_secs(1), "chat {chat} got two messages {gap:?} apart");
    }
    assert_eq!(mock.refused(), 0, "the API had to refuse messages (429)");
    assert!(attempts.len() > 100, "some chats got a second message");
    t.cleanup().await;
}

/// A process dies while its sends are on the way. Its claims lapse within
/// their short lease (renewed while it lived, so not before), and a fresh
/// process delivers the messages, once.
async fn a_dead_process_claims_lapse_within_the_lease(db: &Db) {
    let chats = [1, 2, 3];
    chats_on_aapl(db, chats).await;
    let mock = MockApi::start().await;
    let lease = Duration::from_millis(1_000);
    let config = config(&mock, 50, 30, 1_000);
    mock.hold();
    let first = Delivery::start(db, &config);
    assert_eq!(signal(db, &first.bot, 1).await, 3);
    eventually("three sends on the way", GENEROUS, || async { mock.held() == 3 }).await;
    // Alive, the process keeps its claims past several leases.
    let since = Instant::now();
    eventually("three leases to pass", GENEROUS, || async { since.elapsed() > lease * 3 }).await;
    for chat in chats {
        assert_eq!(
            store::held_elsewhere(db, chat, true, jobs::now_ms()).await.unwrap(),
            1,
            "chat {chat}'s claim lapsed"
        );
    }
    first.kill().await;
    // What it had on the way never reached Telegram.
    mock.reject_held();
    eventually("the held sends dropped", GENEROUS, || async { mock.held() == 0 }).await;
    mock.open();
    assert_eq!(mock.sent_count(), 0);

    let second = Delivery::start(db, &config);
    // The old lease was 60 s: this deadline is well inside it.
    eventually("the dead process's messages delivered", Duration::from_secs(20), || async {
        chats.iter().all(|&chat| !mock.sent_to(chat).is_empty())
    })
    .await;
    drained(db).await;
    second.stop().await;
    each_exactly_once(&mock, &chats, &[1]);
}

/// Delivery is killed mid-burst, with some messages accepted and marked and
/// others on the way; after a restart every alert arrives exactly once.
async fn killed_mid_burst_every_alert_arrives_once(db: &Db) {
    let chats: Vec<i64> = (1..=20).collect();
    chats_on_aapl(db, chats.iter().copied()).await;
    let mock = MockApi::start().await;
    let config = config(&mock, 200, 30, 1_000);
    let first = Delivery::start(db, &config);
    for id in 1..=10 {
        signal(db, &first.bot, id).await;
    }
    eventually("the burst under way", GENEROUS, || async { mock.sent_count() >= 10 }).await;
    mock.hold();
    eventually("a send on the way", GENEROUS, || async { mock.held() > 0 }).await;
    // Everything accepted so far is marked: the kill falls outside the one
    // window no client can close (accepted, not yet marked).
    let accepted = || delivered_by_chat(&mock.all_sent()).values().map(Vec::len).sum::<usize>();
    eventually("accepted messages marked", GENEROUS, || async { rows_marked_sent(db, &chats).await == accepted() })
        .await;
    first.kill().await;
    mock.reject_held();
    eventually("the held sends dropped", GENEROUS, || async { mock.held() == 0 }).await;
    mock.open();
    assert!(store::pending_count(db, None).await.unwrap() > 0, "the kill came too late to test anything");

    let second = Delivery::start(db, &config);
    for id in 11..=12 {
        signal(db, &second.bot, id).await;
    }
    drained(db).await;
    second.stop().await;
    let all: Vec<i64> = (1..=12).collect();
    each_exactly_once(&mock, &chats, &all);
    assert_eq!(rows_marked_sent(db, &chats).await, 20 * 12);
}

/// As above, but the process itself is killed: `kill -9` of `finstage serve`
/// at a random point of a burst (the seed is printed; `FAULTS_SEED`
/// replays one), outside the one window no client can close (accepted by
/// Telegram, not yet marked). A restarted process delivers the rest, and
/// alerts queued after it: every alert reaches every chat exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_process_loses_and_repeats_no_alert() {
    use rand::{Rng, SeedableRng};
    let seed = std::env::var("FAULTS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| rand::rng().random());
    println!("FAULTS_SEED={seed}");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let t = common::TestDb::sqlite().await;
    let db = &t.db;
    let chats: Vec<i64> = (1..=20).collect();
    chats_on_aapl(db, chats.iter().copied()).await;
    for id in 1..=10 {
        alerts::enqueue(db, &event(id), jobs::now_ms()).await.unwrap();
    }
    let mock = MockApi::start().await;
    mock.set_latency(Duration::from_millis(5), Duration::from_millis(40));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let envs = [
        ("FINSTAGE_DATABASE_URL", t.url.expose().to_owned()),
        ("FINSTAGE_FEED", "none".to_owned()),
        ("FINSTAGE_WATCHLIST", "AAPL".to_owned()),
        ("FINSTAGE_TELEGRAM__TOKEN", TOKEN.to_owned()),
        ("FINSTAGE_TELEGRAM__API_URL", mock.url.clone()),
        ("FINSTAGE_TELEGRAM__POLL_TIMEOUT_SECS", "1".to_owned()),
        ("FINSTAGE_TELEGRAM__PER_CHAT_INTERVAL_MS", "300".to_owned()),
        ("FINSTAGE_TELEGRAM__CLAIM_LEASE_MS", "2000".to_owned()),
    ];
    let mut first = common::Served::start(&envs, &log).await;
    let k = rng.random_range(1..=14);
    println!("kill after {k} messages");
    eventually("the kill point", GENEROUS, || async { mock.sent_count() >= k }).await;
    mock.hold();
    eventually("a send on the way", GENEROUS, || async { mock.held() > 0 }).await;
    let accepted = || delivered_by_chat(&mock.all_sent()).values().map(Vec::len).sum::<usize>();
    eventually("accepted messages marked", GENEROUS, || async { rows_marked_sent(db, &chats).await == accepted() })
        .await;
    first.kill9();
    mock.reject_held();
    eventually("the held sends dropped", GENEROUS, || async { mock.held() == 0 }).await;
    mock.open();
    assert!(store::pending_count(db, None).await.unwrap() > 0, "the kill came too late to test anything");

    let second = common::Served::start(&envs, &log).await;
    for id in 11..=12 {
        alerts::enqueue(db, &event(id), jobs::now_ms()).await.unwrap();
    }
    drained(db).await;
    drop(second);
    let all: Vec<i64> = (1..=12).collect();
    each_exactly_once(&mock, &chats, &all);
    assert_eq!(rows_marked_sent(db, &chats).await, 20 * 12);
    t.cleanup().await;
}

/// A chat in quiet hours keeps its alerts (its replies still go), and its
/// backlog is capped at the newest `MAX_PENDING_ALERTS`, older ones marked
/// `superseded`; a muted chat's alerts are dropped.
async fn backlogs_are_capped_and_quiet_hours_hold_alerts(db: &Db) {
    chats_on_aapl(db, [1, 2, 3]).await;
    let now = jobs::now_ms();
    let minute = u16::try_from(now.div_euclid(60_000).rem_euclid(1_440)).unwrap();
    let quiet = QuietHours::new((minute + 1_439) % 1_440, (minute + 60) % 1_440).unwrap();
    store::set_quiet(db, 1, Some(quiet)).await.unwrap();
    let cap = delivery::MAX_PENDING_ALERTS;
    let extra = 30;
    let signals = i64::try_from(cap + extra).unwrap();
    for id in 1..=signals {
        alerts::enqueue(db, &event(id), now).await.unwrap();
    }
    // Muted after its alerts were queued: they are dropped, not sent.
    store::set_muted(db, 3, true).await.unwrap();
    store::record_update(db, 1, 5_000, Some("a reply in quiet hours"), 5_001, now).await.unwrap();

    let mock = MockApi::start().await;
    let delivery = Delivery::start(db, &config(&mock, 50, 30, 10_000));
    eventually("chat 2's alerts and chat 1's reply", GENEROUS, || async {
        store::pending_count(db, Some(2)).await.unwrap() == 0 && !mock.sent_to(1).is_empty()
    })
    .await;
    eventually("chat 3's alerts dropped", GENEROUS, || async { store::pending_count(db, Some(3)).await.unwrap() == 0 })
        .await;
    eventually("chat 1's backlog capped", GENEROUS, || async {
        store::pending_count(db, Some(1)).await.unwrap() == i64::try_from(cap).unwrap()
    })
    .await;
    delivery.stop().await;

    let texts: Vec<String> = mock.sent_to(1).into_iter().map(|s| s.text).collect();
    assert_eq!(texts, ["a reply in quiet hours"], "quiet hours let only the reply through");
    assert!(mock.sent_to(3).is_empty());
    let rows = store::outbox(db, 1, 10_000).await.unwrap();
    let outcome = |id: i64| {
        rows.iter()
            .find(|r| r.signal_id == Some(id))
            .and_then(|r| r.outcome.clone())
            .unwrap_or_else(|| "pending".into())
    };
    for id in 1..=i64::try_from(extra).unwrap() {
        assert_eq!(outcome(id), "superseded", "signal {id}");
    }
    for id in i64::try_from(extra).unwrap() + 1..=signals {
        assert_eq!(outcome(id), "pending", "signal {id}");
    }
    // Chat 3's were dropped (the cap may have come first for some of them).
    let chat3 = store::outbox(db, 3, 10_000).await.unwrap();
    assert_eq!(chat3.len(), cap + extra);
    assert!(chat3.iter().all(|r| matches!(r.outcome.as_deref(), Some("muted" | "superseded"))));
    assert!(chat3.iter().any(|r| r.outcome.as_deref() == Some("muted")));
    // Chat 2 got its alerts in digests (a long one says how many it left out),
    // but for those the cap superseded if it came before the first flush.
    let covered: usize = mock
        .sent_to(2)
        .iter()
        .map(|s| s.text.split_once(" signals:").map_or(1, |(n, _)| n.parse::<usize>().unwrap()))
        .sum();
    let chat2 = store::outbox(db, 2, 10_000).await.unwrap();
    let superseded = chat2.iter().filter(|r| r.outcome.as_deref() == Some("superseded")).count();
    assert!(superseded == 0 || superseded == extra, "{superseded}");
    assert_eq!(covered + superseded, cap + extra);
    assert_eq!(chat2.iter().filter(|r| r.outcome.as_deref() == Some("sent")).count(), covered);
}

/// The outbox queries the loop relies on, at a fixed time (12:00 UTC): due
/// chats (quiet windows that wrap midnight or not, muted chats, replies,
/// live and lapsed claims), batched alert inserts, the backlog cap and the purge.
async fn the_outbox_finds_due_chats_caps_backlogs_and_purges(db: &Db) {
    const HOUR: i64 = 3_600_000;
    let t = 20_000 * 24 * HOUR + 12 * HOUR;
    chats_on_aapl(db, 1..=5).await;
    let quiet = |s: &str| Some(QuietHours::parse(s).unwrap());
    store::set_quiet(db, 2, quiet("11:00-13:00")).await.unwrap();
    store::set_quiet(db, 3, quiet("22:00-13:00")).await.unwrap();
    store::set_quiet(db, 4, quiet("22:00-07:00")).await.unwrap();
    store::set_quiet(db, 5, quiet("11:00-13:00")).await.unwrap();
    store::set_muted(db, 5, true).await.unwrap();
    let all = [1, 2, 3, 4, 5];
    assert_eq!(store::add_alerts(db, &all, 1, "full 1", "line 1", t).await.unwrap(), all);
    assert!(store::add_alerts(db, &all, 1, "full 1", "line 1", t).await.unwrap().is_empty(), "once per chat");
    let due = |at: i64| async move {
        store::due_chats(db, at, 100).await.unwrap().into_iter().map(|c| c.chat_id).collect::<Vec<_>>()
    };
    // Quiet at noon: 2 (11-13) and 3 (22-13, wrapping); not 4 (22-07); 5 is muted (its alerts go, dropped).
    assert_eq!(due(t).await, [1, 4, 5]);
    assert_eq!(due(t + 2 * HOUR).await, [1, 2, 3, 4, 5], "quiet hours over at 14:00");
    // A reply is due in quiet hours too.
    store::record_update(db, 2, 9, Some("reply"), 10, t).await.unwrap();
    let chats = store::due_chats(db, t, 100).await.unwrap();
    let chat2 = chats.iter().find(|c| c.chat_id == 2).unwrap();
    assert_eq!((chat2.first_reply_at, chat2.first_alert_at), (Some(t), None));
    // A live claim hides a chat; a renewed one longer; a lapsed one no more.
    assert_eq!(store::claim(db, 1, "c", true, t, t + 1_000).await.unwrap().len(), 1);
    assert!(!due(t).await.contains(&1));
    assert!(due(t + 1_001).await.contains(&1));
    assert_eq!(store::renew(db, "c", t + 5_000).await.unwrap(), 1);
    assert!(!due(t + 1_001).await.contains(&1));
    assert!(due(t + 5_001).await.contains(&1));
    assert_eq!(store::renew(db, "other", t + 5_000).await.unwrap(), 0);

    // Chat 4's backlog: 11 alerts, the 3 newest kept.
    for id in 2..=11 {
        store::add_alerts(db, &[4], id, &format!("full {id}"), &format!("line {id}"), t).await.unwrap();
    }
    assert_eq!(store::supersede_alerts(db, 4, 3, t).await.unwrap(), 8);
    let rows = store::outbox(db, 4, 100).await.unwrap();
    let mut pending: Vec<i64> = rows.iter().filter(|r| r.outcome.is_none()).filter_map(|r| r.signal_id).collect();
    pending.sort_unstable();
    assert_eq!(pending, [9, 10, 11]);
    assert!(rows.iter().filter(|r| r.outcome.is_some()).all(|r| r.outcome.as_deref() == Some("superseded")));
    // Over all chats, with 2 kept: chat 4 loses one more; chat 1's one alert is claimed anyway.
    assert_eq!(store::trim_backlogs(db, 2, t).await.unwrap(), 1);
    assert_eq!(store::supersede_alerts(db, 4, 2, t).await.unwrap(), 0);

    // Purge: done rows queued before the cut-off go, pending ones and newer ones stay.
    store::add_alerts(db, &[4], 12, "full 12", "line 12", t + 10).await.unwrap();
    assert_eq!(store::drop_alerts(db, 4, "muted", t + 20).await.unwrap(), 3);
    let (deleted, next) = store::purge_done(db, 0, t + 10, 2, 1_000).await.unwrap();
    assert_eq!(deleted, 11, "9 superseded and 2 of the muted");
    let newest = store::outbox(db, 4, 100).await.unwrap();
    assert_eq!(newest.iter().filter_map(|r| r.signal_id).collect::<Vec<_>>(), [12], "the newer row stays");
    assert_eq!(next, newest[0].id, "the next walk starts at the first newer row");
    assert_eq!(store::pending_count(db, None).await.unwrap(), 5, "pending rows stay");
    assert_eq!(store::purge_done(db, next, t + 10, 2, 1_000).await.unwrap(), (0, next));
}

on_both_backends!(
    alerts_are_digested_without_a_job_per_row,
    a_dead_process_claims_lapse_within_the_lease,
    killed_mid_burst_every_alert_arrives_once,
    backlogs_are_capped_and_quiet_hours_hold_alerts,
    the_outbox_finds_due_chats_caps_backlogs_and_purges,
);
