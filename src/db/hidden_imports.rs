//! `hidden_imports`: see the migration for what each column means. The rule it serves is
//! `users::find`.

use crate::types::ImportJobId;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hidden_imports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: ImportJobId,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The hidden jobs' ids, as a subquery.
pub fn job_ids() -> sea_orm::sea_query::SelectStatement {
    use sea_orm::{QuerySelect as _, QueryTrait as _};
    Entity::find().select_only().column(Column::JobId).into_query()
}
