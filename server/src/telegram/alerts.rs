//! Signal alerts: the compact text of an alert, digests of several, and
//! [`enqueue`], which the live pipeline (through [`sink`]) calls for every
//! stored signal that passed its quality bar.
//!
//! Messages are plain text (no parse mode), so symbols, parameters and
//! evidence need no escaping.

use std::sync::Arc;

use app::live::protocol::{Action, BacktestRecord, SignalEvent};
use serde_json::Value;

use super::wake::Wake;
use crate::storage::signals::{self, SignalFilter};
use crate::storage::telegram::{self as store, OutboxRow};
use crate::storage::{Db, StorageError};

/// Telegram's limit on a message's length, in UTF-16 code units (what it counts).
pub const MAX_MESSAGE_LEN: usize = 4_096;
/// How long a chat's first pending alert waits for others to share its
/// message: signals of one closed bar arrive within milliseconds of each other.
pub const DIGEST_WINDOW_MS: i64 = 500;

/// Queues the alert of `event` for every chat subscribed to its symbol (with
/// its strategy, or with any), except muted ones, in one transaction. The
/// delivery loop sends it: after [`DIGEST_WINDOW_MS`], or when the chat's
/// quiet hours end. Idempotent per chat and signal: calling it twice for one
/// signal queues nothing the second time. Returns how many chats got a new
/// alert.
///
/// # Errors
/// [`StorageError`] on a database failure; then nothing was queued, and
/// calling again queues it all.
pub async fn enqueue(db: &Db, event: &SignalEvent, now_ms: i64) -> Result<usize, StorageError> {
    let chats: Vec<i64> = store::subscribers(db, &event.symbol, &event.strategy)
        .await?
        .iter()
        .filter(|c| !c.muted)
        .map(|c| c.chat_id)
        .collect();
    if chats.is_empty() {
        return Ok(0);
    }
    let queued = store::add_alerts(db, &chats, event.id, &alert_text(event), &digest_line(event), now_ms).await?.len();
    if queued > 0 {
        tracing::debug!(signal = event.id, symbol = %event.symbol, chats = queued, "telegram alerts queued");
    }
    Ok(queued)
}

/// A callback for the live pipeline's alert sinks (`Pipeline::add_sink`): it
/// queues the signal's alerts on a task of its own, logging failures, and
/// wakes the delivery loop (`wake`, from `Telegram::waker`). A crash between
/// storing a signal and this task leaves the alert unqueued; run [`catch_up`]
/// at start-up to close that gap.
#[must_use]
pub fn sink(db: Db, wake: Wake) -> Arc<dyn Fn(SignalEvent) + Send + Sync> {
    Arc::new(move |event: SignalEvent| {
        let (db, wake) = (db.clone(), wake.clone());
        tokio::spawn(async move {
            match enqueue(&db, &event, crate::jobs::now_ms()).await {
                Ok(0) => {}
                Ok(_) => wake.wake(),
                Err(e) => tracing::error!(signal = event.id, error = %e, "telegram alerts not queued"),
            }
        });
    })
}

/// Queues the alerts of every signal that passed its quality bar since
/// `since_ms` (by storage time) and has not been queued for its subscribers
/// yet: after a restart, signals stored just before the crash still reach
/// Telegram. Idempotent ([`enqueue`] is). Returns how many alerts were queued.
///
/// # Errors
/// [`StorageError`] on a database failure.
pub async fn catch_up(db: &Db, since_ms: i64, now_ms: i64) -> Result<usize, StorageError> {
    const PAGE: usize = 200;
    let mut queued = 0;
    let mut before_id = None;
    loop {
        let filter = SignalFilter { passed_only: true, before_id, ..SignalFilter::default() };
        let page = signals::list(db, &filter, PAGE).await?;
        for signal in page.iter().filter(|s| s.event.created_at >= since_ms) {
            queued += enqueue(db, &signal.event, now_ms).await?;
        }
        match page.last() {
            Some(last) if page.len() == PAGE && last.event.created_at >= since_ms => before_id = Some(last.event.id),
            _ => return Ok(queued),
        }
    }
}

fn action_parts(action: Action) -> (&'static str, &'static str, &'static str) {
    match action {
        Action::Buy => ("🟢", "BUY", "buy"),
        Action::Sell => ("🔴", "SELL", "sell"),
    }
}

/// The full alert, e.g. `🟢 BUY AAPL 1d · sma_cross(fast=10,slow=20) @ 187.20 ·
/// fast 186.9 / slow 186.1 · backtest: 42 trades, win 55%, PF 1.8, Sharpe 1.1, return +23%`.
#[must_use]
pub fn alert_text(event: &SignalEvent) -> String {
    let (icon, action, _) = action_parts(event.action);
    let mut parts = vec![
        format!("{icon} {action} {} {}", event.symbol, event.timeframe),
        format!("{}{} @ {}", event.strategy, params_text(&event.params), price_text(event.price)),
    ];
    if !event.evidence.is_empty() {
        let evidence: Vec<String> = event.evidence.iter().map(|(k, v)| format!("{k} {}", number_text(*v))).collect();
        parts.push(evidence.join(" / "));
    }
    parts.push(event.backtest.as_ref().map_or_else(|| "no backtest yet".to_owned(), backtest_text));
    truncate(&parts.join(" · "), MAX_MESSAGE_LEN)
}

/// The alert in one short line, for digests and `/signals`:
/// `🟢 AAPL 1d buy sma_cross @ 187.20`.
#[must_use]
pub fn digest_line(event: &SignalEvent) -> String {
    let (icon, _, action) = action_parts(event.action);
    format!("{icon} {} {} {action} {} @ {}", event.symbol, event.timeframe, event.strategy, price_text(event.price))
}

/// One message for a chat's pending alerts: the alert itself when there is
/// one, else `N signals:` and a line each, cut to fit Telegram's limit with a
/// note of how many were left out.
#[must_use]
pub fn digest(alerts: &[OutboxRow]) -> String {
    match alerts {
        [] => String::new(),
        [one] => truncate(&one.text, MAX_MESSAGE_LEN),
        many => {
            let mut text = format!("{} signals:", many.len());
            for (shown, row) in many.iter().enumerate() {
                let line = row.digest_line.as_deref().unwrap_or(&row.text);
                let left = many.len() - shown;
                // Keep room for the longest possible "and N more" note.
                let note = format!("\n… and {left} more (/signals lists the latest)");
                if utf16_len(&text) + 3 + utf16_len(line) + utf16_len(&note) > MAX_MESSAGE_LEN {
                    text.push_str(&note);
                    return text;
                }
                text.push_str("\n• ");
                text.push_str(line);
            }
            text
        }
    }
}

fn backtest_text(b: &BacktestRecord) -> String {
    let pf = b.profit_factor.map_or_else(|| "∞".to_owned(), |pf| format!("{pf:.1}"));
    format!(
        "backtest: {} trades, win {:.0}%, PF {pf}, Sharpe {:.1}, return {:+.0}%",
        b.trades,
        b.win_rate * 100.0,
        b.sharpe,
        b.total_return * 100.0
    )
}

/// `(fast=10,slow=20)`, or nothing for no parameters.
fn params_text(params: &Value) -> String {
    let Some(map) = params.as_object().filter(|m| !m.is_empty()) else { return String::new() };
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            Value::Number(n) => format!("{k}={}", n.as_f64().map_or_else(|| n.to_string(), number_text)),
            other => format!("{k}={other}"),
        })
        .collect();
    format!("({})", items.join(","))
}

/// A price: two decimals from 1 up, four significant digits below.
#[must_use]
pub fn price_text(price: f64) -> String {
    if price.abs() >= 1.0 || price == 0.0 { format!("{price:.2}") } else { significant(price, 4) }
}

/// An indicator value: four significant digits, no trailing zeros.
fn number_text(x: f64) -> String {
    significant(x, 4)
}

fn significant(x: f64, digits: i32) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".into();
    }
    // `floor(log10)` of a finite non-zero f64 lies within -324..=308.
    #[allow(clippy::cast_possible_truncation, reason = "bounded by the f64 exponent range")]
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = usize::try_from(digits - 1 - magnitude).unwrap_or(0);
    let text = format!("{x:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

/// Length as Telegram counts it.
fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `text` cut to at most `max` UTF-16 units, ending with `…` when cut.
#[must_use]
pub fn truncate(text: &str, max: usize) -> String {
    if utf16_len(text) <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + c.len_utf16() > max.saturating_sub(1) {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use quant::Timeframe;
    use serde_json::json;

    use super::*;
    use crate::storage::telegram::OutboxKind;

    fn event() -> SignalEvent {
        SignalEvent {
            id: 9,
            symbol: "AAPL".into(),
            timeframe: Timeframe::D1,
            strategy: "sma_cross".into(),
            params: json!({"fast": 10, "slow": 20}),
            params_hash: "abc".into(),
            action: Action::Buy,
            bar_ts: 1_700_000_000,
            price: 187.2,
            evidence: BTreeMap::from([("fast".into(), 186.93), ("slow".into(), 186.11)]),
            backtest: Some(BacktestRecord {
                trades: 42,
                win_rate: 0.55,
                profit_factor: Some(1.82),
                sharpe: 1.07,
                total_return: 0.231,
                from_ts: 0,
                to_ts: 0,
            }),
            created_at: 0,
        }
    }

    #[test]
    fn an_alert_is_one_compact_line_with_its_evidence() {
        assert_eq!(
            alert_text(&event()),
            "🟢 BUY AAPL 1d · sma_cross(fast=10,slow=20) @ 187.20 · fast 186.9 / slow 186.1 · \
             backtest: 42 trades, win 55%, PF 1.8, Sharpe 1.1, return +23%"
        );
        let bare = SignalEvent {
            action: Action::Sell,
            params: json!({}),
            evidence: BTreeMap::new(),
            backtest: None,
            price: 0.012_346,
            ..event()
        };
        assert_eq!(alert_text(&bare), "🔴 SELL AAPL 1d · sma_cross @ 0.01235 · no backtest yet");
        assert_eq!(digest_line(&event()), "🟢 AAPL 1d buy sma_cross @ 187.20");
    }

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(number_text(186.93), "186.9");
        assert_eq!(number_text(28.0), "28");
        assert_eq!(number_text(-0.000_123_46), "-0.0001235");
        assert_eq!(number_text(1_234_567.0), "1234567");
        assert_eq!(price_text(1_234.5), "1234.50");
    }

    fn row(id: i64, line: &str) -> OutboxRow {
        OutboxRow {
            id,
            chat_id: 1,
            kind: OutboxKind::Alert,
            signal_id: Some(id),
            update_id: None,
            text: format!("full {line}"),
            digest_line: Some(line.to_owned()),
            created_at: 0,
            done_at: None,
            outcome: None,
        }
    }

    #[test]
    fn digests_fit_the_limit() {
        assert_eq!(digest(&[row(1, "a")]), "full a");
        assert_eq!(digest(&[row(1, "a"), row(2, "b")]), "2 signals:\n• a\n• b");
        let long = "🟢 X".repeat(100);
        let rows: Vec<OutboxRow> = (0..100).map(|i| row(i, &long)).collect();
        let text = digest(&rows);
        assert!(utf16_len(&text) <= MAX_MESSAGE_LEN, "{}", utf16_len(&text));
        assert!(text.starts_with("100 signals:"));
        assert!(text.contains("more (/signals"), "{text}");
        assert_eq!(utf16_len(&truncate(&"é".repeat(5_000), MAX_MESSAGE_LEN)), MAX_MESSAGE_LEN);
    }
}
