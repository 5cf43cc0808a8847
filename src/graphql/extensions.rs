//! Schema extensions: a code on every error (the request limits are in `limits.rs`).

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
