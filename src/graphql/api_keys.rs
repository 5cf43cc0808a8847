//! API keys as people manage them: create (the secret shown once), list, revoke, rotate. Made by
//! people only (a key cannot mint keys); administrators see all the company's, others their own.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::guard::{authorize, services};
use super::ids::{cursor, id};
use super::loaders::UserById;
use super::notifications::TotalCount;
use super::paging::{connection, page_request};
use super::types::{Module, User, loader};
use crate::db::api_keys;
use crate::domain::api_keys as rules;
use crate::types::ApiKeyId;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "rules::KeyStatus")]
pub enum ApiKeyStatus {
    Active,
    Expired,
    Revoked,
    /// Its creator is no longer an active user of the company, so it is refused (again usable
    /// if they are reactivated). Revoke it and have someone else create a new one.
    CreatorInactive,
}

pub struct ApiKey(pub api_keys::Model);

#[Object]
impl ApiKey {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The secret's first characters (`pk_live_` and four more), to tell keys apart.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    /// The modules it was given. It acts with those its creator still holds.
    async fn modules(&self) -> Vec<Module> {
        rules::modules(&self.0).into_iter().map(Into::into).collect()
    }
    async fn status(&self, ctx: &Context<'_>) -> Result<ApiKeyStatus> {
        let creator = match self.0.created_by {
            Some(creator) => loader(ctx).load_one(UserById(creator)).await?,
            None => None,
        };
        Ok(rules::status(&self.0, creator.as_ref(), services(ctx).clock.now()).into())
    }
    /// Who made it (null once that user has been removed).
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(creator) = self.0.created_by else { return Ok(None) };
        Ok(loader(ctx).load_one(UserById(creator)).await?.map(User::from))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Null: it never expires.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
    /// The last request made with it, to the minute.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
}

#[derive(SimpleObject)]
pub struct ApiKeyWithSecret {
    /// `pk_live_…`: shown only now, never again. Send it as `Authorization: Bearer <secret>`.
    secret: String,
    api_key: ApiKey,
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// What it is for, e.g. "Okta provisioning" (at most 100 characters).
    name: String,
    /// What it may do: modules you hold yourself; PRICING, PAYMENT and USER_MANAGEMENT only
    /// from an administrator.
    modules: Vec<Module>,
    /// When it stops working; null for never.
    expires_at: Option<DateTime<Utc>>,
}

pub type ApiKeyConnection = Connection<String, ApiKey, TotalCount>;

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The company's API keys (administrators) or your own, newest first; revoked ones only
    /// when asked for.
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        #[graphql(default = false)] include_revoked: bool,
    ) -> Result<ApiKeyConnection> {
        let principal = authorize(ctx)?;
        let request = page_request(first, after, last, before)?;
        let page = rules::list(services(ctx), principal, include_revoked, request).await?;
        Ok(connection(page, |key| (cursor(key.id), ApiKey(key))))
    }
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// A key for an integration; its secret is in this answer only.
    async fn create_api_key(&self, ctx: &Context<'_>, input: CreateApiKeyInput) -> Result<ApiKeyWithSecret> {
        let principal = authorize(ctx)?;
        let input = rules::NewApiKey {
            name: input.name,
            modules: input.modules.into_iter().map(Into::into).collect(),
            expires_at: input.expires_at,
        };
        let (key, secret) = rules::create(services(ctx), principal, input).await?;
        Ok(ApiKeyWithSecret { secret, api_key: ApiKey(key) })
    }

    /// Stops the key at once: its next request is refused.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ApiKeyId) -> Result<ApiKey> {
        let principal = authorize(ctx)?;
        Ok(ApiKey(rules::revoke(services(ctx), principal, id).await?))
    }

    /// A new secret for the key, shown once; the old one stops at once.
    async fn rotate_api_key(&self, ctx: &Context<'_>, id: ApiKeyId) -> Result<ApiKeyWithSecret> {
        let principal = authorize(ctx)?;
        let (key, secret) = rules::rotate(services(ctx), principal, id).await?;
        Ok(ApiKeyWithSecret { secret, api_key: ApiKey(key) })
    }
}
