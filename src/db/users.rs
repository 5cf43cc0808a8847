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

/// The users anyone may read: every read of `users` starts here (or from `find_by_id`), never
/// from `Entity::find()` (a test in this module holds every file to it). An import writes its
/// users in short transactions before it shows them all at once (`import::write`); until then
/// its job is in `hidden_imports`, and its users are nobody's to read: not a listing's, a
/// count's, a sign-in's, a manager's or an identity provider's.
pub fn find() -> Select<Entity> {
    Entity::find().filter(visible())
}

/// One user by id, under the rule of [`find`].
pub fn find_by_id(id: UserId) -> Select<Entity> {
    find().filter(Column::Id.eq(id))
}

/// Every user row, those of imports not yet shown too: for the import itself (its own rows, and
/// the addresses a file may not take, which its hidden rows hold already).
pub fn find_including_hidden() -> Select<Entity> {
    Entity::find()
}

/// The rule of [`find`] as a condition, for statements built without it.
pub fn visible() -> sea_orm::Condition {
    visible_by(sea_orm::sea_query::Expr::col((Entity, Column::ImportJobId)))
}

/// The rule of [`find`] on a copy of a user's `import_job_id` kept elsewhere (SQLite's search
/// index keeps one).
pub fn visible_by(import_job_id: sea_orm::sea_query::SimpleExpr) -> sea_orm::Condition {
    use sea_orm::sea_query::ExprTrait as _;
    let hidden = super::hidden_imports::job_ids();
    sea_orm::Condition::any().add(import_job_id.clone().is_null()).add(import_job_id.not_in_subquery(hidden))
}

/// The rule of [`find`] in SQL, for hand-written statements over `users`.
pub const VISIBLE_SQL: &str =
    "(users.import_job_id IS NULL OR users.import_job_id NOT IN (SELECT job_id FROM hidden_imports))";

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

/// Which of a user's columns a read fetched. A listing fetches only what its client asked for
/// (decoding the 23 columns of every row was a sixth of a `users(first: 50)`); what holds such a
/// user (`graphql::types::User`) answers a field only when the field's columns were read, so an
/// unread column is an error, never a made-up value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Columns(u32);

impl Columns {
    pub const ALL: Columns = Columns(u32::MAX);

    /// What every narrow read fetches: the id and company (loaders and checks key on them) and
    /// the address (every answer names it; the `Email` type has no stand-in value).
    pub const KEYS: Columns = Columns(bit(Column::Id) | bit(Column::CompanyId) | bit(Column::Email));

    pub const fn of(columns: &[Column]) -> Columns {
        let mut mask = 0;
        let mut i = 0;
        while i < columns.len() {
            mask |= bit(columns[i]);
            i += 1;
        }
        Columns(mask)
    }

    pub const fn and(self, other: Columns) -> Columns {
        Columns(self.0 | other.0)
    }

    pub const fn holds(self, other: Columns) -> bool {
        self.0 & other.0 == other.0
    }

    fn has(self, column: Column) -> bool {
        self.holds(Columns(bit(column)))
    }
}

const fn bit(column: Column) -> u32 {
    1 << column as u32
}

/// The users `select` finds, with only `columns` (and `Columns::KEYS`) read: the other fields of
/// each model hold neutral values, which only a holder that knows `columns` may hand out.
pub async fn read_columns<C: ConnectionTrait>(
    select: Select<Entity>,
    columns: Columns,
    db: &C,
) -> Result<Vec<Model>, DbErr> {
    use sea_orm::{Iterable as _, QuerySelect as _, QueryTrait as _};
    if columns == Columns::ALL {
        return read_all(select, db).await;
    }
    let columns = columns.and(Columns::KEYS);
    let chosen = Column::iter().filter(|column| columns.has(*column));
    let statement = select.select_only().columns(chosen).build(db.get_database_backend());
    db.query_all_raw(statement).await?.iter().map(|row| narrow(row, columns)).collect()
}

/// One row of `read_columns`: the chosen columns in `Column::iter()` order, the keys first.
fn narrow(row: &QueryResult, columns: Columns) -> Result<Model, DbErr> {
    use sea_orm::Iterable as _;
    let epoch = chrono::DateTime::UNIX_EPOCH;
    let mut user = Model {
        id: row.try_get_by_index(0)?,
        company_id: nullable(row, 1)?,
        email: row.try_get_by_index(2)?,
        given_name: None,
        surname: None,
        job_title: None,
        manager_email: None,
        country: None,
        locale: Locale::default(),
        status: UserStatus::Active,
        role: Role::User,
        search_key: String::new(),
        must_change_password: false,
        password_changed_at: None,
        activated_at: None,
        deactivated_at: None,
        anonymized_at: None,
        created_at: epoch,
        updated_at: epoch,
        sort_key: String::new(),
        external_id: None,
        scim_user_name: None,
        last_signed_in_at: None,
        import_job_id: None,
    };
    let chosen = Column::iter().skip(3).filter(|column| columns.has(*column));
    for (at, column) in (3..).zip(chosen) {
        match column {
            Column::Id | Column::CompanyId | Column::Email => {}
            Column::GivenName => user.given_name = nullable(row, at)?,
            Column::Surname => user.surname = nullable(row, at)?,
            Column::JobTitle => user.job_title = nullable(row, at)?,
            Column::ManagerEmail => user.manager_email = nullable(row, at)?,
            Column::Country => user.country = nullable(row, at)?,
            Column::Locale => user.locale = row.try_get_by_index(at)?,
            Column::Status => user.status = row.try_get_by_index(at)?,
            Column::Role => user.role = row.try_get_by_index(at)?,
            Column::SearchKey => user.search_key = row.try_get_by_index(at)?,
            Column::MustChangePassword => user.must_change_password = row.try_get_by_index(at)?,
            Column::PasswordChangedAt => user.password_changed_at = nullable(row, at)?,
            Column::ActivatedAt => user.activated_at = nullable(row, at)?,
            Column::DeactivatedAt => user.deactivated_at = nullable(row, at)?,
            Column::AnonymizedAt => user.anonymized_at = nullable(row, at)?,
            Column::CreatedAt => user.created_at = row.try_get_by_index(at)?,
            Column::UpdatedAt => user.updated_at = row.try_get_by_index(at)?,
            Column::SortKey => user.sort_key = row.try_get_by_index(at)?,
            Column::ExternalId => user.external_id = nullable(row, at)?,
            Column::ScimUserName => user.scim_user_name = nullable(row, at)?,
            Column::LastSignedInAt => user.last_signed_in_at = nullable(row, at)?,
            Column::ImportJobId => user.import_job_id = nullable(row, at)?,
        }
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    /// The rule of `find` is kept by the structure, not by memory: no file but this one starts
    /// a read of `users` from the entity itself, and a file that builds a statement over `users`
    /// by hand (sea-query's `from`, or SQL text) states the rule (`visible()`, `VISIBLE_SQL`).
    #[test]
    fn every_read_of_users_keeps_the_rows_of_imports_not_shown_hidden() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &mut files);
        assert!(files.len() > 50, "the sources were found");
        let mut offenders = Vec::new();
        for file in files.iter().filter(|f| !f.ends_with("db/users.rs")) {
            let text = std::fs::read_to_string(file).unwrap();
            let code: String =
                text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
            if code.contains("users::Entity::find") {
                offenders.push(format!("{}: users::Entity::find (use users::find)", file.display()));
            }
            let by_hand = code.contains("from(users::Entity)")
                || code.to_lowercase().contains("from users ")
                || code.to_lowercase().contains("join users ");
            if by_hand && !code.contains("users::visible()") && !code.contains("users::VISIBLE_SQL") {
                offenders.push(format!("{}: a statement over users without users::visible()", file.display()));
            }
        }
        assert!(
            offenders.is_empty(),
            "reads of users that would show an import's hidden rows:\n{}",
            offenders.join("\n")
        );
    }
}
