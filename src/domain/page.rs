//! Keyset pagination over time-ordered (UUIDv7) ids, newest first: a cursor is the last id
//! seen, so pages stay stable while rows are added. Pages go forwards (`first` items after a
//! cursor) or backwards (`last` items before one), as Relay's connections do.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait, Select};
use uuid::Uuid;

use super::{DomainError, DomainResult};

pub const DEFAULT_PAGE: u64 = 20;
pub const MAX_PAGE: u64 = 100;

/// Which page of a listing: `size` items after `from` in the listing's order, or, backwards,
/// the `size` items just before `from`. `C` is the listing's cursor (an id, or a sort key).
#[derive(Clone, Debug)]
pub struct PageRequest<C = Uuid> {
    pub size: u64,
    pub from: Option<C>,
    pub backward: bool,
}

impl<C> PageRequest<C> {
    /// Relay's arguments: `first`/`after` or `last`/`before`, never both directions at once.
    pub fn new(first: Option<i32>, after: Option<C>, last: Option<i32>, before: Option<C>) -> DomainResult<Self> {
        let size = |n: Option<i32>| n.map_or(DEFAULT_PAGE, |n| n.clamp(0, MAX_PAGE as i32) as u64);
        let forward = first.is_some() || after.is_some();
        match (forward, last.is_some() || before.is_some()) {
            (true, true) => Err(DomainError::invalid(
                "last",
                "page forwards (first, after) or backwards (last, before), not both at once",
            )),
            (false, true) => Ok(PageRequest { size: size(last), from: before, backward: true }),
            _ => Ok(PageRequest { size: size(first), from: after, backward: false }),
        }
    }

    /// The first page, forwards.
    pub fn first(size: u64) -> Self {
        PageRequest { size, from: None, backward: false }
    }

    /// Cuts the one row read beyond the page and says which neighbours exist; a backward page
    /// was read in reverse and is put back in the listing's order.
    pub fn finish<T>(&self, mut items: Vec<T>, total: Total) -> Page<T> {
        let more = items.len() as u64 > self.size;
        items.truncate(self.size as usize);
        let beyond_cursor = self.from.is_some();
        if self.backward {
            items.reverse();
            Page { items, has_previous_page: more, has_next_page: beyond_cursor, total }
        } else {
            Page { items, has_previous_page: beyond_cursor, has_next_page: more, total }
        }
    }
}

pub struct Page<T> {
    pub items: Vec<T>,
    /// Forwards: whether a cursor was given (items came before it); backwards: whether more
    /// items precede this page.
    pub has_previous_page: bool,
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
    use sea_orm::{ColumnTrait, Order, QueryFilter, QueryOrder, QuerySelect};
    let total = Total::of(db, query.clone());
    let mut query = query;
    // Newest first: forwards walks down the ids, backwards walks up from the cursor.
    if let Some(from) = page.from {
        query = query.filter(if page.backward { id.gt(from) } else { id.lt(from) });
    }
    let order = if page.backward { Order::Asc } else { Order::Desc };
    let items = query.order_by(id, order).limit(page.size + 1).all(db).await?;
    Ok(page.finish(items, total))
}
