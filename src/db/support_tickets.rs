//! `support_tickets`: see the migration for what each column means.

use crate::domain::enums::{TicketKind, TicketStatus};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "support_tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub company_id: Uuid,
    pub subscription_id: Uuid,
    pub opened_by: Uuid,
    pub kind: TicketKind,
    pub status: TicketStatus,
    pub subject: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub related_user_id: Option<Uuid>,
    pub related_member_id: Option<Uuid>,
    pub confirmed_by: Option<Uuid>,
    pub confirmed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
