//! How the plain HTTP routes (CSV downloads, `POST /imports`) answer a `DomainError`: one
//! status per kind and a fixed or client-made message, never database text or server paths
//! (those go to the log, under the request's span).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::DomainError;

/// A `DomainError` as a plain-text HTTP answer.
pub struct HttpError(pub DomainError);

impl From<DomainError> for HttpError {
    fn from(error: DomainError) -> Self {
        HttpError(error)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, message) = match self.0 {
            DomainError::Unauthenticated(message) => (StatusCode::UNAUTHORIZED, message),
            DomainError::Forbidden(message) => (StatusCode::FORBIDDEN, message),
            DomainError::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found")),
            DomainError::Validation(problems) => {
                // Plain text has no `extensions.fields`: each problem names its field.
                let told = problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>();
                (StatusCode::BAD_REQUEST, told.join("; "))
            }
            DomainError::Conflict { message, .. } => (StatusCode::CONFLICT, message),
            DomainError::RateLimited { retry_after } => {
                let mut response =
                    (StatusCode::TOO_MANY_REQUESTS, format!("too many attempts: retry in {} s", retry_after.as_secs()))
                        .into_response();
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs()));
                return response;
            }
            DomainError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal error; it has been logged".to_owned())
            }
        };
        (status, message).into_response()
    }
}
