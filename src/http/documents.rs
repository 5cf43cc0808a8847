//! Parsed documents by their text: a client sends the same few queries over and over (a
//! dashboard's page, its search box), and parsing one was a thirtieth of a `users(first: 50)`.
//! Only documents that passed the request limits reach this, and only small ones are kept, in a
//! store bounded in entries, so a flood of distinct queries evicts rather than grows.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

/// Documents kept; each at most `MAX_TEXT_BYTES` of text.
const ENTRIES: NonZeroUsize = NonZeroUsize::new(256).expect("not zero");
const MAX_TEXT_BYTES: usize = 8 * 1024;

#[derive(Clone)]
pub struct ParsedDocuments {
    cache: Arc<Mutex<LruCache<String, ExecutableDocument>>>,
}

impl Default for ParsedDocuments {
    fn default() -> Self {
        ParsedDocuments { cache: Arc::new(Mutex::new(LruCache::new(ENTRIES))) }
    }
}

impl ParsedDocuments {
    /// The request's document, from the store when its text was parsed before; a new document
    /// that parses is remembered. `None` when the text does not parse.
    pub fn parse<'r>(&self, request: &'r mut async_graphql::Request) -> Option<&'r ExecutableDocument> {
        let keep = request.query.len() <= MAX_TEXT_BYTES;
        if keep {
            let known = self.cache.lock().unwrap_or_else(PoisonError::into_inner).get(&request.query).cloned();
            if let Some(document) = known {
                request.set_parsed_query(document);
                return request.parsed_query().ok();
            }
        }
        let query = request.query.clone();
        let document = request.parsed_query().ok()?;
        if keep {
            self.cache.lock().unwrap_or_else(PoisonError::into_inner).put(query, document.clone());
        }
        Some(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_parsed_once_and_kept_within_bounds() {
        let documents = ParsedDocuments::default();
        let mut first = async_graphql::Request::new("{ viewer { id } }");
        assert!(documents.parse(&mut first).is_some());
        let mut again = async_graphql::Request::new("{ viewer { id } }");
        let parsed = documents.parse(&mut again).cloned();
        assert_eq!(parsed.map(|d| d.operations.iter().count()), Some(1));
        assert!(documents.parse(&mut async_graphql::Request::new("{ viewer {")).is_none());
        for n in 0..1000 {
            documents.parse(&mut async_graphql::Request::new(format!("{{ a{n}: viewer {{ id }} }}")));
        }
        assert_eq!(documents.cache.lock().unwrap().len(), ENTRIES.get());
        let large = format!("{{ viewer {{ id }} }}{}", " ".repeat(MAX_TEXT_BYTES));
        documents.parse(&mut async_graphql::Request::new(large.clone()));
        assert!(!documents.cache.lock().unwrap().contains(&large));
    }
}
