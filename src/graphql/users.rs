//! Company users and administrators.

use super::paging::{connection, page_request, user_page_request};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::guard::{authorize, services};
use super::ids::{cursor, id, parse_id, user_cursor};
use super::notifications::TotalCount;
use super::types::{Role, User, UserStatus, loader};
use crate::db::audit_events;
use crate::domain::audit;
use crate::domain::lifecycle::{self, Holding};
use crate::domain::people::{self, PersonInput};
use crate::domain::user_list::{self, UserCursor};
use crate::types::SubAccountId;
use crate::types::UserId;

#[derive(InputObject, Default)]
pub struct UserFilter {
    /// Words to find in given name, surname and email (case and accents ignored).
    search: Option<String>,
    /// Default: every status but ANONYMIZED.
    status: Option<UserStatus>,
    role: Option<Role>,
    /// The direct reports of the user with this address.
    manager_email: Option<String>,
    /// Users who hold this module (owners and administrators hold every module).
    module: Option<super::types::Module>,
    /// Users limited to this sub-account.
    sub_account_id: Option<SubAccountId>,
    /// Created at or after this instant.
    created_after: Option<DateTime<Utc>>,
    /// Created strictly before this instant.
    created_before: Option<DateTime<Utc>>,
    /// true: only people who never signed in; false: only people who have.
    never_signed_in: Option<bool>,
}

impl UserFilter {
    /// The domain's filter; a malformed manager address names `filter.managerEmail`.
    pub fn parse(self) -> Result<user_list::UserFilter, crate::domain::DomainError> {
        let manager = self.manager_email.as_deref().map(|email| {
            crate::domain::Email::parse(email)
                .map_err(|error| crate::domain::DomainError::invalid("filter.managerEmail", error.to_string()))
        });
        Ok(user_list::UserFilter {
            search: self.search,
            status: self.status.map(Into::into),
            role: self.role.map(Into::into),
            manager: manager.transpose()?,
            module: self.module.map(Into::into),
            sub_account: self.sub_account_id,
            created_after: self.created_after,
            created_before: self.created_before,
            never_signed_in: self.never_signed_in,
        })
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "user_list::OrderField")]
pub enum UserOrderField {
    /// Surname, then given name (accents and case ignored).
    Surname,
    Email,
    CreatedAt,
    /// People who never signed in count as the earliest.
    LastSignedInAt,
    /// By status, then surname.
    Status,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "user_list::Direction")]
pub enum OrderDirection {
    Asc,
    Desc,
}

/// How `users` is ordered; every ordering pages with cursors (a cursor belongs to its ordering).
#[derive(InputObject)]
pub struct UserOrder {
    field: UserOrderField,
    #[graphql(default_with = "OrderDirection::Asc")]
    direction: OrderDirection,
}

impl From<UserOrder> for user_list::UserOrder {
    fn from(order: UserOrder) -> Self {
        user_list::UserOrder { field: order.field.into(), direction: order.direction.into() }
    }
}

#[derive(InputObject)]
pub struct CreateUserInput {
    given_name: String,
    surname: String,
    email: String,
    job_title: String,
    /// The email of a user of the company.
    manager_email: String,
    /// ISO 3166-1 code (or English name).
    country: Option<String>,
    /// `en` (default), `es`, `es-CO`…
    locale: Option<String>,
    /// Default true; an inactive user gets no welcome email.
    is_active: Option<bool>,
}

/// Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateUserInput {
    given_name: Option<String>,
    surname: Option<String>,
    email: Option<String>,
    job_title: Option<String>,
    manager_email: Option<String>,
    country: Option<String>,
    locale: Option<String>,
}

#[derive(SimpleObject)]
pub struct OwnedResource {
    kind: HoldingKind,
    /// The id of what is held; a module's name for MODULE_PERMISSION.
    id: String,
    name: String,
}

/// What a user can own or hold, and must hand over before deactivation or anonymization.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::lifecycle::HoldingKind")]
pub enum HoldingKind {
    Subscription,
    Project,
    Model,
    SubscriptionMembership,
    ProjectMembership,
    SupportContact,
    ModulePermission,
}

impl From<Holding> for OwnedResource {
    fn from(h: Holding) -> Self {
        OwnedResource { kind: h.held.kind().into(), id: h.held.id(), name: h.name }
    }
}

#[derive(SimpleObject)]
pub struct Anonymization {
    user: User,
    /// The personal fields that were replaced or erased.
    scrubbed_fields: Vec<&'static str>,
}

pub struct AuditEvent(audit_events::Model);

#[Object]
impl AuditEvent {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// Who did it (null for the system, or an API key: see `actorApiKey`).
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(actor) = self.0.actor_id else { return Ok(None) };
        Ok(loader(ctx).load_one(super::loaders::UserById(actor)).await?.map(User::from))
    }
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_id.map(id)
    }
    /// The API key that did it, when an integration acted (then `actor` is null).
    async fn actor_api_key(&self, ctx: &Context<'_>) -> Result<Option<super::api_keys::ApiKey>> {
        let Some(key) = self.0.actor_api_key_id else { return Ok(None) };
        Ok(loader(ctx).load_one(super::loaders::ApiKeyById(key)).await?.map(super::api_keys::ApiKey))
    }
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn target_type(&self) -> &str {
        &self.0.target_type
    }
    async fn target_id(&self) -> Option<ID> {
        self.0.target_id.map(id)
    }
    async fn before(&self) -> Option<Json<serde_json::Value>> {
        self.0.before.clone().map(Json)
    }
    async fn after(&self) -> Option<Json<serde_json::Value>> {
        self.0.after.clone().map(Json)
    }
    /// The `x-request-id` of the request that made the change (the client's, or the one the
    /// server gave it and answered in the same header): the key to the server's logs of it.
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub type UserConnection = Connection<ListingCursor, User, TotalCount>;

/// An edge's place in the users listing, written out (base64url JSON) only when a client asks
/// for it: most pages are read for their nodes, and encoding fifty cursors nobody reads was a
/// fortieth of a `users(first: 50)`.
pub struct ListingCursor(UserCursor);

impl async_graphql::connection::CursorType for ListingCursor {
    type Error = crate::domain::DomainError;

    fn decode_cursor(text: &str) -> Result<Self, crate::domain::DomainError> {
        let cursor = super::ids::parse_user_cursor("cursor", Some(text))?;
        cursor.map(ListingCursor).ok_or_else(|| crate::domain::DomainError::invalid("cursor", "is empty"))
    }

    fn encode_cursor(&self) -> String {
        user_cursor(&self.0)
    }
}

/// A page of users as a connection, each edge's cursor its place in the listing order.
/// A page of users as a connection; `read`: the columns they were read with.
pub fn user_connection(
    page: crate::domain::page::Page<crate::db::users::Model>,
    order: user_list::UserOrder,
    read: crate::db::users::Columns,
) -> UserConnection {
    connection(page, |u| (ListingCursor(UserCursor::of(&u, order)), User::read_with(u, read)))
}
pub type AuditEventConnection = Connection<String, AuditEvent, TotalCount>;

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The company's users, by surname and given name unless `orderBy` says otherwise;
    /// `first`/`after` forwards or `last`/`before` backwards, at most 100 a page (default 20).
    #[allow(clippy::too_many_arguments)] // Relay's four paging arguments, a filter and an order
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<UserFilter>,
        order_by: Option<UserOrder>,
    ) -> Result<UserConnection> {
        let principal = authorize(ctx)?;
        let page = user_page_request(first, after, last, before)?;
        let filter = filter.unwrap_or_default().parse()?;
        let order = order_by.map(Into::into).unwrap_or_default();
        let read = super::user::columns_selected(&ctx.field());
        let found = user_list::list(services(ctx), principal, &filter, order, page, read).await?;
        Ok(user_connection(found, order, read))
    }

    /// Users of the company by id, in the order given (at most 100), null where an id names
    /// nobody in the company: for clients that cache users and refresh a few.
    async fn users_by_ids(&self, ctx: &Context<'_>, ids: Vec<UserId>) -> Result<Vec<Option<User>>> {
        let principal = authorize(ctx)?;
        let found = people::get_many(services(ctx), principal, &ids).await?;
        Ok(found.into_iter().map(|user| user.map(User::from)).collect())
    }

    async fn user(&self, ctx: &Context<'_>, id: UserId) -> Result<Option<User>> {
        let principal = authorize(ctx)?;
        match people::get(&services(ctx).db, principal, id).await {
            Ok(user) => Ok(Some(User::from(user))),
            Err(crate::domain::DomainError::NotFound(_)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// What the user owns or holds, which deactivation or anonymization must transfer.
    async fn deactivation_plan(&self, ctx: &Context<'_>, user_id: UserId) -> Result<Vec<OwnedResource>> {
        let principal = authorize(ctx)?;
        let user = people::get(&services(ctx).db, principal, user_id).await?;
        Ok(lifecycle::plan(&services(ctx).db, user.id).await?.into_iter().map(Into::into).collect())
    }

    /// The company's audit trail, newest first.
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        target_id: Option<ID>,
    ) -> Result<AuditEventConnection> {
        let principal = authorize(ctx)?;
        let request = page_request(first, after, last, before)?;
        // Any kind of row: the one ID argument with no type of its own.
        let target = target_id.map(|t| parse_id::<uuid::Uuid>("targetId", &t)).transpose()?;
        let found = audit::list(services(ctx), principal, target, request).await?;
        Ok(connection(found, |e| (cursor(e.id), AuditEvent(e))))
    }
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Creates a user; an active one gets the welcome email with a 7-day link to set a password.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Result<User> {
        let principal = authorize(ctx)?;
        let input = PersonInput {
            given_name: Some(input.given_name),
            surname: Some(input.surname),
            email: Some(input.email),
            job_title: Some(input.job_title),
            manager_email: Some(input.manager_email),
            country: input.country,
            locale: input.locale,
            is_active: input.is_active,
            external_id: None,
            scim_user_name: None,
        };
        Ok(User::from(people::create(services(ctx), principal, input).await?))
    }

    async fn update_user(&self, ctx: &Context<'_>, id: UserId, input: UpdateUserInput) -> Result<User> {
        let principal = authorize(ctx)?;
        let input = PersonInput {
            given_name: input.given_name,
            surname: input.surname,
            email: input.email,
            job_title: input.job_title,
            manager_email: input.manager_email,
            country: input.country,
            locale: input.locale,
            is_active: None,
            external_id: None,
            scim_user_name: None,
        };
        Ok(User::from(people::update(services(ctx), principal, id, input).await?))
    }

    /// Refused while the user owns or holds anything (see `deactivationPlan`) unless
    /// `transferTo`, an active user of the company with the needed modules, takes it all over.
    async fn deactivate_user(&self, ctx: &Context<'_>, id: UserId, transfer_to: Option<UserId>) -> Result<User> {
        let principal = authorize(ctx)?;
        let heir = transfer_to;
        Ok(User::from(lifecycle::deactivate(services(ctx), principal, id, heir).await?))
    }

    async fn reactivate_user(&self, ctx: &Context<'_>, id: UserId) -> Result<User> {
        let principal = authorize(ctx)?;
        Ok(User::from(lifecycle::reactivate(services(ctx), principal, id).await?))
    }

    /// GDPR erasure: same transfer rules as deactivation; personal data replaced irreversibly.
    async fn anonymize_user(
        &self,
        ctx: &Context<'_>,
        id: UserId,
        transfer_to: Option<UserId>,
    ) -> Result<Anonymization> {
        let principal = authorize(ctx)?;
        let heir = transfer_to;
        let done = lifecycle::anonymize(services(ctx), principal, id, heir).await?;
        Ok(Anonymization { user: User::from(done.user), scrubbed_fields: done.scrubbed })
    }

    /// Only for users who never activated (INVITED).
    async fn remove_user(&self, ctx: &Context<'_>, id: UserId) -> Result<bool> {
        let principal = authorize(ctx)?;
        lifecycle::remove(services(ctx), principal, id).await?;
        Ok(true)
    }

    /// The owner makes an active user an administrator.
    async fn add_company_admin(&self, ctx: &Context<'_>, user_id: UserId) -> Result<User> {
        let principal = authorize(ctx)?;
        Ok(User::from(people::set_admin(services(ctx), principal, user_id, true).await?))
    }

    /// The owner makes an administrator a user again.
    async fn remove_company_admin(&self, ctx: &Context<'_>, user_id: UserId) -> Result<User> {
        let principal = authorize(ctx)?;
        Ok(User::from(people::set_admin(services(ctx), principal, user_id, false).await?))
    }
}
