//! `support_contacts`: see the migration for what each column means.

use crate::types::enums::ContactStatus;
use crate::types::{ContactId, SubscriptionId, UserId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "support_contacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: ContactId,
    pub subscription_id: SubscriptionId,
    pub user_id: UserId,
    pub is_primary: bool,
    pub phone: Option<String>,
    pub status: ContactStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
