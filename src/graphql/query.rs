use super::guard::{authorize, request, services};
use super::types::{Country, PasswordLink, PasswordLinkKind, PasswordPolicy, User};
use crate::domain::{countries, links, password_policy, users};
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct BaseQuery;

#[Object]
impl BaseQuery {
    /// The signed-in user; null without a session token.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        if request(ctx).principal.is_none() {
            return Ok(None);
        }
        let principal = authorize(ctx)?;
        Ok(users::viewer(services(ctx), principal).await?.map(User::from))
    }

    /// Every ISO 3166-1 country, ordered by English name.
    async fn countries(&self) -> Vec<Country> {
        countries::all().into_iter().map(Country).collect()
    }

    /// The CSV template for importing users: its header and two example rows.
    async fn user_import_template(&self, ctx: &Context<'_>) -> Result<String> {
        authorize(ctx)?;
        Ok(crate::import::template())
    }

    /// Whether a reset, activation or invitation link can still be used, without using it (the
    /// pages an email opens ask this first, so a dead link is said at once).
    async fn password_link(&self, ctx: &Context<'_>, token: String, kind: PasswordLinkKind) -> Result<PasswordLink> {
        let svc = services(ctx);
        Ok(PasswordLink(links::inspect(&svc.db, &token, kind.into(), svc.clock.now()).await?))
    }

    /// The rules a password must follow, to show under a password box.
    async fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy(password_policy::POLICY)
    }
}
