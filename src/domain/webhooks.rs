//! Webhook endpoints of a company: where events are POSTed, signed per the Standard Webhooks
//! specification with the endpoint's `whsec_` secret.

use super::Problems;
use crate::types::Line;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use rand::Rng;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::audit::AuditEvent;
use super::principal::Principal;
use super::services::Services;
use super::text;
use super::{DomainError, DomainResult, FieldError};
use crate::db::webhook_endpoints;
use crate::notify::{self, Notification};
use crate::types::{AuditAction, TargetKind};
use crate::types::{EventId, EventType, WebhookEndpointId};

/// How long a rotated-out secret keeps signing requests (so consumers can switch over).
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);

pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// `whsec_` and 32 random bytes in base64, as the specification describes.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("whsec_{}", STANDARD.encode(bytes))
}

#[tracing::instrument(skip_all)]
pub async fn create(
    svc: &Services,
    principal: &Principal,
    input: NewEndpoint,
) -> DomainResult<(webhook_endpoints::Model, String)> {
    let company_id = principal.company()?;
    let mut problems = Problems::default();
    let url =
        problems.check("url", crate::notify::webhook::check_url(&input.url, svc.settings.webhook_allow_private).await);
    if input.events.is_empty() {
        problems.push(FieldError::new("events", "name at least one event type"));
    }
    for (i, event) in input.events.iter().enumerate() {
        if EventType::subscribable_by_name(event).is_none() {
            let known: Vec<&str> = EventType::subscribable_names().collect();
            problems.push(FieldError::new(
                format!("events[{i}]"),
                format!("{} is not an event type; known: {}", text::quoted(event), known.join(", ")),
            ));
        }
    }
    let description = input.description.as_deref().map(|d| problems.field("description", Line::<400>::parse(d)));
    let description = description.filter(|d| !d.is_empty()).map(Line::into_inner);
    let url = problems.finish_with(url)?;
    let mut events = input.events;
    events.sort();
    events.dedup();
    let secret = new_secret();
    let mut tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let endpoint = webhook_endpoints::ActiveModel {
        id: Set(crate::types::WebhookEndpointId::new()),
        company_id: Set(company_id),
        url: Set(url.to_string()),
        secret: Set(secret.clone()),
        events: Set(json!(events)),
        description: Set(description),
        enabled: Set(true),
        created_at: Set(now),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
    }
    .insert(&tx)
    .await?;
    tx.audit(
        AuditEvent::new(AuditAction::WebhookEndpointCreated, TargetKind::WebhookEndpoint, endpoint.id)
            .company(Some(company_id))
            .after(json!({"url": endpoint.url, "events": endpoint.events})),
    );
    tx.commit().await?;
    Ok((endpoint, secret))
}

#[tracing::instrument(skip_all)]
pub async fn list(svc: &Services, principal: &Principal) -> DomainResult<Vec<webhook_endpoints::Model>> {
    Ok(webhook_endpoints::Entity::find()
        .filter(webhook_endpoints::Column::CompanyId.eq(principal.company()?))
        .order_by_asc(webhook_endpoints::Column::CreatedAt)
        .all(&svc.db)
        .await?)
}

/// One endpoint of the caller's company; another company's is "not found", like a missing one.
async fn find(svc: &Services, principal: &Principal, id: WebhookEndpointId) -> DomainResult<webhook_endpoints::Model> {
    webhook_endpoints::Entity::find_by_id(id)
        .filter(webhook_endpoints::Column::CompanyId.eq(principal.company()?))
        .one(&svc.db)
        .await?
        .ok_or(DomainError::NotFound("webhook endpoint"))
}

#[tracing::instrument(skip_all)]
pub async fn delete(svc: &Services, principal: &Principal, id: WebhookEndpointId) -> DomainResult<()> {
    let endpoint = find(svc, principal, id).await?;
    let mut tx = svc.begin_as(principal).await?;
    webhook_endpoints::Entity::delete_by_id(endpoint.id).exec(&tx).await?;
    tx.audit(
        AuditEvent::new(AuditAction::WebhookEndpointDeleted, TargetKind::WebhookEndpoint, endpoint.id)
            .company(Some(endpoint.company_id)),
    );
    tx.commit().await
}

/// A new secret; the old one keeps signing for `ROTATION_OVERLAP`.
#[tracing::instrument(skip_all)]
pub async fn rotate_secret(
    svc: &Services,
    principal: &Principal,
    id: WebhookEndpointId,
) -> DomainResult<(webhook_endpoints::Model, String)> {
    let endpoint = find(svc, principal, id).await?;
    let now = svc.clock.now();
    let secret = new_secret();
    let mut tx = svc.begin_as(principal).await?;
    let mut active = endpoint.clone().into_active_model();
    active.previous_secret = Set(Some(endpoint.secret));
    active.previous_secret_expires_at = Set(Some(now + ROTATION_OVERLAP));
    active.secret = Set(secret.clone());
    let endpoint = active.update(&tx).await?;
    tx.audit(
        AuditEvent::new(AuditAction::WebhookEndpointSecretRotated, TargetKind::WebhookEndpoint, endpoint.id)
            .company(Some(endpoint.company_id)),
    );
    tx.commit().await?;
    Ok((endpoint, secret))
}

/// Queues a `webhook.test` event for this endpoint alone.
#[tracing::instrument(skip_all)]
pub async fn send_test(svc: &Services, principal: &Principal, id: WebhookEndpointId) -> DomainResult<EventId> {
    let endpoint = find(svc, principal, id).await?;
    let tx = svc.begin_as(principal).await?;
    let now = tx.now();
    let event_id = notify::enqueue_to_endpoint(
        &tx,
        now,
        Notification {
            company_id: Some(endpoint.company_id),
            event_type: EventType::WebhookTest,
            data: json!({"endpointId": endpoint.id, "message": "This is a test event from the customer portal."}),
            email: None,
        },
        endpoint.id,
    )
    .await?;
    tx.commit().await?;
    Ok(event_id)
}
