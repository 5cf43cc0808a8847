//! Keyset pagination over time-ordered (UUIDv7) ids, newest first: a cursor is the last id
//! seen, so pages stay stable while rows are added.

use uuid::Uuid;

pub const DEFAULT_PAGE: u64 = 20;
pub const MAX_PAGE: u64 = 100;

#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub first: u64,
    /// Items strictly older than this one.
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub fn new(first: Option<i32>, after: Option<Uuid>) -> Self {
        let first = first.map_or(DEFAULT_PAGE, |n| n.clamp(0, MAX_PAGE as i32) as u64);
        PageRequest { first, after }
    }
}

pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
    pub total_count: u64,
}

/// One page of `query`, newest first by its UUIDv7 `id` column, with the total count.
pub async fn newest_first<E>(
    db: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<E>,
    id: E::Column,
    page: PageRequest,
) -> super::DomainResult<Page<E::Model>>
where
    E: sea_orm::EntityTrait,
    E::Model: Sync,
{
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
    let total_count = query.clone().count(db).await?;
    let mut query = query;
    if let Some(after) = page.after {
        query = query.filter(id.lt(after));
    }
    let mut items = query.order_by_desc(id).limit(page.first + 1).all(db).await?;
    let has_next_page = items.len() as u64 > page.first;
    items.truncate(page.first as usize);
    Ok(Page { items, has_next_page, total_count })
}
