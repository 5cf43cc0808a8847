//! The GraphQL API. Resolvers are thin: parse, authorize, call `domain`, map the result.

pub mod error;
pub mod extensions;
mod query;
pub mod types;

use async_graphql::{EmptyMutation, EmptySubscription, Schema};
use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::domain::principal::Principal;

pub use query::Query;

pub type PortalSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// What a request carries into the resolvers: who is calling (None when anonymous).
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    pub principal: Option<Principal>,
}

pub fn build_schema(db: DatabaseConnection, config: &Config) -> PortalSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(db)
        .extension(extensions::DepthLimit {
            max: config.graphql_max_depth,
        })
        .extension(extensions::DefaultErrorCode)
        .limit_complexity(config.graphql_max_complexity)
        .finish()
}

/// The SDL the server serves (what `portal schema` prints and `schema.graphql` holds).
pub fn sdl() -> String {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .finish()
        .sdl()
}
