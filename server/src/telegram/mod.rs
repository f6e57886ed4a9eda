//! The Telegram bot: linked chats subscribe to symbols and get an alert for
//! every signal that passed its quality bar; commands answer questions about
//! the service.
//!
//! Pieces:
//! - [`client`]: a small typed Bot API client (`getMe`, `getUpdates`,
//!   `sendMessage`) over reqwest. teloxide was considered: its transport is
//!   pinned to another reqwest major (a second HTTP/TLS stack in the binary) and
//!   its dispatcher and throttling are in memory, which is exactly the part we
//!   need durable. Three methods are little code.
//! - the poller: long-polls `getUpdates`. The offset lives in the database and
//!   moves in the same transaction that queues the update's reply, so a restart
//!   neither loses a command nor answers one twice (command effects such as
//!   subscribing are idempotent, so replaying an update whose effect landed but
//!   whose offset did not is harmless). A queued reply wakes the delivery loop.
//! - [`alerts`]: the pipeline's sink calls [`alerts::enqueue`] for each signal
//!   and wakes the delivery loop; alert texts and digests.
//! - [`delivery`]: every outgoing message of a linked chat is an outbox row
//!   (`storage::telegram`). One delivery loop per process finds the chats with
//!   due messages and flushes each (at most [`delivery::MAX_IN_FLIGHT`] at
//!   once): its pending replies one by one and its pending alerts as one
//!   message (a digest when there are several), under a short, renewed lease.
//!   No job is queued per message; a chat's backlog is capped.
//! - [`flood`]: in-process flood control shared by all senders: one message
//!   per chat per `per_chat_interval_ms`, at most `global_per_second` in any
//!   second overall, both counted so that they hold at Telegram's end.
//! - [`commands`]: parsing and answering commands.
//!
//! Delivery is at least once. `sendMessage` has no idempotency key, so one
//! duplicate window remains: the process dies after Telegram accepted a message
//! and before its outbox rows are marked sent (a single UPDATE right after the
//! answer), or the answer is lost on the way back. The rows' lease then lapses
//! (within `claim_lease_ms`, 10 s by default) and they are sent again. Nothing
//! is sent twice in any other case: rows are claimed under a lease, a flush
//! sends only while its lease is known to hold, marking rows is fenced by the
//! claim, and flushing a chat again finds nothing left to send.
//!
//! Linking: only linked chats get answers and alerts. `finstage telegram link`
//! (see [`create_link_code`]) prints a one-time code valid for 15 minutes; the
//! user sends `/start CODE` to the bot. Chats listed in
//! `telegram.allowed_chats` are linked on their first message. Other chats get
//! a short hint at most every [`HINT_INTERVAL`].
//!
//! The token never leaves [`client::BotApi`]: [`BotToken`] prints `***`, and API
//! errors are stripped of the request URL before they are logged or stored.

pub mod alerts;
pub mod client;
pub mod commands;
pub mod delivery;
pub mod flood;
mod poller;
mod wake;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::client::{ApiError, BotApi};
use self::flood::{ChatLocks, FloodControl};
use self::wake::Wake;
use crate::bus::Bus;
use crate::cache::MarketCache;
pub use crate::config::telegram::{BotToken, TelegramConfig};
use crate::storage::Db;
pub use crate::storage::telegram::{
    LinkedChat, QuietHours, Subscription, create_link_code, get_chat, link_chat, list_chats, set_muted, set_quiet,
    subscribe, subscriptions, unlink, unsubscribe,
};

/// Least time between two hints to one unlinked chat.
pub const HINT_INTERVAL: Duration = Duration::from_secs(30);

/// Why the bot cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// `telegram.token` is not set.
    #[error("telegram.token is not set")]
    NoToken,
    /// The HTTP client could not be built.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The bot: its API client, flood control and the handles its commands use.
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Telegram {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    api: BotApi,
    flood: FloodControl,
    /// Flushes of one chat take turns.
    turns: ChatLocks,
    /// Wakes the delivery loop.
    wake: Wake,
    config: TelegramConfig,
    bus: Bus,
    cache: MarketCache,
    started: Instant,
    /// When each unlinked chat last got a hint.
    hints: Mutex<HashMap<i64, Instant>>,
    /// The bot's `@username`, once `getMe` answered.
    username: Mutex<Option<String>>,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

impl Telegram {
    /// Builds the bot (nothing runs yet): see [`Telegram::spawn`].
    ///
    /// # Errors
    /// [`TelegramError`] without a token, or when the HTTP client cannot be built.
    pub fn new(db: Db, config: &TelegramConfig, bus: Bus, cache: MarketCache) -> Result<Self, TelegramError> {
        let token = config.token.clone().ok_or(TelegramError::NoToken)?;
        let api = BotApi::new(&config.api_url, token)?;
        let flood = FloodControl::new(Duration::from_millis(config.per_chat_interval_ms), config.global_per_second);
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                api,
                flood,
                turns: ChatLocks::default(),
                wake: Wake::default(),
                config: config.clone(),
                bus,
                cache,
                started: Instant::now(),
                hints: Mutex::new(HashMap::new()),
                username: Mutex::new(None),
            }),
        })
    }

    /// Starts the bot: the poller, which long-polls `getUpdates` and answers
    /// commands, and the delivery loop, which sends the outbox. Both run until
    /// `shutdown` is cancelled (messages being sent get a few seconds).
    #[must_use]
    pub fn spawn(&self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(self.clone().run(shutdown))
    }

    /// The poller and the delivery loop together; see [`Telegram::spawn`].
    pub async fn run(self, shutdown: CancellationToken) {
        tokio::join!(poller::run(self.clone(), shutdown.clone()), delivery::run(self, shutdown));
    }

    /// Starts the poller alone (no delivery in this process).
    #[must_use]
    pub fn spawn_poller(&self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(poller::run(self.clone(), shutdown))
    }

    /// Starts the delivery loop alone (no poller in this process).
    #[must_use]
    pub fn spawn_delivery(&self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(delivery::run(self.clone(), shutdown))
    }

    /// A handle that wakes this bot's delivery loop, for whatever queues
    /// messages in this process (the pipeline's alert sink).
    #[must_use]
    pub fn waker(&self) -> Wake {
        self.inner.wake.clone()
    }

    /// The database the bot works on.
    #[must_use]
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    fn username(&self) -> Option<String> {
        self.inner.username.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Whether an unlinked chat may get a hint now (and if so, records it).
    fn hint_allowed(&self, chat_id: i64) -> bool {
        let mut hints = self.inner.hints.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if hints.len() > 10_000 {
            hints.retain(|_, at| now.duration_since(*at) < HINT_INTERVAL);
        }
        match hints.get(&chat_id) {
            Some(at) if now.duration_since(*at) < HINT_INTERVAL => false,
            _ => {
                hints.insert(chat_id, now);
                true
            }
        }
    }
}
