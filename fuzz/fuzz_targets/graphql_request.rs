//! Any text as a GraphQL document, and any JSON as its variables, through the request limits
//! the server applies before anything else: the limits must never panic, and whatever they
//! let through must parse without overflowing the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portal::graphql::limits::QueryLimits;

fuzz_target!(|data: &[u8]| {
    let limits = QueryLimits::with_depth(10);
    let (query, variables) = match data.iter().position(|b| *b == 0xff) {
        Some(split) => (&data[..split], &data[split + 1..]),
        None => (data, &[][..]),
    };
    let Ok(query) = std::str::from_utf8(query) else { return };
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(variables) {
        let _ = limits.check_variables(&async_graphql::Variables::from_json(json));
    }
    if limits.check_text(query).is_err() {
        return;
    }
    if let Ok(document) = async_graphql::parser::parse_query(query) {
        let _ = limits.check_document(&document);
    }
});
