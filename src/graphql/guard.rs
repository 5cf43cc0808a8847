//! The one way a resolver learns who is calling and whether they may: `authorize(ctx)`.
//! The rules themselves live in `domain::principal::Principal::authorize`.

use async_graphql::Context;

use super::RequestContext;
use super::access::{Requirement, requirement};
use crate::domain::principal::Principal;
use crate::domain::{DomainError, Services};

/// The caller, if they may run the operation being resolved: its requirement is looked up in
/// `access::requirement` by the field's name, and judged by `Principal::authorize`.
pub fn authorize<'a>(ctx: &Context<'a>) -> Result<&'a Principal, DomainError> {
    let operation = ctx.field().name();
    let access = match requirement(operation) {
        Some(Requirement::Signed(access)) => access,
        Some(Requirement::Public) => {
            return Err(DomainError::internal(anyhow::anyhow!("{operation} is public but asked for the caller")));
        }
        None => return Err(DomainError::internal(anyhow::anyhow!("{operation} declares no requirement in access.rs"))),
    };
    let principal = caller(ctx)?;
    principal.authorize(access)?;
    Ok(principal)
}

/// The signed-in caller, for a nested field the field guard has already judged (`access.rs`).
pub fn caller<'a>(ctx: &Context<'a>) -> Result<&'a Principal, DomainError> {
    ctx.data_unchecked::<RequestContext>()
        .principal
        .as_ref()
        .ok_or_else(|| DomainError::Unauthenticated("Sign in first: send `Authorization: Bearer <token>`".into()))
}

pub fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

pub fn request<'a>(ctx: &Context<'a>) -> &'a RequestContext {
    ctx.data_unchecked::<RequestContext>()
}
