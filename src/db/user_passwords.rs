//! The password hash of a row of `users`, on its own. `users::Model` leaves the column out, so
//! no listing, loader or join of users can read it (nor spend time decoding it): only signing
//! in, setting a password and anonymizing come here.

use crate::types::UserId;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{FromQueryResult, QueryResult, QuerySelect, Select};

use super::users;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: UserId,
    #[sea_orm(column_type = "Text", nullable)]
    pub password_hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A user with their password hash, read in one statement (a sign-in costs the same whether
/// or not the address has an account).
#[derive(Clone, Debug)]
pub struct WithPassword {
    pub user: users::Model,
    pub password_hash: Option<String>,
}

impl FromQueryResult for WithPassword {
    fn from_query_result(row: &QueryResult, prefix: &str) -> Result<Self, DbErr> {
        Ok(WithPassword {
            user: users::Model::from_query_result(row, prefix)?,
            password_hash: row.try_get(prefix, "password_hash")?,
        })
    }
}

/// `query` over users, with each one's password hash.
pub fn with_password(query: Select<users::Entity>) -> sea_orm::Selector<sea_orm::SelectModel<WithPassword>> {
    query.column_as(Expr::col((users::Entity, Column::PasswordHash)), "password_hash").into_model::<WithPassword>()
}

/// Stores `hash` (None: no password) as the password of `user_id`.
pub async fn set(db: &impl ConnectionTrait, user_id: UserId, hash: Option<String>) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::PasswordHash, Expr::value(hash))
        .filter(Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}
