//! Accepting connections and serving HTTP/1.1 on them, in place of
//! `axum::serve`, for three settings it does not expose:
//!
//! - `TCP_NODELAY` on every accepted socket. Without it a kept-alive
//!   connection's small answers wait for the client's delayed ACK (Nagle's
//!   algorithm), about 40 ms each: every server-function call after a page's
//!   first paid it. The WebSocket feed keeps the same socket, so it has the
//!   option too.
//! - A header read timeout: a client gets [`HttpConfig::read_timeout_secs`]
//!   to send a request's headers, then the connection is closed, so sockets
//!   trickling half a request are not held. (Body reads are timed by the
//!   edge's layers.) Only HTTP/1.1 is spoken: hyper's detection of HTTP/2
//!   reads the first bytes with no timeout at all, browsers never use
//!   cleartext HTTP/2, and `/ws` needs HTTP/1.1 anyway.
//! - The open connection count on `/metrics`.
//!
//! Shutdown: once `shutdown` resolves no connection is accepted; every open
//! connection finishes the request in hand and closes, for at most
//! [`DRAIN`], after which the rest are dropped; upgraded WebSockets watch the
//! server's own token.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::config::HttpConfig;
use crate::metrics::requests::RequestMetrics;

/// How long open connections get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(10);

/// Accepts the next connection and sets the options every accepted socket
/// gets (see the module docs).
///
/// # Errors
/// When accepting fails (out of descriptors, a connection reset early).
pub(crate) async fn accept(listener: &TcpListener) -> std::io::Result<(TcpStream, std::net::SocketAddr)> {
    let (socket, peer) = listener.accept().await?;
    if let Err(e) = socket.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    Ok((socket, peer))
}

/// Serves `router` on every connection `listener` accepts until `shutdown`
/// resolves, then drains open connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &HttpConfig,
    metrics: RequestMetrics,
    shutdown: impl Future<Output = ()>,
) {
    let read_timeout = Duration::from_secs(config.read_timeout_secs);
    let closing = CancellationToken::new();
    let abort = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors or a connection reset before accept:
                // pause briefly instead of spinning, and keep serving.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let guard = metrics.connection_opened();
        // The peer's address, for the auth layers (the client, the throttle, the audit log).
        let service = router.clone().map_request(move |request: axum::http::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            request
        });
        let (closing, abort) = (closing.clone(), abort.clone());
        connections.spawn(async move {
            let _counted = guard;
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(read_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(socket), TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(result),
                () = closing.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        result = connection.as_mut() => log_end(result),
                        // Past the drain: the connection is dropped, and with it the socket.
                        () = abort.cancelled() => {}
                    }
                }
            }
        });
    }
    drop(listener);
    closing.cancel();
    connections.close();
    if tokio::time::timeout(DRAIN, connections.wait()).await.is_err() {
        tracing::warn!(open = connections.len(), "connections still open after the drain; closing them");
        abort.cancel();
        connections.wait().await;
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_sockets_have_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
        let client = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
        // The kernel's default for a fresh socket is Nagle on.
        assert!(!client.nodelay().unwrap_or(true));
        let (accepted, peer) = accept(&listener).await.unwrap_or_else(|e| panic!("accept: {e}"));
        assert!(accepted.nodelay().unwrap_or(false), "the server's side of the connection has Nagle on");
        assert_eq!(Some(peer), client.local_addr().ok(), "the peer is the client");
        drop(client);
    }
}
