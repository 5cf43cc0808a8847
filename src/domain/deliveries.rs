//! What administrators see of the notification engine: their company's deliveries with every
//! attempt, and a way to re-queue a dead one.

use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Select, Set};
use serde_json::json;

use super::audit::AuditEvent;
use super::page::{Page, PageRequest, newest_first};
use super::principal::Principal;
use super::services::Services;
use super::{DeliveryStatus, DomainError, DomainResult};
use crate::db::{deliveries, delivery_attempts};
use crate::types::DeliveryId;
use crate::types::{AuditAction, TargetKind};

pub struct DeliveryWithAttempts {
    pub delivery: deliveries::Model,
    /// Oldest first.
    pub attempts: Vec<delivery_attempts::Model>,
}

fn of_company(principal: &Principal) -> DomainResult<Select<deliveries::Entity>> {
    Ok(deliveries::Entity::find().filter(deliveries::Column::CompanyId.eq(principal.company()?)))
}

#[tracing::instrument(skip_all)]
pub async fn list(
    svc: &Services,
    principal: &Principal,
    status: Option<DeliveryStatus>,
    page: PageRequest,
) -> DomainResult<Page<DeliveryWithAttempts>> {
    let mut query = of_company(principal)?;
    if let Some(status) = status {
        query = query.filter(deliveries::Column::Status.eq(status));
    }
    let page = newest_first(&svc.db, query, deliveries::Column::Id, page).await?;
    let rows = page.items;
    // One query for the attempts of the whole page.
    let mut attempts: HashMap<DeliveryId, Vec<delivery_attempts::Model>> = HashMap::new();
    for attempt in delivery_attempts::Entity::find()
        .filter(delivery_attempts::Column::DeliveryId.is_in(rows.iter().map(|d| d.id)))
        .order_by_asc(delivery_attempts::Column::AttemptedAt)
        .all(&svc.db)
        .await?
    {
        attempts.entry(attempt.delivery_id).or_default().push(attempt);
    }
    let items = rows
        .into_iter()
        .map(|delivery| DeliveryWithAttempts { attempts: attempts.remove(&delivery.id).unwrap_or_default(), delivery })
        .collect();
    Ok(Page { items, has_previous_page: page.has_previous_page, has_next_page: page.has_next_page, total: page.total })
}

/// Puts a dead (or waiting) delivery back in the queue, due now, with a fresh retry schedule.
/// Its earlier attempts stay on record.
#[tracing::instrument(skip_all)]
pub async fn retry(svc: &Services, principal: &Principal, id: DeliveryId) -> DomainResult<DeliveryWithAttempts> {
    let delivery = of_company(principal)?
        .filter(deliveries::Column::Id.eq(id))
        .one(&svc.db)
        .await?
        .ok_or(DomainError::NotFound("delivery"))?;
    if matches!(delivery.status, DeliveryStatus::Delivered | DeliveryStatus::Pending) {
        return Err(DomainError::Conflict {
            field: Some("id".into()),
            message: format!("This delivery is {:?}, not failed or dead: nothing to retry", delivery.status),
        });
    }
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let before = json!({"status": delivery.status, "attempts": delivery.attempts});
    let mut active = delivery.into_active_model();
    active.status = Set(DeliveryStatus::Pending);
    active.attempts = Set(0);
    active.next_attempt_at = Set(now);
    active.lease_until = Set(None);
    active.leased_by = Set(None);
    let delivery = active.update(&tx).await?;
    let audit = AuditEvent::new(AuditAction::DeliveryRetried, TargetKind::Delivery, delivery.id)
        .company(delivery.company_id)
        .after(json!({"status": delivery.status}))
        .before(before);
    tx.audit(audit);
    tx.commit().await?;
    let attempts = delivery_attempts::Entity::find()
        .filter(delivery_attempts::Column::DeliveryId.eq(delivery.id))
        .order_by_asc(delivery_attempts::Column::AttemptedAt)
        .all(&svc.db)
        .await?;
    Ok(DeliveryWithAttempts { delivery, attempts })
}
