//! Schema extensions: a code on every error, and the websocket session re-check (the request
//! limits are in `limits.rs`, the field guard in `field_access.rs`).

use std::sync::Arc;

use async_graphql::Response;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::error::ErrorCode;

/// Errors raised by async-graphql itself (syntax, unknown fields, bad argument types, the
/// complexity limit) have no code; they are all the client's to fix: `VALIDATION_FAILED`.
pub struct DefaultErrorCode;

impl ExtensionFactory for DefaultErrorCode {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DefaultErrorCode)
    }
}

fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", ErrorCode::ValidationFailed.as_str());
        }
    }
    response
}

#[async_trait::async_trait]
impl Extension for DefaultErrorCode {
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
pub struct RecheckWebsocketSessions;

impl ExtensionFactory for RecheckWebsocketSessions {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RecheckWebsocketSessions)
    }
}

#[async_trait::async_trait]
impl Extension for RecheckWebsocketSessions {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: async_graphql::Request,
        next: async_graphql::extensions::NextPrepareRequest<'_>,
    ) -> async_graphql::ServerResult<async_graphql::Request> {
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
        next.run(ctx, request).await
    }
}
