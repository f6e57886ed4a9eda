//! Statuses for the dashboard's server functions that fail before their body
//! runs. Leptos answers every server-function error 500; a function's own
//! errors get the right status from `app::api::ssr::reply`, but a request
//! whose arguments do not decode never reaches it. This layer gives those
//! the status of the error they carry (400 for bad input), so a client's
//! mistake is never reported as the server's.

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt as _;

/// The header Leptos puts on a server function's error answer.
const ERROR_HEADER: &str = "serverfnerror";

/// An error answer is one encoded `ApiError`; anything larger is not one.
const MAX_ERROR_BODY: usize = 64 * 1_024;

/// Middleware: re-reads the status of a server function's 500 from its error.
pub(crate) async fn status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR || !response.headers().contains_key(ERROR_HEADER) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match http_body_util::Limited::new(body, MAX_ERROR_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Response::from_parts(parts, Body::empty()),
    };
    if let Ok(error) = serde_json::from_slice::<app::api::ApiError>(&bytes)
        && let Ok(status) = StatusCode::from_u16(app::api::ssr::status_of(&error))
    {
        parts.status = status;
    }
    Response::from_parts(parts, Body::from(bytes))
}
