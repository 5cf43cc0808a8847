//! The GraphQL API. Resolvers are thin: parse, authorize (`guard`), call `domain`, map.
//! Each area has its own file with its part of `Query` and `Mutation`, merged here.

pub mod access;
mod accounts;
mod api_keys;
mod companies;
pub mod error;
pub mod extensions;
mod field_access;
pub mod guard;
pub mod ids;
mod imports;
mod invitations;
pub mod limits;
mod live;
pub mod loaders;
mod notifications;
mod paging;
pub mod prejudged;
mod query;
mod service_subscriptions;
mod support;
mod syntax;
pub mod types;
mod user;
mod users;

use std::net::IpAddr;
use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::config::Config;
use crate::domain::principal::Principal;
use crate::notify::templates::Templates;

#[derive(MergedObject, Default)]
pub struct Query(
    query::BaseQuery,
    companies::CompanyQuery,
    users::UserQuery,
    invitations::InvitationQuery,
    service_subscriptions::SubscriptionQuery,
    support::SupportQuery,
    imports::ImportQuery,
    notifications::NotificationQuery,
    api_keys::ApiKeyQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountMutation,
    companies::CompanyMutation,
    users::UserMutation,
    invitations::InvitationMutation,
    service_subscriptions::SubscriptionMutation,
    support::SupportMutation,
    imports::ImportMutation,
    notifications::NotificationMutation,
    api_keys::ApiKeyMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(live::ImportSubscription);

pub type PortalSchema = Schema<Query, Mutation, Subscription>;

/// What a request carries into the resolvers.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// Who is calling; None when anonymous.
    pub principal: Option<Principal>,
    pub client_address: Option<IpAddr>,
}

/// The schema every field of which is judged as it resolves (`field_access.rs`): websockets,
/// and HTTP requests that select a field the caller may not read.
pub fn build_schema(imports: crate::import::Imports, templates: Arc<Templates>, config: &Config) -> PortalSchema {
    builder(imports, templates, config)
        .extension(extensions::PortalExtensions { limits: limits::QueryLimits::with_depth(config.graphql_max_depth) })
        .finish()
}

/// The same schema without the extension, for HTTP requests whose whole document was judged
/// before they run (`prejudged.rs`).
pub fn build_prejudged(
    imports: crate::import::Imports,
    templates: Arc<Templates>,
    config: &Config,
) -> prejudged::Prejudged {
    prejudged::Prejudged::new(builder(imports, templates, config).finish())
}

fn builder(
    imports: crate::import::Imports,
    templates: Arc<Templates>,
    config: &Config,
) -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .data(imports.services.clone())
        .data(imports)
        .data(templates)
        .limit_complexity(config.graphql_max_complexity)
}

/// The SDL the server serves (what `portal schema` prints and `schema.graphql` holds).
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription::default()).finish().sdl()
}
