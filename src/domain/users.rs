//! Company users: the pieces every way of creating or changing a user shares.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, NotSet, QueryFilter, Set};

use super::principal::Principal;
use super::services::Services;
use super::{DomainResult, Email, Role, UserStatus};
use crate::db::users;
use crate::types::CompanyId;

pub use crate::db::users::{search_key, sort_key};

/// Normalizes a search term the way `search_key` normalizes names.
pub fn search_term(input: &str) -> String {
    crate::db::users::fold(input.trim())
}

/// The fields a new user starts with; callers set what differs.
pub struct NewUser<'a> {
    pub email: &'a Email,
    pub company_id: Option<CompanyId>,
    pub role: Role,
    pub status: UserStatus,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub locale: crate::types::Locale,
}

impl NewUser<'_> {
    pub fn into_active_model(self, now: DateTime<Utc>) -> users::ActiveModel {
        let mut user = users::ActiveModel {
            id: Set(crate::types::UserId::new()),
            company_id: Set(self.company_id),
            email: Set(self.email.clone()),
            search_key: NotSet,
            sort_key: NotSet,
            given_name: Set(self.given_name),
            surname: Set(self.surname),
            job_title: Set(None),
            manager_email: Set(None),
            country: Set(None),
            locale: Set(self.locale),
            status: Set(self.status),
            role: Set(self.role),
            must_change_password: Set(false),
            password_changed_at: Set(None),
            activated_at: Set((self.status == UserStatus::Active).then_some(now)),
            deactivated_at: Set(None),
            anonymized_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            external_id: Set(None),
            scim_user_name: Set(None),
            last_signed_in_at: Set(None),
            import_job_id: Set(None),
        };
        user.derive_keys(); // bulk inserts (the import) do not pass through `before_save`
        user
    }
}

pub async fn find_by_email(db: &impl ConnectionTrait, email: &Email) -> DomainResult<Option<users::Model>> {
    Ok(users::find().filter(users::Column::Email.eq(email.as_str())).one(db).await?)
}

/// The signed-in user.
#[tracing::instrument(skip_all)]
pub async fn viewer(svc: &Services, principal: &Principal) -> DomainResult<Option<users::Model>> {
    // An API key is nobody: its viewer is null, as an anonymous caller's.
    let Some(person) = principal.person_id() else { return Ok(None) };
    Ok(users::find_by_id(person).one(&svc.db).await?)
}

/// A person's name for greetings: the given name, else the address.
pub fn greeting_name(user: &users::Model) -> String {
    user.given_name.clone().unwrap_or_else(|| user.email.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn search_keys_fold_case_and_accents() {
        let key = super::search_key(Some("José"), Some("Pérez Núñez"), "jose@x.com");
        assert_eq!(key, "jose perez nunez jose@x.com");
        assert!(key.contains(&super::search_term(" NÚÑEZ ")));
    }
}
