//! `support_contact_roles`: see the migration for what each column means.

use crate::types::ContactId;
use crate::types::enums::ContactRole;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "support_contact_roles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub contact_id: ContactId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub role: ContactRole,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
