//! `users`: see the migration for what each column means.

use crate::types::enums::{Role, UserStatus};
use crate::types::{CompanyId, Email, ImportJobId, Locale, UserId};
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
    /// The import that created the user, if one did (its welcome pass walks these).
    pub import_job_id: Option<ImportJobId>,
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

/// A user read by position rather than by name: what the listings and loaders read, hundreds of
/// rows a request. The derived reader looks each column up by name and, for every NULL column,
/// formats an error message it then discards (sea-orm's `Option<T>` is "T, or the Null error");
/// that was a fifth of the time of a `users(first: 50)` on PostgreSQL. The positions are those of
/// `Column::iter()`, the order `Entity::find()` selects; a row whose columns are named otherwise
/// (a `select_only`, a join) is read by name as before.
pub struct ByPosition(pub Model);

impl sea_orm::FromQueryResult for ByPosition {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        if !pre.is_empty() || !selects_every_column_in_order(row) {
            return Model::from_query_result(row, pre).map(ByPosition);
        }
        let mut next = 0..;
        let mut at = || next.next().unwrap_or_default();
        Ok(ByPosition(Model {
            id: row.try_get_by_index(at())?,
            company_id: nullable(row, at())?,
            email: row.try_get_by_index(at())?,
            given_name: nullable(row, at())?,
            surname: nullable(row, at())?,
            job_title: nullable(row, at())?,
            manager_email: nullable(row, at())?,
            country: nullable(row, at())?,
            locale: row.try_get_by_index(at())?,
            status: row.try_get_by_index(at())?,
            role: row.try_get_by_index(at())?,
            search_key: row.try_get_by_index(at())?,
            must_change_password: row.try_get_by_index(at())?,
            password_changed_at: nullable(row, at())?,
            activated_at: nullable(row, at())?,
            deactivated_at: nullable(row, at())?,
            anonymized_at: nullable(row, at())?,
            created_at: row.try_get_by_index(at())?,
            updated_at: row.try_get_by_index(at())?,
            sort_key: row.try_get_by_index(at())?,
            external_id: nullable(row, at())?,
            scim_user_name: nullable(row, at())?,
            last_signed_in_at: nullable(row, at())?,
            import_job_id: nullable(row, at())?,
        }))
    }
}

/// The users `select` finds, read by position (`ByPosition`).
pub async fn read_all<C: ConnectionTrait>(select: Select<Entity>, db: &C) -> Result<Vec<Model>, DbErr> {
    Ok(select.into_model::<ByPosition>().all(db).await?.into_iter().map(|row| row.0).collect())
}

fn selects_every_column_in_order(row: &QueryResult) -> bool {
    use sea_orm::Iterable as _;
    use sea_orm::sqlx::{Column as _, Row as _};
    fn in_order<'a>(mut names: impl ExactSizeIterator<Item = &'a str>) -> bool {
        names.len() == Column::iter().len() && Column::iter().all(|column| names.next() == Some(column.as_str()))
    }
    if let Some(row) = row.try_as_pg_row() {
        in_order(row.columns().iter().map(|c| c.name()))
    } else if let Some(row) = row.try_as_sqlite_row() {
        in_order(row.columns().iter().map(|c| c.name()))
    } else {
        false
    }
}

/// A nullable column without the discarded error of a NULL.
fn nullable<T: sea_orm::TryGetable>(row: &QueryResult, index: usize) -> Result<Option<T>, DbErr> {
    use sea_orm::sqlx::{Row as _, ValueRef as _};
    let null = if let Some(row) = row.try_as_pg_row() {
        row.try_get_raw(index).is_ok_and(|value| value.is_null())
    } else if let Some(row) = row.try_as_sqlite_row() {
        row.try_get_raw(index).is_ok_and(|value| value.is_null())
    } else {
        false
    };
    if null { Ok(None) } else { row.try_get_by_index(index).map(Some) }
}
