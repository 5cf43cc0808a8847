//! The company's users as dashboards list them: filters, search, orderings, and keyset pages in
//! every ordering (a cursor is the last row's sort values and id, so pages stay stable while
//! people are added between them). Each ordering is served by an index of migration 13 (or 3).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, NullOrdering, SimpleExpr};
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
        words.iter().partition(|word| word.chars().count() >= 3)
    } else {
        (Vec::new(), words.iter().collect())
    };
    if !indexed.is_empty() {
        let phrases: Vec<String> = indexed.iter().map(|word| format!("\"{}\"", word.replace('"', "\"\""))).collect();
        condition = condition.add(Expr::cust_with_values(
            r#""users"."id" IN (SELECT s.user_id FROM users_fts JOIN user_search s ON s.id = users_fts.rowid WHERE users_fts MATCH ?)"#,
            [phrases.join(" AND ")],
        ));
    }
    for word in short {
        let escaped = word.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        condition =
            condition.add(Expr::col(users::Column::SearchKey).like(LikeExpr::new(format!("%{escaped}%")).escape('\\')));
    }
    condition
}

/// The company's users that `filter` keeps, in no order.
fn filtered(svc: &Services, principal: &Principal, filter: &UserFilter) -> DomainResult<Select<users::Entity>> {
    let mut query = of_company(principal)?;
    query = match filter.status {
        Some(status) => query.filter(users::Column::Status.eq(status)),
        None => query.filter(users::Column::Status.ne(UserStatus::Anonymized)),
    };
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
    Ok(query.filter(search_condition(svc.db.get_database_backend(), &search_words(filter.search.as_deref())?)))
}

/// How many users `list` would page through with `filter`, counted only when asked: for a
/// page that was read another way (a first page batched with its neighbours' by a loader).
pub fn total(svc: &Services, principal: &Principal, filter: &UserFilter) -> DomainResult<Total> {
    Ok(Total::of(&svc.db, filtered(svc, principal, filter)?))
}

/// `column` compared with a cursor's value, NULL counting as the smallest value (only
/// `last_signed_in_at` is ever NULL): `beyond` = greater (`ascending`) or smaller, else equal.
fn compare(column: users::Column, value: &SortValue, ascending: bool, beyond: bool) -> SimpleExpr {
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
        (Some(value), true, false) => column.lt(value).or(column.is_null()),
    }
}

/// The rows beyond `cursor` in the reading direction: lexicographic over the sort columns and
/// the id.
fn beyond(cursor: &UserCursor, ascending: bool) -> Condition {
    let columns = sort_columns(cursor.order.field);
    let mut any = Condition::any();
    for depth in 0..=columns.len() {
        let mut all = Condition::all();
        for (column, value) in columns.iter().zip(&cursor.values).take(depth) {
            all = all.add(compare(*column, value, ascending, false));
        }
        all = all.add(match (columns.get(depth), cursor.values.get(depth)) {
            (Some(column), Some(value)) => compare(*column, value, ascending, true),
            _ if ascending => users::Column::Id.gt(cursor.id),
            _ => users::Column::Id.lt(cursor.id),
        });
        any = any.add(all);
    }
    any
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
    let mut query = filtered(svc, principal, filter)?;
    let total = Total::of(&svc.db, query.clone());
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
        query = query.filter(beyond(from, ascending));
    }
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
    let query = query.order_by(users::Column::Id, sql_order).limit(page.size + 1);
    let items = users::read_columns(query, columns, &svc.db).await?;
    Ok(page.finish(items, total))
}
