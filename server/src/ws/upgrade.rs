//! The opening handshake that turns `GET /ws` into a WebSocket (RFC 6455,
//! section 4.2), done here instead of by axum's `WebSocketUpgrade` because
//! the live feed needs the TCP socket itself: publishers write events to it
//! directly (see [`crate::bus::outbox`]), and axum's `WebSocket` keeps its
//! socket to itself.
//!
//! Only HTTP/1.1 upgrades are accepted; that is what browsers use for `ws://`
//! and for `wss://` behind a proxy that terminates TLS.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tungstenite::handshake::derive_accept_key;

/// The one protocol version there is (RFC 6455).
const VERSION: &str = "13";

/// Why an upgrade request was refused; answered as a 4xx with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refusal {
    status: StatusCode,
    reason: &'static str,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.reason).into_response();
        if self.status == StatusCode::UPGRADE_REQUIRED {
            // RFC 6455, 4.4: name the version we speak.
            response.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static(VERSION));
        }
        response
    }
}

/// Checks an upgrade request; `Ok` holds the `101 Switching Protocols`
/// response to send and the connection to come.
pub(super) fn accept(mut request: Request) -> Result<(Response, OnUpgrade), Refusal> {
    let refuse = |status, reason| Err(Refusal { status, reason });
    if request.version() != Version::HTTP_11 {
        return refuse(StatusCode::BAD_REQUEST, "a WebSocket is opened over HTTP/1.1");
    }
    if request.method() != Method::GET {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, "a WebSocket is opened with GET");
    }
    let headers = request.headers();
    if !has_token(headers, header::CONNECTION, "upgrade") || !has_token(headers, header::UPGRADE, "websocket") {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket endpoint: send `Connection: Upgrade` and `Upgrade: websocket`",
        );
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v.as_bytes() != VERSION.as_bytes()) {
        return refuse(StatusCode::UPGRADE_REQUIRED, "only WebSocket version 13 is supported");
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).filter(|key| !key.is_empty()) else {
        return refuse(StatusCode::BAD_REQUEST, "the `Sec-WebSocket-Key` header is missing");
    };
    let accept = derive_accept_key(key.as_bytes());
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return refuse(StatusCode::UPGRADE_REQUIRED, "this connection cannot be upgraded");
    };
    let response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(axum::body::Body::empty());
    match response {
        Ok(response) => Ok((response, on_upgrade)),
        Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "could not build the handshake response"),
    }
}

/// Waits for the upgraded connection; returns its socket and the bytes the
/// client sent after its request that the HTTP server already read.
pub(super) async fn connection(on_upgrade: OnUpgrade) -> anyhow::Result<(TcpStream, Bytes)> {
    let upgraded = on_upgrade.await?;
    // Our listener (`http::listen`) serves plain HTTP/1, so the upgraded
    // connection is the `TokioIo` it was given; `axum::serve` (which some
    // tools use) hands it to hyper-util's protocol-detecting server, which
    // wraps it once more.
    match auto::upgrade::downcast::<TokioIo<TcpStream>>(upgraded) {
        Ok(parts) => Ok((parts.io.into_inner(), parts.read_buf)),
        Err(upgraded) => match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => Ok((parts.io.into_inner(), parts.read_buf)),
            Err(_) => anyhow::bail!("the upgraded connection is not a plain TCP socket"),
        },
    }
}

/// Whether the comma-separated header `name` lists `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]

    use super::*;

    fn request(edit: impl FnOnce(&mut axum::http::request::Builder)) -> Request {
        let mut builder = Request::builder()
            .uri("/ws")
            .header(header::CONNECTION, "keep-alive, Upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==");
        edit(&mut builder);
        builder.body(axum::body::Body::empty()).unwrap()
    }

    fn refusal(request: Request) -> (StatusCode, HeaderMap) {
        let response = accept(request).err().unwrap().into_response();
        (response.status(), response.headers().clone())
    }

    #[test]
    fn bad_upgrade_requests_get_a_4xx_saying_why() {
        let mut post = request(|_| {});
        *post.method_mut() = Method::POST;
        assert_eq!(refusal(post).0, StatusCode::METHOD_NOT_ALLOWED);
        let plain = Request::builder().uri("/ws").body(axum::body::Body::empty()).unwrap();
        assert_eq!(refusal(plain).0, StatusCode::UPGRADE_REQUIRED);
        let mut old = request(|_| {});
        old.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        let (status, headers) = refusal(old);
        assert_eq!(status, StatusCode::UPGRADE_REQUIRED);
        assert_eq!(headers[header::SEC_WEBSOCKET_VERSION], "13", "the version we speak");
        let mut keyless = request(|_| {});
        keyless.headers_mut().remove(header::SEC_WEBSOCKET_KEY);
        assert_eq!(refusal(keyless).0, StatusCode::BAD_REQUEST);
        let mut http10 = request(|_| {});
        *http10.version_mut() = Version::HTTP_10;
        assert_eq!(refusal(http10).0, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_request_without_a_connection_to_upgrade_is_refused() {
        // A request that did not come through hyper has nothing to upgrade.
        assert_eq!(refusal(request(|_| {})).0, StatusCode::UPGRADE_REQUIRED);
    }

    #[test]
    fn tokens_are_matched_whole_and_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.append(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(has_token(&headers, header::CONNECTION, "upgrade"));
        assert!(!has_token(&headers, header::CONNECTION, "grade"));
    }
}
