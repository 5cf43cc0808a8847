//! Relay connections: the paging arguments in (`first`/`after` or `last`/`before`), a
//! connection out, with both neighbours' flags from the domain's page.

use async_graphql::OutputType;
use async_graphql::connection::{Connection, CursorType, Edge};

use super::ids::{parse_cursor, parse_user_cursor};
use super::notifications::TotalCount;
use crate::domain::DomainError;
use crate::domain::page::{Page, PageRequest};
use crate::domain::user_list::UserCursor;

/// The page asked for, over a list ordered by id.
pub fn page_request(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<PageRequest, DomainError> {
    let after = parse_cursor("after", after.as_deref())?;
    let before = parse_cursor("before", before.as_deref())?;
    PageRequest::new(first, after, last, before)
}

/// The page asked for, over the users (ordered by name).
pub fn user_page_request(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<PageRequest<UserCursor>, DomainError> {
    let after = parse_user_cursor("after", after.as_deref())?;
    let before = parse_user_cursor("before", before.as_deref())?;
    PageRequest::new(first, after, last, before)
}

/// The connection of a page: each item's cursor and node from `edge`.
pub fn connection<M, C: CursorType + Send + Sync, N: OutputType>(
    page: Page<M>,
    mut edge: impl FnMut(M) -> (C, N),
) -> Connection<C, N, TotalCount> {
    let mut connection =
        Connection::with_additional_fields(page.has_previous_page, page.has_next_page, TotalCount::new(page.total));
    connection.edges.extend(page.items.into_iter().map(|item| {
        let (cursor, node) = edge(item);
        Edge::new(cursor, node)
    }));
    connection
}
