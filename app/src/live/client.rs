//! The browser's connection to `/ws`: one task per subscription set, which
//! reconnects with exponential backoff (capped, with jitter) until stopped.

use futures::{SinkExt, StreamExt};
use gloo_net::websocket::{Message, futures::WebSocket};
use gloo_timers::future::TimeoutFuture;
use leptos::task::spawn_local;

use super::LiveHandle;
use super::protocol::{ClientMessage, ServerMessage};

const FIRST_BACKOFF_MS: u32 = 500;
const MAX_BACKOFF_MS: u32 = 15_000;

pub(super) fn spawn(
    subscriptions: Vec<ClientMessage>,
    on_message: impl Fn(ServerMessage) + 'static,
    handle: LiveHandle,
) {
    spawn_local(async move {
        let mut backoff = FIRST_BACKOFF_MS;
        while !handle.is_stopped() {
            match run_once(&subscriptions, &on_message, &handle).await {
                // A connection that got as far as the server's hello was healthy:
                // start the next backoff from the beginning.
                Ok(()) => backoff = FIRST_BACKOFF_MS,
                Err(e) => leptos::logging::debug_warn!("live feed: {e}"),
            }
            if handle.is_stopped() {
                break;
            }
            let jitter = (js_sys::Math::random() * f64::from(backoff) * 0.3) as u32;
            TimeoutFuture::new(backoff + jitter).await;
            backoff = (backoff * 2).min(MAX_BACKOFF_MS);
        }
    });
}

/// One connection's life: open, subscribe, dispatch until closed or stopped.
/// `Ok` means the server greeted us (so the failure, if any, came later).
async fn run_once(
    subscriptions: &[ClientMessage],
    on_message: &impl Fn(ServerMessage),
    handle: &LiveHandle,
) -> Result<(), String> {
    let mut socket = WebSocket::open(&feed_url()?).map_err(|e| e.to_string())?;
    for sub in subscriptions {
        let text = serde_json::to_string(sub).map_err(|e| e.to_string())?;
        socket.send(Message::Text(text)).await.map_err(|e| e.to_string())?;
    }
    let mut greeted = false;
    while let Some(frame) = socket.next().await {
        if handle.is_stopped() {
            break;
        }
        let text = match frame.map_err(|e| e.to_string())? {
            Message::Text(text) => text,
            Message::Bytes(_) => continue,
        };
        match serde_json::from_str::<ServerMessage>(&text) {
            Ok(msg) => {
                greeted |= matches!(msg, ServerMessage::Hello { .. });
                on_message(msg);
            }
            Err(e) => leptos::logging::debug_warn!("live feed: unreadable message: {e}"),
        }
    }
    // Closing an already-closed socket fails harmlessly; nothing to report.
    let _ = socket.close(Some(1000), Some("page left"));
    if greeted { Ok(()) } else { Err("connection closed before hello".into()) }
}

/// `ws://host/ws` or `wss://host/ws`, following the page's own scheme.
fn feed_url() -> Result<String, String> {
    let location = leptos::prelude::window().location();
    let host = location.host().map_err(|_| "no host".to_owned())?;
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    Ok(format!("{scheme}://{host}/ws"))
}
