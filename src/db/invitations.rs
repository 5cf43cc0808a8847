//! `invitations`: see the migration for what each column means.

use crate::types::enums::{InvitationStatus, Role};
use crate::types::{CompanyId, Email, InvitationId, UserId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: InvitationId,
    pub company_id: CompanyId,
    pub user_id: Option<UserId>,
    pub email: Email,
    pub role: Role,
    pub status: InvitationStatus,
    pub invited_by: Option<UserId>,
    pub send_count: i32,
    pub last_sent_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub accepted_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
