//! `models`, the table of a project's models (the module name says whose, so it does not read
//! like SeaORM's `Model`): see the migration for what each column means.

use crate::types::{ModelId, ProjectId, UserId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "models")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: ModelId,
    pub project_id: ProjectId,
    pub name: String,
    pub owner_id: UserId,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
