//! The Telegram bot against a loopback mock of the Bot API, on SQLite and
//! PostgreSQL: linking, commands, alerts, flood control, 429s, durability, and
//! the token staying secret.
//!
//! Timing assertions are lower bounds measured by the mock (when requests
//! arrived), which load cannot break; upper bounds are generous deadlines.
#![allow(clippy::unwrap_used, reason = "test")]

mod common;
mod mocks;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::live::protocol::{Action, BacktestRecord, SignalEvent};
use mocks::telegram::{MockApi, SECRET, Sent, TOKEN, too_many_requests};
use quant::{Bar, Timeframe};
use serde_json::json;
use server::bus::Bus;
use server::cache::{CacheConfig, MarketCache};
use server::jobs;
use server::storage::bars::{self, NewBar};
use server::storage::jobs as queue;
use server::storage::signals::{self, NewSignal};
use server::storage::telegram::{self as store, LinkOutcome, OutboxKind, QuietHours};
use server::storage::{Db, symbols};
use server::symbol::Symbol;
use server::telegram::{BotToken, Telegram, TelegramConfig, alerts};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------- harness

fn config(mock: &MockApi, per_chat_ms: u64, per_second: u32) -> TelegramConfig {
    TelegramConfig {
        enabled: Some(true),
        token: Some(BotToken::new(TOKEN)),
        api_url: mock.url.clone(),
        poll_timeout_secs: 1,
        per_chat_interval_ms: per_chat_ms,
        global_per_second: per_second,
        allowed_chats: Vec::new(),
        ..TelegramConfig::default()
    }
}

fn new_bot(db: &Db, config: &TelegramConfig) -> Telegram {
    Telegram::new(db.clone(), config, Bus::new(64), MarketCache::new(&CacheConfig::default())).unwrap()
}

/// A bot "process": its poller and/or delivery loop, stopped together.
struct Process {
    bot: Telegram,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Process {
    fn start(db: &Db, config: &TelegramConfig, poller: bool, delivery: bool) -> Self {
        let bot = new_bot(db, config);
        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        if poller {
            tasks.push(bot.spawn_poller(shutdown.clone()));
        }
        if delivery {
            tasks.push(bot.spawn_delivery(shutdown.clone()));
        }
        Self { bot, shutdown, tasks }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap();
        }
    }
}

/// Polls `check` until it holds, failing after 20 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the poller has handled every update queued so far.
async fn updates_handled(db: &Db, mock: &MockApi) {
    let last = mock.last_update_id();
    eventually("the poller to handle every update", || async { store::update_offset(db).await.unwrap() > last }).await;
}

/// Waits until nothing is left that could still send to `chats`: none of
/// their outbox rows is pending (so none is claimed), and a flush of each now
/// sends nothing. A message sent twice would have to come from one of these
/// (a flush only sends rows it claimed while pending, and no job is queued
/// for delivery), so counts the mock shows afterwards are final: checking
/// them is an "exactly once", where checking after a fixed sleep let a late
/// duplicate through. Callers with a poller wait for [`updates_handled`] first.
async fn settled(db: &Db, bot: &Telegram, chats: &[i64]) {
    for &chat in chats {
        eventually(&format!("chat {chat}'s outbox to drain"), || async {
            store::pending_count(db, Some(chat)).await.unwrap() == 0
        })
        .await;
    }
    assert!(queue::list(db, None, 10).await.unwrap().is_empty(), "delivery queues no jobs");
    for &chat in chats {
        let flushed = bot.flush_chat(chat).await.unwrap();
        assert_eq!((flushed.claimed, flushed.messages), (0, 0), "chat {chat} still had something to send");
    }
}

fn symbol(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

async fn seed_symbols(db: &Db) {
    symbols::upsert(db, &symbol("AAPL"), Some("Apple Inc."), false).await.unwrap();
    symbols::upsert(db, &symbol("MSFT"), None, false).await.unwrap();
}

fn event(id: i64, sym: &str, strategy: &str) -> SignalEvent {
    SignalEvent {
        id,
        symbol: sym.into(),
        timeframe: Timeframe::D1,
        strategy: strategy.into(),
        params: json!({"fast": 10, "slow": 20}),
        params_hash: "h".into(),
        action: Action::Buy,
        bar_ts: 1_700_000_000 + id * 86_400,
        price: 187.2,
        evidence: BTreeMap::from([("fast".into(), 186.93), ("slow".into(), 186.11)]),
        backtest: Some(BacktestRecord {
            trades: 42,
            win_rate: 0.55,
            profit_factor: Some(1.8),
            sharpe: 1.1,
            total_return: 0.2,
            from_ts: 0,
            to_ts: 0,
        }),
        created_at: jobs::now_ms(),
    }
}

async fn linked_and_subscribed(db: &Db, chat_id: i64, sym: &str, strategy: Option<&str>) {
    store::link_chat(db, chat_id, Some("chat"), jobs::now_ms()).await.unwrap();
    store::subscribe(db, chat_id, sym, strategy, jobs::now_ms()).await.unwrap();
}

fn gaps(sent: &[Sent]) -> Vec<Duration> {
    sent.windows(2).map(|w| w[1].at.duration_since(w[0].at)).collect()
}

// ---------------------------------------------------------------- storage

async fn storage_links_subscribes_and_fences_claims(db: &Db) {
    let now = jobs::now_ms();
    let code = store::create_link_code(db, now).await.unwrap();
    assert_eq!(store::redeem_code(db, "WRONG123", 7, None, now).await.unwrap(), LinkOutcome::Invalid);
    assert_eq!(store::redeem_code(db, &code, 7, Some("Tess"), now).await.unwrap(), LinkOutcome::Linked);
    // The same /start again (a replay) is fine; another chat cannot reuse the code.
    assert_eq!(store::redeem_code(db, &code, 7, None, now).await.unwrap(), LinkOutcome::AlreadyLinked);
    assert_eq!(store::redeem_code(db, &code, 8, None, now).await.unwrap(), LinkOutcome::Invalid);
    let old = store::create_link_code(db, now - store::LINK_CODE_TTL_MS - 1).await.unwrap();
    assert_eq!(store::redeem_code(db, &old, 8, None, now).await.unwrap(), LinkOutcome::Invalid);
    let chat = store::get_chat(db, 7).await.unwrap().unwrap();
    assert_eq!((chat.title.as_deref(), chat.muted, chat.quiet), (Some("Tess"), false, None));

    assert!(store::subscribe(db, 7, "AAPL", None, now).await.unwrap());
    assert!(!store::subscribe(db, 7, "AAPL", None, now).await.unwrap());
    assert!(store::subscribe(db, 7, "AAPL", Some("sma_cross"), now).await.unwrap());
    store::link_chat(db, 9, None, now).await.unwrap();
    store::subscribe(db, 9, "AAPL", Some("rsi_reversal"), now).await.unwrap();
    let ids = |chats: Vec<store::LinkedChat>| chats.into_iter().map(|c| c.chat_id).collect::<Vec<_>>();
    assert_eq!(ids(store::subscribers(db, "AAPL", "sma_cross").await.unwrap()), [7]);
    assert_eq!(ids(store::subscribers(db, "AAPL", "rsi_reversal").await.unwrap()), [7, 9]);
    assert!(store::subscribers(db, "MSFT", "sma_cross").await.unwrap().is_empty());
    let quiet = QuietHours::parse("22:00-07:00").unwrap();
    assert!(store::set_quiet(db, 7, Some(quiet)).await.unwrap() && store::set_muted(db, 7, true).await.unwrap());
    let chat = store::get_chat(db, 7).await.unwrap().unwrap();
    assert_eq!((chat.muted, chat.quiet), (true, Some(quiet)));
    assert_eq!(store::unsubscribe(db, 7, Some("AAPL"), Some("sma_cross")).await.unwrap(), 1);
    assert_eq!(
        store::subscriptions(db, 7).await.unwrap(),
        [store::Subscription { symbol: "AAPL".into(), strategy: None }]
    );

    // Outbox: one alert per chat and signal, one reply per update; claims are fenced.
    assert!(store::add_alert(db, 7, 100, "full", "line", now).await.unwrap().is_some());
    assert!(store::add_alert(db, 7, 100, "full", "line", now).await.unwrap().is_none());
    assert!(store::record_update(db, 7, 5_000, Some("hi"), 5_001, now).await.unwrap().is_some());
    assert!(store::record_update(db, 7, 5_000, Some("hi"), 5_001, now).await.unwrap().is_none());
    store::set_update_offset(db, 10).await.unwrap();
    assert_eq!(store::update_offset(db).await.unwrap(), 5_001, "the offset never goes back");
    let claimed = store::claim(db, 7, "a", false, now, now + 1_000).await.unwrap();
    assert_eq!(claimed.iter().map(|r| r.kind).collect::<Vec<_>>(), [OutboxKind::Reply]);
    assert!(store::claim(db, 7, "b", false, now + 500, now + 2_000).await.unwrap().is_empty());
    assert_eq!(store::held_elsewhere(db, 7, true, now + 500).await.unwrap(), 1);
    // After the lease, "b" takes over and "a" can no longer mark the row.
    let taken = store::claim(db, 7, "b", true, now + 1_001, now + 2_000).await.unwrap();
    assert_eq!(taken.len(), 2);
    assert_eq!(store::finish(db, "a", &[claimed[0].id], "sent", now).await.unwrap(), 0);
    let ids: Vec<i64> = taken.iter().map(|r| r.id).collect();
    assert_eq!(store::finish(db, "b", &ids, "sent", now).await.unwrap(), 2);
    assert_eq!(store::pending_count(db, Some(7)).await.unwrap(), 0);

    // Unlinking takes subscriptions and messages with it.
    assert!(store::unlink(db, 7).await.unwrap());
    assert!(store::subscriptions(db, 7).await.unwrap().is_empty());
    assert!(store::outbox(db, 7, 10).await.unwrap().is_empty());
    assert_eq!(store::list_chats(db).await.unwrap().len(), 1);
}

// ---------------------------------------------------------------- linking

async fn unlinked_chats_get_only_the_hint_and_codes_link_once(db: &Db) {
    let mock = MockApi::start().await;
    let process = Process::start(db, &config(&mock, 50, 30), true, true);
    mock.message(100, "/help");
    eventually("the hint", || async { mock.sent_to(100).len() == 1 }).await;
    assert!(mock.sent_to(100)[0].text.contains("finstage telegram link"), "{}", mock.sent_to(100)[0].text);
    assert!(store::get_chat(db, 100).await.unwrap().is_none());

    let expired = store::create_link_code(db, jobs::now_ms() - 16 * 60_000).await.unwrap();
    mock.message(100, "/start NOPE2345");
    mock.message(100, &format!("/start {expired}"));
    mock.message(100, "/subscribe AAPL");
    updates_handled(db, &mock).await;
    assert!(store::get_chat(db, 100).await.unwrap().is_none(), "a bad or expired code links nothing");

    let code = store::create_link_code(db, jobs::now_ms()).await.unwrap();
    mock.message(100, &format!("/start {}", code.to_lowercase()));
    eventually("the welcome", || async { mock.sent_to(100).iter().any(|s| s.text.starts_with("Linked")) }).await;
    let chat = store::get_chat(db, 100).await.unwrap().unwrap();
    assert_eq!(chat.title.as_deref(), Some("Tess"));

    // The code is spent.
    mock.message(200, &format!("/start {code}"));
    updates_handled(db, &mock).await;
    assert!(store::get_chat(db, 200).await.unwrap().is_none());
    process.stop().await;
    // Before linking, chat 100 got hints only (at most one per hint interval).
    let texts: Vec<String> = mock.sent_to(100).into_iter().map(|s| s.text).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[1].starts_with("Linked"));
    mock.assert_no_secret();
}

async fn allowed_chats_need_no_code(db: &Db) {
    let mock = MockApi::start().await;
    let mut config = config(&mock, 50, 30);
    config.allowed_chats = vec![300];
    let process = Process::start(db, &config, true, true);
    mock.message(300, "/help");
    eventually("the help", || async { mock.sent_to(300).len() == 1 }).await;
    assert!(mock.sent_to(300)[0].text.contains("/subscribe SYMBOL"));
    assert!(store::get_chat(db, 300).await.unwrap().is_some());
    process.stop().await;
}

// ---------------------------------------------------------------- commands

async fn commands_answer_in_order_and_refuse_bad_arguments(db: &Db) {
    seed_symbols(db).await;
    let day = 86_400;
    let bars = [(19_000 * day, 188.0), (19_001 * day, 190.0)].map(|(ts, close)| Bar {
        ts,
        open: close,
        high: close,
        low: close,
        close,
        volume: 1.0,
    });
    let rows: Vec<NewBar<'_>> =
        bars.iter().map(|&bar| NewBar { symbol: "AAPL", timeframe: Timeframe::D1, bar }).collect();
    bars::upsert(db, &rows).await.unwrap();
    let signal = NewSignal {
        symbol: "AAPL".into(),
        timeframe: Timeframe::D1,
        strategy: "sma_cross".into(),
        params: json!({"fast": 10, "slow": 20}),
        params_hash: "h".into(),
        action: Action::Buy,
        bar_ts: 19_001 * day,
        price: 190.0,
        evidence: BTreeMap::new(),
        backtest: None,
        passed: true,
        created_at: jobs::now_ms(),
    };
    signals::insert(db, &signal).await.unwrap().unwrap();
    store::link_chat(db, 1, None, jobs::now_ms()).await.unwrap();

    let mock = MockApi::start().await;
    let per_chat = Duration::from_millis(100);
    let process = Process::start(db, &config(&mock, 100, 30), true, true);
    let script: &[(&str, &[&str])] = &[
        ("/help", &["/subscribe SYMBOL [STRATEGY]", "/quiet"]),
        ("/subscribe aapl", &["Subscribed to AAPL (every strategy)"]),
        ("/subscribe AAPL sma_cross", &["Subscribed to AAPL (sma_cross)"]),
        ("/subscribe AAPL SMA_CROSS", &["Already subscribed to AAPL (sma_cross)"]),
        ("/subscribe ZZZZ", &["Unknown symbol ZZZZ", "AAPL, MSFT"]),
        ("/subscribe AAPL nope", &["Unknown strategy nope", "sma_cross"]),
        ("/subscribe bad!sym", &["may only contain"]),
        ("/subscribe", &["Usage: /subscribe"]),
        ("/list", &["Subscriptions (2)", "• AAPL (every strategy)", "• AAPL (sma_cross)", "Alerts: on"]),
        ("/signals", &["Latest signals:", "AAPL 1d buy sma_cross @ 190.00"]),
        ("/signals MSFT", &["No signals for MSFT yet"]),
        ("/signals QQQQ", &["Unknown symbol QQQQ"]),
        ("/quote AAPL", &["AAPL (Apple Inc.) 190.00 +2.00 (+1.06%)"]),
        ("/quote ZZZZ", &["Unknown symbol ZZZZ"]),
        ("/status", &["Symbols followed: 2", "Last signal: 🟢 AAPL", "Linked chats: 1", "This chat: 2 subscriptions"]),
        ("/mute", &["Alerts muted"]),
        ("/list", &["Alerts: muted"]),
        ("/unmute", &["Alerts on"]),
        ("/quiet 22:00-07:00", &["Quiet hours set: 22:00-07:00 UTC"]),
        ("/quiet", &["Quiet hours: 22:00-07:00 UTC"]),
        ("/quiet 25:00-01:00", &["is not a window"]),
        ("/quiet off", &["Quiet hours off"]),
        ("/unsubscribe AAPL nope", &["Unknown strategy nope"]),
        ("/unsubscribe AAPL sma_cross", &["Unsubscribed from AAPL (sma_cross)"]),
        ("/unsubscribe MSFT", &["No subscription to MSFT"]),
        ("/unsubscribe AAPL", &["Unsubscribed from AAPL (1 subscription)"]),
        ("/frobnicate", &["Unknown command /frobnicate"]),
        ("/help@some_other_bot", &[]),
        ("just chatting", &[]),
        ("/start@finstage_test_bot", &["This chat is linked"]),
    ];
    for (text, _) in script {
        mock.message(1, text);
    }
    let expected: Vec<&[&str]> = script.iter().map(|(_, e)| *e).filter(|e| !e.is_empty()).collect();
    eventually("every reply", || async { mock.sent_to(1).len() >= expected.len() }).await;
    updates_handled(db, &mock).await;
    settled(db, &process.bot, &[1]).await;
    process.stop().await;

    let sent = mock.sent_to(1);
    assert_eq!(sent.len(), expected.len(), "{:#?}", sent.iter().map(|s| &s.text).collect::<Vec<_>>());
    for (reply, wanted) in sent.iter().zip(&expected) {
        for part in *wanted {
            assert!(reply.text.contains(part), "reply {:?} should contain {part:?}", reply.text);
        }
    }
    for gap in gaps(&sent) {
        assert!(gap >= per_chat, "replies to one chat {gap:?} apart, below the per-chat interval");
    }
    let chat = store::get_chat(db, 1).await.unwrap().unwrap();
    assert_eq!((chat.muted, chat.quiet), (false, None));
    assert!(store::subscriptions(db, 1).await.unwrap().is_empty());
    // Every reply went through the outbox and is marked sent.
    assert_eq!(store::pending_count(db, Some(1)).await.unwrap(), 0);
    mock.assert_no_secret();
}

// ---------------------------------------------------------------- alerts

async fn alerts_reach_subscribers_only_and_wait_for_quiet_hours(db: &Db) {
    let now = jobs::now_ms();
    linked_and_subscribed(db, 1, "AAPL", None).await;
    linked_and_subscribed(db, 2, "AAPL", Some("sma_cross")).await;
    linked_and_subscribed(db, 3, "AAPL", Some("rsi_reversal")).await;
    linked_and_subscribed(db, 4, "MSFT", None).await;
    linked_and_subscribed(db, 5, "AAPL", None).await;
    store::set_muted(db, 5, true).await.unwrap();
    linked_and_subscribed(db, 6, "AAPL", None).await;
    let minute = u16::try_from(now.div_euclid(60_000).rem_euclid(1_440)).unwrap();
    let quiet = QuietHours::new((minute + 1_439) % 1_440, (minute + 60) % 1_440).unwrap();
    store::set_quiet(db, 6, Some(quiet)).await.unwrap();

    let mock = MockApi::start().await;
    let process = Process::start(db, &config(&mock, 50, 30), false, true);
    let signal = event(77, "AAPL", "sma_cross");
    assert_eq!(alerts::enqueue(db, &signal, now).await.unwrap(), 3, "chats 1, 2 and (later) 6");
    eventually("alerts to chats 1 and 2", || async { mock.sent_to(1).len() == 1 && mock.sent_to(2).len() == 1 }).await;
    let text = &mock.sent_to(1)[0].text;
    for part in
        ["🟢 BUY AAPL 1d", "sma_cross(fast=10,slow=20) @ 187.20", "fast 186.9 / slow 186.1", "42 trades", "win 55%"]
    {
        assert!(text.contains(part), "{text} should contain {part}");
    }
    // The same signal again queues nothing.
    assert_eq!(alerts::enqueue(db, &signal, now).await.unwrap(), 0);
    settled(db, &process.bot, &[1, 2, 3, 4, 5]).await;
    process.stop().await;
    for chat in [3, 4, 5, 6] {
        assert!(mock.sent_to(chat).is_empty(), "chat {chat} got {:?}", mock.sent_to(chat));
    }
    assert_eq!((mock.sent_to(1).len(), mock.sent_to(2).len()), (1, 1));
    // Chat 6's alert waits in the outbox: not due before its quiet hours end, due then.
    assert_eq!(store::pending_count(db, Some(6)).await.unwrap(), 1);
    let due = store::due_chats(db, jobs::now_ms(), 100).await.unwrap();
    assert!(due.iter().all(|c| c.chat_id != 6), "{due:?}");
    let due = store::due_chats(db, quiet.end_after(now), 100).await.unwrap();
    assert!(due.iter().any(|c| c.chat_id == 6), "{due:?}");
    assert!(queue::list(db, None, 10).await.unwrap().is_empty(), "delivery queues no jobs");
    mock.assert_no_secret();
}

async fn stored_signals_are_caught_up_once(db: &Db) {
    seed_symbols(db).await;
    linked_and_subscribed(db, 1, "AAPL", None).await;
    let now = jobs::now_ms();
    let stored = |bar: i64, passed: bool, created_at: i64| NewSignal {
        symbol: "AAPL".into(),
        timeframe: Timeframe::D1,
        strategy: "sma_cross".into(),
        params: json!({}),
        params_hash: "h".into(),
        action: Action::Sell,
        bar_ts: bar * 86_400,
        price: 10.0,
        evidence: BTreeMap::new(),
        backtest: None,
        passed,
        created_at,
    };
    for (bar, passed, created_at) in
        [(1, true, now - 3_600_000), (2, true, now - 1_000), (3, false, now), (4, true, now)]
    {
        signals::insert(db, &stored(bar, passed, created_at)).await.unwrap().unwrap();
    }
    // Only the recent signals that passed.
    assert_eq!(alerts::catch_up(db, now - 60_000, now).await.unwrap(), 2);
    assert_eq!(alerts::catch_up(db, now - 60_000, now).await.unwrap(), 0);
    // The pipeline's sink queues on a task of its own.
    let sink = alerts::sink(db.clone(), server::telegram::delivery::Wake::default());
    sink(event(999, "AAPL", "sma_cross"));
    eventually("the sink's alert", || async { store::pending_count(db, Some(1)).await.unwrap() == 3 }).await;
}

// ---------------------------------------------------------------- flood control

async fn a_burst_becomes_one_digest_and_messages_are_spaced(db: &Db) {
    seed_symbols(db).await;
    linked_and_subscribed(db, 1, "AAPL", None).await;
    let mock = MockApi::start().await;
    let per_chat = Duration::from_millis(300);
    let process = Process::start(db, &config(&mock, 300, 30), true, true);
    for id in 1..=10 {
        alerts::enqueue(db, &event(id, "AAPL", "sma_cross"), jobs::now_ms()).await.unwrap();
    }
    eventually("the burst delivered", || async { store::pending_count(db, Some(1)).await.unwrap() == 0 }).await;
    let burst = mock.sent_to(1);
    let covered: usize =
        burst.iter().map(|s| s.text.split_once(" signals:").map_or(1, |(n, _)| n.parse::<usize>().unwrap())).sum();
    assert_eq!(covered, 10, "{burst:#?}");
    assert!(burst.len() <= 2, "a burst of 10 alerts took {} messages", burst.len());
    assert!(burst[0].text.contains(" signals:\n• 🟢 AAPL 1d buy sma_cross @ 187.20"), "{}", burst[0].text);

    // Commands and a new alert at once: still one message per interval.
    for text in ["/list", "/help", "/status", "/list"] {
        mock.message(1, text);
    }
    alerts::enqueue(db, &event(11, "AAPL", "sma_cross"), jobs::now_ms()).await.unwrap();
    eventually("replies and the alert", || async { mock.sent_to(1).len() == burst.len() + 5 }).await;
    process.stop().await;
    for gap in gaps(&mock.sent_to(1)) {
        assert!(gap >= per_chat, "messages to one chat {gap:?} apart");
    }
}

/// Flood control is in-process: one backend is enough.
///
/// What the limiter guarantees, and so what is checked: it takes a request's
/// slot in its sliding one-second window before the request is sent, and
/// admits a slot only while fewer than N were taken in the second before it.
/// So the (k*N)-th slot from a start is at least k seconds after it, and no
/// request reaches the mock before its slot. Gaps between arrivals are not
/// guaranteed: a request can sit between its slot and the mock for as long as
/// the machine is busy, so "no five arrivals within one second" failed on a
/// correct limiter under load. The sorted arrivals instead obey
/// `arrival[j] >= start + floor(j / N) s` however late any request is; a
/// limiter that let a fifth request through in a second breaks it at j = 4.
/// (The window's exact admission times are checked on tokio's paused clock in
/// `telegram::flood`'s unit tests.)
#[tokio::test]
async fn the_global_rate_is_respected() {
    const PER_SECOND: u32 = 4;
    let t = common::TestDb::sqlite().await;
    let db = &t.db;
    let chats: Vec<i64> = (1..=12).collect();
    for &chat in &chats {
        linked_and_subscribed(db, chat, "AAPL", None).await;
    }
    let mock = MockApi::start().await;
    let bot = new_bot(db, &config(&mock, 50, PER_SECOND));
    assert_eq!(alerts::enqueue(db, &event(1, "AAPL", "sma_cross"), jobs::now_ms()).await.unwrap(), 12);
    // Before any slot can be taken.
    let start = Instant::now();
    let flushes = chats.iter().map(|&chat| bot.flush_chat(chat));
    for flushed in futures::future::join_all(flushes).await {
        assert_eq!(flushed.unwrap().messages, 1);
    }
    let mut times: Vec<Instant> = mock.all_sent().iter().map(|s| s.at).collect();
    times.sort();
    assert_eq!(times.len(), 12);
    let per_second = usize::try_from(PER_SECOND).unwrap();
    for (j, at) in times.iter().enumerate() {
        let earliest = Duration::from_secs(u64::try_from(j / per_second).unwrap());
        let after = at.duration_since(start);
        assert!(after >= earliest, "message {j} arrived {after:?} after the start, before the limiter's {earliest:?}");
    }
    t.cleanup().await;
}

async fn retry_after_is_honoured_and_the_message_sent_once(db: &Db) {
    linked_and_subscribed(db, 1, "AAPL", None).await;
    let mock = MockApi::start().await;
    mock.script(429, too_many_requests(1));
    let process = Process::start(db, &config(&mock, 50, 30), false, true);
    alerts::enqueue(db, &event(1, "AAPL", "sma_cross"), jobs::now_ms()).await.unwrap();
    eventually("the alert after the wait", || async { mock.sent_to(1).len() == 1 }).await;
    let attempts = mock.attempts_to(1);
    assert_eq!(attempts.len(), 2);
    let waited = attempts[1].at.duration_since(attempts[0].at);
    assert!(waited >= Duration::from_secs(1), "resent after {waited:?}, before retry_after");
    settled(db, &process.bot, &[1]).await;
    assert_eq!((mock.sent_to(1).len(), mock.attempts_to(1).len()), (1, 2), "sent exactly once");
    let rows = store::outbox(db, 1, 10).await.unwrap();
    assert_eq!(rows[0].outcome.as_deref(), Some("sent"));

    // A long retry_after: the alert is given back and the chat waits it out.
    mock.script(429, too_many_requests(40));
    alerts::enqueue(db, &event(2, "AAPL", "sma_cross"), jobs::now_ms()).await.unwrap();
    process.bot.waker().wake();
    eventually("the refused attempt", || async { mock.attempts_to(1).len() == 3 }).await;
    eventually("the alert given back", || async {
        store::held_elsewhere(db, 1, true, jobs::now_ms()).await.unwrap() == 0
    })
    .await;
    process.stop().await;
    assert_eq!(mock.sent_to(1).len(), 1);
    assert_eq!(mock.attempts_to(1).len(), 3, "tried again before retry_after");
    assert_eq!(store::pending_count(db, Some(1)).await.unwrap(), 1, "the alert waits, unclaimed");
    assert!(queue::list(db, None, 10).await.unwrap().is_empty(), "delivery queues no jobs");
}

// ---------------------------------------------------------------- durability

async fn deliveries_survive_a_crash_and_are_never_repeated(db: &Db) {
    linked_and_subscribed(db, 1, "AAPL", None).await;
    linked_and_subscribed(db, 2, "AAPL", None).await;
    let mock = MockApi::start().await;
    let config = config(&mock, 50, 30);
    // A process queues alerts and dies before its delivery loop gets to them...
    let first = Process::start(db, &config, false, true);
    for id in 1..=3 {
        assert_eq!(alerts::enqueue(db, &event(id, "AAPL", "sma_cross"), jobs::now_ms()).await.unwrap(), 2);
    }
    first.stop().await;
    // ...and a flush of chat 2 died holding its rows (lease 1.5 s).
    let now = jobs::now_ms();
    assert_eq!(store::claim(db, 2, "dead-process", true, now, now + 1_500).await.unwrap().len(), 3);
    assert!(mock.all_sent().is_empty());

    let second = Process::start(db, &config, true, true);
    eventually("both chats served", || async { mock.sent_to(1).len() == 1 && mock.sent_to(2).len() == 1 }).await;
    for chat in [1, 2] {
        assert!(mock.sent_to(chat)[0].text.starts_with("3 signals:"), "{}", mock.sent_to(chat)[0].text);
    }
    // Flushing again sends nothing.
    let flushed = second.bot.flush_chat(2).await.unwrap();
    assert_eq!((flushed.claimed, flushed.messages), (0, 0));
    assert!(queue::list(db, None, 10).await.unwrap().is_empty(), "delivery queues no jobs");
    assert_eq!(alerts::enqueue(db, &event(1, "AAPL", "sma_cross"), jobs::now_ms()).await.unwrap(), 0);

    // Commands: answered once, across a restart, including one sent while the bot was down.
    mock.message(1, "/list");
    eventually("the reply", || async { mock.sent_to(1).len() == 2 }).await;
    second.stop().await;
    mock.message(1, "/help");
    let third = Process::start(db, &config, true, true);
    eventually("the reply after the restart", || async { mock.sent_to(1).len() == 3 }).await;
    updates_handled(db, &mock).await;
    settled(db, &third.bot, &[1, 2]).await;
    third.stop().await;
    let texts: Vec<String> = mock.sent_to(1).into_iter().map(|s| s.text).collect();
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert!(texts[1].starts_with("Subscriptions (1)") && texts[2].starts_with("Finstage commands"), "{texts:#?}");
    assert_eq!(mock.sent_to(2).len(), 1);
    assert!(queue::list(db, Some("dead"), 10).await.unwrap().is_empty());
}

// ---------------------------------------------------------------- the token

/// Collects everything logged on this thread (tests run on a current-thread runtime).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn the_token_never_leaks(db: &Db) {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    linked_and_subscribed(db, 1, "AAPL", None).await;
    let mock = MockApi::start().await;
    mock.state().fail_quoting_path = true;
    let config = config(&mock, 50, 30);
    let bot = new_bot(db, &config);
    assert!(!format!("{bot:?} {config:?}").contains(SECRET));

    // A failing API whose error text quotes the request path: as the flush
    // reports it, and as the delivery loop logs it.
    alerts::enqueue(db, &event(1, "AAPL", "sma_cross"), jobs::now_ms()).await.unwrap();
    let error = bot.flush_chat(1).await.unwrap_err().to_string();
    assert!(error.contains("500") && !error.contains(SECRET), "{error}");
    let process = Process::start(db, &config, false, true);
    eventually("the loop's attempt", || async { mock.attempts_to(1).len() == 2 }).await;
    process.stop().await;

    // An unreachable API: reqwest's error names the URL, which holds the token.
    let unreachable = TelegramConfig { api_url: "http://127.0.0.1:9".into(), ..config.clone() };
    let err = new_bot(db, &unreachable).flush_chat(1).await.unwrap_err().to_string();
    assert!(err.contains("unreachable") && !err.contains(SECRET), "{err}");

    // The poller's failures (a hint that cannot be sent) are logged without it too.
    let process = Process::start(db, &config, true, false);
    mock.message(555, "/help");
    eventually("the hint attempt", || async { mock.attempts_to(555).len() == 1 }).await;
    updates_handled(db, &mock).await;
    process.stop().await;

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("telegram delivery failed") && logs.contains("hint not sent"), "{logs}");
    assert!(!logs.contains(SECRET), "the token was logged:\n{logs}");
    mock.assert_no_secret();
}

on_both_backends!(
    storage_links_subscribes_and_fences_claims,
    unlinked_chats_get_only_the_hint_and_codes_link_once,
    allowed_chats_need_no_code,
    commands_answer_in_order_and_refuse_bad_arguments,
    alerts_reach_subscribers_only_and_wait_for_quiet_hours,
    stored_signals_are_caught_up_once,
    a_burst_becomes_one_digest_and_messages_are_spaced,
    retry_after_is_honoured_and_the_message_sent_once,
    deliveries_survive_a_crash_and_are_never_repeated,
    the_token_never_leaks,
);
