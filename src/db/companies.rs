//! `companies`: see the migration for what each column means.

use crate::types::CompanyId;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "companies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: CompanyId,
    pub name: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub scim_enabled: bool,
    pub scim_default_job_title: Option<String>,
    pub scim_default_manager_email: Option<crate::types::Email>,
    pub scim_welcome_email: bool,
    pub status: crate::types::enums::CompanyStatus,
    pub suspended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
