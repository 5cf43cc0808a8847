//! The integration tests, one binary: each module starts the real server (`common::TestApp`) on
//! a random port and talks to it as a client would. One binary links once, and one process lets
//! the modules share the helpers without each compiling its own copy.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark that cannot go on should stop loudly

#[macro_use]
mod common;

mod access;
mod api_keys;
mod cli;
mod companies;
mod concurrency;
mod data_model;
mod export;
mod first_contact;
mod http_surface;
mod identity;
mod import;
mod import_live;
mod invitations;
mod notifications;
mod scim;
mod security;
mod sessions;
mod standard_clients;
mod sub_accounts;
mod subscriptions;
mod support;
mod tenancy;
mod unit_of_work;
mod user_fields;
mod user_listing;
mod users;
