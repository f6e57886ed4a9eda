//! The Telegram bot's tables: linked chats and their settings, subscriptions,
//! one-time link codes, the outbox of messages to deliver, and the bot's
//! `getUpdates` offset. The bot itself is `crate::telegram`.
//!
//! The outbox is what makes deliveries durable. Every message (an alert for a
//! chat, a reply to a command) is a row before anything is sent. A flush
//! *claims* a chat's pending rows with a short lease (`claim`, `claimed_until`),
//! renews the lease while it works, sends them, then marks each done, fenced by
//! its claim. A flush that dies stops renewing, its lease expires within
//! seconds, and another flush takes the rows over: rows are sent at least once,
//! and twice only when the process dies between Telegram's answer and the
//! `done` write.
//!
//! The delivery loop finds its work here too ([`due_chats`]), keeps each
//! chat's backlog bounded ([`supersede_alerts`]) and purges delivered rows
//! after a while ([`purge_done`]).
//!
//! One file per table family: `chats` (link codes, linked chats and their
//! settings), `subscriptions`, `outbox` (what is to be sent, claims, the
//! delivery loop's queries) and `updates` (the `getUpdates` offset).

mod chats;
mod outbox;
mod subscriptions;
mod updates;

pub use chats::*;
pub use outbox::*;
pub use subscriptions::*;
pub use updates::*;

/// Rows bound per statement when a list of ids is bound.
const ID_CHUNK: usize = 500;
/// A day in milliseconds.
const DAY_MS: i64 = 86_400_000;
