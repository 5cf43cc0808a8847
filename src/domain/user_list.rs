//! The company's users as dashboards list them: filters, search, orderings, and keyset pages in
//! every ordering (a cursor is the last row's sort values and id, so pages stay stable while
//! people are added between them). Each ordering is served by an index of migration 13 (or 3).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, LikeExpr, NullOrdering, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
    Value,
};
use serde::{Deserialize, Serialize};

use super::page::{Page, PageRequest, Total};
use super::people::of_company;
use super::principal::Principal;
use super::services::Services;
use super::users::search_term;
use super::{DomainError, DomainResult, Email, Module, Role, UserStatus};
use crate::db::{user_modules, user_sub_accounts, users};
use crate::types::{SubAccountId, UserId};

#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    pub search: Option<String>,
    /// None: every status but ANONYMIZED.
    pub status: Option<UserStatus>,
    pub role: Option<Role>,
    /// The users whose `managerEmail` is this address (someone's direct reports).
    pub manager: Option<Email>,
    /// Users who hold the module (owners and administrators hold every one).
    pub module: Option<Module>,
    /// Users limited to this sub-account.
    pub sub_account: Option<SubAccountId>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created strictly before.
    pub created_before: Option<DateTime<Utc>>,
    /// true: only people who never signed in; false: only people who did.
    pub never_signed_in: Option<bool>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderField {
    /// Surname, then given name (accents and case folded).
    #[default]
    Surname,
    Email,
    CreatedAt,
    /// Never-signed-in people count as the earliest.
    LastSignedInAt,
    /// By status, then surname within a status.
    Status,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserOrder {
    pub field: OrderField,
    pub direction: Direction,
}

/// One sort value of a row, as a cursor keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortValue {
    Text(String),
    Time(Option<DateTime<Utc>>),
}

/// A position in one ordering: the row's sort values and id. A cursor made for one ordering is
/// refused by another (its values would mean something else there).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCursor {
    pub order: UserOrder,
    pub values: Vec<SortValue>,
    pub id: UserId,
}

impl UserCursor {
    pub fn of(user: &users::Model, order: UserOrder) -> Self {
        let values = match order.field {
            OrderField::Surname => vec![SortValue::Text(user.sort_key.clone())],
            OrderField::Email => vec![SortValue::Text(user.email.to_string())],
            OrderField::CreatedAt => vec![SortValue::Time(Some(user.created_at))],
            OrderField::LastSignedInAt => vec![SortValue::Time(user.last_signed_in_at)],
            OrderField::Status => {
                vec![
                    SortValue::Text(sea_orm::ActiveEnum::to_value(&user.status)),
                    SortValue::Text(user.sort_key.clone()),
                ]
            }
        };
        UserCursor { order, values, id: user.id }
    }
}

/// The columns an ordering sorts by, before the id.
fn sort_columns(field: OrderField) -> &'static [users::Column] {
    match field {
        OrderField::Surname => &[users::Column::SortKey],
        OrderField::Email => &[users::Column::Email],
        OrderField::CreatedAt => &[users::Column::CreatedAt],
        OrderField::LastSignedInAt => &[users::Column::LastSignedInAt],
        OrderField::Status => &[users::Column::Status, users::Column::SortKey],
    }
}

/// A search is a few words: each becomes a condition of the query, so thousands of them
/// would build a statement too deep for the database (or our stack) to take.
const MAX_SEARCH_WORDS: usize = 8;
const MAX_SEARCH_CHARS: usize = 200;

fn search_words(search: Option<&str>) -> DomainResult<Vec<String>> {
    let Some(search) = search else { return Ok(Vec::new()) };
    if search.chars().count() > MAX_SEARCH_CHARS {
        return Err(DomainError::invalid("filter.search", format!("is longer than {MAX_SEARCH_CHARS} characters")));
    }
    let words: Vec<String> = search_term(search).split_whitespace().map(str::to_owned).collect();
    if words.len() > MAX_SEARCH_WORDS {
        return Err(DomainError::invalid("filter.search", format!("has more than {MAX_SEARCH_WORDS} words")));
    }
    Ok(words)
}

/// Every word must appear somewhere in "given surname email", accents and case folded, `%` and
/// `_` as themselves. PostgreSQL's trigram index serves `LIKE '%word%'`; on SQLite the words of
/// three characters or more go to the FTS5 trigram index of migration 10 (a phrase is a
/// substring there), shorter ones (which no trigram index can serve) stay `LIKE`.
fn search_condition(backend: DbBackend, words: &[String]) -> Condition {
    let mut condition = Condition::all();
    let (indexed, short): (Vec<&String>, Vec<&String>) = if backend == DbBackend::Sqlite {
        words.iter().partition(|word| trigram_indexed(word))
    } else {
        (Vec::new(), words.iter().collect())
    };
    if let Some(phrases) = fts_phrases(indexed) {
        condition = condition.add(Expr::cust_with_values(
            r#""users"."id" IN (SELECT s.user_id FROM users_fts JOIN user_search s ON s.id = users_fts.rowid WHERE users_fts MATCH ?)"#,
            [phrases],
        ));
    }
    for word in short {
        let escaped = word.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        condition =
            condition.add(Expr::col(users::Column::SearchKey).like(LikeExpr::new(format!("%{escaped}%")).escape('\\')));
    }
    condition
}

/// Whether a trigram index can find `word`: it has a trigram.
fn trigram_indexed(word: &str) -> bool {
    word.chars().count() >= 3
}

/// The FTS5 query that every one of `words` matches as a substring; None for no words.
fn fts_phrases<'a>(words: impl IntoIterator<Item = &'a String>) -> Option<String> {
    let phrases: Vec<String> = words.into_iter().map(|word| format!("\"{}\"", word.replace('"', "\"\""))).collect();
    (!phrases.is_empty()).then(|| phrases.join(" AND "))
}

/// A status filter, or (None) every status but ANONYMIZED.
fn status_condition(rows: Rows, status: Option<UserStatus>) -> SimpleExpr {
    match status {
        Some(status) => rows.col(users::Column::Status).eq(status),
        None => rows.col(users::Column::Status).ne(UserStatus::Anonymized),
    }
}

/// The company's users that `filter` keeps, in no order.
fn filtered(svc: &Services, principal: &Principal, filter: &UserFilter) -> DomainResult<Select<users::Entity>> {
    let words = search_words(filter.search.as_deref())?;
    Ok(filtered_but_search(principal, filter)?.filter(search_condition(svc.db.get_database_backend(), &words)))
}

/// What `filter` keeps apart from its search.
fn filtered_but_search(principal: &Principal, filter: &UserFilter) -> DomainResult<Select<users::Entity>> {
    let mut query = of_company(principal)?.filter(status_condition(Rows::Users, filter.status));
    if let Some(role) = filter.role {
        query = query.filter(users::Column::Role.eq(role));
    }
    if let Some(manager) = &filter.manager {
        query = query.filter(users::Column::ManagerEmail.eq(manager.as_str()));
    }
    if let Some(module) = filter.module {
        let granted = user_modules::Entity::find()
            .select_only()
            .column(user_modules::Column::UserId)
            .filter(user_modules::Column::Module.eq(module))
            .into_query();
        query = query.filter(
            Condition::any()
                .add(users::Column::Role.is_in([Role::Owner, Role::Admin]))
                .add(users::Column::Id.in_subquery(granted)),
        );
    }
    if let Some(sub_account) = filter.sub_account {
        let limited = user_sub_accounts::Entity::find()
            .select_only()
            .column(user_sub_accounts::Column::UserId)
            .filter(user_sub_accounts::Column::SubAccountId.eq(sub_account))
            .into_query();
        query = query.filter(users::Column::Id.in_subquery(limited));
    }
    if let Some(after) = filter.created_after {
        query = query.filter(users::Column::CreatedAt.gte(after));
    }
    if let Some(before) = filter.created_before {
        query = query.filter(users::Column::CreatedAt.lt(before));
    }
    match filter.never_signed_in {
        Some(true) => query = query.filter(users::Column::LastSignedInAt.is_null()),
        Some(false) => query = query.filter(users::Column::LastSignedInAt.is_not_null()),
        None => {}
    }
    Ok(query)
}

/// How many users `list` would page through with `filter`, counted only when asked: for a
/// page that was read another way (a first page batched with its neighbours' by a loader).
pub fn total(svc: &Services, principal: &Principal, filter: &UserFilter) -> DomainResult<Total> {
    Ok(Total::of(&svc.db, filtered(svc, principal, filter)?))
}

/// Where a page's rows are read from: `users`, or (SQLite) the copy of their filtering and
/// ordering columns that migration 17 keeps in the search index's `user_search`, aliased `s`.
/// The copy's columns are named as in `users`, but for the user's id.
#[derive(Clone, Copy)]
enum Rows {
    Users,
    SearchIndex,
}

impl Rows {
    fn col(self, column: users::Column) -> SimpleExpr {
        match self {
            Rows::Users => Expr::col((users::Entity, column)),
            Rows::SearchIndex if matches!(column, users::Column::Id) => {
                Expr::col((Alias::new("s"), Alias::new("user_id")))
            }
            Rows::SearchIndex => Expr::col((Alias::new("s"), column)),
        }
    }
}

/// `column` compared with a cursor's value, NULL counting as the smallest value (only
/// `last_signed_in_at` is ever NULL): `beyond` = greater (`ascending`) or smaller, else equal.
fn compare(column: SimpleExpr, value: &SortValue, ascending: bool, beyond: bool) -> SimpleExpr {
    let value: Option<Value> = match value {
        SortValue::Text(text) => Some(text.clone().into()),
        SortValue::Time(time) => time.map(Into::into),
    };
    match (value, beyond, ascending) {
        (None, false, _) => column.is_null(),
        (None, true, true) => column.is_not_null(),
        (None, true, false) => Expr::value(false),
        (Some(value), false, _) => column.eq(value),
        (Some(value), true, true) => column.gt(value),
        (Some(value), true, false) => column.clone().lt(value).or(column.is_null()),
    }
}

/// The rows beyond `cursor` in the reading direction: lexicographic over the sort columns and
/// the id.
fn beyond(cursor: &UserCursor, ascending: bool, rows: Rows) -> Condition {
    let columns = sort_columns(cursor.order.field);
    let mut any = Condition::any();
    for depth in 0..=columns.len() {
        let mut all = Condition::all();
        for (column, value) in columns.iter().zip(&cursor.values).take(depth) {
            all = all.add(compare(rows.col(*column), value, ascending, false));
        }
        all = all.add(match (columns.get(depth), cursor.values.get(depth)) {
            (Some(column), Some(value)) => compare(rows.col(*column), value, ascending, true),
            _ if ascending => rows.col(users::Column::Id).gt(cursor.id),
            _ => rows.col(users::Column::Id).lt(cursor.id),
        });
        any = any.add(all);
    }
    any
}

/// SQLite: the ids of a search page (`size` rows beyond `from`), picked inside the search index
/// among its matches, or None where the index cannot pick them alone. A common surname matches
/// thousands of people; looking each up in `users` by its UUID to filter and order them was
/// most of a search's time, and the index's copy of the columns (migration 17) is a lookup by
/// integer key. The page's query keeps every condition of its own: these ids narrow it to the
/// page it would have read.
///
/// The picked rows are the page only if the index applies every condition the page's query
/// does, so the index is used only when the filter holds nothing but the search and a status,
/// every word is long enough for the trigram index, and the ordering is one whose columns the
/// copy holds (surname, status). The filter is taken apart field by field, so that a new
/// filter does not compile until it is decided here.
#[allow(clippy::too_many_arguments)] // a page's request, taken apart as `list` has it
fn search_page_in_index(
    backend: DbBackend,
    principal: &Principal,
    filter: &UserFilter,
    words: &[String],
    order: UserOrder,
    size: u64,
    from: Option<&UserCursor>,
    ascending: bool,
) -> DomainResult<Option<SimpleExpr>> {
    if backend != DbBackend::Sqlite {
        return Ok(None);
    }
    let UserFilter {
        search: _, // `words`, parsed once by `list`
        status,
        role,
        manager,
        module,
        sub_account,
        created_after,
        created_before,
        never_signed_in,
    } = filter;
    let only_search_and_status = role.is_none()
        && manager.is_none()
        && module.is_none()
        && sub_account.is_none()
        && created_after.is_none()
        && created_before.is_none()
        && never_signed_in.is_none();
    let indexed = words.iter().all(|word| trigram_indexed(word));
    let copied = matches!(order.field, OrderField::Surname | OrderField::Status);
    if !only_search_and_status || !indexed || !copied {
        return Ok(None);
    }
    let Some(phrases) = fts_phrases(words) else { return Ok(None) };
    let rows = Rows::SearchIndex;
    let mut picked = Query::select();
    picked
        .expr(rows.col(users::Column::Id))
        .from(Alias::new("users_fts"))
        .join_as(
            JoinType::InnerJoin,
            Alias::new("user_search"),
            Alias::new("s"),
            Expr::col((Alias::new("s"), Alias::new("id"))).equals((Alias::new("users_fts"), Alias::new("rowid"))),
        )
        .and_where(Expr::cust_with_values("users_fts MATCH ?", [phrases]))
        .and_where(rows.col(users::Column::CompanyId).eq(principal.company()?))
        .and_where(status_condition(rows, *status))
        .cond_where(users::visible_by(rows.col(users::Column::ImportJobId)));
    if let Some(from) = from {
        picked.cond_where(beyond(from, ascending, rows));
    }
    let direction = if ascending { Order::Asc } else { Order::Desc };
    for column in sort_columns(order.field).iter().chain([&users::Column::Id]) {
        picked.order_by_expr(rows.col(*column), direction.clone());
    }
    picked.limit(size);
    Ok(Some(users::Column::Id.in_subquery(picked)))
}

/// A page of the company's users; `columns`: what to read of each (`Columns::ALL` for whole
/// users).
#[tracing::instrument(skip_all)]
pub async fn list(
    svc: &Services,
    principal: &Principal,
    filter: &UserFilter,
    order: UserOrder,
    page: PageRequest<UserCursor>,
    columns: users::Columns,
) -> DomainResult<Page<users::Model>> {
    let backend = svc.db.get_database_backend();
    let words = search_words(filter.search.as_deref())?;
    let search = search_condition(backend, &words);
    let mut query = filtered_but_search(principal, filter)?;
    let total = Total::of(&svc.db, query.clone().filter(search.clone()));
    // A backward page is read in reverse (`finish` puts it back in order).
    let ascending = (order.direction == Direction::Asc) != page.backward;
    if let Some(from) = &page.from {
        let field = if page.backward { "before" } else { "after" };
        if from.order != order {
            return Err(DomainError::invalid(field, "was made for another ordering of the list"));
        }
        if from.values.len() != sort_columns(order.field).len() {
            return Err(DomainError::invalid(field, "is not a cursor of this list"));
        }
        query = query.filter(beyond(from, ascending, Rows::Users));
    }
    let size = page.size + 1;
    query = match search_page_in_index(backend, principal, filter, &words, order, size, page.from.as_ref(), ascending)?
    {
        Some(picked) => query.filter(picked),
        None => query.filter(search),
    };
    let (sql_order, nulls) =
        if ascending { (Order::Asc, NullOrdering::First) } else { (Order::Desc, NullOrdering::Last) };
    for column in sort_columns(order.field) {
        query = if matches!(column, users::Column::LastSignedInAt) {
            query.order_by_with_nulls(*column, sql_order.clone(), nulls)
        } else {
            query.order_by(*column, sql_order.clone())
        };
    }
    // The sort columns are read whatever was asked: a cursor is made of them.
    let columns = columns.and(users::Columns::of(sort_columns(order.field)));
    let query = query.order_by(users::Column::Id, sql_order).limit(size);
    let items = users::read_columns(query, columns, &svc.db).await?;
    Ok(page.finish(items, total))
}
