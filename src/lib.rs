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

/// mimalloc for every program that links Portal (the server, the tests, the benchmarks): a
/// GraphQL response is thousands of small allocations, and glibc's allocator spent a fifth of
/// the CPU of a dashboard in `malloc` and `free` (`cargo bench --bench users`, docs/internals.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
