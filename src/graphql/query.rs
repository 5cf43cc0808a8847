use async_graphql::{Context, Object, Result};
use sea_orm::{DatabaseConnection, EntityTrait};

use super::RequestContext;
use super::types::{Country, PasswordPolicy, User};
use crate::db::users;
use crate::domain::{DomainError, countries, password_policy};

pub struct Query;

#[Object]
impl Query {
    /// The signed-in user; null without a session token.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(principal) = &ctx.data_unchecked::<RequestContext>().principal else {
            return Ok(None);
        };
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let user = users::Entity::find_by_id(principal.user_id)
            .one(db)
            .await
            .map_err(DomainError::from)?;
        Ok(user.map(User))
    }

    /// Every ISO 3166-1 country, ordered by English name.
    async fn countries(&self) -> Vec<Country> {
        countries::all().into_iter().map(Country).collect()
    }

    /// The rules a password must follow, to show under a password box.
    async fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy(password_policy::POLICY)
    }
}
