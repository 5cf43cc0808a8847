//! Schema extensions: the depth limit, and a code on every error.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Response, ServerError, ServerResult, Variables};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::error::ErrorCode;

/// Refuses documents nested deeper than `max` fields. Unlike async-graphql's own
/// `limit_depth`, introspection (`__schema`, `__type`) is not counted: GraphiQL's introspection
/// query is 13 levels deep by construction and must keep working.
pub struct DepthLimit {
    pub max: usize,
}

impl ExtensionFactory for DepthLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DepthLimitExtension { max: self.max })
    }
}

struct DepthLimitExtension {
    max: usize,
}

#[async_trait::async_trait]
impl Extension for DepthLimitExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let depth = document
            .operations
            .iter()
            .map(|(_, op)| selection_depth(&document, &op.node.selection_set.node, &mut HashSet::new()))
            .max()
            .unwrap_or(0);
        if depth > self.max {
            let mut error = ServerError::new(
                format!("Query is nested too deeply: {depth} levels, at most {} allowed", self.max),
                None,
            );
            error.extensions.get_or_insert_with(Default::default).set("code", ErrorCode::ValidationFailed.as_str());
            return Err(error);
        }
        Ok(document)
    }
}

/// Depth of a selection set, following fragment spreads (`visiting` breaks fragment cycles,
/// which validation rejects afterwards anyway).
fn selection_depth<'a>(doc: &'a ExecutableDocument, set: &'a SelectionSet, visiting: &mut HashSet<&'a str>) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) if field.node.name.node.starts_with("__") => 0,
            Selection::Field(field) => 1 + selection_depth(doc, &field.node.selection_set.node, visiting),
            Selection::InlineFragment(fragment) => selection_depth(doc, &fragment.node.selection_set.node, visiting),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match doc.fragments.get(name) {
                    Some(fragment) if visiting.insert(name) => {
                        let depth = selection_depth(doc, &fragment.node.selection_set.node, visiting);
                        visiting.remove(name);
                        depth
                    }
                    _ => 0,
                }
            }
        })
        .max()
        .unwrap_or(0)
}

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
