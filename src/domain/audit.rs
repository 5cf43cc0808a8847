//! The audit trail: append-only events (actor, action, target, before/after, time), written in
//! the same transaction as the change they describe (`UnitOfWork::audit`).

use sea_orm::Set;
use serde_json::Value;
use uuid::Uuid;

use super::DomainResult;
use crate::db::audit_events;
use crate::types::{ApiKeyId, AuditAction, AuditEventId, AuditTarget, CompanyId, UserId};

pub struct AuditEvent {
    pub company_id: Option<CompanyId>,
    pub actor_id: Option<UserId>,
    pub action: AuditAction,
    pub target: AuditTarget,
    /// Any kind of row (`target_type` says which).
    pub target_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl AuditEvent {
    /// An event about `target_id` with no before/after snapshot.
    pub fn new(action: AuditAction, target: impl Into<AuditTarget>, target_id: impl Into<Uuid>) -> Self {
        AuditEvent {
            company_id: None,
            actor_id: None,
            action,
            target: target.into(),
            target_id: Some(target_id.into()),
            before: None,
            after: None,
        }
    }

    pub fn company(mut self, company_id: Option<CompanyId>) -> Self {
        self.company_id = company_id;
        self
    }

    pub fn actor(mut self, actor_id: Option<UserId>) -> Self {
        self.actor_id = actor_id;
        self
    }

    pub fn after(mut self, after: Value) -> Self {
        self.after = Some(after);
        self
    }

    pub fn before(mut self, before: Value) -> Self {
        self.before = Some(before);
        self
    }

    /// The row `UnitOfWork::commit` writes.
    pub(super) fn into_row(
        self,
        actor_id: Option<UserId>,
        actor_api_key_id: Option<ApiKeyId>,
        company_id: Option<CompanyId>,
        request_id: Option<String>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> audit_events::ActiveModel {
        audit_events::ActiveModel {
            id: Set(AuditEventId::new()),
            company_id: Set(company_id),
            actor_id: Set(actor_id),
            actor_api_key_id: Set(actor_api_key_id),
            action: Set(self.action.name().to_owned()),
            target_type: Set(self.target.name().to_owned()),
            target_id: Set(self.target_id),
            before: Set(self.before),
            after: Set(self.after),
            request_id: Set(request_id),
            created_at: Set(at),
        }
    }
}

/// The caller's company's audit trail, newest first; optionally about one target.
pub async fn list(
    svc: &super::Services,
    principal: &super::principal::Principal,
    target_id: Option<Uuid>,
    page: super::page::PageRequest,
) -> DomainResult<super::page::Page<audit_events::Model>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let mut query = audit_events::Entity::find().filter(audit_events::Column::CompanyId.eq(principal.company()?));
    if let Some(target_id) = target_id {
        query = query.filter(audit_events::Column::TargetId.eq(target_id));
    }
    super::page::newest_first(&svc.db, query, audit_events::Column::Id, page).await
}
