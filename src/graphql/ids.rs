//! IDs and cursors: opaque strings to clients, UUIDs inside.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::domain::DomainError;

pub fn id(uuid: impl Into<Uuid>) -> ID {
    ID(uuid.into().to_string())
}

/// An `ID!` argument; a malformed one names the argument.
pub fn parse_id<T: std::str::FromStr>(field: &str, id: &ID) -> Result<T, DomainError> {
    id.parse().map_err(|_| DomainError::invalid(field, "is not a valid id"))
}

pub fn cursor(uuid: impl Into<Uuid>) -> String {
    URL_SAFE_NO_PAD.encode(uuid.into().as_bytes())
}

/// A cursor argument (`after`, `before`) of a list ordered by id.
pub fn parse_cursor<T: From<Uuid>>(field: &str, cursor: Option<&str>) -> Result<Option<T>, DomainError> {
    cursor
        .map(|cursor| {
            URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| Uuid::from_slice(&bytes).ok())
                .map(T::from)
                .ok_or_else(|| DomainError::invalid(field, "is not a cursor of this list"))
        })
        .transpose()
}

/// A user listing cursor: the ordering, the row's sort values and id, as base64url JSON.
pub fn user_cursor(cursor: &crate::domain::user_list::UserCursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

pub fn parse_user_cursor(
    field: &str,
    cursor: Option<&str>,
) -> Result<Option<crate::domain::user_list::UserCursor>, DomainError> {
    cursor
        .map(|cursor| {
            URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .ok_or_else(|| DomainError::invalid(field, "is not a cursor of this list"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(super::parse_cursor::<uuid::Uuid>("after", Some(&super::cursor(id))).unwrap(), Some(id));
        assert!(super::parse_cursor::<uuid::Uuid>("after", Some("nope")).is_err());
        assert_eq!(super::parse_cursor::<uuid::Uuid>("after", None).unwrap(), None);
    }
}
