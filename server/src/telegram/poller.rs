//! The `getUpdates` loop: fetch updates from the stored offset, handle each
//! (link, answer, ignore), and move the offset in the database as each one is
//! done. Replies go to the outbox, and the delivery loop sends them. See the
//! parent module for the durability argument.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Telegram;
use super::client::{ApiError, Update};
use super::commands::{self, BAD_CODE, LINK_HINT, WELCOME};
use crate::jobs::now_ms;
use crate::storage::StorageError;
use crate::storage::telegram::{self as store, LinkOutcome};

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long shutdown waits for hints being sent.
const DRAIN: Duration = Duration::from_secs(5);

/// Doubling waits after failures, reset by a success.
struct Backoff(Duration);

impl Backoff {
    fn next(&mut self, error: Option<&ApiError>) -> Duration {
        let wait = match error {
            Some(e) if e.retry_after().is_some() => e.retry_after().unwrap_or(self.0),
            Some(e) if e.is_unauthorized() => MAX_BACKOFF,
            _ => self.0,
        };
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        wait
    }
}

/// Sleeps `wait`; `false` when shutdown came first.
async fn pause(wait: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(wait) => true,
    }
}

pub(super) async fn run(bot: Telegram, shutdown: CancellationToken) {
    let inner = &bot.inner;
    let mut backoff = Backoff(FIRST_BACKOFF);
    // Learn the bot's name (group commands may name another bot) and check the token.
    loop {
        let me = tokio::select! {
            () = shutdown.cancelled() => return,
            me = inner.api.get_me() => me,
        };
        match me {
            Ok(me) => {
                tracing::info!(bot = me.username.as_deref().unwrap_or("?"), "telegram bot connected");
                *inner.username.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = me.username;
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "telegram getMe failed; retrying");
                if !pause(backoff.next(Some(&e)), &shutdown).await {
                    return;
                }
            }
        }
    }
    backoff = Backoff(FIRST_BACKOFF);
    let mut offset = loop {
        match store::update_offset(&inner.db).await {
            Ok(offset) => break offset,
            Err(e) => {
                tracing::error!(error = %e, "telegram: cannot read the update offset");
                if !pause(backoff.next(None), &shutdown).await {
                    return;
                }
            }
        }
    };
    let mut tasks = JoinSet::new();
    'poll: loop {
        while tasks.try_join_next().is_some() {}
        let polled = tokio::select! {
            () = shutdown.cancelled() => break,
            polled = inner.api.get_updates(offset, inner.config.poll_timeout_secs) => polled,
        };
        let updates = match polled {
            Ok(updates) => updates,
            Err(e) => {
                tracing::warn!(error = %e, "telegram getUpdates failed");
                if pause(backoff.next(Some(&e)), &shutdown).await {
                    continue;
                }
                break;
            }
        };
        backoff = Backoff(FIRST_BACKOFF);
        for update in updates {
            if update.update_id < offset {
                continue;
            }
            let id = update.update_id;
            match bot.handle_update(update, &mut tasks).await {
                Ok(()) => offset = id + 1,
                Err(e) => {
                    // Not confirmed: the same update comes again on the next poll.
                    tracing::error!(error = %e, update = id, "telegram: handling an update failed");
                    if pause(backoff.next(None), &shutdown).await {
                        continue 'poll;
                    }
                    break 'poll;
                }
            }
        }
    }
    if tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await.is_err() {
        tasks.shutdown().await;
    }
    tracing::info!("telegram bot stopped");
}

impl Telegram {
    /// Handles one update and records that it was handled.
    async fn handle_update(&self, update: Update, tasks: &mut JoinSet<()>) -> Result<(), StorageError> {
        let db = &self.inner.db;
        let next = update.update_id + 1;
        let Some(message) = update.message else { return store::set_update_offset(db, next).await };
        let chat = &message.chat;
        let text = message.text.as_deref().unwrap_or("");
        let command = commands::parse(text).filter(|c| c.is_for(self.username().as_deref()));
        if message.from.as_ref().is_some_and(|u| u.is_bot) || (command.is_none() && !chat.is_private()) {
            // Other bots, and chatter in groups, are none of our business.
            return store::set_update_offset(db, next).await;
        }
        let now = now_ms();
        let title = chat.display_name();
        let mut linked = store::get_chat(db, chat.id).await?;
        if linked.is_none() && self.inner.config.allowed_chats.contains(&chat.id) {
            store::link_chat(db, chat.id, title.as_deref(), now).await?;
            tracing::info!(chat = chat.id, "telegram chat linked (allowed_chats)");
            linked = store::get_chat(db, chat.id).await?;
        }
        let reply = match (&linked, &command) {
            (None, Some(c)) if c.name == "start" && !c.args.is_empty() => {
                match store::redeem_code(db, c.args[0], chat.id, title.as_deref(), now).await? {
                    LinkOutcome::Linked | LinkOutcome::AlreadyLinked => {
                        tracing::info!(chat = chat.id, "telegram chat linked with a code");
                        linked = store::get_chat(db, chat.id).await?;
                        Some(WELCOME.to_owned())
                    }
                    LinkOutcome::Invalid => {
                        tracing::info!(chat = chat.id, "telegram: a link code was refused");
                        self.hint(chat.id, BAD_CODE, tasks);
                        None
                    }
                }
            }
            (None, _) => {
                self.hint(chat.id, LINK_HINT, tasks);
                None
            }
            (Some(_), None) => None,
            (Some(linked), Some(c)) => {
                if let Some(title) = &title
                    && linked.title.as_ref() != Some(title)
                {
                    store::set_title(db, chat.id, title).await?;
                }
                Some(commands::execute(self, linked, c).await?)
            }
        };
        match (linked, reply) {
            (Some(_), Some(reply)) => {
                store::record_update(db, chat.id, update.update_id, Some(&reply), next, now).await?;
                // The delivery loop sends it (at once: replies have no digest window).
                self.inner.wake.wake();
                Ok(())
            }
            _ => store::set_update_offset(db, next).await,
        }
    }

    /// Sends a hint to an unlinked chat, at most once per [`super::HINT_INTERVAL`].
    fn hint(&self, chat_id: i64, text: &'static str, tasks: &mut JoinSet<()>) {
        if self.hint_allowed(chat_id) {
            let bot = self.clone();
            tasks.spawn(async move { bot.send_unrecorded(chat_id, text).await });
        }
    }
}
