//! The live feed: the `/ws` protocol and the browser's client for it.
//!
//! [`protocol`] is compiled on both sides so server and browser cannot disagree on
//! a message's shape. The client (browser only) keeps one socket per page open,
//! reconnecting with backoff and resubscribing after every reconnect.

pub mod protocol;

#[cfg(feature = "hydrate")]
mod client;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use protocol::{ClientMessage, ServerMessage};

/// Stops a live subscription when dropped or when [`LiveHandle::stop`] is called.
#[derive(Debug, Clone, Default)]
pub struct LiveHandle {
    stopped: Arc<AtomicBool>,
}

impl LiveHandle {
    /// Asks the connection to close; it does so at its next wake-up.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Whether [`LiveHandle::stop`] was called.
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
}

/// Opens the live feed, sends `subscriptions` (again after every reconnect) and
/// hands each server message to `on_message`.
///
/// In the browser this spawns the connection task. During server-side rendering
/// there is no socket to open: the page renders its initial state and goes live
/// once hydrated, so the returned handle is simply never used.
pub fn connect(subscriptions: Vec<ClientMessage>, on_message: impl Fn(ServerMessage) + 'static) -> LiveHandle {
    let handle = LiveHandle::default();
    #[cfg(feature = "hydrate")]
    client::spawn(subscriptions, on_message, handle.clone());
    #[cfg(not(feature = "hydrate"))]
    drop((subscriptions, on_message));
    handle
}
