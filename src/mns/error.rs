//! MNS errors as the SDKs parse them: an HTTP status, a code string (API: user code branches
//! on it) and a message. Handlers return [`MnsError`]; the response layer (`mns::envelope`)
//! renders the `<Error>` body with all four children the SDKs require, the request id and the
//! host id.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::{Code, HasCode};

/// An MNS error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnsError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl MnsError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    pub fn malformed_xml(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            format!("The XML you provided was not well-formed: {detail}."),
        )
    }

    /// `<Element>` is missing or not what the schema allows.
    pub fn schema(element: &str, problem: impl std::fmt::Display) -> Self {
        Self::invalid_argument(format!(
            "The XML you provided did not validate against our published schema, cause by \
             Element {element}: {problem}."
        ))
    }

    pub fn queue_not_exist(queue: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "QueueNotExist",
            format!("The queue name you provided is not exist: {queue}."),
        )
    }

    pub fn message_not_exist() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "MessageNotExist",
            "Message not exist.",
        )
    }

    pub fn receipt_handle_error() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ReceiptHandleError",
            "The receipt handle you provide is not valid.",
        )
    }

    pub fn invalid_request_url(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestURL",
            format!("Http request URL format invalid: {method} {path}."),
        )
    }

    /// The broker could not do it (database unavailable, shutting down, a bug): logged, and
    /// answered without internal details.
    pub fn internal(error: &dyn std::fmt::Display, unavailable: bool) -> Self {
        if unavailable {
            tracing::warn!(error = %error, "MNS request failed: the broker cannot serve it now.");
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is temporarily unavailable; retry later.",
            )
        } else {
            tracing::error!(error = %error, "MNS request failed.");
            Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "Internal error.",
            )
        }
    }

    /// Maps a use-case error whose kind is not specific to one route (those are matched by
    /// the routes themselves): invalid input → InvalidArgument with the field and constraint.
    pub fn from_use_case<E: HasCode + std::fmt::Display>(error: E) -> Self {
        match error.code() {
            Code::InvalidArgument => Self::invalid_argument(error.to_string()),
            Code::NotFound => Self::new(StatusCode::NOT_FOUND, "NotFound", error.to_string()),
            Code::AlreadyExists => Self::new(StatusCode::CONFLICT, "Conflict", error.to_string()),
            Code::FailedPrecondition => {
                Self::new(StatusCode::FORBIDDEN, "AccessDenied", error.to_string())
            }
            Code::Unavailable => Self::internal(&error, true),
            Code::Unimplemented | Code::Internal => Self::internal(&error, false),
        }
    }
}

impl std::fmt::Display for MnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

/// The response carries the error as an extension; the envelope layer writes the body.
impl IntoResponse for MnsError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}
