//! Bot commands: parsing a message into a [`Command`] and answering it.
//!
//! Every answer is plain text. Effects are idempotent (subscribing twice is one
//! subscription), so an update handled twice after a crash changes nothing more.

use std::fmt::Write as _;
use std::time::Duration;

use quant::strategies::CATALOG;

use super::Telegram;
use super::alerts::price_text;
use crate::quotes;
use crate::storage::signals::{self, SignalFilter};
use crate::storage::telegram::{self as store, ANY_STRATEGY, LinkedChat, QuietHours};
use crate::storage::{StorageError, symbols};
use crate::symbol::Symbol;

/// How many signals `/signals` lists.
const SIGNALS_SHOWN: usize = 5;

/// The answer to the commands of an unlinked chat.
pub const LINK_HINT: &str = "This chat is not linked to Finstage yet. Get a one-time code on the server with \
     \"finstage telegram link\", then send /start CODE here.";
/// The answer to `/start` with a wrong code.
pub const BAD_CODE: &str =
    "That code is unknown, used or expired. Get a new one with \"finstage telegram link\" and send /start CODE.";
/// The answer once a chat is linked.
pub const WELCOME: &str = "Linked: this chat now talks to Finstage. /subscribe AAPL to get AAPL's signals; \
     /help lists every command.";

const HELP: &str = "Finstage commands:
/subscribe SYMBOL [STRATEGY] - alerts for a symbol's signals (of one strategy, or all)
/unsubscribe SYMBOL [STRATEGY] - stop them (/unsubscribe all: every one)
/list - this chat's subscriptions and settings
/signals [SYMBOL] - the latest signals
/quote SYMBOL - the latest price
/status - how the service is doing
/mute, /unmute - pause or resume alerts
/quiet HH:MM-HH:MM - quiet hours (UTC): alerts wait until they end; /quiet off
/help - this list";

/// A parsed command: `/name@bot arg arg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// The name, lower-case, without the slash.
    pub name: String,
    /// The bot named after `@`, in groups.
    pub addressee: Option<&'a str>,
    /// The words after the name.
    pub args: Vec<&'a str>,
}

impl Command<'_> {
    /// Whether the command is for the bot named `username` (commands without
    /// `@bot` are for every bot; until the name is known, all are ours).
    #[must_use]
    pub fn is_for(&self, username: Option<&str>) -> bool {
        match (self.addressee, username) {
            (Some(addressee), Some(name)) => addressee.eq_ignore_ascii_case(name),
            _ => true,
        }
    }
}

/// Parses `text` as a command; `None` when it is not one.
#[must_use]
pub fn parse(text: &str) -> Option<Command<'_>> {
    let rest = text.trim().strip_prefix('/')?;
    if rest.starts_with(char::is_whitespace) {
        return None;
    }
    let mut words = rest.split_whitespace();
    let head = words.next()?;
    let (name, addressee) = match head.split_once('@') {
        Some((name, bot)) => (name, Some(bot)),
        None => (head, None),
    };
    if name.is_empty() || name.len() > 32 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some(Command { name: name.to_ascii_lowercase(), addressee, args: words.collect() })
}

/// Answers a command of a linked chat, applying its effect first.
///
/// # Errors
/// [`StorageError`] on a database failure (the update is then handled again later).
pub async fn execute(bot: &Telegram, chat: &LinkedChat, command: &Command<'_>) -> Result<String, StorageError> {
    let args = command.args.as_slice();
    match command.name.as_str() {
        "start" => Ok("This chat is linked. /help lists the commands.".into()),
        "help" => Ok(HELP.into()),
        "subscribe" => subscribe(bot, chat, args).await,
        "unsubscribe" => unsubscribe(bot, chat, args).await,
        "list" => list(bot, chat).await,
        "signals" => recent_signals(bot, args).await,
        "quote" => quote(bot, args).await,
        "status" => status(bot, chat).await,
        "mute" => {
            store::set_muted(bot.db(), chat.chat_id, true).await?;
            Ok("Alerts muted. /unmute to get them again.".into())
        }
        "unmute" => {
            store::set_muted(bot.db(), chat.chat_id, false).await?;
            Ok("Alerts on.".into())
        }
        "quiet" => quiet(bot, chat, args).await,
        other => Ok(format!("Unknown command /{other}. /help lists the commands.")),
    }
}

/// A stored symbol from a command argument, or the reply explaining why not.
async fn known_symbol(bot: &Telegram, text: &str) -> Result<Result<Symbol, String>, StorageError> {
    let symbol = match Symbol::parse(text) {
        Ok(symbol) => symbol,
        Err(e) => return Ok(Err(format!("{e}."))),
    };
    if symbols::get(bot.db(), symbol.as_str()).await?.is_some() {
        return Ok(Ok(symbol));
    }
    let followed: Vec<String> = symbols::list(bot.db()).await?.into_iter().map(|s| s.symbol).take(40).collect();
    let hint = if followed.is_empty() { "none yet".to_owned() } else { followed.join(", ") };
    Ok(Err(format!("Unknown symbol {symbol}. Followed symbols: {hint}.")))
}

/// A catalog strategy name, or the reply explaining why not.
fn known_strategy(text: &str) -> Result<&'static str, String> {
    let wanted = text.to_ascii_lowercase();
    CATALOG.iter().find(|e| e.name == wanted).map(|e| e.name).ok_or_else(|| {
        let names: Vec<&str> = CATALOG.iter().map(|e| e.name).collect();
        format!("Unknown strategy {text}. Strategies: {}.", names.join(", "))
    })
}

fn strategy_label(strategy: Option<&str>) -> String {
    strategy.map_or_else(|| "every strategy".to_owned(), ToOwned::to_owned)
}

async fn subscribe(bot: &Telegram, chat: &LinkedChat, args: &[&str]) -> Result<String, StorageError> {
    let (symbol, strategy) = match args {
        [symbol] => (*symbol, None),
        [symbol, strategy] => (*symbol, Some(*strategy)),
        _ => return Ok("Usage: /subscribe SYMBOL [STRATEGY], e.g. /subscribe AAPL sma_cross".into()),
    };
    let symbol = match known_symbol(bot, symbol).await? {
        Ok(symbol) => symbol,
        Err(reply) => return Ok(reply),
    };
    let strategy = match strategy.map(known_strategy).transpose() {
        Ok(strategy) => strategy,
        Err(reply) => return Ok(reply),
    };
    let new = store::subscribe(bot.db(), chat.chat_id, symbol.as_str(), strategy, crate::jobs::now_ms()).await?;
    let what = format!("{symbol} ({})", strategy_label(strategy));
    let mut reply =
        if new { format!("Subscribed to {what} signals.") } else { format!("Already subscribed to {what} signals.") };
    if chat.muted {
        reply.push_str(" Alerts are muted here: /unmute to get them.");
    }
    Ok(reply)
}

async fn unsubscribe(bot: &Telegram, chat: &LinkedChat, args: &[&str]) -> Result<String, StorageError> {
    let (symbol, strategy) = match args {
        [all] if all.eq_ignore_ascii_case("all") => {
            let n = store::unsubscribe(bot.db(), chat.chat_id, None, None).await?;
            return Ok(format!("Removed {n} subscription{}.", plural(n)));
        }
        [symbol] => (*symbol, None),
        [symbol, strategy] => (*symbol, Some(*strategy)),
        _ => return Ok("Usage: /unsubscribe SYMBOL [STRATEGY], or /unsubscribe all".into()),
    };
    let symbol = match Symbol::parse(symbol) {
        Ok(symbol) => symbol,
        Err(e) => return Ok(format!("{e}.")),
    };
    let strategy = match strategy {
        Some(s) if s == ANY_STRATEGY => Some(ANY_STRATEGY),
        Some(s) => match known_strategy(s) {
            Ok(name) => Some(name),
            Err(reply) => return Ok(reply),
        },
        None => None,
    };
    let n = store::unsubscribe(bot.db(), chat.chat_id, Some(symbol.as_str()), strategy).await?;
    Ok(match (n, strategy) {
        (0, _) => format!("No subscription to {symbol}{} here.", strategy.map(|s| format!(" {s}")).unwrap_or_default()),
        (_, Some(s)) => format!("Unsubscribed from {symbol} ({}).", strategy_label((s != ANY_STRATEGY).then_some(s))),
        (n, None) => format!("Unsubscribed from {symbol} ({n} subscription{}).", plural(n)),
    })
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

async fn list(bot: &Telegram, chat: &LinkedChat) -> Result<String, StorageError> {
    let subs = store::subscriptions(bot.db(), chat.chat_id).await?;
    let mut reply = if subs.is_empty() {
        "No subscriptions yet: /subscribe SYMBOL [STRATEGY].".to_owned()
    } else {
        let mut text = format!("Subscriptions ({}):", subs.len());
        for s in &subs {
            let _ = write!(text, "\n• {} ({})", s.symbol, strategy_label(s.strategy.as_deref()));
        }
        text
    };
    let _ = write!(reply, "\n{}", settings_line(chat));
    Ok(reply)
}

fn settings_line(chat: &LinkedChat) -> String {
    let alerts = if chat.muted { "muted" } else { "on" };
    let quiet = chat.quiet.map_or_else(|| "none".to_owned(), |q| q.to_string());
    format!("Alerts: {alerts} · quiet hours: {quiet}")
}

async fn recent_signals(bot: &Telegram, args: &[&str]) -> Result<String, StorageError> {
    let symbol = match args {
        [] => None,
        [symbol] => match known_symbol(bot, symbol).await? {
            Ok(symbol) => Some(symbol),
            Err(reply) => return Ok(reply),
        },
        _ => return Ok("Usage: /signals [SYMBOL]".into()),
    };
    let filter =
        SignalFilter { symbol: symbol.as_ref().map(Symbol::as_str), passed_only: true, ..SignalFilter::default() };
    let found = signals::list(bot.db(), &filter, SIGNALS_SHOWN).await?;
    if found.is_empty() {
        return Ok(match symbol {
            Some(symbol) => format!("No signals for {symbol} yet."),
            None => "No signals yet.".into(),
        });
    }
    let mut reply = match &symbol {
        Some(symbol) => format!("Latest signals for {symbol}:"),
        None => "Latest signals:".to_owned(),
    };
    for s in &found {
        let _ = write!(reply, "\n• {} · {}", super::alerts::digest_line(&s.event), when(s.event.created_at));
    }
    Ok(reply)
}

async fn quote(bot: &Telegram, args: &[&str]) -> Result<String, StorageError> {
    let [symbol] = args else { return Ok("Usage: /quote SYMBOL".into()) };
    let symbol = match known_symbol(bot, symbol).await? {
        Ok(symbol) => symbol,
        Err(reply) => return Ok(reply),
    };
    let Some(row) = symbols::get(bot.db(), symbol.as_str()).await? else {
        return Ok(format!("Unknown symbol {symbol}."));
    };
    let inner = &bot.inner;
    let Some(q) = quotes::latest(&inner.db, &inner.bus, &inner.cache, row).await? else {
        return Ok(format!("No price for {symbol} yet."));
    };
    let mut reply = q.symbol.clone();
    if let Some(name) = &q.name {
        let _ = write!(reply, " ({name})");
    }
    let _ = write!(reply, " {}", price_text(q.last));
    if let Some((diff, pct)) = app::model::change(q.last, q.prev_close) {
        let _ = write!(reply, " {diff:+.2} ({pct:+.2}%)");
    }
    let _ = write!(reply, " · {}", when(q.ts.saturating_mul(1_000)));
    if q.simulated {
        reply.push_str(" · simulated");
    }
    Ok(reply)
}

async fn status(bot: &Telegram, chat: &LinkedChat) -> Result<String, StorageError> {
    let db = bot.db();
    let symbols = symbols::list(db).await?.len();
    let last = signals::list(db, &SignalFilter::default(), 1).await?;
    let last = last.first().map_or_else(
        || "none yet".to_owned(),
        |s| format!("{} ({})", super::alerts::digest_line(&s.event), when(s.event.created_at)),
    );
    let chats = store::count_chats(db).await?;
    let pending = store::pending_count(db, None).await?;
    let subs = store::subscriptions(db, chat.chat_id).await?.len();
    Ok(format!(
        "Finstage is up; the bot has run for {}.\nSymbols followed: {symbols}\nLast signal: {last}\n\
         Linked chats: {chats} · messages waiting: {pending}\nThis chat: {subs} subscription{} · {}",
        uptime(bot.inner.started.elapsed()),
        if subs == 1 { "" } else { "s" },
        settings_line(chat)
    ))
}

async fn quiet(bot: &Telegram, chat: &LinkedChat, args: &[&str]) -> Result<String, StorageError> {
    match args {
        [] => Ok(match chat.quiet {
            Some(q) => format!("Quiet hours: {q}. /quiet off to end them."),
            None => "No quiet hours. Set them with /quiet 22:00-07:00 (UTC).".into(),
        }),
        [off] if off.eq_ignore_ascii_case("off") => {
            store::set_quiet(bot.db(), chat.chat_id, None).await?;
            Ok("Quiet hours off: alerts come at once.".into())
        }
        [window] => match QuietHours::parse(window) {
            Ok(q) => {
                store::set_quiet(bot.db(), chat.chat_id, Some(q)).await?;
                Ok(format!("Quiet hours set: {q}. Alerts in that window wait until it ends."))
            }
            Err(e) => Ok(format!("{e}.")),
        },
        _ => Ok("Usage: /quiet HH:MM-HH:MM (UTC), or /quiet off".into()),
    }
}

/// `2024-05-01 14:30 UTC` for Unix ms.
fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| "unknown time".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// `3d 4h`, `2h 15m`, `5m 3s`.
fn uptime(elapsed: Duration) -> String {
    let s = elapsed.as_secs();
    let (d, h, m) = (s / 86_400, s / 3_600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m {}s", s % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_and_without_a_bot_name() {
        let c = parse("  /Subscribe@FinBot aapl  sma_cross ").unwrap();
        assert_eq!(
            (c.name.as_str(), c.addressee, c.args.as_slice()),
            ("subscribe", Some("FinBot"), &["aapl", "sma_cross"][..])
        );
        assert!(c.is_for(Some("finbot")) && !c.is_for(Some("otherbot")) && c.is_for(None));
        assert_eq!(parse("/help").unwrap().args.len(), 0);
        for not_a_command in ["hello", "/", "/ x", "/a-b", ""] {
            assert!(parse(not_a_command).is_none(), "{not_a_command}");
        }
    }

    #[test]
    fn strategies_and_durations() {
        assert_eq!(known_strategy("SMA_CROSS").ok(), CATALOG.iter().find(|e| e.name == "sma_cross").map(|e| e.name));
        assert!(known_strategy("nope").unwrap_err().contains("Unknown strategy nope"));
        assert_eq!(uptime(Duration::from_secs(42)), "42s");
        assert_eq!(uptime(Duration::from_secs(3 * 3_600 + 12 * 60)), "3h 12m");
        assert_eq!(uptime(Duration::from_secs(2 * 86_400 + 3_600)), "2d 1h");
    }
}
