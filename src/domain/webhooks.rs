//! Webhook endpoints of a company: where events are POSTed, signed per the Standard Webhooks
//! specification with the endpoint's `whsec_` secret.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use rand::Rng;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::audit::AuditEvent;
use super::principal::Principal;
use super::services::Services;
use super::text::{self, Lines};
use super::{DomainError, DomainResult, FieldError};
use crate::db::webhook_endpoints;
use crate::notify::{self, Notification};
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
    if addresses.is_empty() || addresses.iter().any(|ip| !is_public(*ip)) {
        return Err(format!("host {host} is an internal address; webhooks go to public addresses only"));
    }
    Ok(url)
}

/// Whether a webhook may connect to `ip`: only globally routed unicast addresses. Written as
/// what is allowed rather than what is not, so a range nobody thought of stays closed; IPv6
/// forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(a == 0                                   // "this" network
                || a == 10                              // private
                || a == 100 && (64..128).contains(&b)   // carrier-grade NAT
                || a == 127                             // loopback
                || a == 169 && b == 254                 // link-local (cloud metadata)
                || a == 172 && (16..32).contains(&b)    // private
                || a == 192 && b == 0 && c == 0         // IETF protocol assignments
                || a == 192 && b == 0 && c == 2         // documentation
                || a == 192 && b == 88 && c == 99       // 6to4 relay anycast
                || a == 192 && b == 168                 // private
                || a == 198 && (18..20).contains(&b)    // benchmarking
                || a == 198 && b == 51 && c == 100      // documentation
                || a == 203 && b == 0 && c == 113       // documentation
                || a >= 224) // multicast, reserved (240/4), broadcast
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded_v4 = |high: u16, low: u16| {
                is_public(IpAddr::V4(std::net::Ipv4Addr::new(
                    (high >> 8) as u8,
                    high as u8,
                    (low >> 8) as u8,
                    low as u8,
                )))
            };
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            match s {
                // IPv4-compatible (deprecated, `::127.0.0.1`) and NAT64 (`64:ff9b::/96`).
                [0, 0, 0, 0, 0, 0, high, low] | [0x64, 0xff9b, 0, 0, 0, 0, high, low] => embedded_v4(high, low),
                // 6to4: the IPv4 address follows the prefix.
                [0x2002, high, low, ..] => embedded_v4(high, low),
                // IETF assignments (Teredo, ORCHID…) and documentation.
                [0x2001, second, ..] if second < 0x200 || second == 0xdb8 => false,
                // Global unicast is 2000::/3; everything else (ULA, link- and site-local,
                // multicast, loopback, discard, local NAT64) is not for webhooks.
                [first, ..] => (0x2000..0x4000).contains(&first),
            }
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
        if EventType::subscribable_by_name(event).is_none() {
            let known: Vec<&str> = EventType::subscribable_names().collect();
            problems.push(FieldError::new(
                format!("events[{i}]"),
                format!("{} is not an event type; known: {}", text::quoted(event), known.join(", ")),
            ));
        }
    }
    let description = match input.description.as_deref().map(|d| text::parse("description", d, 400, Lines::One)) {
        Some(Ok(description)) => Some(description).filter(|d| !d.is_empty()),
        Some(Err(problem)) => {
            problems.push(problem);
            None
        }
        None => None,
    };
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
async fn find(svc: &Services, principal: &Principal, id: WebhookEndpointId) -> DomainResult<webhook_endpoints::Model> {
    webhook_endpoints::Entity::find_by_id(id)
        .filter(webhook_endpoints::Column::CompanyId.eq(principal.company()?))
        .one(&svc.db)
        .await?
        .ok_or(DomainError::NotFound("webhook endpoint"))
}

pub async fn delete(svc: &Services, principal: &Principal, id: WebhookEndpointId) -> DomainResult<()> {
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
    id: WebhookEndpointId,
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
pub async fn send_test(svc: &Services, principal: &Principal, id: WebhookEndpointId) -> DomainResult<EventId> {
    let endpoint = find(svc, principal, id).await?;
    let now = svc.clock.now();
    let tx = svc.begin().await?;
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
    svc.commit(tx).await?;
    Ok(event_id)
}

#[cfg(test)]
mod address_tests {
    use super::is_public;

    #[test]
    fn only_global_unicast_is_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.0.1",
            "224.0.0.1",
            "::1",
            "::",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "fec0::1",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
            "64:ff9b:1::1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal} must be refused");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"]
        {
            assert!(is_public(public.parse().unwrap()), "{public} is public");
        }
    }
}
