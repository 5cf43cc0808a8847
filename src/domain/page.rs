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
