//! Who is calling: the user behind a bearer session token. Tokens are random, shown once and
//! stored only as their SHA-256 (a fast hash is right here: tokens carry 256 bits of entropy,
//! unlike passwords).

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{DomainError, DomainResult, Role, UserStatus};
use crate::db::{sessions, users};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// None for platform staff.
    pub company_id: Option<Uuid>,
    pub role: Role,
    pub must_change_password: bool,
}

/// Hex SHA-256 of a token: what the database stores and looks up.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Resolves a bearer token. An unknown, expired or revoked token, or one whose user is no
/// longer active, is `Unauthenticated` (the client must log in again), never a silent anonymous.
pub async fn authenticate(db: &DatabaseConnection, token: &str) -> DomainResult<Principal> {
    let found = sessions::Entity::find()
        .filter(sessions::Column::TokenHash.eq(hash_token(token)))
        .find_also_related(users::Entity)
        .one(db)
        .await?;
    let rejected =
        || DomainError::Unauthenticated("the session token is invalid or has expired".into());
    let (session, Some(user)) = found.ok_or_else(rejected)? else {
        return Err(rejected());
    };
    if session.revoked_at.is_some()
        || session.expires_at <= Utc::now()
        || user.status != UserStatus::Active
    {
        return Err(rejected());
    }
    Ok(Principal {
        user_id: user.id,
        session_id: session.id,
        company_id: user.company_id,
        role: user.role,
        must_change_password: user.must_change_password,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_hash_is_hex_sha256() {
        assert_eq!(
            super::hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
