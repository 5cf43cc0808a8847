//! `webhook`: POSTs events to a company's endpoints per the Standard Webhooks specification:
//! headers `webhook-id` (the event id, stable across retries, for deduplication),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of
//! `id.timestamp.body` keyed with the base64 part of the `whsec_` secret; during a rotation
//! both secrets sign, space-separated). Body: `{type, timestamp, data}`. 10 s timeout,
//! redirects not followed.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{DatabaseConnection, EntityTrait};
use sha2::Sha256;

use super::plugin::{Channel, Notifier, Outcome, Outgoing};
use crate::db::webhook_endpoints;
use crate::domain::clock::Clock;
use crate::domain::webhooks::{check_url, is_public};
use crate::types::WebhookEndpointId;

pub struct WebhookNotifier {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    allow_private: bool,
}

impl WebhookNotifier {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>, allow_private: bool) -> anyhow::Result<Self> {
        let mut client = reqwest::Client::builder();
        if !allow_private {
            // The addresses checked are the addresses connected to: a name that resolved to a
            // public address when the endpoint was saved cannot rebind to an internal one.
            client = client.dns_resolver(Arc::new(PublicAddressesOnly));
        }
        let client = client
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Portal-Webhooks/1")
            .build()?;
        Ok(WebhookNotifier { db, clock, client, allow_private })
    }
}

/// Resolves a webhook's host name for the connection itself, keeping only public addresses.
struct PublicAddressesOnly;

impl reqwest::dns::Resolve for PublicAddressesOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `v1,<base64 signature>` of `id.timestamp.body` with one `whsec_` secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = STANDARD.decode(secret.trim_start_matches("whsec_")).map_err(|_| "the endpoint secret is not base64")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| "the endpoint secret is unusable")?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

#[async_trait::async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    async fn deliver(&self, outgoing: &Outgoing) -> Outcome {
        let Ok(endpoint_id) = outgoing.recipient.parse::<WebhookEndpointId>() else {
            return Outcome::Permanent(format!("`{}` is not an endpoint id", outgoing.recipient));
        };
        let endpoint = match webhook_endpoints::Entity::find_by_id(endpoint_id).one(&self.db).await {
            Ok(Some(endpoint)) => endpoint,
            Ok(None) => return Outcome::Permanent("the endpoint was deleted".into()),
            Err(error) => return Outcome::Transient(format!("loading the endpoint: {error}")),
        };
        // Checked again at each delivery: DNS may have changed since the endpoint was created.
        let url = match check_url(&endpoint.url, self.allow_private).await {
            Ok(url) => url,
            Err(problem) => return Outcome::Permanent(format!("url {problem}")),
        };
        let body = serde_json::json!({
            "type": outgoing.event_type,
            "timestamp": outgoing.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": outgoing.data,
        })
        .to_string();
        let id = format!("msg_{}", outgoing.event_id.0.simple());
        let now = self.clock.now();
        let timestamp = now.timestamp();
        let mut secrets = vec![endpoint.secret.as_str()];
        if let (Some(previous), Some(until)) = (&endpoint.previous_secret, endpoint.previous_secret_expires_at)
            && until > now
        {
            secrets.push(previous);
        }
        let signatures: Result<Vec<String>, String> =
            secrets.iter().map(|secret| sign(secret, &id, timestamp, body.as_bytes())).collect();
        let signatures = match signatures {
            Ok(signatures) => signatures.join(" "),
            Err(problem) => return Outcome::Permanent(problem),
        };
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signatures)
            .body(body)
            .send()
            .await;
        match response {
            Err(error) => Outcome::Transient(format!("request failed: {error}")),
            Ok(response) => {
                let status = response.status();
                match status.as_u16() {
                    200..=299 => Outcome::Delivered,
                    408 | 429 | 500..=599 => Outcome::Transient(format!("endpoint answered {status}")),
                    300..=399 => Outcome::Permanent(format!("endpoint answered {status}; redirects are not followed")),
                    _ => Outcome::Permanent(format!("endpoint answered {status}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signs_like_the_specification_example() {
        // The example of the Standard Webhooks specification.
        let signature = super::sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
