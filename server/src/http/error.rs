//! The REST API's one error type and its single mapping to HTTP responses.
//!
//! Every failure becomes `{"error": {"status": 400, "message": "..."}}` with the
//! matching status. Client errors say what was wrong; server errors say only
//! that something failed (the cause goes to the log, never to the client).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::storage::StorageError;

/// A REST API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The named resource does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The request's body is over the limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// The request is well-formed but cannot be carried out on the data
    /// there is (422), e.g. a backtest over a range without bars.
    #[error("{0}")]
    Unprocessable(String),
    /// Too much is running already; try again later (429).
    #[error("{0}")]
    TooManyRequests(String),
    /// The server failed (500); the cause is logged, not sent.
    #[error("internal error")]
    Internal(#[from] StorageError),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::lab::LabError> for ApiError {
    fn from(e: crate::lab::LabError) -> Self {
        use crate::lab::LabError;
        match e {
            LabError::Invalid(m) => Self::BadRequest(m),
            LabError::NotFound(m) => Self::NotFound(m),
            LabError::NoBars(m) => Self::Unprocessable(m),
            LabError::Storage(e) => Self::Internal(e),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::TooLarge("the request body is over the size limit".into())
        } else {
            Self::BadRequest(app::api::excerpt_message(&rejection.body_text()))
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(app::api::excerpt_message(&rejection.body_text()))
    }
}

/// A path segment that is not valid percent-encoded UTF-8, or does not fit the
/// route's parameters.
impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::BadRequest(app::api::excerpt_message(&rejection.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Internal(e) = &self {
            tracing::error!(error = %e, "API request failed");
        }
        let body = ErrorBody { error: ErrorDetail { status: status.as_u16(), message: self.to_string() } };
        (status, Json(body)).into_response()
    }
}

/// An error response.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The details of an error response.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// The HTTP status.
    pub status: u16,
    /// A message for a person.
    pub message: String,
}
