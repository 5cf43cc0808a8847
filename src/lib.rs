//! Portal: the GraphQL backend of a B2B customer portal. See README.md for the map.

pub mod app;
pub mod config;
pub mod db;
pub mod domain;
pub mod graphiql;
pub mod graphql;
pub mod http;
pub mod import;
pub mod notify;
pub mod pages;
pub mod scim;
pub mod telemetry;
pub mod types;
