//! The one error type of the domain layer. The GraphQL layer maps each variant to an
//! `extensions.code` (see `graphql::error`); nothing here knows about GraphQL.

use std::time::Duration;

/// A problem with one input field, reported so a form can show it beside the field.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// A parse of one input field: its error becomes that field's validation error.
pub trait ForField<T> {
    fn for_field(self, field: &str) -> Result<T, DomainError>;
}

impl<T, E: std::fmt::Display> ForField<T> for Result<T, E> {
    fn for_field(self, field: &str) -> Result<T, DomainError> {
        self.map_err(|error| DomainError::invalid(field, error.to_string()))
    }
}

/// Every field's problem at once: each parse that fails is recorded under its field (and a
/// placeholder goes on), then `finish` answers them together or not at all.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    /// The parsed value, or `None` with the problem recorded.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        parsed.map_err(|error| self.0.push(FieldError::new(field, error.to_string()))).ok()
    }

    /// `check` for values with an empty form (text): the empty value stands in for a refused one.
    pub fn field<T: Default, E: std::fmt::Display>(&mut self, field: &str, parsed: Result<T, E>) -> T {
        self.check(field, parsed).unwrap_or_default()
    }

    /// `check` for parses that name their field themselves.
    pub fn record<T>(&mut self, parsed: Result<T, FieldError>) -> Option<T> {
        parsed.map_err(|problem| self.0.push(problem)).ok()
    }

    pub fn push(&mut self, problem: FieldError) {
        self.0.push(problem);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Validation` with every problem recorded, if any was.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() { Ok(()) } else { Err(DomainError::Validation(self.0)) }
    }

    /// `finish`, handing back a value `check` gave (absent only when its problem was recorded).
    pub fn finish_with<T>(self, value: Option<T>) -> Result<T, DomainError> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(DomainError::Validation(self.0)),
        }
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Every failing field at once, never just the first.
    #[error("validation failed: {}", summarize(.0))]
    Validation(Vec<FieldError>),
    #[error("{message}")]
    Conflict { field: Option<String>, message: String },
    #[error("too many attempts: retry in {} s", .retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// Anything the client cannot fix. Logged with its cause; clients get a generic message.
    #[error("internal error: {0:#}")]
    Internal(#[source] anyhow::Error),
}

fn summarize(fields: &[FieldError]) -> String {
    fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        DomainError::Internal(error.into())
    }
}

impl From<crate::notify::NotifyError> for DomainError {
    fn from(error: crate::notify::NotifyError) -> Self {
        match error {
            crate::notify::NotifyError::Database(error) => error.into(),
            other => DomainError::internal(other),
        }
    }
}

impl From<sea_orm::DbErr> for DomainError {
    fn from(error: sea_orm::DbErr) -> Self {
        // A unique index beat a check made earlier in the same request (two requests racing):
        // the client's conflict, not our failure.
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) = error.sql_err() {
            return DomainError::Conflict {
                field: None,
                message: "This already exists (it was created meanwhile)".into(),
            };
        }
        DomainError::Internal(error.into())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<sea_orm::TransactionError<E>> for DomainError
where
    DomainError: From<E>,
{
    fn from(error: sea_orm::TransactionError<E>) -> Self {
        match error {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(inner) => inner.into(),
        }
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

/// For a statement whose only unique index is the one a field is about (a user's address, a
/// project's name within its subscription): the index, not a look-up made first, decides, so two
/// requests racing cannot both pass, and the loser is told which field conflicts.
pub trait OnConstraint<T> {
    fn on_constraint(self, field: &str, message: impl FnOnce() -> String) -> DomainResult<T>;
}

impl<T, E: Into<DomainError>> OnConstraint<T> for Result<T, E> {
    fn on_constraint(self, field: &str, message: impl FnOnce() -> String) -> DomainResult<T> {
        self.map_err(|error| match error.into() {
            DomainError::Conflict { field: None, .. } => {
                DomainError::Conflict { field: Some(field.to_owned()), message: message() }
            }
            other => other,
        })
    }
}
