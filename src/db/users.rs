//! `users`: see the migration for what each column means.

use crate::types::enums::{Role, UserStatus};
use crate::types::{CompanyId, Email, Locale, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: UserId,
    pub company_id: Option<CompanyId>,
    pub email: Email,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub job_title: Option<String>,
    pub manager_email: Option<Email>,
    pub country: Option<String>,
    pub locale: Locale,
    pub status: UserStatus,
    pub role: Role,
    #[sea_orm(column_type = "Text")]
    pub search_key: String,
    // `password_hash` is left out on purpose: see `user_passwords`.
    pub must_change_password: bool,
    pub password_changed_at: Option<DateTimeUtc>,
    pub activated_at: Option<DateTimeUtc>,
    pub deactivated_at: Option<DateTimeUtc>,
    pub anonymized_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub sort_key: String,
    /// The identity provider's id of the person (SCIM `externalId`), unique in the company.
    pub external_id: Option<String>,
    /// The identity provider's `userName` when it is not the email address; unique in the company.
    pub scim_user_name: Option<String>,
    /// When the user last opened a session (set by `accounts::open_session`).
    pub last_signed_in_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

/// The derived columns are computed here and nowhere else: every save through an active model
/// recomputes them from the names and address it leaves (bulk inserts build their rows with
/// `derive_keys` too).
#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C: ConnectionTrait>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr> {
        self.derive_keys();
        Ok(self)
    }
}

impl ActiveModel {
    /// Sets `search_key` and `sort_key` from the names and address, where all three are known.
    pub fn derive_keys(&mut self) {
        let (Some(given_name), Some(surname), Some(email)) =
            (self.given_name.try_as_ref(), self.surname.try_as_ref(), self.email.try_as_ref())
        else {
            return;
        };
        let search = search_key(given_name.as_deref(), surname.as_deref(), email.as_str());
        let sort = sort_key(given_name.as_deref(), surname.as_deref());
        self.search_key = Set(search);
        self.sort_key = Set(sort);
    }
}

/// Lower-cased, accent-folded "given surname email": what `users(filter: {search})` matches,
/// so "perez" finds "Pérez" on SQLite and PostgreSQL alike.
pub fn search_key(given_name: Option<&str>, surname: Option<&str>, email: &str) -> String {
    fold(&[given_name.unwrap_or_default(), surname.unwrap_or_default(), email].join(" "))
}

/// The listing order: surname, then given name, accent-folded and lower-cased.
pub fn sort_key(given_name: Option<&str>, surname: Option<&str>) -> String {
    fold([surname.unwrap_or_default(), given_name.unwrap_or_default()].join(" ").trim())
}

/// Accent-folded and lower-cased: how the keys, and the search terms matched against them, read.
pub fn fold(text: &str) -> String {
    deunicode::deunicode(text).to_lowercase()
}
