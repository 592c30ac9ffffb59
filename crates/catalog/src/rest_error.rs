//! Errors as the REST spec shapes them: `{"error": {"message", "type", "code"}}`, with the
//! exception type names Java, Python and Rust clients map to their own errors.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use iceberg::ErrorKind;
use serde::Serialize;

#[derive(Debug)]
pub struct RestError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl RestError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self { status, kind, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequestException", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "NotAuthorizedException", message)
    }

    pub fn commit_failed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CommitFailedException", message)
    }

    pub fn no_such_table(table: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchTableException",
            format!("Table does not exist: {table}"),
        )
    }

    pub fn no_such_namespace(namespace: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchNamespaceException",
            format!("Namespace does not exist: {namespace}"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", message)
    }
}

impl From<iceberg::Error> for RestError {
    fn from(err: iceberg::Error) -> Self {
        let (status, kind) = match err.kind() {
            ErrorKind::NamespaceNotFound => (StatusCode::NOT_FOUND, "NoSuchNamespaceException"),
            ErrorKind::TableNotFound => (StatusCode::NOT_FOUND, "NoSuchTableException"),
            ErrorKind::NamespaceAlreadyExists | ErrorKind::TableAlreadyExists => {
                (StatusCode::CONFLICT, "AlreadyExistsException")
            }
            ErrorKind::CatalogCommitConflicts => (StatusCode::CONFLICT, "CommitFailedException"),
            ErrorKind::DataInvalid | ErrorKind::PreconditionFailed => {
                (StatusCode::BAD_REQUEST, "BadRequestException")
            }
            ErrorKind::FeatureUnsupported => {
                (StatusCode::NOT_ACCEPTABLE, "UnsupportedOperationException")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
        };
        Self::new(status, kind, err.to_string())
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorModel<'a>,
}

#[derive(Serialize)]
struct ErrorModel<'a> {
    message: &'a str,
    r#type: &'a str,
    code: u16,
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(kind = self.kind, "{}", self.message);
        }
        let body = ErrorBody {
            error: ErrorModel {
                message: &self.message,
                r#type: self.kind,
                code: self.status.as_u16(),
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<crate::Error> for RestError {
    fn from(err: crate::Error) -> Self {
        if err.is_refusal() {
            Self::bad_request(err.to_string())
        } else {
            Self::internal(err.to_string())
        }
    }
}
