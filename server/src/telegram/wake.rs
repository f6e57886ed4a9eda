//! The delivery loop's doorbell, in a module of its own so that what rings it
//! (alerts, the poller's replies) and the loop (`delivery`) need not import
//! each other.

use std::sync::Arc;

use tokio::sync::Notify;

/// Wakes the delivery loop: something was queued. Cheap to clone; a wake-up
/// while the loop is busy is kept for its next wait.
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Tells the loop to look for due chats now.
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// Resolves at the next wake-up (or at once for one that came meanwhile).
    pub(super) async fn woken(&self) {
        self.0.notified().await;
    }
}
