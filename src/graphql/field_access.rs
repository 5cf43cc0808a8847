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
        self.check(principal, &info).map_err(|error| {
            let error = async_graphql::Error::from(error);
            let mut server = ServerError::new(error.message, Some(info.field.name.pos));
            server.extensions = error.extensions;
            server.path = info.path_node.to_string_vec().into_iter().map(async_graphql::PathSegment::Field).collect();
            server
        })?;
        // The user a `viewer` or a new session returns is the caller's own account.
        if matches!((info.parent_type, info.name), ("Query", "viewer") | ("Session", "user")) {
            self.own_account_paths
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(info.path_node.to_string());
        }
        next.run(ctx, info).await
    }

    fn check(&self, principal: Option<&Principal>, info: &ResolveInfo<'_>) -> Result<(), DomainError> {
        let undeclared = || {
            DomainError::internal(anyhow::anyhow!(
                "{}.{} declares no requirement in access.rs",
                info.parent_type,
                info.name
            ))
        };
        let access = if info.path_node.parent.is_none() {
            match requirement(info.name).ok_or_else(undeclared)? {
                Requirement::Public => return Ok(()),
                // `viewer` answers null to the anonymous; the others refuse them themselves.
                Requirement::Signed(Access::SignedInEvenWithTemporaryPassword) if principal.is_none() => return Ok(()),
                Requirement::Signed(access) => access,
            }
        } else {
            match field_requirement(info.parent_type, info.name).ok_or_else(undeclared)? {
                FieldRequirement::Open => return Ok(()),
                FieldRequirement::Signed(access) => access,
                FieldRequirement::OwnOr(access) => {
                    // Formatting the path costs more than the rest of the check: only when the
                    // response holds the caller's own account somewhere.
                    let paths = self.own_account_paths.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let own = !paths.is_empty()
                        && info.path_node.parent.is_some_and(|parent| paths.contains(&parent.to_string()));
                    drop(paths);
                    if own {
                        return Ok(());
                    }
                    access
                }
            }
        };
        let principal = principal.ok_or_else(|| {
            DomainError::Unauthenticated("Sign in first: send `Authorization: Bearer <token>`".into())
        })?;
        principal.authorize(access)
    }
}
