//! The one way a resolver learns who is calling and whether they may: `authorize(ctx, access)`.
//! The rules themselves live in `domain::principal::Principal::authorize`.

use async_graphql::Context;

use super::RequestContext;
use crate::domain::principal::{Access, Principal};
use crate::domain::{DomainError, Services};

pub fn authorize<'a>(ctx: &Context<'a>, access: Access) -> Result<&'a Principal, DomainError> {
    let principal =
        ctx.data_unchecked::<RequestContext>().principal.as_ref().ok_or_else(|| {
            DomainError::Unauthenticated("Sign in first: send `Authorization: Bearer <token>`".into())
        })?;
    principal.authorize(access)?;
    Ok(principal)
}

pub fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

pub fn request<'a>(ctx: &Context<'a>) -> &'a RequestContext {
    ctx.data_unchecked::<RequestContext>()
}
