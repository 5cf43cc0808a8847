//! The rules of the portal. Knows the database (through `crate::db`) but nothing of GraphQL or
//! HTTP: resolvers and CLI commands call in here.

pub mod accounts;
pub mod api_keys;
pub mod attempts;
pub mod audit;
pub mod batch;
pub mod companies;
pub mod countries;
pub mod deliveries;
pub mod error;
pub mod invitations;
pub mod lifecycle;
pub mod links;
pub mod page;
pub mod password_policy;
pub mod passwords;
pub mod people;
pub mod permissions;
pub mod principal;
pub mod principal_cache;
pub mod rate_limit;
pub mod services;
pub mod subscriptions;
pub mod support;
pub mod tokens;
pub mod user_list;
pub mod users;
pub mod webhooks;
pub mod welcome;
pub mod work;

// The leaf types, under the names the domain has always used.
pub use crate::types::{clock, email, enums, text};
pub use email::Email;
pub use enums::*;
pub use error::{DomainError, DomainResult, FieldError, ForField, OnConstraint, Problems};
pub use services::Services;
pub use work::UnitOfWork;
