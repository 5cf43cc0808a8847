//! Apollo's automatic persisted queries: a client sends `extensions.persistedQuery.sha256Hash`
//! alone; if this process does not know the hash it answers `PERSISTED_QUERY_NOT_FOUND`, the
//! client sends the query with its hash once, and later calls (GET, so they can be cached, or
//! POST) carry only the hash.
//!
//! Anyone may register (the hash is checked against the text, so nobody can plant a different
//! query under a known hash), and only a query that parsed and validated is kept. The store
//! is per process and bounded in bytes: flooding it evicts the least recently used queries,
//! whose clients simply register them again.

use std::sync::{Arc, Mutex};

use lru::LruCache;
use sha2::{Digest, Sha256};

use super::graphql::Operation;

pub const NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";

/// Query texts kept, in bytes (a document is at most 64 KiB, so this holds at least 128).
const BUDGET_BYTES: usize = 8 * 1024 * 1024;

#[derive(Clone)]
pub struct PersistedQueries {
    store: Arc<Mutex<Store>>,
}

struct Store {
    queries: LruCache<String, Arc<str>>,
    bytes: usize,
}

/// A query to remember once it has run without a request error.
pub struct Registration {
    hash: String,
    query: Arc<str>,
}

impl Default for PersistedQueries {
    fn default() -> Self {
        PersistedQueries { store: Arc::new(Mutex::new(Store { queries: LruCache::unbounded(), bytes: 0 })) }
    }
}

/// The hash of `{"persistedQuery": {"version": 1, "sha256Hash": "…"}}`, if present.
pub fn hash_in(extensions: &serde_json::Map<String, serde_json::Value>) -> Result<Option<String>, String> {
    let Some(persisted) = extensions.get("persistedQuery") else { return Ok(None) };
    let version = persisted.get("version").and_then(|v| v.as_i64());
    if version != Some(1) {
        return Err("`extensions.persistedQuery.version` must be 1".into());
    }
    match persisted.get("sha256Hash").and_then(|v| v.as_str()) {
        Some(hash) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(hash.to_ascii_lowercase()))
        }
        _ => Err("`extensions.persistedQuery.sha256Hash` must be 64 hexadecimal digits".into()),
    }
}

impl PersistedQueries {
    /// The operation with its query text: looked up when only the hash came, checked against
    /// the hash (and marked for registration) when both came.
    pub fn resolve(&self, mut operation: Operation) -> Result<Operation, async_graphql::ServerError> {
        let Some(hash) = operation.persisted_hash.take() else { return Ok(operation) };
        if operation.request.query.is_empty() {
            let known =
                self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner).queries.get(&hash).cloned();
            let Some(query) = known else {
                return Err(coded("PersistedQueryNotFound", NOT_FOUND));
            };
            operation.request.query = query.to_string();
            return Ok(operation);
        }
        if hex(Sha256::digest(operation.request.query.as_bytes()).as_slice()) != hash {
            return Err(coded("provided sha256Hash does not match the query", "BAD_REQUEST"));
        }
        operation.registration = Some(Registration { hash, query: operation.request.query.as_str().into() });
        Ok(operation)
    }

    pub fn register(&self, registration: Registration) {
        let mut store = self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let size = registration.query.len();
        if let Some(previous) = store.queries.put(registration.hash, registration.query) {
            store.bytes -= previous.len();
        }
        store.bytes += size;
        while store.bytes > BUDGET_BYTES {
            let Some((_, evicted)) = store.queries.pop_lru() else { break };
            store.bytes -= evicted.len();
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The two codes are the protocol's (Apollo's client looks for them), not `graphql::error`'s.
fn coded(message: &str, code: &str) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(message, None);
    error.extensions.get_or_insert_with(Default::default).set("code", code);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation(query: &str, hash: &str) -> Operation {
        Operation {
            request: async_graphql::Request::new(query),
            persisted_hash: Some(hash.to_owned()),
            registration: None,
        }
    }

    #[test]
    fn a_query_is_found_by_its_hash_once_registered_and_never_under_another() {
        let store = PersistedQueries::default();
        let query = "{ __typename }";
        let hash = hex(Sha256::digest(query.as_bytes()).as_slice());
        let miss = store.resolve(operation("", &hash)).err().unwrap();
        assert_eq!(miss.message, "PersistedQueryNotFound");
        assert!(store.resolve(operation("{ other }", &hash)).is_err(), "a text under another's hash");
        let registering = store.resolve(operation(query, &hash)).unwrap();
        store.register(registering.registration.unwrap());
        assert_eq!(store.resolve(operation("", &hash)).unwrap().request.query, query);
    }

    #[test]
    fn the_store_stays_within_its_budget() {
        let store = PersistedQueries::default();
        let filler = "x".repeat(64 * 1024);
        for i in 0..200 {
            let query = format!("{{ a{i} }} #{filler}");
            let hash = hex(Sha256::digest(query.as_bytes()).as_slice());
            store.register(Registration { hash, query: query.into() });
        }
        let store = store.store.lock().unwrap();
        assert!(store.bytes <= BUDGET_BYTES && store.queries.len() < 200 && !store.queries.is_empty());
    }
}
