//! What a serving process keeps about accounts between requests: whether
//! the first admin exists, the auth epoch that live connections watch, and
//! the login throttle.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Accounts;
use crate::config::auth::AuthConfig;
use crate::storage::accounts as store;

/// How often the auth epoch is read from the database (so that a change made
/// by another process, the command line say, reaches this one's sockets).
pub const EPOCH_POLL: Duration = Duration::from_secs(1);

/// Accounts as a serving process holds them.
#[derive(Debug, Clone)]
pub struct Live {
    /// The service.
    pub accounts: Accounts,
    /// The settings.
    pub config: Arc<AuthConfig>,
    set_up: Arc<AtomicBool>,
    epoch: Arc<watch::Sender<i64>>,
    /// Failed logins.
    pub throttle: Arc<Throttle>,
    /// Requests per API token (a keyed GCRA limiter: `auth.token_requests_per_minute`).
    pub token_rate: Arc<governor::DefaultKeyedRateLimiter<i64>>,
}

impl Live {
    /// The live state over `accounts`.
    #[must_use]
    pub fn new(accounts: Accounts, config: AuthConfig) -> Self {
        let throttle = Throttle::new(&config);
        let per_minute =
            std::num::NonZeroU32::new(config.token_requests_per_minute).unwrap_or(std::num::NonZeroU32::MIN);
        let token_rate = governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute));
        Self {
            token_rate: Arc::new(token_rate),
            accounts,
            config: Arc::new(config),
            set_up: Arc::default(),
            epoch: Arc::new(watch::Sender::new(0)),
            throttle: Arc::new(throttle),
        }
    }

    /// Counts a request of the token `id`: how long it must wait when it is
    /// over its rate.
    #[must_use]
    pub fn token_wait(&self, id: i64) -> Option<Duration> {
        use governor::clock::Clock as _;
        self.token_rate
            .check_key(&id)
            .err()
            .map(|not_until| not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
    }

    /// Whether a user exists (once true, it stays true: users are never
    /// deleted, only disabled).
    ///
    /// # Errors
    /// A database failure.
    pub async fn is_set_up(&self) -> Result<bool, crate::storage::StorageError> {
        if self.set_up.load(Ordering::Acquire) {
            return Ok(true);
        }
        let set_up = !self.accounts.needs_setup().await?;
        self.set_up.store(set_up, Ordering::Release);
        Ok(set_up)
    }

    /// A receiver of the auth epoch: it changes whenever a credential ended.
    #[must_use]
    pub fn epoch(&self) -> watch::Receiver<i64> {
        self.epoch.subscribe()
    }

    /// Reads the epoch now and tells the watchers if it moved (after a
    /// change this process made, so its sockets hear at once).
    pub async fn poke(&self) {
        match store::auth_epoch(self.accounts.db()).await {
            Ok(epoch) => {
                self.epoch.send_if_modified(|seen| std::mem::replace(seen, epoch) != epoch);
            }
            Err(e) => tracing::warn!(error = %e, "reading the auth epoch failed"),
        }
    }

    /// Whether `credential` still holds (a live connection's check). A
    /// database that cannot answer ends nothing.
    pub async fn still_valid(&self, credential: &Credential) -> bool {
        let accounts = &self.accounts;
        let valid = match credential {
            Credential::Anonymous => Ok(true),
            Credential::Token(id) => accounts.token_alive(*id).await,
            Credential::Session { user_id, id, hash } => match accounts.user(*user_id).await {
                Ok(Some(user)) if user.active && user.session_hash == *hash => {
                    let now = chrono::Utc::now().timestamp();
                    store::session_alive(accounts.db(), &super::tokens::digest(id), now).await
                }
                Ok(_) => Ok(false),
                Err(e) => Err(e),
            },
        };
        valid.unwrap_or(true)
    }

    /// Reads the epoch every [`EPOCH_POLL`] until `shutdown`, and removes
    /// expired sessions once an hour.
    pub async fn watch_epoch(self, shutdown: CancellationToken) {
        let mut every = tokio::time::interval(EPOCH_POLL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0_u64;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = every.tick() => self.poke().await,
            }
            ticks += 1;
            // Expired sessions are never loaded; their rows go once an hour.
            if ticks % 3_600 == 1 {
                let now = chrono::Utc::now().timestamp();
                if let Err(e) = store::delete_expired_sessions(self.accounts.db(), now).await {
                    tracing::warn!(error = %e, "removing expired sessions failed");
                }
            }
        }
    }
}

/// What a live connection re-checks when credentials change: the session it
/// was opened with, or the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A session: its id and the user's session hash at the time.
    Session {
        /// The user.
        user_id: i64,
        /// The session id.
        id: String,
        /// The user's session hash then.
        hash: Vec<u8>,
    },
    /// A token's row id.
    Token(i64),
    /// Nobody (anonymous viewer).
    Anonymous,
}

/// Failed logins per account and per client address, in a sliding window.
/// In memory: a restart forgets them (and costs an attacker the restart).
#[derive(Debug)]
pub struct Throttle {
    per_account: u32,
    per_address: u32,
    window: Duration,
    failures: std::sync::Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Keys are bounded: past this many, the oldest windows are dropped first.
const MAX_KEYS: usize = 100_000;

impl Throttle {
    fn new(config: &AuthConfig) -> Self {
        Self {
            per_account: config.login_failures_per_account,
            per_address: config.login_failures_per_address,
            window: Duration::from_secs(config.login_window_minutes.saturating_mul(60)),
            failures: std::sync::Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long logins for `account` from `address` must wait, if they must.
    #[must_use]
    pub fn wait(&self, account: &str, address: &str, now: Instant) -> Option<Duration> {
        let mut failures = self.lock();
        let mut wait = None;
        for (key, limit) in [(format!("u:{account}"), self.per_account), (format!("a:{address}"), self.per_address)] {
            let Some(times) = failures.get_mut(&key) else { continue };
            while times.front().is_some_and(|&t| now.duration_since(t) >= self.window) {
                times.pop_front();
            }
            if times.len() >= limit as usize
                && let Some(&oldest) = times.front()
            {
                let until = self.window.saturating_sub(now.duration_since(oldest));
                wait = Some(wait.map_or(until, |w: Duration| w.max(until)));
            }
        }
        wait
    }

    /// Counts a failed login.
    pub fn failed(&self, account: &str, address: &str, now: Instant) {
        let mut failures = self.lock();
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| times.back().is_some_and(|&t| now.duration_since(t) < self.window));
        }
        for key in [format!("u:{account}"), format!("a:{address}")] {
            let times = failures.entry(key).or_default();
            times.push_back(now);
            // Only the last `limit` failures matter.
            while times.len() > self.per_account.max(self.per_address) as usize {
                times.pop_front();
            }
        }
    }

    /// Forgets the account's failures after a successful login.
    pub fn succeeded(&self, account: &str) {
        self.lock().remove(&format!("u:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_wait_after_too_many_failures_per_account_or_address() {
        let config = AuthConfig {
            login_failures_per_account: 3,
            login_failures_per_address: 5,
            login_window_minutes: 10,
            ..AuthConfig::default()
        };
        let throttle = Throttle::new(&config);
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(throttle.wait("ann", "10.0.0.1", t0), None, "attempt {i}");
            throttle.failed("ann", "10.0.0.1", t0 + Duration::from_secs(i));
        }
        // The account waits until its oldest failure leaves the window...
        let now = t0 + Duration::from_secs(60);
        assert_eq!(throttle.wait("ann", "10.0.0.2", now), Some(Duration::from_secs(540)));
        // ... other accounts from the same address do not, yet.
        assert_eq!(throttle.wait("bob", "10.0.0.1", now), None);
        throttle.failed("bob", "10.0.0.1", now);
        throttle.failed("cat", "10.0.0.1", now);
        // Five failures from the address: every account waits there.
        assert!(throttle.wait("dan", "10.0.0.1", now).is_some());
        assert_eq!(throttle.wait("dan", "10.0.0.9", now), None);
        // The window passes.
        assert_eq!(throttle.wait("ann", "10.0.0.2", t0 + Duration::from_secs(601)), None);
        // A success clears the account, not the address.
        throttle.succeeded("ann");
        assert_eq!(throttle.wait("ann", "10.0.0.2", now), None);
    }
}
