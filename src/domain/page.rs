//! Keyset pagination over time-ordered (UUIDv7) ids, newest first: a cursor is the last id
//! seen, so pages stay stable while rows are added.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait, Select};
use uuid::Uuid;

use super::DomainResult;

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
    /// How many items the listing has in all, counted only if someone asks.
    pub total: Total,
}

/// The size of a listing without paging, counted when asked for and not before: a count over a
/// company's users is most of a list query's cost, and most clients never show it.
#[derive(Clone)]
pub struct Total(Arc<dyn Fn() -> BoxFuture<'static, DomainResult<u64>> + Send + Sync>);

impl Total {
    /// `query`'s rows, counted on `db` when `count` is called.
    pub fn of<E>(db: &DatabaseConnection, query: Select<E>) -> Total
    where
        E: EntityTrait,
        E::Model: Sync,
    {
        let db = db.clone();
        Total(Arc::new(move || {
            let (db, query) = (db.clone(), query.clone());
            Box::pin(async move { Ok(query.count(&db).await?) })
        }))
    }

    pub async fn count(&self) -> DomainResult<u64> {
        (self.0)().await
    }
}

/// One page of `query`, newest first by its UUIDv7 `id` column (its total counted on demand).
pub async fn newest_first<E>(
    db: &DatabaseConnection,
    query: Select<E>,
    id: E::Column,
    page: PageRequest,
) -> DomainResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Sync,
{
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let total = Total::of(db, query.clone());
    let mut query = query;
    if let Some(after) = page.after {
        query = query.filter(id.lt(after));
    }
    let mut items = query.order_by_desc(id).limit(page.first + 1).all(db).await?;
    let has_next_page = items.len() as u64 > page.first;
    items.truncate(page.first as usize);
    Ok(Page { items, has_next_page, total })
}
