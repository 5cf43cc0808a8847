//! `support_tickets`: see the migration for what each column means.

use crate::types::enums::{TicketKind, TicketStatus};
use crate::types::{CompanyId, MemberId, SubscriptionId, TicketId, UserId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "support_tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: TicketId,
    pub company_id: CompanyId,
    pub subscription_id: SubscriptionId,
    pub opened_by: UserId,
    pub kind: TicketKind,
    pub status: TicketStatus,
    pub subject: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub related_user_id: Option<UserId>,
    pub related_member_id: Option<MemberId>,
    pub confirmed_by: Option<UserId>,
    pub confirmed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
