//! The error model of the API: every error carries `extensions.code`;
//! validation errors also carry `extensions.fields: [{field, message}]`. Internal errors are
//! logged with their cause and answered with a generic message, never database text.

use async_graphql::ErrorExtensions;

use crate::domain::DomainError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    ValidationFailed,
    Conflict,
    RateLimited,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::ValidationFailed => "VALIDATION_FAILED",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// A GraphQL error with `extensions.code` set.
pub fn coded(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code.as_str()))
}

/// For errors raised outside a resolver (before execution), which have no position in the query.
pub fn request_error(error: DomainError) -> async_graphql::ServerError {
    let error = async_graphql::Error::from(error);
    let mut server = async_graphql::ServerError::new(error.message, None);
    server.extensions = error.extensions;
    server
}

impl From<DomainError> for async_graphql::Error {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Unauthenticated(message) => coded(ErrorCode::Unauthenticated, message),
            DomainError::Forbidden(message) => coded(ErrorCode::Forbidden, message),
            DomainError::NotFound(what) => coded(ErrorCode::NotFound, format!("{what} not found")),
            DomainError::Validation(ref fields) => {
                let fields =
                    async_graphql::Value::from_json(serde_json::json!(fields)).unwrap_or(async_graphql::Value::Null);
                coded(ErrorCode::ValidationFailed, error.to_string())
                    .extend_with(|_, ext| ext.set("fields", fields.clone()))
            }
            DomainError::Conflict { field, message } => coded(ErrorCode::Conflict, message).extend_with(|_, ext| {
                if let Some(field) = &field {
                    ext.set("field", field.as_str());
                }
            }),
            DomainError::RateLimited { retry_after } => {
                let seconds = retry_after.as_secs().max(1);
                coded(ErrorCode::RateLimited, format!("Too many attempts; try again in {seconds} seconds"))
                    .extend_with(|_, ext| ext.set("retryAfterSeconds", seconds))
            }
            DomainError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                coded(ErrorCode::Internal, "Internal error; it has been logged")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FieldError;

    fn extensions(error: async_graphql::Error) -> serde_json::Value {
        let server = error.into_server_error(Default::default());
        serde_json::to_value(server.extensions).unwrap()
    }

    #[test]
    fn validation_errors_list_every_field() {
        let error = DomainError::Validation(vec![
            FieldError::new("email", "is required"),
            FieldError::new("jobTitle", "is required"),
        ]);
        assert_eq!(
            extensions(error.into()),
            serde_json::json!({"code": "VALIDATION_FAILED", "fields": [
                {"field": "email", "message": "is required"},
                {"field": "jobTitle", "message": "is required"}]})
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let cause = anyhow::anyhow!("relation \"users\" does not exist");
        let error: async_graphql::Error = DomainError::internal(cause).into();
        assert_eq!(error.message, "Internal error; it has been logged");
        assert_eq!(extensions(error), serde_json::json!({"code": "INTERNAL"}));
    }

    #[test]
    fn each_variant_has_its_code() {
        let cases = [
            (DomainError::Unauthenticated("x".into()), "UNAUTHENTICATED"),
            (DomainError::Forbidden("x".into()), "FORBIDDEN"),
            (DomainError::NotFound("user"), "NOT_FOUND"),
            (DomainError::Conflict { field: Some("email".into()), message: "taken".into() }, "CONFLICT"),
            (DomainError::RateLimited { retry_after: std::time::Duration::from_secs(90) }, "RATE_LIMITED"),
        ];
        for (error, code) in cases {
            assert_eq!(extensions(error.into())["code"], code);
        }
    }
}
