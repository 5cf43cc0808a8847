//! `subscription_members`: see the migration for what each column means.

use crate::types::enums::{MemberStatus, SubscriptionRole};
use crate::types::{MemberId, SubscriptionId, UserId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscription_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: MemberId,
    pub subscription_id: SubscriptionId,
    pub user_id: UserId,
    pub role: SubscriptionRole,
    pub status: MemberStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
