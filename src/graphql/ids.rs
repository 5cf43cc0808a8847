//! IDs and cursors: opaque strings to clients, UUIDs inside.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::domain::DomainError;

pub fn id(uuid: Uuid) -> ID {
    ID(uuid.to_string())
}

/// An `ID!` argument; a malformed one names the argument.
pub fn parse_id(field: &str, id: &ID) -> Result<Uuid, DomainError> {
    id.parse().map_err(|_| DomainError::invalid(field, "is not a valid id"))
}

pub fn cursor(uuid: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(uuid.as_bytes())
}

pub fn parse_cursor(after: Option<&str>) -> Result<Option<Uuid>, DomainError> {
    after
        .map(|cursor| {
            URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| Uuid::from_slice(&bytes).ok())
                .ok_or_else(|| DomainError::invalid("after", "is not a cursor of this list"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(super::parse_cursor(Some(&super::cursor(id))).unwrap(), Some(id));
        assert!(super::parse_cursor(Some("nope")).is_err());
        assert_eq!(super::parse_cursor(None).unwrap(), None);
    }
}
