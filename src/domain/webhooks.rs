//! Webhook endpoints of a company: where events are POSTed, signed per the Standard Webhooks
//! specification with the endpoint's `whsec_` secret.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use rand::Rng;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set};
use serde_json::json;
use uuid::Uuid;

use super::audit::AuditEvent;
use super::principal::Principal;
use super::services::Services;
use super::{DomainError, DomainResult, FieldError};
use crate::db::webhook_endpoints;
use crate::notify::{self, Notification};

/// Event types an endpoint can ask for.
pub const EVENT_TYPES: [&str; 12] = [
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.anonymized",
    "invitation.sent",
    "invitation.accepted",
    "import.progress",
    "import.completed",
    "ticket.created",
    "ticket.confirmed",
    TEST_EVENT,
];

/// Sent by `testWebhookEndpoint` to one endpoint, whatever it subscribed to.
pub const TEST_EVENT: &str = "webhook.test";

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

/// Refuses what is not http(s), and (unless allowed) hosts that resolve to loopback, private,
/// link-local or otherwise internal addresses: a webhook must not become a way to reach the
/// server's own network.
pub async fn check_url(raw: &str, allow_private: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("is not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http(s) URL".into());
    }
    let host = url.host_str().ok_or("has no host")?.trim_start_matches('[').trim_end_matches(']').to_owned();
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    if allow_private {
        return Ok(url);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| format!("host {host} does not resolve"))?
        .map(|a| a.ip())
        .collect();
    if addresses.is_empty() || addresses.iter().any(|ip| is_internal(*ip)) {
        return Err(format!("host {host} is an internal address; webhooks go to public addresses only"));
    }
    Ok(url)
}

fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]) // carrier-grade NAT
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link-local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

pub async fn create(
    svc: &Services,
    principal: &Principal,
    input: NewEndpoint,
) -> DomainResult<(webhook_endpoints::Model, String)> {
    let company_id = principal.company()?;
    let mut problems = Vec::new();
    let url = check_url(&input.url, svc.settings.webhook_allow_private)
        .await
        .map_err(|e| problems.push(FieldError::new("url", e)))
        .ok();
    if input.events.is_empty() {
        problems.push(FieldError::new("events", "name at least one event type"));
    }
    for (i, event) in input.events.iter().enumerate() {
        if !EVENT_TYPES.contains(&event.as_str()) {
            problems.push(FieldError::new(
                format!("events[{i}]"),
                format!("`{event}` is not an event type; known: {}", EVENT_TYPES.join(", ")),
            ));
        }
    }
    let description = input.description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    if description.as_ref().is_some_and(|d| d.chars().count() > 400) {
        problems.push(FieldError::new("description", "is longer than 400 characters"));
    }
    let Some(url) = url.filter(|_| problems.is_empty()) else {
        return Err(DomainError::Validation(problems));
    };
    let mut events = input.events;
    events.sort();
    events.dedup();
    let secret = new_secret();
    let now = svc.clock.now();
    let tx = svc.begin().await?;
    let endpoint = webhook_endpoints::ActiveModel {
        id: Set(Uuid::now_v7()),
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
    AuditEvent::new("webhook_endpoint.created", "webhook_endpoint", endpoint.id)
        .company(Some(company_id))
        .actor(Some(principal.user_id))
        .after(json!({"url": endpoint.url, "events": endpoint.events}))
        .record(&tx, now)
        .await?;
    svc.commit(tx).await?;
    Ok((endpoint, secret))
}

pub async fn list(svc: &Services, principal: &Principal) -> DomainResult<Vec<webhook_endpoints::Model>> {
    Ok(webhook_endpoints::Entity::find()
        .filter(webhook_endpoints::Column::CompanyId.eq(principal.company()?))
        .order_by_asc(webhook_endpoints::Column::CreatedAt)
        .all(&svc.db)
        .await?)
}

/// One endpoint of the caller's company; another company's is "not found", like a missing one.
async fn find(svc: &Services, principal: &Principal, id: Uuid) -> DomainResult<webhook_endpoints::Model> {
    webhook_endpoints::Entity::find_by_id(id)
        .filter(webhook_endpoints::Column::CompanyId.eq(principal.company()?))
        .one(&svc.db)
        .await?
        .ok_or(DomainError::NotFound("webhook endpoint"))
}

pub async fn delete(svc: &Services, principal: &Principal, id: Uuid) -> DomainResult<()> {
    let endpoint = find(svc, principal, id).await?;
    let now = svc.clock.now();
    let tx = svc.begin().await?;
    webhook_endpoints::Entity::delete_by_id(endpoint.id).exec(&tx).await?;
    AuditEvent::new("webhook_endpoint.deleted", "webhook_endpoint", endpoint.id)
        .company(Some(endpoint.company_id))
        .actor(Some(principal.user_id))
        .record(&tx, now)
        .await?;
    svc.commit(tx).await
}

/// A new secret; the old one keeps signing for `ROTATION_OVERLAP`.
pub async fn rotate_secret(
    svc: &Services,
    principal: &Principal,
    id: Uuid,
) -> DomainResult<(webhook_endpoints::Model, String)> {
    let endpoint = find(svc, principal, id).await?;
    let now = svc.clock.now();
    let secret = new_secret();
    let tx = svc.begin().await?;
    let mut active = endpoint.clone().into_active_model();
    active.previous_secret = Set(Some(endpoint.secret));
    active.previous_secret_expires_at = Set(Some(now + ROTATION_OVERLAP));
    active.secret = Set(secret.clone());
    let endpoint = active.update(&tx).await?;
    AuditEvent::new("webhook_endpoint.secret_rotated", "webhook_endpoint", endpoint.id)
        .company(Some(endpoint.company_id))
        .actor(Some(principal.user_id))
        .record(&tx, now)
        .await?;
    svc.commit(tx).await?;
    Ok((endpoint, secret))
}

/// Queues a `webhook.test` event for this endpoint alone.
pub async fn send_test(svc: &Services, principal: &Principal, id: Uuid) -> DomainResult<Uuid> {
    let endpoint = find(svc, principal, id).await?;
    let now = svc.clock.now();
    let tx = svc.begin().await?;
    let event_id = notify::enqueue_to_endpoint(
        &tx,
        now,
        Notification {
            company_id: Some(endpoint.company_id),
            event_type: TEST_EVENT,
            data: json!({"endpointId": endpoint.id, "message": "This is a test event from the customer portal."}),
            email: None,
        },
        endpoint.id,
    )
    .await?;
    svc.commit(tx).await?;
    Ok(event_id)
}
