use async_graphql::{Context, Object, Result};
use sea_orm::EntityTrait;

use super::guard::{authorize, request, services};
use super::types::{Country, PasswordPolicy, User};
use crate::db::users;
use crate::domain::principal::Access;
use crate::domain::{DomainError, countries, password_policy};

#[derive(Default)]
pub struct BaseQuery;

#[Object]
impl BaseQuery {
    /// The signed-in user; null without a session token.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        if request(ctx).principal.is_none() {
            return Ok(None);
        }
        let principal = authorize(ctx, Access::SignedInEvenWithTemporaryPassword)?;
        let user = users::Entity::find_by_id(principal.user_id)
            .one(&services(ctx).db)
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
