//! The schema's one extension, which runs, for every request: the request limits
//! (`limits.rs`), the websocket session re-check, the field guard on every field
//! (`field_access.rs`), and a code on every error.
//!
//! One extension rather than one per concern: async-graphql calls every extension's hook for
//! every field it resolves (a boxed future each, default or not), so each extension more
//! costs every field of every response.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest, NextResolve, NextSubscribe,
    ResolveInfo,
};
use async_graphql::{Request, Response, ServerResult, Value};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::error::ErrorCode;
use super::field_access::FieldGuard;
use super::limits::QueryLimits;

pub struct PortalExtensions {
    pub limits: QueryLimits,
}

impl ExtensionFactory for PortalExtensions {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PortalExtension { limits: self.limits, guard: FieldGuard::default() })
    }
}

/// One per request.
struct PortalExtension {
    limits: QueryLimits,
    guard: FieldGuard,
}

#[async_trait::async_trait]
impl Extension for PortalExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.limits.check_request(&mut request)?;
        recheck_websocket_session(ctx, &mut request).await?;
        next.run(ctx, request).await
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        with_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(with_codes).boxed()
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        self.guard.resolve(ctx, info, next).await
    }
}

/// Errors raised by async-graphql itself (syntax, unknown fields, bad argument types, the
/// complexity limit) have no code; they are all the client's to fix: `VALIDATION_FAILED`.
pub fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", ErrorCode::ValidationFailed.as_str());
        }
    }
    response
}

/// The session token a websocket connection signed in with (connection data, set at
/// `connection_init`). HTTP requests authenticate each time; a socket lives for hours, so
/// without this a logout, a password change or a deactivation would leave it signed in.
pub struct WebsocketSession {
    pub token: String,
    pub client_address: Option<std::net::IpAddr>,
}

/// Re-authenticates every operation sent over a websocket: a revoked or expired session, or a
/// user no longer active, gets `UNAUTHENTICATED` for the operation; a live one runs with its
/// permissions as they are now.
async fn recheck_websocket_session(ctx: &ExtensionContext<'_>, request: &mut Request) -> ServerResult<()> {
    if let Some(session) = ctx.data_opt::<WebsocketSession>() {
        let services = ctx.data_unchecked::<crate::domain::Services>();
        let principal = crate::domain::principal::authenticate(services, &session.token)
            .await
            .map_err(super::error::request_error)?;
        // Request data is looked up before connection data: this one wins.
        request
            .data
            .insert(super::RequestContext { principal: Some(principal), client_address: session.client_address });
    }
    Ok(())
}
