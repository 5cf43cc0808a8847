//! The rules of the portal. Knows the database (through `crate::db`) but nothing of GraphQL or
//! HTTP: resolvers and CLI commands call in here.

pub mod countries;
pub mod email;
pub mod enums;
pub mod error;
pub mod password_policy;
pub mod principal;

pub use email::Email;
pub use enums::*;
pub use error::{DomainError, DomainResult, FieldError};
