//! `sub_accounts`: see the migration for what each column means.

use crate::types::{CompanyId, SubAccountId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sub_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: SubAccountId,
    pub company_id: CompanyId,
    pub name: String,
    pub created_at: DateTimeUtc,
    /// The identity provider's id of the group it mirrors (SCIM `externalId`).
    pub external_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::user_sub_accounts::Entity")]
    UserSubAccounts,
}

impl Related<super::user_sub_accounts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserSubAccounts.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
