//! `service_subscriptions`: see the migration for what each column means.

use crate::types::enums::SubscriptionStatus;
use crate::types::{CompanyId, SubAccountId, SubscriptionId, UserId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: SubscriptionId,
    pub company_id: CompanyId,
    pub product: String,
    pub plan: String,
    pub owner_id: UserId,
    pub status: SubscriptionStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The sub-account holding it; None: the company as a whole (seen by unlimited users only).
    pub sub_account_id: Option<SubAccountId>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
