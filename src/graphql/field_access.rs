//! The schema-wide guard: before any field resolves, root or nested, its requirement is looked
//! up in `access.rs` and judged against the caller. A resolver cannot forget a check that runs
//! here, and a field nobody declared cannot resolve at all.

use std::sync::Mutex;

use async_graphql::extensions::{ExtensionContext, NextResolve, ResolveInfo};
use async_graphql::{ServerError, ServerResult, Value};

use super::RequestContext;
use super::access::{FieldRequirement, Requirement, field_requirement, requirement};
use crate::domain::DomainError;
use crate::domain::principal::{Access, Principal};

/// One per request (`extensions::PortalExtension` holds it): remembers where in the response
/// the caller's own account appears.
#[derive(Default)]
pub struct FieldGuard {
    own_account_paths: Mutex<Vec<String>>,
}

impl FieldGuard {
    /// Judges the field, then resolves it (`next`) if the caller may see it.
    pub async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // An item of a list was judged with the list (its "parent" is the list's type).
        if info.is_for_introspection || info.name.starts_with("__") || info.parent_type.starts_with('[') {
            return next.run(ctx, info).await;
        }
        let principal = ctx.data_opt::<RequestContext>().and_then(|request| request.principal.as_ref());
        let root = info.path_node.parent.is_none();
        judge(principal, info.parent_type, info.name, root, || self.in_own_account(&info)).map_err(|error| {
            let error = async_graphql::Error::from(error);
            let mut server = ServerError::new(error.message, Some(info.field.name.pos));
            server.extensions = error.extensions;
            server.path = info.path_node.to_string_vec().into_iter().map(async_graphql::PathSegment::Field).collect();
            server
        })?;
        if opens_own_account(info.parent_type, info.name) {
            self.own_account_paths
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(info.path_node.to_string());
        }
        next.run(ctx, info).await
    }

    /// Whether the field's object is the caller's own account, as recorded above. Formatting
    /// the path costs more than the rest of the check: only when the response holds the
    /// caller's own account somewhere.
    fn in_own_account(&self, info: &ResolveInfo<'_>) -> bool {
        let paths = self.own_account_paths.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        !paths.is_empty() && info.path_node.parent.is_some_and(|parent| paths.contains(&parent.to_string()))
    }
}

/// The user a `viewer` or a new session returns is the caller's own account.
pub fn opens_own_account(parent: &str, field: &str) -> bool {
    matches!((parent, field), ("Query", "viewer") | ("Session", "user"))
}

/// May the caller read `field` of `parent` (a root field when `root`)? `own` tells whether the
/// field's object is the caller's own account; asked only for `OwnOr` fields. The one
/// judgement of the field guard here and of the document walk (`prejudged.rs`).
pub fn judge(
    principal: Option<&Principal>,
    parent: &str,
    field: &str,
    root: bool,
    own: impl FnOnce() -> bool,
) -> Result<(), DomainError> {
    let undeclared = || DomainError::internal(anyhow::anyhow!("{parent}.{field} declares no requirement in access.rs"));
    let access = if root {
        match requirement(field).ok_or_else(undeclared)? {
            Requirement::Public => return Ok(()),
            // `viewer` answers null to the anonymous; the others refuse them themselves.
            Requirement::Signed(Access::SignedInEvenWithTemporaryPassword) if principal.is_none() => return Ok(()),
            Requirement::Signed(access) => access,
        }
    } else {
        match field_requirement(parent, field).ok_or_else(undeclared)? {
            FieldRequirement::Open => return Ok(()),
            FieldRequirement::Signed(access) => access,
            FieldRequirement::OwnOr(_) if own() => return Ok(()),
            FieldRequirement::OwnOr(access) => access,
        }
    };
    let principal = principal
        .ok_or_else(|| DomainError::Unauthenticated("Sign in first: send `Authorization: Bearer <token>`".into()))?;
    principal.authorize(access)
}
